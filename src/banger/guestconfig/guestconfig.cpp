#include "banger/guestconfig/guestconfig.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <cstdint>
#include <optional>
#include <string_view>

#include "banger/base/expected.hpp"

namespace banger::guestconfig {
namespace {

constexpr std::size_t kMaxNameLength = 63;
constexpr std::size_t kIdLength = 16;
constexpr std::size_t kAgentTokenLength = 64;  // agentproto::kAgentTokenHexChars
constexpr std::size_t kMaxDnsServers = 3;      // glibc's MAXNS: later nameserver lines are ignored
constexpr int kMinPrefix = 1;
constexpr int kMaxPrefix = 30;  // leaves room for a gateway and a guest

constexpr std::string_view kManagedHeader = "# managed by banger: rewritten at every vm start\n";

bool is_name_char(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; }

bool valid_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameLength || name.front() == '-') {
    return false;
  }
  for (char c : name) {
    if (!is_name_char(c)) {
      return false;
    }
  }
  return true;
}

bool valid_id(std::string_view id) {
  if (id.size() != kIdLength) {
    return false;
  }
  for (char c : id) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return true;
}

// Host-order IPv4 value of text, or nullopt when it is not a dotted quad.
std::optional<std::uint32_t> parse_ipv4(const std::string& text) {
  in_addr addr{};
  if (::inet_pton(AF_INET, text.c_str(), &addr) != 1) {
    return std::nullopt;
  }
  return ntohl(addr.s_addr);
}

bool valid_ip_any(const std::string& text) {
  in6_addr addr6{};
  return parse_ipv4(text).has_value() || ::inet_pton(AF_INET6, text.c_str(), &addr6) == 1;
}

Status validate_keys(const std::string& keys) {
  if (keys.find('\0') != std::string::npos) {
    return fail(Errc::invalid_argument, "authorized_keys contains a NUL byte");
  }
  bool any = false;
  std::size_t line_no = 0;
  std::size_t pos = 0;
  while (pos <= keys.size()) {
    std::size_t end = keys.find('\n', pos);
    if (end == std::string::npos) {
      end = keys.size();
    }
    ++line_no;
    std::string_view line(keys.data() + pos, end - pos);
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    std::size_t first = line.find_first_not_of(" \t");
    if (first != std::string_view::npos && line[first] != '#') {
      std::string_view rest = line.substr(first);
      std::size_t gap = rest.find_first_of(" \t");
      if (gap == std::string_view::npos ||
          rest.find_first_not_of(" \t", gap) == std::string_view::npos) {
        return fail(Errc::invalid_argument,
                    fmt::format("authorized_keys line {} is not a public key: want \"<type> "
                                "<base64> [comment]\"",
                                line_no));
      }
      any = true;
    }
    pos = end + 1;
  }
  if (!any) {
    return fail(Errc::invalid_argument,
                "authorized_keys is empty: at least one public key is needed");
  }
  return {};
}

std::vector<std::string> nameservers(const GuestConfigSpec& spec) {
  if (spec.dns_servers.empty()) {
    return {spec.gateway};
  }
  return spec.dns_servers;
}

}  // namespace

Status validate_spec(const GuestConfigSpec& spec) {
  if (!valid_name(spec.vm_name)) {
    return fail(Errc::invalid_argument,
                fmt::format("invalid vm name \"{}\": use 1-63 characters: lowercase letters, "
                            "digits and '-', starting with a letter or digit",
                            spec.vm_name));
  }
  if (!valid_id(spec.vm_id)) {
    return fail(Errc::invalid_argument,
                fmt::format("invalid vm id \"{}\": want 16 lowercase hex characters", spec.vm_id));
  }
  auto guest = parse_ipv4(spec.guest_ip);
  if (!guest) {
    return fail(Errc::invalid_argument,
                fmt::format("invalid guest ip \"{}\": want an IPv4 address", spec.guest_ip));
  }
  auto gateway = parse_ipv4(spec.gateway);
  if (!gateway) {
    return fail(Errc::invalid_argument,
                fmt::format("invalid gateway \"{}\": want an IPv4 address", spec.gateway));
  }
  if (spec.prefix < kMinPrefix || spec.prefix > kMaxPrefix) {
    return fail(Errc::invalid_argument,
                fmt::format("invalid prefix {}: use {}-{}", spec.prefix, kMinPrefix, kMaxPrefix));
  }
  std::uint32_t mask = ~std::uint32_t{0} << (32 - spec.prefix);
  if ((*guest & mask) != (*gateway & mask)) {
    return fail(Errc::invalid_argument,
                fmt::format("guest ip {} is not in the gateway's network {}/{}", spec.guest_ip,
                            spec.gateway, spec.prefix));
  }
  if (*guest == *gateway) {
    return fail(Errc::invalid_argument,
                fmt::format("guest ip {} is the gateway's address", spec.guest_ip));
  }
  if (spec.dns_servers.size() > kMaxDnsServers) {
    return fail(Errc::invalid_argument,
                fmt::format("{} dns servers given: at most {} are used by the guest resolver",
                            spec.dns_servers.size(), kMaxDnsServers));
  }
  for (const auto& server : spec.dns_servers) {
    if (!valid_ip_any(server)) {
      return fail(Errc::invalid_argument,
                  fmt::format("invalid dns server \"{}\": want an IPv4 or IPv6 address", server));
    }
  }
  if (!spec.agent_token.empty() &&
      (spec.agent_token.size() != kAgentTokenLength ||
       spec.agent_token.find_first_not_of("0123456789abcdef") != std::string::npos)) {
    return fail(Errc::invalid_argument, "invalid agent token: want 64 lowercase hex characters");
  }
  return validate_keys(spec.authorized_keys);
}

std::string render_hostname(const GuestConfigSpec& spec) { return spec.vm_name + "\n"; }

std::string render_hosts(const GuestConfigSpec& spec) {
  return fmt::format(
      "{}"
      "127.0.0.1 localhost\n"
      "127.0.1.1 {} {}.vm\n"
      "::1 localhost ip6-localhost ip6-loopback\n"
      "ff02::1 ip6-allnodes\n"
      "ff02::2 ip6-allrouters\n",
      kManagedHeader, spec.vm_name, spec.vm_name);
}

std::string render_resolv_conf(const GuestConfigSpec& spec) {
  std::string out(kManagedHeader);
  for (const auto& server : nameservers(spec)) {
    out += fmt::format("nameserver {}\n", server);
  }
  out += "search vm\n";
  return out;
}

std::string render_env(const GuestConfigSpec& spec) {
  return fmt::format(
      "BANGER_VM_NAME={}\n"
      "BANGER_VM_ID={}\n"
      "BANGER_GUEST_IP={}\n"
      "BANGER_GATEWAY={}\n"
      "BANGER_PREFIX={}\n",
      spec.vm_name, spec.vm_id, spec.guest_ip, spec.gateway, spec.prefix);
}

std::string render_authorized_keys(const GuestConfigSpec& spec) {
  std::string out;
  std::size_t pos = 0;
  const std::string& keys = spec.authorized_keys;
  while (pos < keys.size()) {
    std::size_t end = keys.find('\n', pos);
    if (end == std::string::npos) {
      end = keys.size();
    }
    std::string_view line(keys.data() + pos, end - pos);
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    if (line.find_first_not_of(" \t") != std::string_view::npos) {
      out.append(line);
      out += '\n';
    }
    pos = end + 1;
  }
  return out;
}

Expected<std::vector<GuestFile>> render_work_disk_files(const GuestConfigSpec& spec) {
  BANGER_TRY(validate_spec(spec));
  using T = GuestFile::Type;
  std::string etc = kWorkDiskEtcDir;
  return std::vector<GuestFile>{
      {".ssh", "", 0700, T::directory},
      {".banger", "", 0755, T::directory},
      {etc, "", 0755, T::directory},
      {".ssh/authorized_keys", render_authorized_keys(spec), 0600, T::file},
      {".hushlogin", "", 0644, T::file},
      {etc + "/hostname", render_hostname(spec), 0644, T::file},
      {etc + "/hosts", render_hosts(spec), 0644, T::file},
      {etc + "/resolv.conf", render_resolv_conf(spec), 0644, T::file},
      {etc + "/banger.env", render_env(spec), 0644, T::file},
      {".banger/agent.token", spec.agent_token.empty() ? "" : spec.agent_token + "\n", 0600,
       T::file},
  };
}

Expected<std::vector<GuestFile>> render_root_etc_files(const GuestConfigSpec& spec) {
  BANGER_TRY(validate_spec(spec));
  using T = GuestFile::Type;
  return std::vector<GuestFile>{
      {"etc/hostname", render_hostname(spec), 0644, T::file},
      {"etc/hosts", render_hosts(spec), 0644, T::file},
      {"etc/resolv.conf", render_resolv_conf(spec), 0644, T::file},
  };
}

}  // namespace banger::guestconfig
