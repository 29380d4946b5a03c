#include "banger/hostnat/nat_service.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "banger/base/expected.hpp"
#include "banger/base/log.hpp"
#include "banger/base/strings.hpp"

namespace banger::hostnat {
namespace {

constexpr std::string_view kNftMissing = "nft not found: install the nftables package";
constexpr std::string_view kListing = "listing the nftables ruleset";
constexpr std::string_view kApplying = "applying tables ip/bridge banger";

std::vector<NatVm> values(const std::map<std::string, NatVm>& set) {
  std::vector<NatVm> out;
  out.reserve(set.size());
  for (const auto& [id, vm] : set) {
    out.push_back(vm);
  }
  return out;
}

// A runner failure (nft could not be run at all) as reported to callers.
Error runner_error(Error error, std::string_view doing) {
  if (error.code == Errc::not_found) {
    return Error{Errc::unavailable, std::string(kNftMissing), 0, {}};
  }
  return with_context(std::move(error), doing);
}

// "<doing>: nft exited 1: <stderr>" (stdout when stderr is empty; nothing when both are).
Error exit_error(std::string_view doing, const sys::CommandResult& result) {
  std::string detail(base::trim(result.err));
  if (detail.empty()) {
    detail = std::string(base::trim(result.out));
  }
  return Error{Errc::command_failed,
               fmt::format("{}: nft exited {}{}{}", doing, result.exit_code,
                           detail.empty() ? "" : ": ", detail),
               0,
               {}};
}

}  // namespace

NatService::NatService(NatServiceDeps deps)
    : deps_(std::move(deps)),
      network_{.bridge_name = deps_.bridge_name, .bridge_cidr = deps_.bridge_cidr} {
  config_ = validate_nat_network(network_);
  if (!config_) {
    config_ = tl::unexpected(with_context(config_.error(), "nat config"));
  }
}

Status NatService::check_config() const { return config_; }

Status NatService::check_prerequisites() {
  auto result = deps_.runner.run(sys::Command{.argv = {"nft", "list", "ruleset"}});
  if (!result) {
    return tl::unexpected(runner_error(std::move(result).error(), kListing));
  }
  if (result->exit_code != 0) {
    return tl::unexpected(exit_error(kListing, *result));
  }
  return {};
}

Status NatService::put(NatVm vm, const std::string& doing) {
  if (!config_) {
    return tl::unexpected(with_context(config_.error(), doing));
  }
  if (auto valid = validate_nat_vm(network_, vm); !valid) {
    return tl::unexpected(with_context(valid.error(), doing));
  }
  return state_.with_lock([&](State& state) -> Status {
    auto next = state.applied;
    for (const auto& [id, other] : next) {
      // Validated addresses are canonical text (parse_ipv4 rejects leading zeros).
      if (id != vm.vm_id && other.ip == vm.ip) {
        return fail(Errc::invalid_argument,
                    fmt::format("{}: address {} is already used by vm {}", doing, vm.ip, id));
      }
      if (id != vm.vm_id && other.tap == vm.tap) {
        return fail(Errc::invalid_argument,
                    fmt::format("{}: tap {} is already used by vm {}", doing, vm.tap, id));
      }
    }
    next[vm.vm_id] = vm;
    if (auto applied = apply_locked(state, next); !applied) {
      return tl::unexpected(with_context(applied.error(), doing));
    }
    return {};
  });
}

Status NatService::admit(const NatVm& vm) { return put(vm, "admitting vm " + vm.vm_id); }

Status NatService::enable(const std::string& vm_id, const std::string& ip, const std::string& tap) {
  return put(NatVm{.vm_id = vm_id, .ip = ip, .tap = tap, .nat = true},
             "enabling nat for vm " + vm_id);
}

Status NatService::disable(const std::string& vm_id) {
  const std::string doing = "disabling nat for vm " + vm_id;
  return state_.with_lock([&](State& state) -> Status {
    auto it = state.applied.find(vm_id);
    if (it == state.applied.end() || !it->second.nat) {
      return {};
    }
    auto next = state.applied;
    next[vm_id].nat = false;
    if (auto applied = apply_locked(state, next); !applied) {
      return tl::unexpected(with_context(applied.error(), doing));
    }
    return {};
  });
}

Status NatService::evict(const std::string& vm_id) {
  const std::string doing = "evicting vm " + vm_id;
  return state_.with_lock([&](State& state) -> Status {
    if (!state.applied.contains(vm_id)) {
      return {};
    }
    auto next = state.applied;
    next.erase(vm_id);
    if (auto applied = apply_locked(state, next); !applied) {
      return tl::unexpected(with_context(applied.error(), doing));
    }
    return {};
  });
}

Status NatService::rebuild(const std::vector<NatVm>& vms) {
  const std::string doing = "rebuilding nat rules";
  if (!config_) {
    return tl::unexpected(with_context(config_.error(), doing));
  }
  // Full validation (duplicates included) before anything runs.
  if (auto rendered = render_nat_ruleset(network_, vms); !rendered) {
    return tl::unexpected(with_context(rendered.error(), doing));
  }
  std::map<std::string, NatVm> next;
  for (const auto& vm : vms) {
    next.emplace(vm.vm_id, vm);
  }
  return state_.with_lock([&](State& state) -> Status {
    if (auto applied = apply_locked(state, next); !applied) {
      return tl::unexpected(with_context(applied.error(), doing));
    }
    return {};
  });
}

Status NatService::remove_all() {
  return state_.with_lock([&](State& state) -> Status {
    if (auto removed = run_nft(render_nat_removal(), "deleting tables ip/bridge banger");
        !removed) {
      return tl::unexpected(with_context(removed.error(), "removing nat rules"));
    }
    state.applied.clear();
    state.table_applied = false;
    return {};
  });
}

Expected<bool> NatService::tables_exist() {
  for (auto family : {kNatTableFamily, kBridgeTableFamily}) {
    std::string doing = fmt::format("listing table {} {}", family, kNatTableName);
    auto result = deps_.runner.run(sys::Command{
        .argv = {"nft", "list", "table", std::string(family), std::string(kNatTableName)}});
    if (!result) {
      if (result.error().code == Errc::not_found) {
        return false;
      }
      return tl::unexpected(with_context(std::move(result).error(), doing));
    }
    if (result->exit_code == 0) {
      return true;
    }
  }
  return false;
}

bool NatService::enabled(const std::string& vm_id) const {
  return state_.with_lock([&](const State& state) {
    auto it = state.applied.find(vm_id);
    return it != state.applied.end() && it->second.nat;
  });
}

std::vector<NatVm> NatService::vms() const {
  return state_.with_lock([](const State& state) { return values(state.applied); });
}

Status NatService::apply_locked(State& state, const std::map<std::string, NatVm>& next) {
  BANGER_TRY_ASSIGN(auto script, render_nat_ruleset(network_, values(next)));
  BANGER_TRY(run_nft(script, kApplying));
  bool any_nat = std::any_of(next.begin(), next.end(), [](const auto& e) { return e.second.nat; });
  if (any_nat) {
    // After the rules, never before: with forwarding on and no table yet, guests without NAT
    // could forward unfiltered.
    if (auto forwarding = deps_.ip_forwarding.enable(); !forwarding) {
      // Put back what was there so the call fails as a whole. The previous set rendered before,
      // so only nft itself can fail here; the next change replaces the table anyway.
      std::string previous;
      if (state.table_applied) {
        previous = render_nat_ruleset(network_, values(state.applied)).value_or("");
      } else {
        previous = render_nat_removal();
      }
      if (auto undo = run_nft(previous, "restoring tables ip/bridge banger"); !undo) {
        BANGER_LOG_WARN("nat rules may not match the vms until the next change: {}",
                        undo.error().message);
      }
      return tl::unexpected(with_context(forwarding.error(), "enabling ip forwarding"));
    }
  }
  state.applied = next;
  state.table_applied = true;
  return {};
}

Status NatService::run_nft(const std::string& script, std::string_view doing) {
  auto result = deps_.runner.run(sys::Command{.argv = {"nft", "-f", "-"}, .stdin_data = script});
  if (!result) {
    return tl::unexpected(runner_error(std::move(result).error(), doing));
  }
  if (result->exit_code != 0) {
    return tl::unexpected(exit_error(doing, *result));
  }
  return {};
}

}  // namespace banger::hostnat
