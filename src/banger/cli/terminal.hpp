// The user's terminal during a PTY session (`vm exec -t`): raw mode while the guest's terminal
// does the line editing, and SIGWINCH passed on as resize frames. Restoring the terminal on every
// way out is what makes a remote shell bearable: RawTerminal restores in its destructor, and
// the signals that would end banger meanwhile (SIGINT, SIGTERM, SIGHUP) are caught by
// SignalPipe and forwarded to the guest instead, so banger returns normally through it.
#pragma once

#include <termios.h>

#include "banger/agentproto/stream.hpp"
#include "banger/posix/fd.hpp"

namespace banger::cli {

// Puts fd's terminal in raw mode (cfmakeraw: no echo, no line buffering, no signals from keys,
// no output processing) and restores the saved mode when destroyed. Does nothing when fd is no
// terminal.
class RawTerminal {
 public:
  explicit RawTerminal(int fd);
  RawTerminal(const RawTerminal&) = delete;
  RawTerminal& operator=(const RawTerminal&) = delete;
  ~RawTerminal();
  bool active() const { return active_; }

 private:
  int fd_;
  bool active_ = false;
  termios saved_{};
};

// While alive, SIGWINCH writes a byte into a pipe: read_fd() is StreamEnds::resize_fd. Not
// nestable.
class WindowChanges {
 public:
  WindowChanges();
  WindowChanges(const WindowChanges&) = delete;
  WindowChanges& operator=(const WindowChanges&) = delete;
  ~WindowChanges();
  int read_fd() const { return read_.get(); }

 private:
  posix::Fd read_;
  posix::Fd write_;
};

// The window size of the terminal on fd; 24x80 when fd is no terminal or reports 0.
agentproto::StreamPty terminal_size(int fd);

}  // namespace banger::cli
