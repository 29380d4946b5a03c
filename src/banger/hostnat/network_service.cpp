#include "banger/hostnat/network_service.hpp"

#include <fmt/format.h>

#include <set>

#include "banger/base/defer.hpp"
#include "banger/base/expected.hpp"
#include "banger/base/log.hpp"

namespace banger::hostnat {
namespace {

Expected<Subnet> subnet_of(const NetworkServiceDeps& deps) {
  auto checked = [&]() -> Expected<Subnet> {
    BANGER_TRY(validate_link_name(deps.bridge_name));
    return Subnet::parse(deps.bridge_ip, deps.cidr);
  }();
  if (!checked) {
    return tl::unexpected(with_context(checked.error(), "network config"));
  }
  return checked;
}

}  // namespace

NetworkService::NetworkService(NetworkServiceDeps deps)
    : deps_(std::move(deps)), state_([&] {
        auto subnet = subnet_of(deps_);
        std::optional<IpAllocator> allocator;
        if (subnet) {
          allocator.emplace(*subnet);
        } else {
          config_ = tl::unexpected(subnet.error());
        }
        std::size_t pool_size = deps_.tap_pool_size > 0 ? std::size_t(deps_.tap_pool_size) : 0;
        return State{std::move(allocator), TapPool(deps_.links, pool_size, deps_.tap_owner), {}};
      }()) {}

Status NetworkService::check_config() const { return config_; }

Expected<Ipv4> NetworkService::lease_locked(State& state, const std::string& vm_id,
                                            const std::optional<std::string>& preferred_ip,
                                            bool& newly_leased) {
  if (!state.allocator) {  // present exactly when the config is valid
    return tl::unexpected(config_.error());
  }
  IpAllocator& allocator = *state.allocator;
  std::optional<Ipv4> held = allocator.find_by_owner(vm_id);
  newly_leased = false;
  if (!preferred_ip) {
    if (held) {
      return *held;
    }
    BANGER_TRY_ASSIGN(Ipv4 ip, allocator.allocate(vm_id));
    newly_leased = true;
    return ip;
  }
  BANGER_TRY_ASSIGN(Ipv4 ip, parse_ipv4(*preferred_ip));
  if (held && *held == ip) {
    return ip;
  }
  BANGER_TRY(allocator.allocate_specific(ip, vm_id));
  newly_leased = true;
  // One address per VM: drop whatever else it held.
  for (const auto& [address, owner] : allocator.leases()) {
    if (owner == vm_id && address != ip) {
      allocator.release(address);
    }
  }
  return ip;
}

Expected<std::string> NetworkService::lease_ip(const std::string& vm_id,
                                               std::optional<std::string> preferred_ip) {
  return state_.with_lock([&](State& state) -> Expected<std::string> {
    bool newly_leased = false;
    auto ip = lease_locked(state, vm_id, preferred_ip, newly_leased);
    if (!ip) {
      return tl::unexpected(
          with_context(ip.error(), fmt::format("leasing an address for vm {}", vm_id)));
    }
    return format_ipv4(*ip);
  });
}

Expected<Attachment> NetworkService::attach(const std::string& vm_id,
                                            std::optional<std::string> preferred_ip) {
  return state_.with_lock([&](State& state) -> Expected<Attachment> {
    bool newly_leased = false;
    auto leased = lease_locked(state, vm_id, preferred_ip, newly_leased);
    if (!leased) {
      return tl::unexpected(
          with_context(leased.error(), fmt::format("leasing an address for vm {}", vm_id)));
    }
    Ipv4 ip = *leased;
    base::Defer free_ip([&] {
      if (newly_leased) {
        state.allocator->release(ip);
      }
    });
    const Subnet& subnet = state.allocator->subnet();
    auto context = [&](const Error& e) {
      return tl::unexpected(with_context(e, fmt::format("attaching vm {}", vm_id)));
    };

    if (auto bridge = deps_.links.ensure_bridge(deps_.bridge_name, subnet.gateway_cidr());
        !bridge) {
      return context(bridge.error());
    }
    auto tap = state.pool.acquire();
    if (!tap) {
      return context(tap.error());
    }
    base::Defer return_tap([&] {
      if (auto back = state.pool.release(*tap); !back) {
        BANGER_LOG_WARN("attaching vm {}: returning tap {} after a failure: {}", vm_id, *tap,
                        back.error().message);
      }
    });
    if (auto master = deps_.links.set_master(*tap, deps_.bridge_name); !master) {
      return context(master.error());
    }
    // Isolated port: the bridge forwards nothing between guests (S7). A kernel without the
    // flag (before 4.18) leaves it to nftables' bridge table; any other failure fails the
    // attach rather than start a guest that could reach the others.
    if (auto isolated = deps_.links.set_port_isolated(*tap); !isolated) {
      if (isolated.error().code != Errc::unavailable) {
        return context(isolated.error());
      }
      BANGER_LOG_WARN("attaching vm {}: {} (guests rely on nftables to stay apart)", vm_id,
                      isolated.error().message);
    }
    if (auto up = deps_.links.set_up(*tap); !up) {
      return context(up.error());
    }
    return_tap.dismiss();
    free_ip.dismiss();
    state.attached[*tap] = vm_id;
    return Attachment{.vm_id = vm_id,
                      .tap = *tap,
                      .ip = format_ipv4(ip),
                      .mac = mac_for_ip(ip),
                      .gateway = format_ipv4(subnet.gateway()),
                      .netmask = format_ipv4(subnet.netmask()),
                      .prefix = subnet.prefix()};
  });
}

Status NetworkService::detach(const Attachment& attachment) {
  return state_.with_lock([&](State& state) -> Status {
    state.attached.erase(attachment.tap);
    if (state.given.erase(attachment.tap) != 0) {
      if (auto back = deps_.links.set_tap_owner(attachment.tap, deps_.tap_owner); !back) {
        BANGER_LOG_WARN("detaching vm {}: taking {} back: {}", attachment.vm_id, attachment.tap,
                        back.error().message);
      }
    }
    if (auto released = state.pool.release(attachment.tap); !released) {
      return tl::unexpected(
          with_context(released.error(), fmt::format("detaching vm {}", attachment.vm_id)));
    }
    return {};
  });
}

Status NetworkService::give_tap(const std::string& tap, uid_t uid) {
  return state_.with_lock([&](State& state) -> Status {
    if (state.attached.count(tap) == 0) {
      return fail(Errc::failed_precondition, fmt::format("tap {} is not attached to a vm", tap));
    }
    BANGER_TRY(deps_.links.set_tap_owner(tap, uid));
    state.given.insert(tap);
    return {};
  });
}

Status NetworkService::release_ip(const std::string& ip) {
  BANGER_TRY_ASSIGN(Ipv4 address, parse_ipv4(ip));
  return state_.with_lock([&](State& state) -> Status {
    if (state.allocator) {
      state.allocator->release(address);
    }
    return {};
  });
}

Status NetworkService::reconcile(const std::vector<Lease>& in_use) {
  return state_.with_lock([&](State& state) -> Status {
    if (!state.allocator) {  // present exactly when the config is valid
      return tl::unexpected(config_.error());
    }
    IpAllocator& allocator = *state.allocator;
    allocator.clear();
    state.attached.clear();
    state.given.clear();
    std::vector<std::string> taps;
    for (const auto& lease : in_use) {
      if (!lease.ip.empty()) {
        auto ip = parse_ipv4(lease.ip);
        Status leased =
            ip ? allocator.allocate_specific(*ip, lease.vm_id) : Status(tl::unexpected(ip.error()));
        if (!leased) {
          BANGER_LOG_WARN("reconciling network: vm {} keeps no address: {}", lease.vm_id,
                          leased.error().message);
        }
      }
      if (!lease.tap.empty()) {
        taps.push_back(lease.tap);
        state.attached[lease.tap] = lease.vm_id;
      }
    }
    Status pool = state.pool.reconcile(taps);
    Status refill = state.pool.refill();
    if (!pool) {
      return pool;
    }
    return refill;
  });
}

Status NetworkService::quarantine_tap(const std::string& tap) {
  return state_.with_lock([&](State& state) -> Status {
    state.attached.erase(tap);
    state.given.erase(tap);
    return state.pool.quarantine(tap);
  });
}

Expected<bool> NetworkService::bridge_exists() {
  return deps_.links.link_exists(deps_.bridge_name);
}

Status NetworkService::refill_pool() {
  return state_.with_lock([&](State& state) -> Status { return state.pool.refill(); });
}

std::vector<Lease> NetworkService::leases() const {
  return state_.with_lock([&](const State& state) {
    std::map<std::string, std::string> tap_of;  // vm id -> tap
    for (const auto& [tap, vm_id] : state.attached) {
      tap_of[vm_id] = tap;
    }
    std::vector<Lease> out;
    if (state.allocator) {
      for (const auto& [ip, vm_id] : state.allocator->leases()) {
        auto it = tap_of.find(vm_id);
        out.push_back(Lease{vm_id, format_ipv4(ip), it == tap_of.end() ? "" : it->second});
      }
    }
    return out;
  });
}

std::vector<std::string> NetworkService::idle_taps() const {
  return state_.with_lock([](const State& state) { return state.pool.idle(); });
}

}  // namespace banger::hostnat
