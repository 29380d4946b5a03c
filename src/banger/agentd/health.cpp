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

std::variant<agentproto::HealthResult, agentproto::WireError> read_health(
    const std::string& proc_root, const std::string& version) {
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
  return result;
}

}  // namespace banger::agentd
