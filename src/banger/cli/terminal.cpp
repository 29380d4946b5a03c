#include "banger/cli/terminal.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <atomic>

namespace banger::cli {
namespace {

std::atomic<int> g_winch_pipe{-1};
struct sigaction g_previous_winch;

void write_winch(int) {
  const int fd = g_winch_pipe.load();
  if (fd >= 0) {
    const char byte = 'w';
    [[maybe_unused]] auto n = ::write(fd, &byte, 1);  // async-signal-safe; a full pipe drops it
  }
}

}  // namespace

RawTerminal::RawTerminal(int fd) : fd_(fd) {
  if (::isatty(fd) != 1 || ::tcgetattr(fd, &saved_) != 0) {
    return;
  }
  termios mode = saved_;
  ::cfmakeraw(&mode);
  active_ = ::tcsetattr(fd, TCSANOW, &mode) == 0;
}

RawTerminal::~RawTerminal() {
  if (active_) {
    ::tcsetattr(fd_, TCSADRAIN, &saved_);
  }
}

WindowChanges::WindowChanges() {
  int ends[2];
  if (::pipe2(ends, O_CLOEXEC | O_NONBLOCK) == 0) {
    read_.reset(ends[0]);
    write_.reset(ends[1]);
  }
  g_winch_pipe.store(write_.get());
  struct sigaction on_winch{};
  on_winch.sa_handler = write_winch;
  sigemptyset(&on_winch.sa_mask);
  on_winch.sa_flags = SA_RESTART;
  ::sigaction(SIGWINCH, &on_winch, &g_previous_winch);
}

WindowChanges::~WindowChanges() {
  ::sigaction(SIGWINCH, &g_previous_winch, nullptr);
  g_winch_pipe.store(-1);
}

agentproto::StreamPty terminal_size(int fd) {
  winsize size{};
  if (::ioctl(fd, TIOCGWINSZ, &size) != 0 || size.ws_row == 0 || size.ws_col == 0) {
    return {};
  }
  return {.rows = size.ws_row, .cols = size.ws_col};
}

}  // namespace banger::cli
