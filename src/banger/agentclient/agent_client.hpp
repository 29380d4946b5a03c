// AgentClient: typed calls to a guest's banger-agent (docs/agent.md) over a Dialer. One
// connection per call, authenticated with the VM's token before anything else; replies are
// matched by id, so stale replies from an aborted earlier call are skipped. The guest is not
// trusted: every call ends by its deadline (or cancellation) whatever the guest sends, reads at
// most a bounded number of bytes, and refuses reply lines over its method's limits
// (agentproto::reply_limits) before parsing them.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "banger/agentclient/dialer.hpp"
#include "banger/agentproto/message.hpp"
#include "banger/agentproto/methods.hpp"
#include "banger/base/error.hpp"
#include "banger/base/progress.hpp"

namespace banger::agentclient {

using ExecRequest = agentproto::ExecParams;
using ExecResult = agentproto::ExecResult;
using HealthResult = agentproto::HealthResult;
using PortsResult = agentproto::PortsResult;

// The Errc of an agent error code: bad_request -> invalid_argument, bad_version, unknown_method,
// not_found, timeout, unauthorized -> permission_denied, operation_failed -> command_failed.
Errc agent_errc(agentproto::ErrorCode code);

class AgentClient {
 public:
  // token: the VM's agent token (agentproto::valid_token), presented first on every connection.
  // auth_wait: see kAuthWait (shorter in tests).
  AgentClient(std::unique_ptr<Dialer> dialer, std::string token,
              std::chrono::milliseconds auth_wait = kAuthWait);

  // Every call below: the timeout covers waiting for the channel, connecting, authenticating,
  // sending and the whole reply, and holds however the guest behaves. Errors:
  // - unavailable when the dialer cannot connect, the agent closes the connection before
  //   answering, or (single-stream endpoints) another call holds the channel for longer than
  //   kChannelWait;
  // - timeout when no reply arrives in time; cancelled when cancel says so (checked at least
  //   every 100 ms);
  // - permission_denied when the agent refuses the token ("agent at X refused the connection:
  //   unauthorized: wrong token" / "...: agent has no token: ...");
  // - failed_precondition when the agent does not know "auth" (an image built before agent
  //   authentication: "... rebuild the image");
  // - io when the guest sends more than the call's byte budget, a reply line over its method's
  //   limits (nesting, value count), or a result that does not decode;
  // - an agent error reply becomes "agent: <message>" with code not_found (not_found),
  //   invalid_argument (bad_request), bad_version, unknown_method, timeout, or command_failed
  //   (operation_failed and unknown codes).

  // The agent's uptime, boot id, version and hostname.
  Expected<HealthResult> health(std::chrono::milliseconds timeout,
                                const base::CancelFn& cancel = {});
  // Listening TCP and UDP sockets in the guest (capped, see agentproto::PortsResult).
  Expected<PortsResult> ports(std::chrono::milliseconds timeout);
  // sync() in the guest.
  Status sync(std::chrono::milliseconds timeout);
  // Asks the guest to power off. The connection closing before the reply counts as success
  // (the guest may stop before the reply leaves it).
  Status poweroff(std::chrono::milliseconds timeout);
  // Runs a command to completion. Choose timeout above request.timeout_s. invalid_argument
  // (before sending) when the request line would exceed agentproto::kMaxFrameBytes.
  Expected<ExecResult> exec(const ExecRequest& request, std::chrono::milliseconds timeout,
                            const base::CancelFn& cancel = {});

  // Polls health until it answers, with attempts of at most 1 s each and a short pause between
  // attempts (QEMU accepts a connection before the guest agent runs, so an attempt may connect
  // and get no answer; the agent may also start before the work disk with its token is
  // mounted, and refuse until then). Returns the first health result. timeout when the budget is
  // spent ("agent did not become healthy within <N>ms (<endpoint>): <last error>"); cancelled
  // when cancel says so; an error other than unavailable, timeout, permission_denied, io or
  // command_failed is returned at once. The budget is a duration (not a deadline) because
  // callers measure their own time on an injected base::Clock, while these attempts are real
  // socket I/O on real time.
  Expected<HealthResult> wait_healthy(std::chrono::milliseconds budget,
                                      const base::CancelFn& cancel);

  // One raw call: authenticates, sends {"v":1,"id":N,"method":method,"params":params} and
  // returns the result object. Errors as above.
  Expected<nlohmann::json> call(std::string_view method, const nlohmann::json& params,
                                std::chrono::milliseconds timeout,
                                const base::CancelFn& cancel = {});

  // The dialer's endpoint description.
  std::string describe() const;

  // Longest a call waits for a single-stream channel another call holds (a long exec): the
  // caller then gets unavailable and can fall back (stop: ssh, ACPI, kill) instead of queueing.
  static constexpr std::chrono::milliseconds kChannelWait{2000};
  // Longest wait for the answer to `auth`, whatever the call's timeout: the agent answers it at
  // once, so a long call (an exec without a timeout) whose auth reply was lost fails instead of
  // holding the channel for its whole timeout.
  static constexpr std::chrono::milliseconds kAuthWait{10000};

 private:
  // One call; closed_early tells an EOF before the reply from other failures.
  Expected<nlohmann::json> call_once(std::string_view method, const nlohmann::json& params,
                                     std::chrono::milliseconds timeout,
                                     const base::CancelFn& cancel, bool& closed_early);

  std::unique_ptr<Dialer> dialer_;
  std::string token_;
  std::chrono::milliseconds auth_wait_;
  std::timed_mutex channel_;  // held across a call on single-stream endpoints only
  std::mutex id_mutex_;
  std::int64_t next_id_;
};

}  // namespace banger::agentclient
