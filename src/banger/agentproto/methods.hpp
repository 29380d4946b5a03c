// Typed params/results of each agent method (docs/agent.md), shared by agent and host client:
// plain structs, encode() to json and a non-throwing decode() that names the bad field.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace banger::agentproto {

constexpr std::string_view kMethodHealth = "health";
constexpr std::string_view kMethodPorts = "ports";
constexpr std::string_view kMethodSync = "sync";
constexpr std::string_view kMethodPoweroff = "poweroff";
constexpr std::string_view kMethodExec = "exec";
// The first request on every connection (docs/agent.md "Authentication"); result {}.
constexpr std::string_view kMethodAuth = "auth";

// auth params: the VM's token, kAgentTokenHexChars lowercase hex characters.
struct AuthParams {
  std::string token;
};

// health: no params.
struct HealthResult {
  double uptime_s = 0;   // first field of /proc/uptime
  std::string boot_id;   // /proc/sys/kernel/random/boot_id, trimmed
  std::string version;   // agent version
  std::string hostname;  // gethostname()
  // The guest sshd's ed25519 host key as "ssh-ed25519 <base64>" (no comment), "" while the
  // guest has none yet; nullopt from an agent that predates the field (it never sends it).
  // The host pins it over this authenticated channel instead of trusting whoever answers on
  // the guest's IP (docs/agent.md).
  std::optional<std::string> ssh_host_key;
};

// The longest ssh_host_key the host accepts ("ssh-ed25519 " + 68 base64 characters fit).
constexpr std::size_t kMaxSshHostKeyChars = 256;

// One listening socket of ports.
struct PortEntry {
  std::string proto;    // "tcp" | "udp"
  std::string family;   // "ipv4" | "ipv6"
  std::string address;  // "0.0.0.0", "::", "127.0.0.1"
  std::uint16_t port = 0;
  std::int64_t pid = 0;  // owning process, 0 when no process holding the socket was found
  std::string process;   // /proc/<pid>/comm, "" when pid is 0
};

// ports: no params.
struct PortsResult {
  std::vector<PortEntry> ports;  // at most kMaxPortEntries, no two with the same proto,
                                 // family, address and port
  std::size_t dropped = 0;       // decoded entries left out (duplicates, beyond the cap); not
                                 // on the wire
};

// sync, poweroff: no params, result {}.

// exec params. stdin_data travels as "stdin_b64".
struct ExecParams {
  std::vector<std::string> argv;           // required, non-empty
  std::map<std::string, std::string> env;  // added to the agent's fixed base environment
  std::string cwd;                         // "" = "/"
  std::string stdin_data;                  // bytes given on stdin, then EOF
  double timeout_s = 0;                    // 0 = no timeout; > 0 kills the process group
};

// exec result. stdout_data/stderr_data travel as "stdout_b64"/"stderr_b64".
struct ExecResult {
  int exit_code = 0;       // exit status, or 128+signal when killed by a signal
  int signal = 0;          // the killing signal, 0 when the process exited
  bool timed_out = false;  // killed (SIGKILL) because timeout_s passed
  std::string stdout_data;
  std::string stderr_data;
  bool stdout_truncated = false;  // more than kMaxExecOutputBytes was written; the rest dropped
  bool stderr_truncated = false;
};

nlohmann::json encode(const AuthParams& value);
nlohmann::json encode(const HealthResult& value);
nlohmann::json encode(const PortEntry& value);
nlohmann::json encode(const PortsResult& value);
nlohmann::json encode(const ExecParams& value);
nlohmann::json encode(const ExecResult& value);

// Each decode fills out from json and returns "" on success, otherwise a message naming the
// field ("field \"argv\": expected a non-empty array of strings"). Unknown fields are ignored;
// optional fields (see docs/agent.md) keep their defaults when missing. PortsResult keeps the
// first kMaxPortEntries distinct entries and counts the rest in dropped (a malformed entry is
// still an error, wherever it is).
std::string decode(const nlohmann::json& json, AuthParams& out);
std::string decode(const nlohmann::json& json, HealthResult& out);
std::string decode(const nlohmann::json& json, PortEntry& out);
std::string decode(const nlohmann::json& json, PortsResult& out);
std::string decode(const nlohmann::json& json, ExecParams& out);
std::string decode(const nlohmann::json& json, ExecResult& out);

}  // namespace banger::agentproto
