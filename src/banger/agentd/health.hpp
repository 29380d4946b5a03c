// health: uptime, boot id, agent version and hostname, read from a proc root (fixtures in tests).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "banger/agentproto/message.hpp"
#include "banger/agentproto/methods.hpp"

namespace banger::agentd {

// The agent's version string (the project version it was built from).
std::string agent_version();

// Reads <proc_root>/uptime and <proc_root>/sys/kernel/random/boot_id; hostname from
// gethostname(); ssh_host_key from read_ssh_host_key(ssh_host_key_paths) (always set, "" when
// there is none). operation_failed naming the file when uptime or boot_id cannot be read or
// parsed.
std::variant<agentproto::HealthResult, agentproto::WireError> read_health(
    const std::string& proc_root, const std::string& version,
    const std::vector<std::string>& ssh_host_key_paths);

// The first of paths that holds a well-formed OpenSSH public ed25519 key line ("ssh-ed25519
// <base64> [comment]"), as "ssh-ed25519 <base64>"; "" when none does (not written yet, half
// written, another key type, or over 4 KiB). The host validates the key again.
std::string read_ssh_host_key(const std::vector<std::string>& paths);

// Parses the first number of /proc/uptime text; nullopt when there is none.
std::optional<double> parse_uptime(std::string_view text);

}  // namespace banger::agentd
