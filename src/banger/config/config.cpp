#include "banger/config/config.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <functional>
#include <utility>

#include <toml++/toml.h>

#include "banger/base/expected.hpp"
#include "banger/base/strings.hpp"
#include "banger/catalog/fetch.hpp"
#include "banger/config/duration.hpp"
#include "banger/config/size.hpp"
#include "banger/sys/fs.hpp"

namespace banger::config {
namespace {

// How a TOML value is shown after "got" in error messages.
std::string describe(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::string:
      return fmt::format("\"{}\"", node.as_string()->get());
    case toml::node_type::integer:
      return fmt::format("{}", node.as_integer()->get());
    case toml::node_type::floating_point:
      return fmt::format("{}", node.as_floating_point()->get());
    case toml::node_type::boolean:
      return node.as_boolean()->get() ? "true" : "false";
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

tl::unexpected<Error> bad(std::string message) {
  return fail(Errc::invalid_argument, std::move(message));
}

tl::unexpected<Error> must_be(std::string_view key, std::string_view what, const toml::node& node) {
  return bad(fmt::format("{} must be {}, got {}", key, what, describe(node)));
}

Expected<std::string> get_string(std::string_view key, const toml::node& node) {
  if (!node.is_string()) {
    return must_be(key, "a string", node);
  }
  return node.as_string()->get();
}

Expected<int64_t> get_int_between(std::string_view key, const toml::node& node, int64_t low,
                                  int64_t high) {
  if (!node.is_integer() || node.as_integer()->get() < low || node.as_integer()->get() > high) {
    return must_be(key, fmt::format("an integer between {} and {}", low, high), node);
  }
  return node.as_integer()->get();
}

// A size as a string ("8G") or an integer number of MiB.
Expected<int64_t> get_size(std::string_view key, const toml::node& node) {
  Expected<int64_t> mib = 0;
  if (node.is_string()) {
    mib = parse_size_mib(node.as_string()->get());
  } else if (node.is_integer()) {
    mib = parse_size_mib(fmt::format("{}", node.as_integer()->get()));
  } else {
    return must_be(key, "a size such as \"8G\" or \"512M\", or an integer number of MiB", node);
  }
  if (!mib) {
    return tl::unexpected(with_context(mib.error(), key));
  }
  return mib;
}

// A duration string ("30m"); the integer 0 is accepted as "0".
Expected<std::chrono::seconds> get_duration(std::string_view key, const toml::node& node) {
  if (node.is_integer() && node.as_integer()->get() == 0) {
    return std::chrono::seconds(0);
  }
  if (!node.is_string()) {
    return must_be(key, "a duration string such as \"90s\", \"30m\" or \"2h\"", node);
  }
  auto duration = parse_duration(node.as_string()->get());
  if (!duration) {
    return tl::unexpected(with_context(duration.error(), key));
  }
  return duration;
}

bool is_ipv4(const std::string& text) {
  in_addr addr{};
  return ::inet_pton(AF_INET, text.c_str(), &addr) == 1;
}

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

// Image and kernel names (SPEC S10): [A-Za-z0-9._-]+, no traversal.
bool is_catalog_name(std::string_view name) {
  if (name.empty() || name == "." || name == "..") {
    return false;
  }
  for (char c : name) {
    if (!is_name_char(c)) {
      return false;
    }
  }
  return true;
}

// Linux interface names: 1..15 bytes; we allow [A-Za-z0-9_.-] and refuse "." and "..".
bool is_interface_name(std::string_view name) {
  return name.size() <= kMaxInterfaceNameLength && is_catalog_name(name);
}

// file_sync[i].guest ("/root/<rest>" or "~/<rest>") as the absolute guest path "/root/<rest>",
// with empty and "." components dropped. Refused: anything not below /root ("~user/", "/etc",
// "/root" itself), ".." components, control characters, and banger's own /root/.banger.
Expected<std::string> normalise_guest(const std::string& key, const std::string& guest,
                                      const toml::node& n) {
  std::string_view rest;
  if (guest.starts_with("/root/")) {
    rest = std::string_view(guest).substr(6);
  } else if (guest.starts_with("~/")) {
    rest = std::string_view(guest).substr(2);
  }
  std::vector<std::string> parts;
  for (auto& part : base::split(rest, '/')) {
    if (part == "..") {
      parts.clear();
      break;
    }
    if (!part.empty() && part != ".") {
      parts.push_back(std::move(part));
    }
  }
  if (parts.empty()) {
    return must_be(key, "a path under /root or ~/ without \"..\"", n);
  }
  for (unsigned char c : guest) {
    if (c < 0x20 || c == 0x7f) {
      return bad(fmt::format("{} must not contain control characters", key));
    }
  }
  if (parts.front() == ".banger") {
    return bad(
        fmt::format("{} must not be in /root/.banger, which banger rewrites at every "
                    "start, got {}",
                    key, describe(n)));
  }
  return "/root/" + base::join(parts, "/");
}

// Returns the smallest edit distance between two short keys (for "did you mean").
std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) {
    row[j] = j;
  }
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

using Handler = std::function<Status(const toml::node&)>;
using HandlerTable = std::vector<std::pair<std::string_view, Handler>>;

// What one parse_config call carries besides the Config: where the first error is, the
// deprecation notes so far, and the home "~/" paths expand against.
struct ParseState {
  std::string source;
  std::string home;
  std::uint32_t error_line = 0;  // 0 = unknown; set once, by the innermost table that failed
  std::vector<std::pair<std::uint32_t, std::string>> notes;  // (line, deprecation note)

  void locate(const toml::source_region& where) {
    if (error_line == 0) {
      error_line = where.begin.line;
    }
  }
  // "<source>:<line>: <text>".
  std::string at(const toml::source_region& where, std::string_view text) const {
    return fmt::format("{}:{}: {}", source, where.begin.line, text);
  }
};

// Runs the handler for each key of table; a key without a handler is an error naming it as
// <prefix><key>, with a suggestion when a known key is a typo away. A failing key's line goes
// into state (the line of its value, or of the key when it is unknown).
Status apply_table(const toml::table& table, const HandlerTable& handlers, std::string_view prefix,
                   ParseState& state) {
  for (auto&& [key, node] : table) {
    const Handler* handler = nullptr;
    std::string_view suggestion;
    for (const auto& [name, candidate] : handlers) {
      if (name == key.str()) {
        handler = &candidate;
        break;
      }
      if (suggestion.empty() && edit_distance(name, key.str()) <= 2) {
        suggestion = name;
      }
    }
    if (handler == nullptr) {
      std::string message = fmt::format("unknown key \"{}{}\"", prefix, key.str());
      if (!suggestion.empty()) {
        message += fmt::format(" (did you mean \"{}{}\"?)", prefix, suggestion);
      }
      state.locate(key.source());
      return bad(std::move(message));
    }
    if (auto handled = (*handler)(node); !handled) {
      state.locate(node.source());
      return handled;
    }
  }
  return {};
}

// A size key ("2G", or an integer number of MiB) stored into an optional field.
Handler size_key(std::string_view key, std::optional<int64_t>& field) {
  return [key, &field](const toml::node& n) -> Status {
    BANGER_TRY_ASSIGN(field, get_size(key, n));
    return {};
  };
}

Status parse_vm_defaults(const toml::node& node, VmDefaultsConfig& out, ParseState& state) {
  if (!node.is_table()) {
    return must_be("vm_defaults", "a table ([vm_defaults])", node);
  }
  HandlerTable handlers{
      {"vcpu",
       [&](const toml::node& n) -> Status {
         BANGER_TRY_ASSIGN(auto v, get_int_between("vm_defaults.vcpu", n, 1, kMaxVcpu));
         out.vcpu = static_cast<int>(v);
         return {};
       }},
      {"memory_mib",
       [&](const toml::node& n) -> Status {
         BANGER_TRY_ASSIGN(auto v, get_size("vm_defaults.memory_mib", n));
         if (v < kMinMemoryMib) {
           return bad(fmt::format("vm_defaults.memory_mib must be at least {}, got {}",
                                  format_size_mib(kMinMemoryMib), format_size_mib(v)));
         }
         out.memory_mib = v;
         return {};
       }},
      {"disk_size", size_key("vm_defaults.disk_size", out.disk_size_mib)},
      {"rootfs_overlay_size",
       size_key("vm_defaults.rootfs_overlay_size", out.rootfs_overlay_size_mib)},
  };
  return apply_table(*node.as_table(), handlers, "vm_defaults.", state);
}

Expected<FileSync> parse_file_sync_entry(const toml::table& table, std::size_t index,
                                         ParseState& state) {
  const std::string prefix = fmt::format("file_sync[{}].", index);
  FileSync entry;
  bool has_host = false;
  bool has_guest = false;
  HandlerTable handlers{
      {"host",
       [&](const toml::node& n) -> Status {
         BANGER_TRY_ASSIGN(entry.host, get_string(prefix + "host", n));
         if (!entry.host.starts_with("/") && !entry.host.starts_with("~/")) {
           return must_be(prefix + "host", "an absolute path or start with ~/", n);
         }
         has_host = true;
         return {};
       }},
      {"guest",
       [&](const toml::node& n) -> Status {
         BANGER_TRY_ASSIGN(entry.guest, get_string(prefix + "guest", n));
         BANGER_TRY_ASSIGN(entry.guest_path, normalise_guest(prefix + "guest", entry.guest, n));
         has_guest = true;
         return {};
       }},
      {"mode",
       [&](const toml::node& n) -> Status {
         const std::string key = prefix + "mode";
         const char* what = "an octal string such as \"0600\" or \"0755\"";
         if (!n.is_string()) {
           return must_be(key, what, n);
         }
         const std::string& text = n.as_string()->get();
         if (text.size() < 3 || text.size() > 4) {
           return must_be(key, what, n);
         }
         mode_t mode = 0;
         for (char c : text) {
           if (c < '0' || c > '7') {
             return must_be(key, what, n);
           }
           mode = static_cast<mode_t>(mode * 8 + static_cast<mode_t>(c - '0'));
         }
         if (mode > 0777) {
           return must_be(key, "permission bits only (0000 to 0777)", n);
         }
         entry.mode = mode;
         return {};
       }},
  };
  BANGER_TRY(apply_table(table, handlers, prefix, state));
  if (!has_host || !has_guest) {
    state.locate(table.source());
    return bad(fmt::format("{}{} is required", prefix, has_host ? "guest" : "host"));
  }
  if (entry.host.starts_with("/")) {
    entry.host_path = entry.host;  // "~/..." is expanded by load_config, which knows the home
  }
  return entry;
}

Status parse_file_sync(const toml::node& node, std::vector<FileSync>& out, ParseState& state) {
  const char* what = "an array of tables ([[file_sync]] entries)";
  if (!node.is_array()) {
    return must_be("file_sync", what, node);
  }
  const toml::array& array = *node.as_array();
  for (std::size_t i = 0; i < array.size(); ++i) {
    if (!array[i].is_table()) {
      state.locate(array[i].source());
      return bad(
          fmt::format("file_sync must be {}, got {} at index {}", what, describe(array[i]), i));
    }
    BANGER_TRY_ASSIGN(auto entry, parse_file_sync_entry(*array[i].as_table(), i, state));
    out.push_back(std::move(entry));
  }
  return {};
}

// A string key whose value must satisfy valid(); otherwise "<key> must be <what>, got ...".
Handler string_key(std::string_view key, std::string& field, std::string_view what,
                   std::function<bool(const std::string&)> valid) {
  return [key, &field, what, valid = std::move(valid)](const toml::node& n) -> Status {
    BANGER_TRY_ASSIGN(auto value, get_string(key, n));
    if (!valid(value)) {
      return must_be(key, what, n);
    }
    field = std::move(value);
    return {};
  };
}

// "registry.lan", "registry.lan:5000", "10.0.0.5:5000": a host name or IPv4 address with an
// optional port.
bool is_registry_host(const std::string& text) {
  auto colon = text.find(':');
  std::string host = text.substr(0, colon);
  if (host.empty() || host.size() > 253 || host.front() == '-' || host.front() == '.') {
    return false;
  }
  for (char ch : host) {
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '.' && ch != '-') {
      return false;
    }
  }
  if (colon == std::string::npos) {
    return true;
  }
  std::string port = text.substr(colon + 1);
  if (port.empty() || port.size() > 5 || !std::all_of(port.begin(), port.end(), [](char ch) {
        return std::isdigit(static_cast<unsigned char>(ch));
      })) {
    return false;
  }
  int value = std::stoi(port);
  return value >= 1 && value <= 65535;
}

bool is_host_port(const std::string& text) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos || !is_ipv4(text.substr(0, colon))) {
    return false;
  }
  std::string_view port = std::string_view(text).substr(colon + 1);
  if (port.empty() || port.size() > 5) {
    return false;
  }
  int value = 0;
  for (char c : port) {
    if (c < '0' || c > '9') {
      return false;
    }
    value = value * 10 + (c - '0');
  }
  return value >= 1 && value <= 65535;
}

bool is_program(const std::string& text) {
  return !text.empty() && (text.front() == '/' || text.find('/') == std::string::npos);
}

// bridge_ip must be a host address of its /cidr network, not the network or broadcast one.
Status check_bridge_network(const Config& config) {
  in_addr addr{};
  ::inet_pton(AF_INET, config.bridge_ip.c_str(), &addr);
  uint32_t ip = ntohl(addr.s_addr);
  uint32_t mask = ~uint32_t{0} << (32 - config.cidr);
  if ((ip & ~mask) == 0 || (ip & ~mask) == ~mask) {
    in_addr network{htonl(ip & mask)};
    char text[INET_ADDRSTRLEN] = {};
    ::inet_ntop(AF_INET, &network, text, sizeof text);
    return bad(fmt::format(
        "bridge_ip {} is the {} address of {}/{}: use a host address inside "
        "the network, such as the first one",
        config.bridge_ip, (ip & ~mask) == 0 ? "network" : "broadcast", text, config.cidr));
  }
  return {};
}

// A string key whose value must be one of the names of `names` (a base::EnumNames table).
template <class Field, class Names>
Handler enum_key(std::string_view key, Field& field, const Names& names) {
  return [key, &field, &names](const toml::node& n) -> Status {
    if (n.is_string()) {
      if (auto value = names.parse(n.as_string()->get())) {
        field = *value;
        return {};
      }
    }
    return must_be(key, "one of " + names.allowed(), n);
  };
}

// A duration key ("30s", "5m", ...) of at least `minimum`.
Handler duration_key(std::string_view key, std::chrono::seconds& field,
                     std::chrono::seconds minimum) {
  return [key, &field, minimum](const toml::node& n) -> Status {
    BANGER_TRY_ASSIGN(auto value, get_duration(key, n));
    if (value < minimum) {
      return bad(fmt::format("{} must be at least {}, got {}", key, format_duration(minimum),
                             describe(n)));
    }
    field = value;
    return {};
  };
}

// A boolean key (true or false).
Handler bool_key(std::string_view key, bool& field) {
  return [key, &field](const toml::node& n) -> Status {
    if (!n.is_boolean()) {
      return must_be(key, "true or false", n);
    }
    field = n.as_boolean()->get();
    return {};
  };
}

// An integer key between low and high (inclusive).
Handler int_key(std::string_view key, int& field, int64_t low, int64_t high) {
  return [key, &field, low, high](const toml::node& n) -> Status {
    BANGER_TRY_ASSIGN(auto v, get_int_between(key, n, low, high));
    field = static_cast<int>(v);
    return {};
  };
}

constexpr std::string_view kCatalogLocation =
    "\"\", an absolute path, a path starting with ~/, file:///path, https://... or http:// to a "
    "loopback host";

bool is_catalog_location(const std::string& value) {
  return value.empty() || catalog::parse_location(value).has_value();
}

constexpr std::string_view kProgram =
    "a program name looked up in PATH, an absolute path or a path starting with ~/";

// A path key whose value may start with "~/" (expanded against state.home; an error without
// one) and must then satisfy valid(); otherwise "<key> must be <what>, got ...".
Handler path_key(std::string_view key, std::string& field, std::string_view what,
                 std::function<bool(const std::string&)> valid, const ParseState& state) {
  return [key, &field, what, valid = std::move(valid), &state](const toml::node& n) -> Status {
    BANGER_TRY_ASSIGN(auto value, get_string(key, n));
    if (value.starts_with("~/")) {
      if (state.home.empty()) {
        return bad(
            fmt::format("{}: \"~/\" needs a home directory, and neither HOME nor the "
                        "passwd entry names one",
                        key));
      }
      value = state.home + value.substr(1);
    }
    if (!valid(value)) {
      return must_be(key, what, n);
    }
    field = std::move(value);
    return {};
  };
}

// The original banger's spelling of a key: accepted with a deprecation note naming the
// replacement, handled by target; an error when the replacement is set as well.
Handler deprecated(std::string_view old_key, std::string_view replacement, bool replacement_set,
                   Handler target, ParseState& state) {
  return [old_key, replacement, replacement_set, target = std::move(target),
          &state](const toml::node& n) -> Status {
    if (replacement_set) {
      return bad(fmt::format("\"{}\" is deprecated and {} is set as well: remove \"{}\"", old_key,
                             replacement, old_key));
    }
    state.notes.emplace_back(
        n.source().begin.line,
        state.at(n.source(), fmt::format("\"{}\" is deprecated: use {}", old_key, replacement)));
    return target(n);
  };
}

bool has_overlay_size(const toml::table& root) {
  const auto* defaults = root.get_as<toml::table>("vm_defaults");
  return defaults != nullptr && defaults->contains("rootfs_overlay_size");
}

constexpr std::string_view kImageName = "an image name of letters, digits, '.', '_' or '-'";

// The top-level keys and what each accepts; every handler writes into c.
Status parse_insecure_registries(const toml::node& n, std::vector<std::string>& out,
                                 ParseState& state) {
  const auto* list = n.as_array();
  if (list == nullptr) {
    return must_be("insecure_registries",
                   "a list of registry hosts such as [\"registry.lan:5000\"]", n);
  }
  out.clear();
  for (const auto& item : *list) {
    BANGER_TRY_ASSIGN(auto host, get_string("insecure_registries", item));
    if (!is_registry_host(host)) {
      state.locate(item.source());
      return bad(
          fmt::format("insecure_registries: \"{}\" is not a registry host: give host or "
                      "host:port, without a scheme or path",
                      host));
    }
    out.push_back(host);
  }
  return {};
}

Status parse_headroom(const toml::node& n, double& out) {
  std::optional<double> value;
  if (n.is_floating_point()) {
    value = n.as_floating_point()->get();
  } else if (n.is_integer()) {
    value = static_cast<double>(n.as_integer()->get());
  }
  if (!value || !(*value >= 1.0 && *value <= 10.0)) {
    return must_be("pull_size_headroom", "a number from 1.0 to 10.0, such as 1.5", n);
  }
  out = *value;
  return {};
}

Status apply_config(const toml::table& root, Config& c, ParseState& state) {
  auto image_key = [&](std::string_view key) {
    return string_key(key, c.default_image, kImageName,
                      [](const std::string& v) { return is_catalog_name(v); });
  };
  auto poll_key = [&](std::string_view key) {
    return duration_key(key, c.stats_poll_interval, std::chrono::seconds(1));
  };
  HandlerTable handlers{
      {"log_level", enum_key("log_level", c.log_level, base::kLogLevelNames)},
      {"vmm", enum_key("vmm", c.vmm, model::kVmmChoiceNames)},
      {"firecracker_bin",
       path_key("firecracker_bin", c.firecracker_bin, kProgram, is_program, state)},
      {"qemu_bin", path_key("qemu_bin", c.qemu_bin, kProgram, is_program, state)},
      {"jailer_enabled", bool_key("jailer_enabled", c.jailer_enabled)},
      {"jailer_bin", path_key("jailer_bin", c.jailer_bin, kProgram, is_program, state)},
      {"accel", enum_key("accel", c.accel, kAccelChoiceNames)},
      {"ssh_key_path",
       path_key(
           "ssh_key_path", c.ssh_key_path, "an absolute path or a path starting with ~/",
           [](const std::string& v) { return v.starts_with("/"); }, state)},
      {"default_image", image_key("default_image")},
      {"default_kernel",
       string_key("default_kernel", c.default_kernel,
                  "a kernel name of letters, digits, '.', '_' or '-' (or \"\" for the image's)",
                  [](const std::string& v) { return v.empty() || is_catalog_name(v); })},
      {"bridge_name",
       string_key("bridge_name", c.bridge_name,
                  "a network interface name of 1 to 15 letters, digits, '.', '_' or '-'",
                  [](const std::string& v) { return is_interface_name(v); })},
      {"bridge_ip",
       string_key("bridge_ip", c.bridge_ip, "an IPv4 address such as 172.16.0.1", is_ipv4)},
      {"cidr", int_key("cidr", c.cidr, kMinCidr, kMaxCidr)},
      {"tap_pool_size", int_key("tap_pool_size", c.tap_pool_size, 0, kMaxTapPoolSize)},
      {"default_dns",
       string_key("default_dns", c.default_dns,
                  "an IPv4 address such as 1.1.1.1 (or \"\" for banger's DNS on the bridge IP)",
                  [](const std::string& v) { return v.empty() || is_ipv4(v); })},
      {"dns_listen", string_key("dns_listen", c.dns_listen,
                                "an IPv4 address and a port from 1 to 65535, such as "
                                "127.0.0.1:42069",
                                is_host_port)},
      {"auto_stop_stale_after",
       duration_key("auto_stop_stale_after", c.auto_stop_stale_after, std::chrono::seconds(0))},
      {"stats_poll_interval", poll_key("stats_poll_interval")},
      {"catalog_url",
       path_key("catalog_url", c.catalog_url, kCatalogLocation, is_catalog_location, state)},
      {"insecure_registries",
       [&](const toml::node& n) {
         return parse_insecure_registries(n, c.insecure_registries, state);
       }},
      {"pull_size_headroom",
       [&](const toml::node& n) { return parse_headroom(n, c.pull_size_headroom); }},
      {"workspace_max_size",
       [&](const toml::node& n) -> Status {
         BANGER_TRY_ASSIGN(auto v, get_size("workspace_max_size", n));
         if (v < 1) {
           return bad(
               fmt::format("workspace_max_size must be at least 1M, got {}", format_size_mib(v)));
         }
         c.workspace_max_size_mib = v;
         return {};
       }},
      {"vm_defaults",
       [&](const toml::node& n) { return parse_vm_defaults(n, c.vm_defaults, state); }},
      {"file_sync", [&](const toml::node& n) { return parse_file_sync(n, c.file_sync, state); }},
      // The original banger's names (docs/config.md "Deprecated names").
      {"default_image_name",
       deprecated("default_image_name", "\"default_image\"", root.contains("default_image"),
                  image_key("default_image_name"), state)},
      {"system_overlay_size",
       deprecated("system_overlay_size", "\"rootfs_overlay_size\" in [vm_defaults]",
                  has_overlay_size(root),
                  size_key("system_overlay_size", c.vm_defaults.rootfs_overlay_size_mib), state)},
      {"metrics_poll_interval",
       deprecated("metrics_poll_interval", "\"stats_poll_interval\"",
                  root.contains("stats_poll_interval"), poll_key("metrics_poll_interval"), state)},
  };
  BANGER_TRY(apply_table(root, handlers, "", state));
  auto network = check_bridge_network(c);
  if (!network) {
    if (const auto* ip = root.get("bridge_ip")) {
      state.locate(ip->source());
    }
  }
  return network;
}

std::string lower_first(std::string_view text) {
  std::string out(text);
  if (!out.empty() && out[0] >= 'A' && out[0] <= 'Z') {
    out[0] = static_cast<char>(out[0] - 'A' + 'a');
  }
  return out;
}

}  // namespace

std::string_view vmm_choice_name(VmmChoice choice) { return model::to_string(choice); }

std::string_view accel_choice_name(AccelChoice choice) { return kAccelChoiceNames.name(choice); }

Config default_config(const paths::Paths& paths) {
  Config config;
  config.ssh_key_path = paths.ssh_dir + "/id_ed25519";
  return config;
}

Expected<Config> parse_config(std::string_view toml_text, const std::string& source_name,
                              const paths::Paths& paths, const std::string& home) {
  Config config = default_config(paths);
  toml::table root;
  // Debian's libtomlplusplus.so is built with TOML_EXCEPTIONS=1 (it exports only the
  // toml::v3::ex:: ABI), so toml::parse reports syntax errors by throwing toml::parse_error
  // and a header-side TOML_EXCEPTIONS=0 would not link. This single call is therefore wrapped
  // and converted to an Error; nothing else in toml++'s read API that we use throws.
  try {
    root = toml::parse(toml_text, source_name);
  } catch (const toml::parse_error& e) {
    return fail(Errc::invalid_argument,
                fmt::format("{}:{}:{}: {}", source_name, e.source().begin.line,
                            e.source().begin.column, lower_first(e.description())));
  }
  ParseState state{.source = source_name, .home = home, .error_line = 0, .notes = {}};
  auto applied = apply_config(root, config, state);
  if (!applied) {
    std::string where =
        state.error_line == 0 ? source_name : fmt::format("{}:{}", source_name, state.error_line);
    return tl::unexpected(with_context(applied.error(), where));
  }
  // Tables iterate in key order: list the notes in file order (ties, keys on one line, by text).
  // Not stable_sort: libstdc++ 12's uses get_temporary_buffer, deprecated for clang's C++20.
  std::sort(state.notes.begin(), state.notes.end());
  for (auto& note : state.notes) {
    config.notes.push_back(std::move(note.second));
  }
  return config;
}

Expected<Config> load_config(const paths::Paths& paths, const paths::Environment& env) {
  Config config = default_config(paths);
  auto text = sys::read_file(paths.config_file);
  if (text) {
    BANGER_TRY_ASSIGN(config, parse_config(*text, paths.config_file, paths, env.home));
  } else if (text.error().sys_errno != ENOENT) {
    return tl::unexpected(with_context(text.error(), "loading config"));
  }
  for (std::size_t i = 0; i < config.file_sync.size(); ++i) {
    FileSync& entry = config.file_sync[i];
    if (entry.host.starts_with("~/")) {
      if (env.home.empty()) {
        return fail(Errc::invalid_argument,
                    fmt::format("{}: file_sync[{}].host: \"~/\" needs a home directory, and "
                                "neither HOME nor the passwd entry names one",
                                paths.config_file, i));
      }
      entry.host_path = env.home + entry.host.substr(1);
    }
  }
  std::string level = env.get("BANGER_LOG_LEVEL");
  if (!level.empty()) {
    auto parsed = base::parse_log_level(level);
    if (!parsed) {
      return fail(Errc::invalid_argument,
                  fmt::format("BANGER_LOG_LEVEL must be one of {}, got \"{}\"",
                              base::kLogLevelNames.allowed(), level));
    }
    config.log_level = *parsed;
  }
  return config;
}

}  // namespace banger::config
