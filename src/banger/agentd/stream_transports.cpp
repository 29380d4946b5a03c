// The transports of stream sessions (stream_session.hpp): the accept loop of the vsock and unix
// listeners, and the serial port loop (attach, one session, detach, the next host).
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <thread>

#include "banger/agentd/host_attach.hpp"
#include "banger/agentd/log.hpp"
#include "banger/agentd/proc_files.hpp"
#include "banger/agentd/server.hpp"
#include "banger/agentd/stream_session.hpp"
#include "banger/agentd/transports.hpp"
#include "banger/agentproto/message.hpp"
#include "banger/agentproto/stream.hpp"

namespace banger::agentd {
namespace {

using agentproto::ErrorCode;

constexpr std::size_t kChunk = 64 * 1024;

bool transient(int err) { return err == EINTR || err == EAGAIN || err == EWOULDBLOCK; }

}  // namespace

void stream_accept_loop(int listen_fd, Agent& agent, const std::string& label,
                        std::size_t max_sessions) {
  auto active = std::make_shared<std::atomic<std::size_t>>(0);
  while (true) {
    const int fd = accept_next(listen_fd, label);
    if (fd < 0) {
      return;
    }
    if (active->fetch_add(1) >= max_sessions) {
      --*active;
      (void)write_all(fd,
                      agentproto::make_error_line(
                          std::nullopt, ErrorCode::operation_failed,
                          "all " + std::to_string(max_sessions) + " stream sessions are busy"),
                      std::chrono::seconds(1));
      ::close(fd);
      continue;
    }
    std::thread([fd, active, &agent] {
      serve_stream_session({.read_fd = fd, .write_fd = fd}, agent);
      ::close(fd);
      --*active;
    }).detach();
  }
}

namespace {

// After a session on a serial port: drops what the host sends until it disconnects (true) or an
// `auth` line of a new host arrives (false, pending = that line and what followed).
enum class AfterSession { disconnected, new_host, stopped, failed };

AfterSession wait_for_disconnect(int read_fd, const std::atomic<bool>& stop, int idle_ms,
                                 std::string& pending) {
  std::string partial;
  char buffer[kChunk];
  while (!stop.load()) {
    pollfd pfd{read_fd, POLLIN, 0};
    const int ready = ::poll(&pfd, 1, idle_ms);
    if (ready < 0 && errno != EINTR) {
      return AfterSession::failed;
    }
    if (ready <= 0) {
      continue;
    }
    const ssize_t n = ::read(read_fd, buffer, sizeof buffer);
    if (n == 0) {
      return AfterSession::disconnected;
    }
    if (n < 0) {
      if (transient(errno)) {
        continue;
      }
      return AfterSession::failed;
    }
    partial.append(buffer, static_cast<std::size_t>(n));
    std::size_t eol;
    while ((eol = partial.find('\n')) != std::string::npos) {
      agentproto::Frame frame{agentproto::Frame::Kind::line, partial.substr(0, eol)};
      if (Session::is_auth(frame)) {
        pending = std::move(partial);
        return AfterSession::new_host;
      }
      partial.erase(0, eol + 1);
    }
    if (partial.size() > agentproto::kMaxHelloBytes) {
      partial.clear();  // no auth line is this long: drop it (its rest is dropped line by line)
    }
  }
  return AfterSession::stopped;
}

std::string stream_end_name(StreamEnd end) {
  switch (end) {
    case StreamEnd::refused:
      return "refused";
    case StreamEnd::finished:
      return "finished";
    case StreamEnd::host_gone:
      return "host gone";
    case StreamEnd::stopped:
      return "stopped";
  }
  return "?";
}

}  // namespace

void serve_stream_port(int read_fd, int write_fd, Agent& agent, const std::atomic<bool>& stop,
                       std::chrono::milliseconds idle_sleep, std::atomic<std::size_t>* sessions) {
  const int idle_ms = static_cast<int>(idle_sleep.count());
  const StreamChannel channel{
      .read_fd = read_fd, .write_fd = write_fd, .stop = &stop, .serial_port = true};
  char buffer[kChunk];
  HostAttachWait host_attach(read_fd, idle_sleep);
  while (!stop.load()) {
    pollfd pfd{read_fd, POLLIN, 0};
    const int ready = ::poll(&pfd, 1, idle_ms);
    if (ready < 0 && errno != EINTR) {
      log_line("stream port poll failed: " + errno_text(errno));
      return;
    }
    if (ready <= 0) {
      continue;
    }
    const ssize_t n = ::read(read_fd, buffer, sizeof buffer);
    if (n < 0 && transient(errno)) {
      continue;
    }
    if (n < 0) {
      log_line("stream port read failed: " + errno_text(errno));
      return;
    }
    if (n == 0) {
      host_attach.wait();  // no host attached
      continue;
    }
    std::string pending(buffer, static_cast<std::size_t>(n));
    const std::string port = "stream port fd " + std::to_string(read_fd);
    log_line(port + ": host attached");
    while (true) {
      const StreamEnd end = serve_stream_session(channel, agent, std::move(pending));
      pending.clear();
      log_line(port + ": session ended (" + stream_end_name(end) + ")");
      if (sessions != nullptr) {
        ++*sessions;
      }
      if (end == StreamEnd::stopped) {
        return;
      }
      if (end == StreamEnd::host_gone) {
        break;
      }
      const auto after = wait_for_disconnect(read_fd, stop, idle_ms, pending);
      if (after == AfterSession::new_host) {
        log_line(port + ": the next host is here before the last one was seen leaving");
        continue;
      }
      if (after == AfterSession::disconnected) {
        log_line(port + ": host detached");
      }
      if (after == AfterSession::failed) {
        log_line("stream port read failed: " + errno_text(errno));
        return;
      }
      break;
    }
  }
}

void run_stream_serial(Agent& agent, const std::string& sys_root, std::size_t index) {
  const std::atomic<bool> never_stop{false};
  run_port(sys_root, std::string(agentproto::kStreamPortPrefix) + std::to_string(index),
           [&](int fd) { serve_stream_port(fd, fd, agent, never_stop); });
}

}  // namespace banger::agentd
