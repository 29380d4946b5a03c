#include "banger/agentd/server.hpp"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <memory>
#include <optional>
#include <thread>

#include "banger/agentd/host_attach.hpp"
#include "banger/agentd/log.hpp"
#include "banger/agentd/port_write.hpp"
#include "banger/agentd/proc_files.hpp"
#include "banger/agentproto/frame.hpp"
#include "banger/posix/io.hpp"

namespace banger::agentd {
namespace {

constexpr std::size_t kReadChunk = 256 * 1024;

// Writes one reply line to the host; false when the host is gone (the reply is dropped).
using ReplyWriter = std::function<bool(std::string_view line)>;

// Writes session's answer to frame; returns true when the session refused the peer. A stream
// (reset_on_refusal) then drops what follows unread; the serial port keeps it, to look for an
// `auth` of a host that connected after the refused one.
bool answer_one(const agentproto::Frame& frame, agentproto::FrameDecoder& decoder, Session& session,
                const ReplyWriter& write, std::size_t& answered, bool reset_on_refusal = true) {
  Reply reply = session.handle(frame);
  if (!write(reply.line)) {
    log_line("reply dropped: the host went away");
  } else {
    ++answered;
  }
  if (reply.after) {
    reply.after();
  }
  if (reply.hang_up && reset_on_refusal) {
    decoder.reset();
  }
  return reply.hang_up;
}

// Handles every complete frame in decoder in order, through session (which refuses a peer that
// has not authenticated); returns how many replies were written. Sets hang_up when the session
// refused the peer: the frames after the refusal are dropped unread.
std::size_t answer_frames(agentproto::FrameDecoder& decoder, Session& session,
                          const ReplyWriter& write, bool& hang_up, bool reset_on_refusal = true) {
  std::size_t answered = 0;
  while (!hang_up) {
    auto frame = decoder.next();
    if (!frame) {
      break;
    }
    hang_up = answer_one(*frame, decoder, session, write, answered, reset_on_refusal);
  }
  if (!hang_up) {
    if (auto refused = session.refuse_partial(decoder.buffered())) {
      if (!write(refused->line)) {
        log_line("reply dropped: the host went away");
      } else {
        ++answered;
      }
      hang_up = true;
      decoder.reset();
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
  Session session(agent);
  std::string buffer(kReadChunk, '\0');
  std::size_t answered = 0;
  bool hang_up = false;
  while (!hang_up) {
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
    answered += answer_frames(
        decoder, session, [fd](std::string_view line) { return write_all(fd, line); }, hang_up);
  }
  return answered;
}

void serve_port(int read_fd, int write_fd, Agent& agent, const std::atomic<bool>& stop,
                std::chrono::milliseconds idle_sleep, std::atomic<std::size_t>* disconnects) {
  agentproto::FrameDecoder decoder;
  auto session = std::make_unique<Session>(agent);
  // A refused host cannot be disconnected from a serial port: everything it sends is dropped
  // until it goes away (EOF), and the next host starts a new session.
  bool refused = false;
  std::string buffer(kReadChunk, '\0');
  bool connected = false;
  const int idle_ms = static_cast<int>(idle_sleep.count());
  HostAttachWait host_attach(read_fd, idle_sleep);
  // The request was read, so the host attached, even while the port still says it did not.
  const ReplyWriter write_reply = [write_fd](std::string_view line) {
    return write_to_port(write_fd, line);
  };
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
      // A refused host is not answered; but the agent may not have seen it leave (the host
      // side can disconnect and a new host connect between two polls, and both may arrive in
      // one read), so an `auth` line starts a fresh session: only the right token gets
      // anything done.
      for (;;) {
        if (refused) {
          std::optional<agentproto::Frame> frame;
          while ((frame = decoder.next()) && !Session::is_auth(*frame)) {
          }
          if (!frame) {
            if (decoder.buffered() > agentproto::kMaxHelloBytes) {
              decoder.reset();
            }
            break;
          }
          session = std::make_unique<Session>(agent);
          std::size_t answered = 0;
          refused = answer_one(*frame, decoder, *session, write_reply, answered, false);
          if (refused) {
            continue;
          }
        }
        answer_frames(decoder, *session, write_reply, refused, false);
        if (!refused) {
          break;
        }
      }
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
    session = std::make_unique<Session>(agent);
    refused = false;
    host_attach.wait();
  }
}

}  // namespace banger::agentd
