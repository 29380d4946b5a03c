// AgentClient: typed calls to a guest's banger-agent (docs/agent.md) over a Dialer. One
// connection per call; calls on one client are serialized (QEMU's chardev serves one client at a
// time); replies are matched by id, so stale replies from an aborted earlier call are skipped.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "banger/agentclient/dialer.hpp"
#include "banger/agentproto/methods.hpp"
#include "banger/base/error.hpp"
#include "banger/base/progress.hpp"

namespace banger::agentclient {

using ExecRequest = agentproto::ExecParams;
using ExecResult = agentproto::ExecResult;
using HealthResult = agentproto::HealthResult;
using PortsResult = agentproto::PortsResult;

class AgentClient {
 public:
  explicit AgentClient(std::unique_ptr<Dialer> dialer);

  // Every call below: the timeout covers connecting, sending and the whole reply. Errors:
  // unavailable when the dialer cannot connect or the agent closes the connection before
  // answering; timeout when no reply arrives in time; an agent error reply becomes
  // "agent: <message>" with code not_found (not_found), invalid_argument (bad_request),
  // bad_version, unknown_method, timeout, or command_failed (operation_failed and unknown codes);
  // io when a reply cannot be decoded.

  // The agent's uptime, boot id, version and hostname.
  Expected<HealthResult> health(std::chrono::milliseconds timeout);
  // Listening TCP and UDP sockets in the guest.
  Expected<PortsResult> ports(std::chrono::milliseconds timeout);
  // sync() in the guest.
  Status sync(std::chrono::milliseconds timeout);
  // Asks the guest to power off. The connection closing before the reply counts as success
  // (the guest may stop before the reply leaves it).
  Status poweroff(std::chrono::milliseconds timeout);
  // Runs a command to completion. Choose timeout above request.timeout_s. invalid_argument
  // (before sending) when the request line would exceed agentproto::kMaxFrameBytes.
  Expected<ExecResult> exec(const ExecRequest& request, std::chrono::milliseconds timeout);

  // Polls health until it answers, with attempts of at most 1 s each and a short pause between
  // attempts (QEMU accepts a connection before the guest agent runs, so an attempt may connect
  // and get no answer). Returns the first health result. timeout when the budget is spent ("agent
  // did not become healthy within <N>ms (<endpoint>): <last error>"); cancelled when cancel says
  // so; an agent error reply other than operation_failed/timeout is returned at once. The budget
  // is a duration (not a deadline) because callers measure their own time on an injected
  // base::Clock, while these attempts are real socket I/O on real time.
  Expected<HealthResult> wait_healthy(std::chrono::milliseconds budget,
                                      const base::CancelFn& cancel);

  // One raw call: sends {"v":1,"id":N,"method":method,"params":params} and returns the result
  // object. Errors as above.
  Expected<nlohmann::json> call(std::string_view method, const nlohmann::json& params,
                                std::chrono::milliseconds timeout);

  // The dialer's endpoint description.
  std::string describe() const;

 private:
  // call() with mutex_ held; closed_early tells an EOF before the reply from other failures.
  Expected<nlohmann::json> call_locked(std::string_view method, const nlohmann::json& params,
                                       std::chrono::milliseconds timeout, bool& closed_early);

  std::unique_ptr<Dialer> dialer_;
  std::mutex mutex_;
  std::int64_t next_id_;
};

}  // namespace banger::agentclient
