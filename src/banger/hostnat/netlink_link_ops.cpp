#include "banger/hostnat/netlink_link_ops.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/if_tun.h>
#include <linux/rtnetlink.h>
#include <netlink/attr.h>
#include <netlink/cache.h>
#include <netlink/errno.h>
#include <netlink/handlers.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/bridge.h>
#include <netlink/socket.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>

#include "banger/base/expected.hpp"
#include "banger/base/fd.hpp"
#include "banger/hostnat/ipv4.hpp"
#include "banger/sys/host_probe.hpp"

namespace banger::hostnat {
namespace {

struct SockDeleter {
  void operator()(nl_sock* sk) const { nl_socket_free(sk); }
};
struct LinkDeleter {
  void operator()(rtnl_link* link) const { rtnl_link_put(link); }
};
struct AddrDeleter {
  void operator()(rtnl_addr* addr) const { rtnl_addr_put(addr); }
};
struct NlAddrDeleter {
  void operator()(nl_addr* addr) const { nl_addr_put(addr); }
};
struct CacheDeleter {
  void operator()(nl_cache* cache) const { nl_cache_free(cache); }
};
using LinkPtr = std::unique_ptr<rtnl_link, LinkDeleter>;
using AddrPtr = std::unique_ptr<rtnl_addr, AddrDeleter>;
using NlAddrPtr = std::unique_ptr<nl_addr, NlAddrDeleter>;
using CachePtr = std::unique_ptr<nl_cache, CacheDeleter>;

// The errno closest to a libnl error code, for failures that carried no kernel errno.
int errno_from_nle(int nle) {
  switch (nle < 0 ? -nle : nle) {
    case NLE_INTR:
      return EINTR;
    case NLE_BAD_SOCK:
      return EBADF;
    case NLE_AGAIN:
      return EAGAIN;
    case NLE_NOMEM:
      return ENOMEM;
    case NLE_EXIST:
      return EEXIST;
    case NLE_INVAL:
      return EINVAL;
    case NLE_RANGE:
      return ERANGE;
    case NLE_MSGSIZE:
      return EMSGSIZE;
    case NLE_OPNOTSUPP:
      return EOPNOTSUPP;
    case NLE_AF_NOSUPPORT:
      return EAFNOSUPPORT;
    case NLE_OBJ_NOTFOUND:
      return ENOENT;
    case NLE_NOADDR:
      return EADDRNOTAVAIL;
    case NLE_BUSY:
      return EBUSY;
    case NLE_PROTO_MISMATCH:
      return EPROTONOSUPPORT;
    case NLE_NOACCESS:
      return EACCES;
    case NLE_PERM:
      return EPERM;
    case NLE_NODEV:
      return ENODEV;
    default:
      return 0;
  }
}

// fail_errno() with ENODEV and ENXIO counted as not_found (a link that is not there).
tl::unexpected<Error> fail_link_errno(std::string message, int sys_errno) {
  auto error = fail_errno(std::move(message), sys_errno);
  if (sys_errno == ENODEV || sys_errno == ENXIO) {
    error.value().code = Errc::not_found;
  }
  return error;
}

// One rtnetlink socket for the duration of one LinkOps call. Captures the kernel's errno from
// NLMSG_ERROR replies (libnl itself only reports its lossy NLE_* translation). Not movable: the
// error callback points at this object.
class Session {
 public:
  Session() = default;
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  Status open() {
    sk_.reset(nl_socket_alloc());
    if (!sk_) {
      return fail(Errc::io, "opening netlink socket: out of memory");
    }
    nl_socket_modify_err_cb(sk_.get(), NL_CB_CUSTOM, &Session::on_error, this);
    if (int rc = nl_connect(sk_.get(), NETLINK_ROUTE); rc < 0) {
      return failure("opening netlink socket", rc);
    }
    return {};
  }

  nl_sock* get() {
    last_errno_ = 0;
    return sk_.get();
  }

  // The error for a libnl call that returned rc < 0 while doing `step`.
  tl::unexpected<Error> failure(std::string step, int rc) const {
    int sys_errno = last_errno_ != 0 ? last_errno_ : errno_from_nle(rc);
    if (sys_errno == 0) {
      return fail(Errc::io, fmt::format("{}: {}", step, nl_geterror(rc)));
    }
    return fail_link_errno(std::move(step), sys_errno);
  }

  int last_errno() const { return last_errno_; }

  // Whether a failed lookup (rc) means "no such link". rtnl_link_get_kernel() installs its own
  // error callback, so only libnl's code is left there: NLE_NODEV is the kernel's ENODEV.
  bool is_missing(int rc) const {
    int sys_errno = last_errno_ != 0 ? last_errno_ : errno_from_nle(rc);
    return sys_errno == ENODEV || sys_errno == ENOENT;
  }

  // The link called name, or nullopt when there is none.
  Expected<std::optional<LinkPtr>> find_link(const std::string& name) {
    rtnl_link* link = nullptr;
    int rc = rtnl_link_get_kernel(get(), 0, name.c_str(), &link);
    if (rc < 0) {
      if (is_missing(rc)) {
        return std::optional<LinkPtr>();
      }
      return failure(fmt::format("looking up link {}", name), rc);
    }
    return std::optional<LinkPtr>(LinkPtr(link));
  }

  // The link called name; not_found `<step>: link <name> not found` when there is none.
  Expected<LinkPtr> require_link(const std::string& name, const std::string& step) {
    BANGER_TRY_ASSIGN(auto found, find_link(name));
    if (!found) {
      return tl::unexpected(
          Error{Errc::not_found, fmt::format("{}: link {} not found", step, name), ENODEV, {}});
    }
    return std::move(*found);
  }

  // The name of the link with this index ("" when it vanished).
  Expected<std::string> name_of(int ifindex) {
    rtnl_link* link = nullptr;
    int rc = rtnl_link_get_kernel(get(), ifindex, nullptr, &link);
    if (rc < 0) {
      if (is_missing(rc)) {
        return std::string();
      }
      return failure(fmt::format("looking up link #{}", ifindex), rc);
    }
    LinkPtr owned(link);
    const char* name = rtnl_link_get_name(link);
    return std::string(name != nullptr ? name : "");
  }

  // IPv4 addresses of the link with this index, as {address, prefix}.
  Expected<std::vector<Ipv4Cidr>> ipv4_addresses(int ifindex, const std::string& step) {
    nl_cache* raw = nullptr;
    if (int rc = rtnl_addr_alloc_cache(get(), &raw); rc < 0) {
      return failure(fmt::format("{}: listing addresses", step), rc);
    }
    CachePtr cache(raw);
    std::vector<Ipv4Cidr> out;
    for (nl_object* obj = nl_cache_get_first(cache.get()); obj != nullptr;
         obj = nl_cache_get_next(obj)) {
      auto* addr = reinterpret_cast<rtnl_addr*>(obj);
      if (rtnl_addr_get_ifindex(addr) != ifindex || rtnl_addr_get_family(addr) != AF_INET) {
        continue;
      }
      nl_addr* local = rtnl_addr_get_local(addr);
      if (local == nullptr || nl_addr_get_len(local) != 4) {
        continue;
      }
      std::uint32_t be = 0;
      std::memcpy(&be, nl_addr_get_binary_addr(local), 4);
      out.push_back(Ipv4Cidr{Ipv4{ntohl(be)}, rtnl_addr_get_prefixlen(addr)});
    }
    return out;
  }

  // Sends msg (consumed) and waits for the kernel's ack; `step` names it in errors.
  Status send_and_ack(nl_msg* msg, const std::string& step) {
    std::unique_ptr<nl_msg, decltype(&nlmsg_free)> owned(msg, &nlmsg_free);
    if (int rc = nl_send_auto(get(), msg); rc < 0) {
      return failure(step, rc);
    }
    if (int rc = nl_wait_for_ack(sk_.get()); rc < 0) {
      return failure(step, rc);
    }
    return {};
  }

  // Applies `changes` to link (RTM_NEWLINK, falling back to RTM_SETLINK inside libnl).
  Status change(rtnl_link* link, rtnl_link* changes, const std::string& step) {
    if (int rc = rtnl_link_change(get(), link, changes, 0); rc < 0) {
      return failure(step, rc);
    }
    return {};
  }

 private:
  static int on_error(sockaddr_nl* /*who*/, nlmsgerr* err, void* arg) {
    static_cast<Session*>(arg)->last_errno_ = -err->error;
    return NL_STOP;  // libnl then returns its NLE_* translation of err->error
  }

  std::unique_ptr<nl_sock, SockDeleter> sk_;
  int last_errno_ = 0;
};

bool is_bridge(rtnl_link* link) {
  const char* kind = rtnl_link_get_type(link);
  return kind != nullptr && std::strcmp(kind, "bridge") == 0;
}

bool is_up(rtnl_link* link) { return (rtnl_link_get_flags(link) & IFF_UP) != 0; }

Status set_link_up(Session& nl, rtnl_link* link, const std::string& name) {
  if (is_up(link)) {
    return {};
  }
  LinkPtr changes(rtnl_link_alloc());
  rtnl_link_set_flags(changes.get(), IFF_UP);
  return nl.change(link, changes.get(), fmt::format("setting link {} up", name));
}

}  // namespace

Status NetlinkLinkOps::ensure_bridge(const std::string& name, const std::string& address_cidr) {
  BANGER_TRY(sys::check_netns_interlock("creating bridge " + name));
  BANGER_TRY(validate_link_name(name));
  BANGER_TRY_ASSIGN(Ipv4Cidr cidr, parse_ipv4_cidr(address_cidr));
  Session nl;
  BANGER_TRY(nl.open());
  BANGER_TRY_ASSIGN(auto found, nl.find_link(name));
  if (!found) {
    LinkPtr bridge(rtnl_link_bridge_alloc());
    rtnl_link_set_name(bridge.get(), name.c_str());
    int rc = rtnl_link_add(nl.get(), bridge.get(), NLM_F_CREATE | NLM_F_EXCL);
    if (rc < 0 && nl.last_errno() != EEXIST) {  // EEXIST: a concurrent creator won
      return nl.failure(fmt::format("creating bridge {}", name), rc);
    }
    BANGER_TRY_ASSIGN(found, nl.find_link(name));
    if (!found) {
      return fail(
          Errc::not_found,
          fmt::format("creating bridge {}: link {} vanished right after creation", name, name));
    }
  }
  rtnl_link* bridge = found->get();
  if (!is_bridge(bridge)) {
    return fail(Errc::failed_precondition,
                fmt::format("ensuring bridge {}: link {} is not a bridge", name, name));
  }
  int ifindex = rtnl_link_get_ifindex(bridge);
  std::string address = fmt::format("{}/{}", format_ipv4(cidr.address), cidr.prefix);
  BANGER_TRY_ASSIGN(auto addresses,
                    nl.ipv4_addresses(ifindex, fmt::format("ensuring bridge {}", name)));
  bool present = std::any_of(addresses.begin(), addresses.end(), [&](const Ipv4Cidr& a) {
    return a.address == cidr.address && a.prefix == cidr.prefix;
  });
  if (!present) {
    std::string step = fmt::format("adding address {} to bridge {}", address, name);
    std::uint32_t be = htonl(cidr.address.bits);
    NlAddrPtr local(nl_addr_build(AF_INET, &be, sizeof be));
    AddrPtr addr(rtnl_addr_alloc());
    if (!local || !addr) {
      return fail(Errc::io, fmt::format("{}: out of memory", step));
    }
    nl_addr_set_prefixlen(local.get(), cidr.prefix);
    rtnl_addr_set_ifindex(addr.get(), ifindex);
    rtnl_addr_set_family(addr.get(), AF_INET);
    if (int rc = rtnl_addr_set_local(addr.get(), local.get()); rc < 0) {
      return nl.failure(step, rc);
    }
    rtnl_addr_set_prefixlen(addr.get(), cidr.prefix);
    int rc = rtnl_addr_add(nl.get(), addr.get(), 0);
    if (rc < 0 && nl.last_errno() != EEXIST) {
      return nl.failure(step, rc);
    }
  }
  return set_link_up(nl, bridge, name);
}

Status NetlinkLinkOps::create_tap(const std::string& name, std::optional<uid_t> owner) {
  BANGER_TRY(sys::check_netns_interlock("creating tap " + name));
  BANGER_TRY(validate_link_name(name));
  std::string step = fmt::format("creating tap {}", name);
  base::UniqueFd fd(::open("/dev/net/tun", O_RDWR | O_CLOEXEC));
  if (!fd) {
    int err = errno;
    auto error = fail_errno(fmt::format("{}: opening /dev/net/tun", step), err);
    if (err == ENOENT || err == ENODEV || err == ENXIO) {
      error.value().code = Errc::unavailable;
    }
    return error;
  }
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, name.data(), name.size());  // validated: fits with its NUL
  // IFF_TUN_EXCL: fail with EBUSY instead of attaching to an existing device of that name.
  // (IFF_TUN_EXCL is 0x8000: the sign bit of the short ifr_flags.)
  ifr.ifr_flags =
      static_cast<short>(static_cast<unsigned short>(IFF_TAP | IFF_NO_PI | IFF_TUN_EXCL));
  if (::ioctl(fd.get(), TUNSETIFF, &ifr) < 0) {
    int err = errno;
    if (err == EBUSY) {
      return tl::unexpected(Error{
          Errc::already_exists, fmt::format("{}: link {} already exists", step, name), err, {}});
    }
    return fail_link_errno(step, err);
  }
  // Always an owner: a TAP with neither owner nor group may be attached by any user who can
  // open /dev/net/tun (mode 0666 on Debian), who could then take a pooled TAP and speak on the
  // bridge as a guest.
  uid_t uid = owner.value_or(::geteuid());
  if (::ioctl(fd.get(), TUNSETOWNER, static_cast<unsigned long>(uid)) < 0) {
    return fail_errno(fmt::format("{}: setting owner to uid {}", step, uid), errno);
  }
  if (::ioctl(fd.get(), TUNSETPERSIST, 1UL) < 0) {
    return fail_errno(fmt::format("{}: making it persistent", step), errno);
  }
  return {};  // closing fd leaves the persistent device behind
}

Status NetlinkLinkOps::set_tap_owner(const std::string& name, std::optional<uid_t> owner) {
  BANGER_TRY(sys::check_netns_interlock("setting the owner of tap " + name));
  BANGER_TRY(validate_link_name(name));
  std::string step = fmt::format("setting owner of tap {}", name);
  {
    // TUNSETIFF on a name that does not exist would create a throwaway TAP: check it first.
    Session nl;
    BANGER_TRY(nl.open());
    BANGER_TRY_ASSIGN(LinkPtr link, nl.require_link(name, step));
    const char* kind = rtnl_link_get_type(link.get());
    if (kind == nullptr || std::strcmp(kind, "tun") != 0) {
      return fail(Errc::failed_precondition, fmt::format("{}: link {} is not a tap", step, name));
    }
  }
  base::UniqueFd fd(::open("/dev/net/tun", O_RDWR | O_CLOEXEC));
  if (!fd) {
    return fail_errno(fmt::format("{}: opening /dev/net/tun", step), errno);
  }
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, name.data(), name.size());  // validated: fits with its NUL
  ifr.ifr_flags = static_cast<short>(IFF_TAP | IFF_NO_PI);
  if (::ioctl(fd.get(), TUNSETIFF, &ifr) < 0) {
    int err = errno;
    if (err == EBUSY) {
      return tl::unexpected(Error{Errc::failed_precondition,
                                  fmt::format("{}: another process holds it open", step),
                                  err,
                                  {}});
    }
    return fail_link_errno(step, err);
  }
  uid_t uid = owner.value_or(::geteuid());
  if (::ioctl(fd.get(), TUNSETOWNER, static_cast<unsigned long>(uid)) < 0) {
    return fail_errno(fmt::format("{}: uid {}", step, uid), errno);
  }
  return {};  // the TAP is persistent: closing fd detaches without removing it
}

Status NetlinkLinkOps::set_master(const std::string& link, const std::string& bridge) {
  BANGER_TRY(validate_link_name(link));
  BANGER_TRY(validate_link_name(bridge));
  std::string step = fmt::format("setting master of {} to {}", link, bridge);
  Session nl;
  BANGER_TRY(nl.open());
  BANGER_TRY_ASSIGN(LinkPtr port, nl.require_link(link, step));
  BANGER_TRY_ASSIGN(LinkPtr master, nl.require_link(bridge, step));
  if (!is_bridge(master.get())) {
    return fail(Errc::failed_precondition,
                fmt::format("{}: link {} is not a bridge", step, bridge));
  }
  int master_index = rtnl_link_get_ifindex(master.get());
  if (rtnl_link_get_master(port.get()) == master_index) {
    return {};
  }
  LinkPtr changes(rtnl_link_alloc());
  rtnl_link_set_master(changes.get(), master_index);
  return nl.change(port.get(), changes.get(), step);
}

Status NetlinkLinkOps::set_up(const std::string& name) {
  BANGER_TRY(validate_link_name(name));
  Session nl;
  BANGER_TRY(nl.open());
  BANGER_TRY_ASSIGN(LinkPtr link, nl.require_link(name, fmt::format("setting link {} up", name)));
  return set_link_up(nl, link.get(), name);
}

Status NetlinkLinkOps::set_port_isolated(const std::string& name) {
  BANGER_TRY(validate_link_name(name));
  std::string step = fmt::format("isolating bridge port {}", name);
  Session nl;
  BANGER_TRY(nl.open());
  BANGER_TRY_ASSIGN(LinkPtr link, nl.require_link(name, step));
  if (rtnl_link_get_master(link.get()) <= 0) {
    return fail(Errc::failed_precondition, fmt::format("{}: link {} has no bridge", step, name));
  }
  // libnl has no setter for IFLA_BRPORT_ISOLATED: send what `bridge link set dev <name>
  // isolated on` sends, RTM_SETLINK for AF_BRIDGE with the flag nested in IFLA_PROTINFO.
  nl_msg* msg = nlmsg_alloc_simple(RTM_SETLINK, NLM_F_REQUEST | NLM_F_ACK);
  if (msg == nullptr) {
    return fail(Errc::io, fmt::format("{}: out of memory", step));
  }
  ifinfomsg info{};
  info.ifi_family = AF_BRIDGE;
  info.ifi_index = rtnl_link_get_ifindex(link.get());
  nlattr* nest = nullptr;
  if (nlmsg_append(msg, &info, sizeof info, NLMSG_ALIGNTO) < 0 ||
      (nest = nla_nest_start(msg, IFLA_PROTINFO | NLA_F_NESTED)) == nullptr ||
      nla_put_u8(msg, IFLA_BRPORT_ISOLATED, 1) < 0 || nla_nest_end(msg, nest) < 0) {
    nlmsg_free(msg);
    return fail(Errc::io, fmt::format("{}: building the netlink message", step));
  }
  auto sent = nl.send_and_ack(msg, step);
  if (!sent && (sent.error().sys_errno == EOPNOTSUPP || sent.error().sys_errno == EINVAL)) {
    sent.error().code = Errc::unavailable;
  }
  return sent;
}

Status NetlinkLinkOps::delete_link(const std::string& name) {
  BANGER_TRY(validate_link_name(name));
  std::string step = fmt::format("deleting link {}", name);
  Session nl;
  BANGER_TRY(nl.open());
  BANGER_TRY_ASSIGN(LinkPtr link, nl.require_link(name, step));
  if (int rc = rtnl_link_delete(nl.get(), link.get()); rc < 0) {
    return nl.failure(step, rc);
  }
  return {};
}

Expected<std::vector<std::string>> NetlinkLinkOps::list_links(const std::string& prefix) {
  Session nl;
  BANGER_TRY(nl.open());
  nl_cache* raw = nullptr;
  if (int rc = rtnl_link_alloc_cache(nl.get(), AF_UNSPEC, &raw); rc < 0) {
    return nl.failure("listing links", rc);
  }
  CachePtr cache(raw);
  std::vector<std::string> names;
  for (nl_object* obj = nl_cache_get_first(cache.get()); obj != nullptr;
       obj = nl_cache_get_next(obj)) {
    const char* name = rtnl_link_get_name(reinterpret_cast<rtnl_link*>(obj));
    if (name != nullptr && std::string_view(name).substr(0, prefix.size()) == prefix) {
      names.emplace_back(name);
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

Expected<bool> NetlinkLinkOps::link_exists(const std::string& name) {
  BANGER_TRY(validate_link_name(name));
  Session nl;
  BANGER_TRY(nl.open());
  BANGER_TRY_ASSIGN(auto found, nl.find_link(name));
  return found.has_value();
}

Expected<LinkInfo> NetlinkLinkOps::get_link(const std::string& name) {
  BANGER_TRY(validate_link_name(name));
  Session nl;
  BANGER_TRY(nl.open());
  BANGER_TRY_ASSIGN(auto found, nl.find_link(name));
  if (!found) {
    return tl::unexpected(
        Error{Errc::not_found, fmt::format("link {} not found", name), ENODEV, {}});
  }
  rtnl_link* link = found->get();
  LinkInfo info;
  info.name = name;
  const char* kind = rtnl_link_get_type(link);
  info.kind = kind != nullptr ? kind : "";
  info.up = is_up(link);
  if (int master = rtnl_link_get_master(link); master > 0) {
    BANGER_TRY_ASSIGN(info.master, nl.name_of(master));
  }
  BANGER_TRY_ASSIGN(auto addresses, nl.ipv4_addresses(rtnl_link_get_ifindex(link),
                                                      fmt::format("inspecting link {}", name)));
  for (const auto& a : addresses) {
    info.ipv4.push_back(fmt::format("{}/{}", format_ipv4(a.address), a.prefix));
  }
  return info;
}

}  // namespace banger::hostnat
