#include "banger/agentd/ports.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <set>
#include <tuple>

#include "banger/agentd/proc_files.hpp"

namespace banger::agentd {
namespace {

std::vector<std::string_view> split_ws(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) {
      ++i;
    }
    const std::size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') {
      ++i;
    }
    if (i > start) {
      out.push_back(line.substr(start, i - start));
    }
  }
  return out;
}

std::optional<std::uint64_t> parse_hex(std::string_view text) {
  if (text.empty() || text.size() > 16) {
    return std::nullopt;
  }
  std::uint64_t value = 0;
  for (const char c : text) {
    int digit = 0;
    if (c >= '0' && c <= '9') {
      digit = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      digit = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      digit = c - 'A' + 10;
    } else {
      return std::nullopt;
    }
    value = (value << 4) | static_cast<std::uint64_t>(digit);
  }
  return value;
}

std::optional<std::uint64_t> parse_dec(std::string_view text) {
  if (text.empty() || text.size() > 19) {
    return std::nullopt;
  }
  std::uint64_t value = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    value = value * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return value;
}

// "0100007F:1F90" (IPv4) or 32 hex digits + ":port" (IPv6); the kernel prints each 32-bit word
// of the address in host byte order.
bool parse_endpoint(std::string_view text, bool ipv6, std::string& address, std::uint16_t& port) {
  const auto colon = text.find(':');
  if (colon == std::string_view::npos) {
    return false;
  }
  const auto host = text.substr(0, colon);
  const auto port_value = parse_hex(text.substr(colon + 1));
  if (!port_value || *port_value > 0xffff) {
    return false;
  }
  char buffer[INET6_ADDRSTRLEN] = {};
  if (!ipv6) {
    const auto word = parse_hex(host);
    if (host.size() != 8 || !word) {
      return false;
    }
    in_addr addr{};
    addr.s_addr = static_cast<std::uint32_t>(*word);
    if (::inet_ntop(AF_INET, &addr, buffer, sizeof buffer) == nullptr) {
      return false;
    }
  } else {
    if (host.size() != 32) {
      return false;
    }
    in6_addr addr{};
    for (int i = 0; i < 4; ++i) {
      const auto word = parse_hex(host.substr(static_cast<std::size_t>(i) * 8, 8));
      if (!word) {
        return false;
      }
      const auto value = static_cast<std::uint32_t>(*word);
      std::copy_n(reinterpret_cast<const unsigned char*>(&value), 4, addr.s6_addr + i * 4);
    }
    if (::inet_ntop(AF_INET6, &addr, buffer, sizeof buffer) == nullptr) {
      return false;
    }
  }
  address = buffer;
  port = static_cast<std::uint16_t>(*port_value);
  return true;
}

bool all_digits(const char* name) {
  if (*name == '\0') {
    return false;
  }
  for (; *name != '\0'; ++name) {
    if (*name < '0' || *name > '9') {
      return false;
    }
  }
  return true;
}

// Names of the numeric entries of dir, sorted numerically.
std::vector<std::int64_t> numeric_entries(const std::string& dir) {
  std::vector<std::int64_t> out;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    return out;
  }
  while (const dirent* entry = ::readdir(d)) {
    if (all_digits(entry->d_name)) {
      if (auto value = parse_dec(entry->d_name)) {
        out.push_back(static_cast<std::int64_t>(*value));
      }
    }
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

std::vector<SocketEntry> parse_proc_net(std::string_view text, std::string_view proto,
                                        std::string_view family) {
  std::vector<SocketEntry> out;
  const bool tcp = proto == "tcp";
  const bool ipv6 = family == "ipv6";
  const std::string_view wanted_state = tcp ? "0A" : "07";
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto end = text.find('\n', pos);
    if (end == std::string_view::npos) {
      end = text.size();
    }
    const auto fields = split_ws(text.substr(pos, end - pos));
    pos = end + 1;
    // sl local rem st tx:rx tr:when retrnsmt uid timeout inode ...
    if (fields.size() < 10 || fields[0].empty() || fields[0].back() != ':' ||
        !parse_dec(fields[0].substr(0, fields[0].size() - 1))) {
      continue;
    }
    if (fields[3] != wanted_state) {
      continue;
    }
    SocketEntry entry;
    entry.proto = std::string(proto);
    entry.family = std::string(family);
    const auto inode = parse_dec(fields[9]);
    if (!inode || !parse_endpoint(fields[1], ipv6, entry.address, entry.port) || entry.port == 0) {
      continue;
    }
    entry.inode = *inode;
    out.push_back(std::move(entry));
  }
  return out;
}

std::map<std::uint64_t, SocketOwner> find_socket_owners(const std::string& proc_root,
                                                        const std::vector<std::uint64_t>& wanted) {
  std::map<std::uint64_t, SocketOwner> owners;
  const std::set<std::uint64_t> wanted_set(wanted.begin(), wanted.end());
  if (wanted_set.empty()) {
    return owners;
  }
  for (const auto pid : numeric_entries(proc_root)) {
    const std::string pid_dir = proc_root + "/" + std::to_string(pid);
    const std::string fd_dir = pid_dir + "/fd";
    std::optional<std::string> comm;
    for (const auto fd : numeric_entries(fd_dir)) {
      const std::string link = fd_dir + "/" + std::to_string(fd);
      char target[128];
      const ssize_t n = ::readlink(link.c_str(), target, sizeof target - 1);
      if (n <= 0) {
        continue;
      }
      const std::string_view text(target, static_cast<std::size_t>(n));
      constexpr std::string_view kPrefix = "socket:[";
      if (text.size() <= kPrefix.size() + 1 || text.substr(0, kPrefix.size()) != kPrefix ||
          text.back() != ']') {
        continue;
      }
      const auto inode = parse_dec(text.substr(kPrefix.size(), text.size() - kPrefix.size() - 1));
      if (!inode || wanted_set.count(*inode) == 0 || owners.count(*inode) != 0) {
        continue;
      }
      if (!comm) {
        comm = trim_copy(read_text_file(pid_dir + "/comm").value_or(""));
      }
      owners[*inode] = SocketOwner{pid, *comm};
    }
  }
  return owners;
}

agentproto::PortsResult list_ports(const std::string& proc_root) {
  struct Table {
    const char* file;
    const char* proto;
    const char* family;
  };
  constexpr Table kTables[] = {{"tcp", "tcp", "ipv4"},
                               {"tcp6", "tcp", "ipv6"},
                               {"udp", "udp", "ipv4"},
                               {"udp6", "udp", "ipv6"}};
  std::vector<SocketEntry> sockets;
  for (const auto& table : kTables) {
    const auto text = read_text_file(proc_root + "/net/" + table.file);
    if (!text) {
      continue;
    }
    auto entries = parse_proc_net(*text, table.proto, table.family);
    sockets.insert(sockets.end(), entries.begin(), entries.end());
  }
  std::vector<std::uint64_t> inodes;
  for (const auto& s : sockets) {
    inodes.push_back(s.inode);
  }
  const auto owners = find_socket_owners(proc_root, inodes);
  agentproto::PortsResult result;
  for (const auto& s : sockets) {
    agentproto::PortEntry entry{s.proto, s.family, s.address, s.port, 0, ""};
    if (const auto it = owners.find(s.inode); it != owners.end()) {
      entry.pid = it->second.pid;
      entry.process = it->second.process;
    }
    result.ports.push_back(std::move(entry));
  }
  std::sort(result.ports.begin(), result.ports.end(), [](const auto& a, const auto& b) {
    return std::tie(a.proto, a.port, a.family, a.address, a.pid) <
           std::tie(b.proto, b.port, b.family, b.address, b.pid);
  });
  return result;
}

}  // namespace banger::agentd
