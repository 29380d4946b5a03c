// LinkOps: the host link operations NetworkService needs (bridge, TAP devices), as one narrow
// seam (STYLE 2.5 item 3). NetlinkLinkOps is the real one; FakeLinkOps models links in memory.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "banger/base/error.hpp"

namespace banger::hostnat {

// Longest interface name the kernel accepts (IFNAMSIZ - 1).
inline constexpr std::size_t kMaxLinkNameLength = 15;

// What get_link() reports about one link.
struct LinkInfo {
  std::string name;
  std::string kind;               // "bridge", "tun" (TUN/TAP), "veth", ... ("" when unknown)
  bool up = false;                // administratively up (IFF_UP)
  std::string master;             // the bridge it is enslaved to ("" when none)
  std::vector<std::string> ipv4;  // addresses as "a.b.c.d/p", in the kernel's order

  friend bool operator==(const LinkInfo&, const LinkInfo&) = default;
};

// The kernel's rule for interface names: 1-15 characters, not "." or "..", no '/', ':' or
// whitespace. invalid_argument `invalid link name "x": use 1-15 characters without '/', ':'
// or whitespace, other than "." and ".."`.
Status validate_link_name(std::string_view name);

// Every method may return invalid_argument for a name that fails validate_link_name (checked
// before anything is touched), permission_denied when the process lacks CAP_NET_ADMIN, and io
// for other kernel errors; messages name the link and the failing step ("creating bridge
// br-fc: Operation not permitted"). Implementations are safe to call from several threads.
class LinkOps {
 public:
  virtual ~LinkOps() = default;

  // Makes `name` an up bridge carrying `address_cidr` ("172.16.0.1/24"): creates it when
  // missing, adds the address when the bridge lacks it (other addresses are left alone), sets
  // it up. Idempotent. invalid_argument `invalid ipv4 cidr ...` for a bad address;
  // failed_precondition `ensuring bridge x: link x is not a bridge` when another kind of link
  // has the name.
  virtual Status ensure_bridge(const std::string& name, const std::string& address_cidr) = 0;

  // Creates a persistent TAP device (IFF_TAP | IFF_NO_PI), down, owned by `owner` when given
  // (so an unprivileged VMM can open it), else by the caller's uid (an ownerless TAP could be
  // attached by any user who can open /dev/net/tun). already_exists `creating tap x: link x already
  // exists` when any link has the name.
  virtual Status create_tap(const std::string& name, std::optional<uid_t> owner) = 0;

  // Gives the existing TAP `name` to owner (TUNSETOWNER; none: the caller's uid, as create_tap),
  // so a VMM running as that uid may open it without CAP_NET_ADMIN (Firecracker under the
  // jailer opens its TAP after dropping privileges). not_found `setting owner of tap x: link x
  // not found`; failed_precondition when some process holds the TAP open (EBUSY) or the link
  // is not a TAP.
  virtual Status set_tap_owner(const std::string& name, std::optional<uid_t> owner) = 0;

  // Enslaves link to bridge (no-op when it already is). not_found `setting master of t to b:
  // link t not found` (or b); failed_precondition `setting master of t to b: link b is not a
  // bridge`.
  virtual Status set_master(const std::string& link, const std::string& bridge) = 0;

  // Makes the bridge port `name` isolated (IFLA_BRPORT_ISOLATED, Linux 4.18+): the bridge
  // forwards nothing between two isolated ports, so guests cannot reach each other at L2 even
  // without nftables. Idempotent. not_found `isolating bridge port x: link x not found`;
  // failed_precondition `isolating bridge port x: link x has no bridge`; unavailable when the
  // kernel refuses the attribute (EOPNOTSUPP/EINVAL).
  virtual Status set_port_isolated(const std::string& name) = 0;

  // Sets the link administratively up. not_found `setting link x up: link x not found`.
  virtual Status set_up(const std::string& name) = 0;

  // Deletes the link (a bridge's ports are released, not deleted). not_found `deleting link
  // x: link x not found`.
  virtual Status delete_link(const std::string& name) = 0;

  // Names of all links starting with prefix, sorted.
  virtual Expected<std::vector<std::string>> list_links(const std::string& prefix) = 0;

  // Whether a link with this name exists.
  virtual Expected<bool> link_exists(const std::string& name) = 0;

  // The state of one link. not_found `link x not found`.
  virtual Expected<LinkInfo> get_link(const std::string& name) = 0;
};

}  // namespace banger::hostnat
