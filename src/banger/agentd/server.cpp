#include "banger/agentd/server.hpp"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "banger/agentd/log.hpp"
#include "banger/agentd/proc_files.hpp"
#include "banger/agentproto/frame.hpp"
#include "banger/posix/io.hpp"

namespace banger::agentd {
namespace {

constexpr std::size_t kReadChunk = 256 * 1024;

// Handles every complete frame in decoder in order; returns how many replies were written.
std::size_t answer_frames(agentproto::FrameDecoder& decoder, Agent& agent, int write_fd) {
  std::size_t answered = 0;
  while (auto frame = decoder.next()) {
    Reply reply = agent.handle(*frame);
    if (!write_all(write_fd, reply.line)) {
      log_line("reply dropped: the host went away");
    } else {
      ++answered;
    }
    if (reply.after) {
      reply.after();
    }
  }
  return answered;
}

}  // namespace

bool write_all(int fd, std::string_view data, std::chrono::milliseconds stall_timeout) {
  return posix::write_all(fd, data, posix::kNoDeadline, stall_timeout).has_value();
}

std::size_t serve_stream(int fd, Agent& agent) {
  agentproto::FrameDecoder decoder;
  std::string buffer(kReadChunk, '\0');
  std::size_t answered = 0;
  while (true) {
    const ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd pfd{fd, POLLIN, 0};
      ::poll(&pfd, 1, -1);
      continue;
    }
    if (n <= 0) {
      return answered;
    }
    decoder.feed(buffer.data(), static_cast<std::size_t>(n));
    answered += answer_frames(decoder, agent, fd);
  }
}

void serve_port(int read_fd, int write_fd, Agent& agent, const std::atomic<bool>& stop,
                std::chrono::milliseconds idle_sleep, std::atomic<std::size_t>* disconnects) {
  agentproto::FrameDecoder decoder;
  std::string buffer(kReadChunk, '\0');
  bool connected = false;
  const int idle_ms = static_cast<int>(idle_sleep.count());
  while (!stop.load()) {
    pollfd pfd{read_fd, POLLIN, 0};
    const int ready = ::poll(&pfd, 1, idle_ms);
    if (ready < 0 && errno != EINTR) {
      log_line("port poll failed: " + errno_text(errno));
      return;
    }
    if (ready <= 0) {
      continue;
    }
    const ssize_t n = ::read(read_fd, buffer.data(), buffer.size());
    if (n > 0) {
      if (!connected) {
        connected = true;
        log_line("host connected on the serial port");
      }
      decoder.feed(buffer.data(), static_cast<std::size_t>(n));
      answer_frames(decoder, agent, write_fd);
      continue;
    }
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) {
      continue;
    }
    if (n < 0) {
      log_line("port read failed: " + errno_text(errno));
      return;
    }
    // EOF: no host connected (or it just left).
    if (connected) {
      connected = false;
      log_line("host disconnected from the serial port");
      if (disconnects != nullptr) {
        ++*disconnects;
      }
    }
    decoder.reset();
    std::this_thread::sleep_for(idle_sleep);
  }
}

}  // namespace banger::agentd
