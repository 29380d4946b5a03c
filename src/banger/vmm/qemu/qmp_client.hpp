// A small QMP client (QEMU Machine Protocol) over QEMU's unix socket: greeting, capability
// negotiation, commands with deadline-bounded reads; asynchronous events are skipped and kept.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "banger/base/error.hpp"
#include "banger/base/fd.hpp"

namespace banger::vmm::qemu {

class QmpClient {
 public:
  static constexpr std::chrono::milliseconds kDefaultTimeout{5000};

  QmpClient(QmpClient&&) = default;
  QmpClient& operator=(QmpClient&&) = default;

  // Connects, reads the greeting and sends qmp_capabilities, all within timeout; each later
  // command gets its own timeout. invalid_argument when the path does not fit a unix socket
  // address; unavailable when nothing listens (missing socket, refused) or the peer hangs up or
  // speaks something else; timeout when the greeting or the answer does not come in time.
  static Expected<QmpClient> connect(const std::string& socket_path,
                                     std::chrono::milliseconds timeout = kDefaultTimeout);

  // Runs command with arguments (null: none) and returns its "return" value. command_failed
  // with "qmp <command>: <class>: <desc>" when QEMU answers with an error; unavailable when the
  // connection drops; timeout when no answer arrives within the timeout.
  Expected<nlohmann::json> execute(std::string_view command,
                                   const nlohmann::json& arguments = nullptr);

  // query-status: QEMU's run state ("running", "paused", "prelaunch", "shutdown", ...).
  Expected<std::string> query_status();
  // Sends the guest an ACPI power button press; returns without waiting for the guest.
  Status system_powerdown();
  // Asks QEMU to exit at once. A connection that closes before the answer counts as success.
  Status quit();

  // The greeting's "QMP" object (version, capabilities).
  const nlohmann::json& greeting() const { return greeting_; }
  // Asynchronous events seen so far (e.g. POWERDOWN, SHUTDOWN), oldest first, at most 64.
  const std::vector<nlohmann::json>& events() const { return events_; }
  void set_timeout(std::chrono::milliseconds timeout) { timeout_ = timeout; }

 private:
  QmpClient(base::UniqueFd fd, std::string path, std::chrono::milliseconds timeout)
      : fd_(std::move(fd)), path_(std::move(path)), timeout_(timeout) {}

  // The next JSON message that is not an event.
  Expected<nlohmann::json> read_message(std::chrono::steady_clock::time_point deadline);
  Status write_all(const std::string& data, std::chrono::steady_clock::time_point deadline);

  base::UniqueFd fd_;
  std::string path_;
  std::chrono::milliseconds timeout_;
  std::string buffer_;
  nlohmann::json greeting_;
  std::vector<nlohmann::json> events_;
  std::uint64_t next_id_ = 1;
};

}  // namespace banger::vmm::qemu
