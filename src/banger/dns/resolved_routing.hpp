// systemd-resolved routing for `.vm`: point the bridge link's DNS at banger's resolver and give
// it the routing-only domain `~vm`, read that back for doctor, and revert it. Commands run
// through sys::CommandRunner (`resolvectl`); parsing is pure.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "banger/base/error.hpp"
#include "banger/sys/command_runner.hpp"

namespace banger::dns {

inline constexpr char kResolvedRunDir[] = "/run/systemd/resolve";

// True when systemd-resolved runs on this host (its runtime directory exists).
bool resolved_running(const std::string& run_dir = kResolvedRunDir);

// The commands that route `.vm` for `link` to `server` (an IP, resolvectl also takes
// "ip:port"): `resolvectl dns <link> <server>`, `resolvectl domain <link> ~vm`, and
// `resolvectl default-route <link> false` so other names never go to the link. Pure.
std::vector<sys::Command> plan_resolved_routing(std::string_view link, std::string_view server);

// Runs plan_resolved_routing(). command_failed (or the runner's error) with context `routing
// .vm to <server> via systemd-resolved on <link>: resolvectl exited 1: ...`. Idempotent.
Status route_vm_domain(sys::CommandRunner& runner, std::string_view link, std::string_view server);

// `resolvectl revert <link>`: drops every per-link DNS setting. command_failed with context
// `reverting systemd-resolved settings of <link>: ...`.
Status revert_vm_domain(sys::CommandRunner& runner, std::string_view link);

struct ResolvedLinkStatus {
  std::vector<std::string> servers;  // "DNS Servers:" entries as printed
  std::vector<std::string> domains;  // "DNS Domain:" entries as printed ("~vm")
  bool routes_vm = false;            // domains hold "~vm" (or "vm")
  bool uses_server = false;          // servers hold `server` (bare, or with :port/%if/#name)

  // Both: `.vm` goes to banger on this link.
  bool ok() const { return routes_vm && uses_server; }
};

// Parses `resolvectl status <link>` output (one or many values per key, continuation lines
// indented under the first). Pure.
ResolvedLinkStatus parse_resolvectl_status(std::string_view text, std::string_view server);

// Runs `resolvectl status <link>` and parses it. command_failed with context `reading
// systemd-resolved settings of <link>: ...` (for example when the link does not exist).
Expected<ResolvedLinkStatus> query_vm_routing(sys::CommandRunner& runner, std::string_view link,
                                              std::string_view server);

}  // namespace banger::dns
