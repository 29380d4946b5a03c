// NetlinkLinkOps: LinkOps on the running kernel, through rtnetlink (libnl-route-3) for links
// and addresses and the TUN ioctls (/dev/net/tun) for TAP devices. Spawns no processes.
#pragma once

#include "banger/hostnat/link_ops.hpp"

namespace banger::hostnat {

// Acts in the network namespace of the calling thread at the time of each call (every call
// opens its own netlink socket). Stateless, so safe to call from several threads. Kernel
// errors keep their errno in Error::sys_errno (the kernel's own errno, captured from the
// netlink error message; libnl's NLE_* codes are mapped back when no message carried one).
class NetlinkLinkOps : public LinkOps {
 public:
  Status ensure_bridge(const std::string& name, const std::string& address_cidr) override;
  // Also: unavailable `creating tap x: opening /dev/net/tun: ...` when the TUN device is
  // missing.
  Status create_tap(const std::string& name, std::optional<uid_t> owner) override;
  Status set_tap_owner(const std::string& name, std::optional<uid_t> owner) override;
  Status set_master(const std::string& link, const std::string& bridge) override;
  Status set_up(const std::string& name) override;
  Status set_port_isolated(const std::string& name) override;
  Status delete_link(const std::string& name) override;
  Expected<std::vector<std::string>> list_links(const std::string& prefix) override;
  Expected<bool> link_exists(const std::string& name) override;
  Expected<LinkInfo> get_link(const std::string& name) override;
};

}  // namespace banger::hostnat
