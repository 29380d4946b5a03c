#include "banger/agentclient/stream_channels.hpp"

#include <errno.h>
#include <fmt/format.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <optional>

#include "banger/agentclient/agent_client.hpp"
#include "banger/agentproto/message.hpp"
#include "banger/agentproto/methods.hpp"
#include "banger/base/expected.hpp"
#include "banger/posix/io.hpp"

namespace banger::agentclient {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr milliseconds kSlice{100};
// Bytes read per handshake before the answer (stale lines included).
constexpr std::size_t kHandshakeBudget = std::size_t{1} << 20;

milliseconds left_until(Clock::time_point deadline) {
  return std::max(milliseconds(1),
                  std::chrono::duration_cast<milliseconds>(deadline - Clock::now()));
}

// Reads answer lines on fd, one byte at a time (the frames after the answer stay unread), until
// the reply to id. Lines of another id (stale) are skipped; an "id":null error (the agent could
// not serve this connection at all) is an answer too.
class AnswerReader {
 public:
  AnswerReader(int fd, std::string endpoint, Clock::time_point deadline, milliseconds timeout,
               const base::CancelFn& cancel)
      : fd_(fd),
        endpoint_(std::move(endpoint)),
        deadline_(deadline),
        timeout_(timeout),
        cancel_(cancel) {}

  Expected<agentproto::Response> read(std::int64_t id, std::string_view what) {
    std::string line;
    while (true) {
      if (base::is_cancelled(cancel_)) {
        return fail(Errc::cancelled,
                    fmt::format("stream {} on agent at {}: cancelled", what, endpoint_));
      }
      const auto now = Clock::now();
      if (now >= deadline_) {
        return fail(Errc::timeout,
                    fmt::format("agent at {} did not answer {} within {}ms (an image built "
                                "before stream channels has nothing serving them: rebuild it "
                                "with banger image build --force)",
                                endpoint_, what, timeout_.count()));
      }
      const std::size_t before = line.size();
      auto end = read_line_part(line, std::min(deadline_, now + kSlice));
      total_ += line.size() - before + (end && *end == posix::ReadEnd::delimiter ? 1 : 0);
      if (total_ > kHandshakeBudget) {
        return fail(Errc::io,
                    fmt::format("agent at {} sent more than {} bytes without answering {}",
                                endpoint_, kHandshakeBudget, what));
      }
      if (!end) {
        if (end.error().sys_errno == ETIMEDOUT) {
          continue;
        }
        return tl::unexpected(Error{Errc::unavailable,
                                    fmt::format("reading the {} answer from agent at {}: {}", what,
                                                endpoint_, std::strerror(end.error().sys_errno)),
                                    end.error().sys_errno,
                                    {}});
      }
      if (*end == posix::ReadEnd::eof) {
        return fail(Errc::unavailable, fmt::format("agent at {} closed the stream channel before "
                                                   "answering {}",
                                                   endpoint_, what));
      }
      if (*end == posix::ReadEnd::limit) {
        return fail(Errc::io, fmt::format("agent at {} sent an answer line longer than {} bytes",
                                          endpoint_, agentproto::kMaxStreamAnswerBytes));
      }
      if (!line.empty() && line.back() == '\r') {
        line.pop_back();
      }
      if (line.empty()) {
        continue;
      }
      auto response = agentproto::parse_response(line, nullptr, 4096);
      line.clear();
      if (!response) {
        continue;  // not a reply: skipped like the control channel's garbage
      }
      if (response->id == id || (!response->id && response->error)) {
        return std::move(*response);
      }
    }
  }

 private:
  // Appends to line what is available up to and including the next '\n' (consumed, not
  // appended), never reading past it: the bytes after the answer are frames. Sockets are
  // peeked (recv MSG_PEEK) so a line costs two system calls, not one per byte.
  posix::Result<posix::ReadEnd> read_line_part(std::string& line, Clock::time_point until) {
    if (auto ready = posix::wait_ready(fd_, POLLIN, until); !ready) {
      return tl::unexpected(ready.error());
    }
    const std::size_t room = agentproto::kMaxStreamAnswerBytes - line.size();
    char buffer[4096];
    const ssize_t peeked =
        ::recv(fd_, buffer, std::min(sizeof buffer, room + 1), MSG_PEEK | MSG_DONTWAIT);
    if (peeked < 0 && errno == ENOTSOCK) {
      return posix::read_until(fd_, '\n', line, agentproto::kMaxStreamAnswerBytes, until);
    }
    if (peeked < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
        return posix::sys_fail(ETIMEDOUT, "recv");
      }
      return posix::sys_fail(errno, "recv");
    }
    if (peeked == 0) {
      return posix::ReadEnd::eof;
    }
    const std::string_view view(buffer, static_cast<std::size_t>(peeked));
    const auto eol = view.find('\n');
    const std::size_t take = eol == std::string_view::npos ? view.size() : eol + 1;
    const ssize_t n = ::read(fd_, buffer, take);  // what was peeked is there
    if (n < 0) {
      return posix::sys_fail(errno, "read");
    }
    if (eol != std::string_view::npos && static_cast<std::size_t>(n) == take) {
      line.append(buffer, take - 1);
      return posix::ReadEnd::delimiter;
    }
    line.append(buffer, static_cast<std::size_t>(n));
    if (line.size() > agentproto::kMaxStreamAnswerBytes) {
      return posix::ReadEnd::limit;
    }
    return posix::sys_fail(ETIMEDOUT, "no newline yet");
  }

  int fd_;
  std::string endpoint_;
  Clock::time_point deadline_;
  milliseconds timeout_;
  const base::CancelFn& cancel_;
  std::size_t total_ = 0;
};

Error agent_error(const agentproto::WireError& error) {
  return Error{agent_errc(error.code), "agent: " + error.message, 0, {}};
}

}  // namespace

void StreamLease::release() {
  if (!slots_) {
    return;
  }
  {
    std::lock_guard lock(slots_->mutex);
    slots_->busy[index_] = false;
    slots_->released_at[index_] = Clock::now();
  }
  slots_->freed.notify_all();
  slots_.reset();
}

StreamChannels::StreamChannels(std::string vm_name, std::vector<std::unique_ptr<Dialer>> dialers,
                               std::string token)
    : vm_name_(std::move(vm_name)),
      dialers_(std::move(dialers)),
      token_(std::move(token)),
      slots_(std::make_shared<StreamSlots>()) {
  slots_->busy.assign(dialers_.size(), false);
  slots_->released_at.assign(dialers_.size(), Clock::time_point::min());
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  next_id_ = (std::chrono::duration_cast<std::chrono::microseconds>(now).count() &
              ((std::int64_t{1} << 50) - 1)) +
             1;
}

std::size_t StreamChannels::busy() const {
  std::lock_guard lock(slots_->mutex);
  return static_cast<std::size_t>(std::count(slots_->busy.begin(), slots_->busy.end(), true));
}

Expected<StreamLease> StreamChannels::acquire(Clock::time_point deadline, milliseconds timeout,
                                              const base::CancelFn& cancel) {
  std::unique_lock lock(slots_->mutex);
  while (true) {
    const auto now = Clock::now();
    std::optional<std::size_t> oldest;
    for (std::size_t i = 0; i < slots_->busy.size(); ++i) {
      if (!slots_->busy[i] && (!oldest || slots_->released_at[i] < slots_->released_at[*oldest])) {
        oldest = i;
      }
    }
    auto wake = std::min(deadline, now + kSlice);
    if (oldest) {
      const auto reusable = slots_->released_at[*oldest] == Clock::time_point::min()
                                ? now
                                : slots_->released_at[*oldest] + kStreamReuseGrace;
      if (reusable <= now) {
        slots_->busy[*oldest] = true;
        return StreamLease(slots_, *oldest);
      }
      wake = std::min(wake, reusable);
    }
    if (base::is_cancelled(cancel)) {
      return fail(Errc::cancelled,
                  fmt::format("waiting for a stream channel of vm {}: cancelled", vm_name_));
    }
    if (now >= deadline) {
      return fail(Errc::unavailable,
                  fmt::format("all {} stream channels of vm {} are busy (waited {}ms)",
                              slots_->busy.size(), vm_name_, timeout.count()));
    }
    slots_->freed.wait_until(lock, wake);
  }
}

Expected<StreamSession> StreamChannels::open(const agentproto::StreamExecParams& params,
                                             milliseconds timeout, const base::CancelFn& cancel) {
  const auto deadline = Clock::now() + timeout;
  if (dialers_.empty()) {
    return fail(Errc::unavailable, fmt::format("vm {} has no stream channels", vm_name_));
  }
  std::int64_t auth_id = 0;
  std::int64_t id = 0;
  {
    std::lock_guard ids(id_mutex_);
    auth_id = next_id_++;
    id = next_id_++;
  }
  const std::string header =
      agentproto::make_request_line(id, agentproto::kMethodStreamExec, agentproto::encode(params));
  if (header.size() - 1 > agentproto::kMaxStreamHeaderBytes) {
    return fail(Errc::invalid_argument,
                fmt::format("stream_exec header is {} bytes; the agent accepts at most {}",
                            header.size() - 1, agentproto::kMaxStreamHeaderBytes));
  }
  BANGER_TRY_ASSIGN(auto lease, acquire(deadline, timeout, cancel));
  Dialer& dialer = *dialers_[lease.index()];
  const std::string endpoint = dialer.describe();
  BANGER_TRY_ASSIGN(base::UniqueFd fd, dialer.dial(left_until(deadline)));
  const auto send = [&](const std::string& line, std::string_view what) -> Status {
    if (auto sent = posix::write_all(fd.get(), line, deadline); !sent) {
      if (sent.error().sys_errno == ETIMEDOUT) {
        return fail(Errc::timeout, fmt::format("agent at {} did not take {} within {}ms", endpoint,
                                               what, timeout.count()));
      }
      return tl::unexpected(Error{Errc::unavailable,
                                  fmt::format("sending {} to agent at {}: {}", what, endpoint,
                                              std::strerror(sent.error().sys_errno)),
                                  sent.error().sys_errno,
                                  {}});
    }
    return {};
  };
  AnswerReader reader(fd.get(), endpoint, deadline, timeout, cancel);
  // 1. auth first; the header is sent only once the agent accepted the token. The leading
  //    newline ends any half line an aborted earlier host left on a serial port.
  BANGER_TRY(
      send("\n" + agentproto::make_request_line(auth_id, agentproto::kMethodAuth,
                                                agentproto::encode(agentproto::AuthParams{token_})),
           "auth"));
  BANGER_TRY_ASSIGN(auto auth, reader.read(auth_id, "auth"));
  if (auth.error) {
    if (auth.error->code == agentproto::ErrorCode::unknown_method) {
      return fail(Errc::failed_precondition,
                  fmt::format("the banger-agent at {} predates agent authentication: rebuild the "
                              "image with this banger (banger image build --force) and restart "
                              "the vm",
                              endpoint));
    }
    if (auth.error->code == agentproto::ErrorCode::unauthorized) {
      return fail(Errc::permission_denied, fmt::format("agent at {} refused the connection: {}",
                                                       endpoint, auth.error->message));
    }
    return tl::unexpected(agent_error(*auth.error));
  }
  // 2. The header and its answer.
  BANGER_TRY(send(header, "the stream_exec header"));
  BANGER_TRY_ASSIGN(auto answer, reader.read(id, "stream_exec"));
  if (answer.error) {
    if (answer.error->code == agentproto::ErrorCode::unknown_method &&
        answer.error->message.find("stream_exec") != std::string::npos &&
        answer.error->message.find("stream channel") == std::string::npos) {
      return fail(Errc::failed_precondition,
                  fmt::format("the banger-agent at {} predates stream channels (it does not "
                              "know stream_exec): rebuild the image with this banger (banger "
                              "image build --force) and restart the vm",
                              endpoint));
    }
    return tl::unexpected(agent_error(*answer.error));
  }
  agentproto::StreamExecResult started;
  if (auto why = agentproto::decode(*answer.result, started); !why.empty()) {
    return fail(Errc::io,
                fmt::format("agent at {} sent a malformed stream_exec answer: {}", endpoint, why));
  }
  return StreamSession{.channel = std::move(fd),
                       .pid = started.pid,
                       .endpoint = endpoint,
                       .lease = std::move(lease)};
}

}  // namespace banger::agentclient
