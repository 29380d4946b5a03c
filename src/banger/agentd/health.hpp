// health: uptime, boot id, agent version and hostname, read from a proc root (fixtures in tests).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "banger/agentproto/message.hpp"
#include "banger/agentproto/methods.hpp"

namespace banger::agentd {

// The agent's version string (the project version it was built from).
std::string agent_version();

// Reads <proc_root>/uptime and <proc_root>/sys/kernel/random/boot_id; hostname from
// gethostname(). operation_failed naming the file when one cannot be read or parsed.
std::variant<agentproto::HealthResult, agentproto::WireError> read_health(
    const std::string& proc_root, const std::string& version);

// Parses the first number of /proc/uptime text; nullopt when there is none.
std::optional<double> parse_uptime(std::string_view text);

}  // namespace banger::agentd
