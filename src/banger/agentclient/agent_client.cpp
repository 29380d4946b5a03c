#include "banger/agentclient/agent_client.hpp"

#include <errno.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <thread>
#include <utility>

#include "banger/agentproto/constants.hpp"
#include "banger/agentproto/frame.hpp"
#include "banger/agentproto/message.hpp"
#include "banger/base/expected.hpp"
#include "banger/posix/io.hpp"

namespace banger::agentclient {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr milliseconds kAttemptTimeout{1000};
constexpr milliseconds kAttemptPause{100};
// Longest single wait for bytes: deadline and cancellation are checked at least this often.
constexpr milliseconds kReadSlice{100};
constexpr std::size_t kReadChunkBytes = std::size_t{256} * 1024;

template <class T>
Expected<T> decode_result(const Expected<nlohmann::json>& json, std::string_view method) {
  if (!json) {
    return tl::unexpected(json.error());
  }
  T value;
  if (auto why = agentproto::decode(*json, value); !why.empty()) {
    return fail(Errc::io, fmt::format("agent sent a malformed {} result: {}", method, why));
  }
  return value;
}

// Reads the reply to one request on a connection: the deadline, cancellation and the byte
// budget are checked on every iteration, whatever the guest sends.
class ReplyReader {
 public:
  ReplyReader(int fd, std::string endpoint, Clock::time_point deadline, milliseconds timeout,
              const base::CancelFn& cancel)
      : fd_(fd),
        endpoint_(std::move(endpoint)),
        deadline_(deadline),
        timeout_(timeout),
        cancel_(cancel),
        buffer_(kReadChunkBytes, '\0') {}

  // The deadline (and the timeout its messages name) of the reads that follow.
  void set_deadline(Clock::time_point deadline, milliseconds timeout) {
    deadline_ = deadline;
    timeout_ = timeout;
  }

  // The result (or agent error) of request id, under the reply limits of method phase ("auth"
  // or the call's method); messages name the call's method. closed_early is set when the agent
  // closed the connection before answering.
  Expected<nlohmann::json> read(std::int64_t id, std::string_view phase, std::string_view method,
                                bool& closed_early) {
    const auto limits = agentproto::reply_limits(phase);
    // One stale reply of an aborted exec may precede ours on the serial channel; beyond that
    // the guest is just streaming.
    const std::size_t budget = agentproto::kMaxReplyFrameBytes + 2 * limits.max_bytes;
    agentproto::FrameDecoder decoder(limits.max_bytes);
    std::size_t total = 0;
    std::string skipped;  // why the last line was skipped, for the timeout message
    while (true) {
      while (auto frame = decoder.next()) {
        if (frame->kind != agentproto::Frame::Kind::line) {
          skipped = fmt::format("skipped a reply line longer than {} bytes", limits.max_bytes);
          continue;  // not ours: ours is within the limit
        }
        if (auto refused = agentproto::precheck_reply(frame->line, limits.max_values);
            !refused.empty()) {
          return fail(Errc::io, fmt::format("agent at {} sent an unacceptable {} reply: {}",
                                            endpoint_, method, refused));
        }
        auto response = agentproto::parse_response(frame->line, nullptr, limits.max_values);
        if (!response || response->id != id) {
          continue;  // garbage, "id":null, or a stale reply to an earlier call
        }
        if (response->error) {
          return tl::unexpected(Error{
              agent_errc(response->error->code), "agent: " + response->error->message, 0, {}});
        }
        return std::move(*response->result);
      }
      if (base::is_cancelled(cancel_)) {
        return fail(Errc::cancelled,
                    fmt::format("{} call to agent at {}: cancelled", method, endpoint_));
      }
      const auto now = Clock::now();
      if (now >= deadline_) {
        const std::string what =
            phase == method ? std::string(method) : fmt::format("{} (before {})", phase, method);
        return fail(Errc::timeout,
                    fmt::format("agent at {} did not answer {} within {}ms{}", endpoint_, what,
                                timeout_.count(), skipped.empty() ? "" : " (" + skipped + ")"));
      }
      auto n = posix::read_some(fd_, buffer_.data(), buffer_.size(),
                                std::min<Clock::time_point>(deadline_, now + kReadSlice));
      if (!n) {
        if (n.error().sys_errno == ETIMEDOUT) {
          continue;  // a slice passed: check the deadline and cancellation again
        }
        return tl::unexpected(Error{Errc::unavailable,
                                    fmt::format("reading the {} reply from agent at {}: {}", method,
                                                endpoint_, std::strerror(n.error().sys_errno)),
                                    n.error().sys_errno,
                                    {}});
      }
      if (*n == 0) {
        closed_early = true;
        return fail(Errc::unavailable,
                    fmt::format("agent at {} closed the connection before answering {}", endpoint_,
                                method));
      }
      total += *n;
      if (total > budget) {
        return fail(Errc::io,
                    fmt::format("agent at {} sent more than {} bytes without answering {}",
                                endpoint_, budget, method));
      }
      decoder.feed(buffer_.data(), *n);
    }
  }

 private:
  int fd_;
  std::string endpoint_;
  Clock::time_point deadline_;
  milliseconds timeout_;
  const base::CancelFn& cancel_;
  std::string buffer_;
};

}  // namespace

Errc agent_errc(agentproto::ErrorCode code) {
  switch (code) {
    case agentproto::ErrorCode::bad_request:
      return Errc::invalid_argument;
    case agentproto::ErrorCode::bad_version:
      return Errc::bad_version;
    case agentproto::ErrorCode::unknown_method:
      return Errc::unknown_method;
    case agentproto::ErrorCode::not_found:
      return Errc::not_found;
    case agentproto::ErrorCode::timeout:
      return Errc::timeout;
    case agentproto::ErrorCode::unauthorized:
      return Errc::permission_denied;
    case agentproto::ErrorCode::operation_failed:
      return Errc::command_failed;
  }
  return Errc::command_failed;
}

AgentClient::AgentClient(std::unique_ptr<Dialer> dialer, std::string token,
                         std::chrono::milliseconds auth_wait)
    : dialer_(std::move(dialer)), token_(std::move(token)), auth_wait_(auth_wait) {
  // Ids differ between client instances, so a stale reply from an earlier daemon run is not
  // taken for ours. Stays below 2^53 (exact in any JSON reader).
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  next_id_ = (std::chrono::duration_cast<std::chrono::microseconds>(now).count() &
              ((std::int64_t{1} << 50) - 1)) +
             1;
}

std::string AgentClient::describe() const { return dialer_->describe(); }

Expected<nlohmann::json> AgentClient::call(std::string_view method, const nlohmann::json& params,
                                           milliseconds timeout, const base::CancelFn& cancel) {
  bool closed_early = false;
  return call_once(method, params, timeout, cancel, closed_early);
}

Expected<nlohmann::json> AgentClient::call_once(std::string_view method,
                                                const nlohmann::json& params, milliseconds timeout,
                                                const base::CancelFn& cancel, bool& closed_early) {
  const auto deadline = Clock::now() + timeout;
  std::int64_t auth_id = 0;
  std::int64_t id = 0;
  {
    std::lock_guard ids(id_mutex_);
    auth_id = next_id_++;
    id = next_id_++;
  }
  // The leading '\n' ends any partial line an aborted earlier client left in the agent's stream;
  // the agent skips empty lines.
  const std::string line = agentproto::make_request_line(id, method, params);
  if (line.size() - 1 > agentproto::kMaxFrameBytes) {
    return fail(Errc::invalid_argument,
                fmt::format("{} request is {} bytes; the agent accepts at most {}", method,
                            line.size() - 1, agentproto::kMaxFrameBytes));
  }
  const std::string endpoint = dialer_->describe();
  // QEMU's chardev carries one connection at a time: calls take turns, but none waits long
  // for another (M9: a long exec must not hold up stop).
  std::unique_lock channel(channel_, std::defer_lock);
  if (dialer_->single_stream()) {
    const auto wait = std::min(timeout, kChannelWait);
    if (!channel.try_lock_for(wait)) {
      return fail(Errc::unavailable,
                  fmt::format("the agent channel ({}) is busy with another call (a running "
                              "exec?); {} gave up after {}ms",
                              endpoint, method, wait.count()));
    }
  }
  const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
  BANGER_TRY_ASSIGN(const base::UniqueFd fd, dialer_->dial(std::max(milliseconds(1), left)));
  const auto write_failed = [&](const posix::SysError& error, std::string_view what) {
    if (error.sys_errno == ETIMEDOUT) {
      return fail(Errc::timeout, fmt::format("agent at {} did not answer {} within {}ms", endpoint,
                                             method, timeout.count()));
    }
    return tl::unexpected(Error{Errc::unavailable,
                                fmt::format("sending {} to agent at {}: {}", what, endpoint,
                                            std::strerror(error.sys_errno)),
                                error.sys_errno,
                                {}});
  };
  // 1. Authenticate; nothing else is sent before the agent accepted the token, answered at once.
  const auto auth_wait = std::min(timeout, auth_wait_);
  ReplyReader reader(fd.get(), endpoint, std::min(deadline, Clock::now() + auth_wait), auth_wait,
                     cancel);
  const std::string auth =
      "\n" + agentproto::make_request_line(auth_id, agentproto::kMethodAuth,
                                           agentproto::encode(agentproto::AuthParams{token_}));
  if (auto sent = posix::write_all(fd.get(), auth, deadline); !sent) {
    return write_failed(sent.error(), "auth");
  }
  bool auth_closed = false;
  if (auto accepted = reader.read(auth_id, agentproto::kMethodAuth, method, auth_closed);
      !accepted) {
    Error error = accepted.error();
    if (error.code == Errc::unknown_method) {
      return fail(Errc::failed_precondition,
                  fmt::format("the banger-agent at {} predates agent authentication (it does "
                              "not know \"auth\"): rebuild the image with this banger (banger "
                              "image build --force) and restart the vm",
                              endpoint));
    }
    if (error.code == Errc::permission_denied) {
      error.message = fmt::format("agent at {} refused the connection: {}", endpoint,
                                  error.message.substr(std::string_view("agent: ").size()));
    }
    return tl::unexpected(std::move(error));
  }
  // 2. The request.
  reader.set_deadline(deadline, timeout);
  if (auto sent = posix::write_all(fd.get(), line, deadline); !sent) {
    return write_failed(sent.error(), method);
  }
  return reader.read(id, method, method, closed_early);
}

Expected<HealthResult> AgentClient::health(milliseconds timeout, const base::CancelFn& cancel) {
  return decode_result<HealthResult>(
      call(agentproto::kMethodHealth, nlohmann::json::object(), timeout, cancel), "health");
}

Expected<PortsResult> AgentClient::ports(milliseconds timeout) {
  return decode_result<PortsResult>(
      call(agentproto::kMethodPorts, nlohmann::json::object(), timeout), "ports");
}

Status AgentClient::sync(milliseconds timeout) {
  auto result = call(agentproto::kMethodSync, nlohmann::json::object(), timeout);
  if (!result) {
    return tl::unexpected(result.error());
  }
  return {};
}

Status AgentClient::poweroff(milliseconds timeout) {
  bool closed_early = false;
  auto result =
      call_once(agentproto::kMethodPoweroff, nlohmann::json::object(), timeout, {}, closed_early);
  if (!result && !closed_early) {
    return tl::unexpected(result.error());
  }
  return {};
}

Expected<ExecResult> AgentClient::exec(const ExecRequest& request, milliseconds timeout,
                                       const base::CancelFn& cancel) {
  return decode_result<ExecResult>(
      call(agentproto::kMethodExec, agentproto::encode(request), timeout, cancel), "exec");
}

Expected<HealthResult> AgentClient::wait_healthy(milliseconds budget,
                                                 const base::CancelFn& cancel) {
  const auto start = Clock::now();
  const auto deadline = start + budget;
  Error last{Errc::timeout, "no attempt made", 0, {}};
  while (true) {
    if (base::is_cancelled(cancel)) {
      return fail(Errc::cancelled, "waiting for the agent: cancelled");
    }
    const auto now = Clock::now();
    if (now >= deadline) {
      break;
    }
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - now);
    const auto attempt_start = now;
    auto result = health(std::max(milliseconds(1), std::min(kAttemptTimeout, left)), cancel);
    if (result) {
      return result;
    }
    last = result.error();
    if (last.code == Errc::cancelled) {
      return fail(Errc::cancelled, "waiting for the agent: cancelled");
    }
    // permission_denied: during boot the agent may run before the work disk carrying its token
    // is mounted, and refuses until then.
    const bool retryable = last.code == Errc::unavailable || last.code == Errc::timeout ||
                           last.code == Errc::command_failed || last.code == Errc::io ||
                           last.code == Errc::permission_denied;
    if (!retryable) {
      return tl::unexpected(last);
    }
    // Pause between quick failures (refused connection); an attempt that waited is pause enough.
    if (Clock::now() - attempt_start < kAttemptPause) {
      const auto pause = std::min<Clock::duration>(kAttemptPause, deadline - Clock::now());
      if (pause > Clock::duration::zero()) {
        std::this_thread::sleep_for(pause);
      }
    }
  }
  const auto waited = std::chrono::duration_cast<milliseconds>(Clock::now() - start);
  return fail(Errc::timeout, fmt::format("agent did not become healthy within {}ms ({}): {}",
                                         waited.count(), describe(), last.message));
}

}  // namespace banger::agentclient
