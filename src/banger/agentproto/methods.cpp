#include "banger/agentproto/methods.hpp"

#include <cmath>
#include <limits>
#include <optional>
#include <set>
#include <tuple>

#include "banger/agentproto/base64.hpp"
#include "banger/agentproto/constants.hpp"

namespace banger::agentproto {
namespace {

using nlohmann::json;

std::string field_error(std::string_view name, std::string_view expected) {
  return "field \"" + std::string(name) + "\": expected " + std::string(expected);
}

// Each reader: "" when fine (missing optional fields leave out unchanged).
std::string read_string(const json& j, std::string_view name, std::string& out, bool required) {
  const auto it = j.find(name);
  if (it == j.end() || it->is_null()) {
    return required ? field_error(name, "a string") : "";
  }
  if (!it->is_string()) {
    return field_error(name, "a string");
  }
  out = it->get<std::string>();
  return "";
}

std::string read_bytes_b64(const json& j, std::string_view name, std::string& out, bool required) {
  std::string text;
  auto error = read_string(j, name, text, required);
  if (!error.empty()) {
    return error;
  }
  auto decoded = base64_decode(text);
  if (!decoded) {
    return field_error(name, "base64 text");
  }
  out = std::move(*decoded);
  return "";
}

std::string read_bool(const json& j, std::string_view name, bool& out, bool required) {
  const auto it = j.find(name);
  if (it == j.end() || it->is_null()) {
    return required ? field_error(name, "true or false") : "";
  }
  if (!it->is_boolean()) {
    return field_error(name, "true or false");
  }
  out = it->get<bool>();
  return "";
}

std::string read_double(const json& j, std::string_view name, double& out, bool required) {
  const auto it = j.find(name);
  if (it == j.end() || it->is_null()) {
    return required ? field_error(name, "a number") : "";
  }
  if (!it->is_number()) {
    return field_error(name, "a number");
  }
  out = it->get<double>();
  return "";
}

std::string read_int(const json& j, std::string_view name, std::int64_t& out, std::int64_t min,
                     std::int64_t max, bool required) {
  const auto range = "an integer from " + std::to_string(min) + " to " + std::to_string(max);
  const auto it = j.find(name);
  if (it == j.end() || it->is_null()) {
    return required ? field_error(name, range) : "";
  }
  std::optional<std::int64_t> value;
  if (it->is_number_unsigned()) {
    const auto v = it->get<std::uint64_t>();
    if (v <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      value = static_cast<std::int64_t>(v);
    }
  } else if (it->is_number_integer()) {
    value = it->get<std::int64_t>();
  }
  if (!value || *value < min || *value > max) {
    return field_error(name, range);
  }
  out = *value;
  return "";
}

std::string read_int32(const json& j, std::string_view name, int& out, bool required) {
  std::int64_t value = out;
  auto error = read_int(j, name, value, std::numeric_limits<int>::min(),
                        std::numeric_limits<int>::max(), required);
  if (error.empty()) {
    out = static_cast<int>(value);
  }
  return error;
}

bool has_nul(const std::string& text) { return text.find('\0') != std::string::npos; }

std::string need_object(const json& j) { return j.is_object() ? "" : "expected a json object"; }

}  // namespace

json encode(const AuthParams& value) { return json{{"token", value.token}}; }

std::string decode(const json& j, AuthParams& out) {
  std::string error = need_object(j);
  if (error.empty()) {
    error = read_string(j, "token", out.token, true);
  }
  return error;
}

json encode(const HealthResult& value) {
  json out{{"uptime_s", value.uptime_s},
           {"boot_id", value.boot_id},
           {"version", value.version},
           {"hostname", value.hostname}};
  if (value.ssh_host_key) {
    out["ssh_host_key"] = *value.ssh_host_key;
  }
  return out;
}

json encode(const PortEntry& value) {
  return json{{"proto", value.proto}, {"family", value.family}, {"address", value.address},
              {"port", value.port},   {"pid", value.pid},       {"process", value.process}};
}

json encode(const PortsResult& value) {
  json ports = json::array();
  for (const auto& entry : value.ports) {
    ports.push_back(encode(entry));
  }
  return json{{"ports", std::move(ports)}};
}

json encode(const ExecParams& value) {
  json env = json::object();
  for (const auto& [key, val] : value.env) {
    env[key] = val;
  }
  return json{{"argv", value.argv},
              {"env", std::move(env)},
              {"cwd", value.cwd},
              {"stdin_b64", base64_encode(value.stdin_data)},
              {"timeout_s", value.timeout_s}};
}

json encode(const ExecResult& value) {
  return json{{"exit_code", value.exit_code},
              {"signal", value.signal},
              {"timed_out", value.timed_out},
              {"stdout_b64", base64_encode(value.stdout_data)},
              {"stderr_b64", base64_encode(value.stderr_data)},
              {"stdout_truncated", value.stdout_truncated},
              {"stderr_truncated", value.stderr_truncated}};
}

std::string decode(const json& j, HealthResult& out) {
  std::string error = need_object(j);
  if (error.empty()) {
    error = read_double(j, "uptime_s", out.uptime_s, true);
  }
  if (error.empty()) {
    error = read_string(j, "boot_id", out.boot_id, true);
  }
  if (error.empty()) {
    error = read_string(j, "version", out.version, true);
  }
  if (error.empty()) {
    error = read_string(j, "hostname", out.hostname, false);
  }
  if (error.empty() && j.contains("ssh_host_key")) {
    std::string key;
    error = read_string(j, "ssh_host_key", key, true);
    if (error.empty() && key.size() > kMaxSshHostKeyChars) {
      error = "field \"ssh_host_key\": longer than " + std::to_string(kMaxSshHostKeyChars) +
              " characters";
    }
    if (error.empty()) {
      out.ssh_host_key = std::move(key);
    }
  }
  return error;
}

std::string decode(const json& j, PortEntry& out) {
  std::string error = need_object(j);
  std::int64_t port = 0;
  if (error.empty()) {
    error = read_string(j, "proto", out.proto, true);
  }
  if (error.empty()) {
    error = read_string(j, "family", out.family, true);
  }
  if (error.empty()) {
    error = read_string(j, "address", out.address, true);
  }
  if (error.empty()) {
    error = read_int(j, "port", port, 0, 65535, true);
    out.port = static_cast<std::uint16_t>(port);
  }
  if (error.empty()) {
    error = read_int(j, "pid", out.pid, 0, std::numeric_limits<std::int32_t>::max(), false);
  }
  if (error.empty()) {
    error = read_string(j, "process", out.process, false);
  }
  return error;
}

std::string decode(const json& j, PortsResult& out) {
  std::string error = need_object(j);
  if (!error.empty()) {
    return error;
  }
  const auto it = j.find("ports");
  if (it == j.end() || !it->is_array()) {
    return field_error("ports", "an array");
  }
  out.ports.clear();
  out.dropped = 0;
  // The guest chooses the list: keep a bounded, duplicate-free prefix (the host probes each
  // kept TCP entry).
  std::set<std::tuple<std::string, std::string, std::string, std::uint16_t>> seen;
  for (std::size_t i = 0; i < it->size(); ++i) {
    PortEntry entry;
    error = decode((*it)[i], entry);
    if (!error.empty()) {
      return "ports[" + std::to_string(i) + "]: " + error;
    }
    if (out.ports.size() >= kMaxPortEntries ||
        !seen.emplace(entry.proto, entry.family, entry.address, entry.port).second) {
      ++out.dropped;
      continue;
    }
    out.ports.push_back(std::move(entry));
  }
  return "";
}

std::string decode(const json& j, ExecParams& out) {
  std::string error = need_object(j);
  if (!error.empty()) {
    return error;
  }
  const auto argv_it = j.find("argv");
  if (argv_it == j.end() || !argv_it->is_array() || argv_it->empty()) {
    return field_error("argv", "a non-empty array of strings");
  }
  out.argv.clear();
  for (const auto& arg : *argv_it) {
    if (!arg.is_string() || has_nul(arg.get_ref<const std::string&>())) {
      return field_error("argv", "a non-empty array of strings without NUL bytes");
    }
    out.argv.push_back(arg.get<std::string>());
  }
  if (out.argv.front().empty()) {
    return field_error("argv", "a non-empty program name in argv[0]");
  }
  out.env.clear();
  if (const auto env_it = j.find("env"); env_it != j.end() && !env_it->is_null()) {
    if (!env_it->is_object()) {
      return field_error("env", "an object of strings");
    }
    for (const auto& [key, val] : env_it->items()) {
      if (!val.is_string() || key.empty() || key.find('=') != std::string::npos || has_nul(key) ||
          has_nul(val.get_ref<const std::string&>())) {
        return field_error("env", "an object of strings with names without '=' or NUL bytes");
      }
      out.env[key] = val.get<std::string>();
    }
  }
  error = read_string(j, "cwd", out.cwd, false);
  if (error.empty() && has_nul(out.cwd)) {
    error = field_error("cwd", "a path without NUL bytes");
  }
  if (error.empty()) {
    error = read_bytes_b64(j, "stdin_b64", out.stdin_data, false);
  }
  if (error.empty()) {
    error = read_double(j, "timeout_s", out.timeout_s, false);
    if (error.empty() && (!std::isfinite(out.timeout_s) || out.timeout_s < 0)) {
      error = field_error("timeout_s", "a number >= 0");
    }
  }
  return error;
}

std::string decode(const json& j, ExecResult& out) {
  std::string error = need_object(j);
  if (error.empty()) {
    error = read_int32(j, "exit_code", out.exit_code, true);
  }
  if (error.empty()) {
    error = read_int32(j, "signal", out.signal, false);
  }
  if (error.empty()) {
    error = read_bool(j, "timed_out", out.timed_out, false);
  }
  if (error.empty()) {
    error = read_bytes_b64(j, "stdout_b64", out.stdout_data, false);
  }
  if (error.empty()) {
    error = read_bytes_b64(j, "stderr_b64", out.stderr_data, false);
  }
  if (error.empty()) {
    error = read_bool(j, "stdout_truncated", out.stdout_truncated, false);
  }
  if (error.empty()) {
    error = read_bool(j, "stderr_truncated", out.stderr_truncated, false);
  }
  return error;
}

}  // namespace banger::agentproto
