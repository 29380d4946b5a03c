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
constexpr std::size_t kReadChunkBytes = std::size_t{256} * 1024;

Errc map_code(agentproto::ErrorCode code) {
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
    case agentproto::ErrorCode::operation_failed:
      return Errc::command_failed;
  }
  return Errc::command_failed;
}

// The answer to request `id` among the frames decoded so far (skipping garbage, oversized frames
// and stale replies to earlier, aborted calls), or nullopt while it has not arrived.
std::optional<Expected<nlohmann::json>> next_reply(agentproto::FrameDecoder& decoder,
                                                   std::int64_t id) {
  while (auto frame = decoder.next()) {
    if (frame->kind != agentproto::Frame::Kind::line) {
      continue;  // not ours: ours is within the limit
    }
    auto response = agentproto::parse_response(frame->line);
    if (!response || response->id != id) {
      continue;
    }
    if (response->error) {
      return tl::unexpected(
          Error{map_code(response->error->code), "agent: " + response->error->message, 0, {}});
    }
    return std::move(*response->result);
  }
  return std::nullopt;
}

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

}  // namespace

AgentClient::AgentClient(std::unique_ptr<Dialer> dialer) : dialer_(std::move(dialer)) {
  // Ids differ between client instances, so a stale reply from an earlier daemon run is not
  // taken for ours. Stays below 2^53 (exact in any JSON reader).
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  next_id_ = (std::chrono::duration_cast<std::chrono::microseconds>(now).count() &
              ((std::int64_t{1} << 50) - 1)) +
             1;
}

std::string AgentClient::describe() const { return dialer_->describe(); }

Expected<nlohmann::json> AgentClient::call(std::string_view method, const nlohmann::json& params,
                                           milliseconds timeout) {
  std::lock_guard lock(mutex_);
  bool closed_early = false;
  return call_locked(method, params, timeout, closed_early);
}

Expected<nlohmann::json> AgentClient::call_locked(std::string_view method,
                                                  const nlohmann::json& params,
                                                  milliseconds timeout, bool& closed_early) {
  const auto deadline = Clock::now() + timeout;
  const std::int64_t id = next_id_++;
  // The leading '\n' ends any partial line an aborted earlier client left in the agent's stream;
  // the agent skips empty lines.
  const std::string line = "\n" + agentproto::make_request_line(id, method, params);
  if (line.size() - 2 > agentproto::kMaxFrameBytes) {
    return fail(Errc::invalid_argument,
                fmt::format("{} request is {} bytes; the agent accepts at most {}", method,
                            line.size() - 2, agentproto::kMaxFrameBytes));
  }
  BANGER_TRY_ASSIGN(const base::UniqueFd fd, dialer_->dial(timeout));
  const std::string endpoint = dialer_->describe();
  const auto failed = [&](const posix::SysError& error, const std::string& doing) {
    if (error.sys_errno == ETIMEDOUT) {
      return fail(Errc::timeout, fmt::format("agent at {} did not answer {} within {}ms", endpoint,
                                             method, timeout.count()));
    }
    return tl::unexpected(Error{Errc::unavailable,
                                fmt::format("{}: {}", doing, std::strerror(error.sys_errno)),
                                error.sys_errno,
                                {}});
  };
  if (auto sent = posix::write_all(fd.get(), line, deadline); !sent) {
    return failed(sent.error(), fmt::format("sending {} to agent at {}", method, endpoint));
  }
  agentproto::FrameDecoder decoder(agentproto::kMaxReplyFrameBytes);
  std::string buffer(kReadChunkBytes, '\0');
  while (true) {
    if (auto reply = next_reply(decoder, id)) {
      return std::move(*reply);
    }
    auto n = posix::read_some(fd.get(), buffer.data(), buffer.size(), deadline);
    if (!n) {
      return failed(n.error(),
                    fmt::format("reading the {} reply from agent at {}", method, endpoint));
    }
    if (*n == 0) {
      closed_early = true;
      return fail(Errc::unavailable, fmt::format("agent at {} closed the connection before "
                                                 "answering {}",
                                                 endpoint, method));
    }
    decoder.feed(buffer.data(), *n);
  }
}

Expected<HealthResult> AgentClient::health(milliseconds timeout) {
  return decode_result<HealthResult>(
      call(agentproto::kMethodHealth, nlohmann::json::object(), timeout), "health");
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
  std::lock_guard lock(mutex_);
  bool closed_early = false;
  auto result =
      call_locked(agentproto::kMethodPoweroff, nlohmann::json::object(), timeout, closed_early);
  if (!result && !closed_early) {
    return tl::unexpected(result.error());
  }
  return {};
}

Expected<ExecResult> AgentClient::exec(const ExecRequest& request, milliseconds timeout) {
  return decode_result<ExecResult>(
      call(agentproto::kMethodExec, agentproto::encode(request), timeout), "exec");
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
    auto result = health(std::max(milliseconds(1), std::min(kAttemptTimeout, left)));
    if (result) {
      return result;
    }
    last = result.error();
    const bool retryable = last.code == Errc::unavailable || last.code == Errc::timeout ||
                           last.code == Errc::command_failed || last.code == Errc::io;
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
