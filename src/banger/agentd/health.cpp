#include "banger/agentd/health.hpp"

#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "banger/agentd/proc_files.hpp"

#ifndef BANGER_AGENT_VERSION
#define BANGER_AGENT_VERSION "0.0.0"
#endif

namespace banger::agentd {

std::string agent_version() { return BANGER_AGENT_VERSION; }

std::optional<double> parse_uptime(std::string_view text) {
  const std::string first = trim_copy(text.substr(0, text.find_first_of(" \t\n")));
  if (first.empty()) {
    return std::nullopt;
  }
  char* end = nullptr;
  const double value = std::strtod(first.c_str(), &end);
  if (end == first.c_str() || *end != '\0' || !std::isfinite(value) || value < 0) {
    return std::nullopt;
  }
  return value;
}

std::string read_ssh_host_key(const std::vector<std::string>& paths) {
  constexpr std::size_t kMaxKeyFileBytes = 4096;
  constexpr std::string_view kType = "ssh-ed25519";
  for (const auto& path : paths) {
    const auto text = read_text_file(path);
    if (!text || text->size() > kMaxKeyFileBytes) {
      continue;
    }
    const std::string_view line = std::string_view(*text).substr(0, text->find('\n'));
    const auto space = line.find(' ');
    if (space == std::string_view::npos || line.substr(0, space) != kType) {
      continue;
    }
    std::string_view key = line.substr(space + 1);
    key = key.substr(0, key.find(' '));
    const bool base64 = !key.empty() && key.find_first_not_of(
                                            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                            "0123456789+/=") == std::string_view::npos;
    if (base64 && kType.size() + 1 + key.size() <= agentproto::kMaxSshHostKeyChars) {
      return std::string(kType) + " " + std::string(key);
    }
  }
  return "";
}

std::variant<agentproto::HealthResult, agentproto::WireError> read_health(
    const std::string& proc_root, const std::string& version,
    const std::vector<std::string>& ssh_host_key_paths) {
  using agentproto::ErrorCode;
  using agentproto::WireError;
  agentproto::HealthResult result;
  const std::string uptime_path = proc_root + "/uptime";
  const auto uptime_text = read_text_file(uptime_path);
  if (!uptime_text) {
    return WireError{ErrorCode::operation_failed,
                     "reading " + uptime_path + ": " + errno_text(errno)};
  }
  const auto uptime = parse_uptime(*uptime_text);
  if (!uptime) {
    return WireError{ErrorCode::operation_failed, "parsing " + uptime_path + ": no uptime number"};
  }
  result.uptime_s = *uptime;
  const std::string boot_id_path = proc_root + "/sys/kernel/random/boot_id";
  const auto boot_id = read_text_file(boot_id_path);
  if (!boot_id) {
    return WireError{ErrorCode::operation_failed,
                     "reading " + boot_id_path + ": " + errno_text(errno)};
  }
  result.boot_id = trim_copy(*boot_id);
  result.version = version;
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) == 0) {
    result.hostname = host;
  }
  result.ssh_host_key = read_ssh_host_key(ssh_host_key_paths);
  return result;
}

}  // namespace banger::agentd
