// ports: listening TCP (state 0A) and unconnected UDP (state 07) sockets from
// <proc>/net/{tcp,tcp6,udp,udp6}, each with its owner found through <proc>/<pid>/fd links.
// Parsers take file text and a proc root so tests use fixtures.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "banger/agentproto/methods.hpp"

namespace banger::agentd {

// One listening socket from a /proc/net table.
struct SocketEntry {
  std::string proto;    // "tcp" | "udp"
  std::string family;   // "ipv4" | "ipv6"
  std::string address;  // inet_ntop form
  std::uint16_t port = 0;
  std::uint64_t inode = 0;
};

// The process holding a socket.
struct SocketOwner {
  std::int64_t pid = 0;
  std::string process;  // <proc>/<pid>/comm, trimmed
};

// Parses the text of /proc/net/tcp|tcp6|udp|udp6 (proto "tcp"|"udp", family "ipv4"|"ipv6").
// Keeps TCP sockets in LISTEN (0A) and UDP sockets in CLOSE (07) with a non-zero port; skips the
// header and any line it cannot parse.
std::vector<SocketEntry> parse_proc_net(std::string_view text, std::string_view proto,
                                        std::string_view family);

// Maps socket inodes to the lowest-pid process holding them, by reading the "socket:[N]" links
// of <proc_root>/<pid>/fd/*. Only inodes in `wanted` are looked up; processes whose fd directory
// cannot be read (gone, no permission) are skipped.
std::map<std::uint64_t, SocketOwner> find_socket_owners(const std::string& proc_root,
                                                        const std::vector<std::uint64_t>& wanted);

// The full ports result: every table under <proc_root>/net that exists (missing tables, such as
// tcp6 without IPv6, are skipped), owners resolved, sorted by proto, port, family, address.
agentproto::PortsResult list_ports(const std::string& proc_root);

}  // namespace banger::agentd
