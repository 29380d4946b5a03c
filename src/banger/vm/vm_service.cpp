#include "banger/vm/vm_service.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <optional>
#include <set>

#include "banger/base/expected.hpp"
#include "banger/base/log.hpp"
#include "banger/base/strings.hpp"
#include "banger/namegen/namegen.hpp"
#include "banger/vm/fan_out.hpp"
#include "banger/vm/lifecycle.hpp"

namespace banger::vm {
namespace {

// Minimum length of an id prefix accepted by show(), so short words do not match by accident.
constexpr std::size_t kMinIdPrefix = 4;
// Retries when a generated name is taken between choosing it and inserting it.
constexpr int kGeneratedNameRetries = 5;

Status validate_sizes(const model::Vm& vm) {
  if (vm.vcpu < 1) {
    return fail(Errc::invalid_argument,
                fmt::format("invalid vcpu count {}: use 1 or more", vm.vcpu));
  }
  if (vm.memory_mib < 1) {
    return fail(Errc::invalid_argument,
                fmt::format("invalid memory size {} MiB: use 1 MiB or more", vm.memory_mib));
  }
  if (vm.disk_size_mib < 1) {
    return fail(Errc::invalid_argument,
                fmt::format("invalid disk size {} MiB: use 1 MiB or more", vm.disk_size_mib));
  }
  return {};
}

std::size_t base64_size(std::size_t bytes) { return (bytes + 2) / 3 * 4; }

// Whether prune may delete the VM: nothing of it runs.
bool is_idle(const model::Vm& vm) {
  return vm.state == model::VmState::created || vm.state == model::VmState::stopped ||
         vm.state == model::VmState::error;
}

}  // namespace

VmService::VmService(VmServiceDeps deps, VmServiceOptions options)
    : deps_(deps), options_(std::move(options)) {}

Expected<std::string> VmService::pick_name(const CreateSpec& spec) {
  if (!spec.name.empty()) {
    BANGER_TRY(model::validate_vm_name(spec.name));
    return spec.name;
  }
  std::optional<Error> lookup_error;
  auto name = namegen::generate_unique_name(deps_.random, [&](const std::string& candidate) {
    auto taken = deps_.vms.name_taken(candidate);
    if (!taken) {
      lookup_error = taken.error();
      return false;  // stop searching; the error is returned below
    }
    return *taken;
  });
  if (lookup_error) {
    return tl::unexpected(with_context(*lookup_error, "choosing a vm name"));
  }
  return name;
}

Expected<model::Vm> VmService::create(const CreateSpec& spec) {
  if (!spec.vmm && !options_.vmm_refusal.empty()) {
    return fail(Errc::failed_precondition, options_.vmm_refusal);
  }
  model::Vm vm;
  vm.image = spec.image.empty() ? options_.default_image : spec.image;
  vm.kernel = spec.kernel.empty() ? options_.default_kernel : spec.kernel;
  vm.vcpu = spec.vcpu.value_or(options_.default_vcpu);
  vm.memory_mib = spec.memory_mib.value_or(options_.default_memory_mib);
  vm.disk_size_mib = spec.disk_size_mib.value_or(options_.default_disk_size_mib);
  vm.rootfs_overlay_size_mib = options_.default_rootfs_overlay_size_mib;
  vm.nat = spec.nat;
  vm.vmm = spec.vmm.value_or(options_.default_vmm);
  vm.publish = spec.publish;
  vm.state = model::VmState::created;
  BANGER_TRY(validate_sizes(vm));
  BANGER_TRY(model::validate_port_forwards(vm.publish));
  // A VM whose image or kernel cannot be had would only ever fail to start: refuse it before
  // it is recorded (nothing to clean up after a typo).
  BANGER_TRY(deps_.host.check_sources(vm));
  vm.created_at = base::to_unix_seconds(deps_.clock.now());
  vm.touched_at = vm.created_at;
  for (int attempt = 0;; ++attempt) {
    BANGER_TRY_ASSIGN(vm.name, pick_name(spec));
    vm.id = base::random_hex(deps_.random, model::kVmIdLength);
    auto inserted = deps_.vms.insert(vm);
    if (inserted) {
      return vm;
    }
    // A generated name can be taken by a concurrent create after we checked it: draw again.
    bool retry = spec.name.empty() && inserted.error().code == Errc::already_exists &&
                 attempt < kGeneratedNameRetries;
    if (!retry) {
      return tl::unexpected(inserted.error());
    }
  }
}

Expected<std::vector<model::Vm>> VmService::list() { return deps_.vms.list(); }

Expected<model::Vm> VmService::show(const std::string& name_or_id) {
  auto by_name = deps_.vms.find_by_name(name_or_id);
  if (!by_name && by_name.error().code != Errc::not_found) {
    return by_name;
  }
  if (by_name) {
    // A name that is also a prefix of another VM's id is ambiguous: `vm delete cafe` must not
    // delete the VM named cafe when the user meant the id cafe... (security review L9).
    if (name_or_id.size() >= kMinIdPrefix && model::is_hex(name_or_id)) {
      BANGER_TRY_ASSIGN(auto matches, deps_.vms.find_by_id_prefix(name_or_id));
      std::erase_if(matches, [&](const model::Vm& vm) { return vm.id == by_name->id; });
      if (!matches.empty()) {
        return fail(Errc::invalid_argument,
                    fmt::format("\"{}\" is the name of vm {} and a prefix of the id of vm {} ({}): "
                                "use the full id of the one you mean",
                                name_or_id, by_name->id, matches.front().name, matches.front().id));
      }
    }
    return by_name;
  }
  if (model::is_vm_id(name_or_id)) {
    auto by_id = deps_.vms.get(name_or_id);
    if (by_id || by_id.error().code != Errc::not_found) {
      return by_id;
    }
  }
  if (name_or_id.size() >= kMinIdPrefix && model::is_hex(name_or_id)) {
    BANGER_TRY_ASSIGN(auto matches, deps_.vms.find_by_id_prefix(name_or_id));
    if (matches.size() == 1) {
      return std::move(matches.front());
    }
    if (matches.size() > 1) {
      std::vector<std::string> names;
      for (const auto& vm : matches) {
        names.push_back(vm.name);
      }
      return fail(Errc::invalid_argument,
                  fmt::format("vm id prefix \"{}\" matches {} vms ({}): use more of the id",
                              name_or_id, matches.size(), fmt::join(names, ", ")));
    }
  }
  return fail(Errc::not_found, fmt::format("vm \"{}\" not found", name_or_id));
}

Expected<model::Vm> VmService::reread(const model::Vm& found, const std::string& name_or_id) {
  // Re-read under the lock: another operation may have changed or removed it meanwhile.
  auto vm = deps_.vms.get(found.id);
  if (!vm && vm.error().code == Errc::not_found) {
    return fail(Errc::not_found, fmt::format("vm \"{}\" not found", name_or_id));
  }
  return vm;
}

Status VmService::transition(model::Vm& vm, VmEvent event, const std::string& doing) {
  auto next = check_transition(vm.state, event);
  if (!next) {
    return tl::unexpected(with_context(next.error(), doing));
  }
  vm.state = *next;
  return deps_.vms.update(vm);
}

Status VmService::remove(const std::string& name_or_id) {
  BANGER_TRY_ASSIGN(auto found, show(name_or_id));
  auto lock = locks_.acquire(found.id);
  BANGER_TRY_ASSIGN(auto vm, reread(found, name_or_id));
  // Deleting a live VM kills it first (S13: nothing of it may remain).
  if (vm.state == model::VmState::starting || vm.state == model::VmState::running ||
      vm.state == model::VmState::stopping) {
    BANGER_TRY_ASSIGN(vm, kill_locked(vm));
  }
  return destroy_locked(vm);
}

Status VmService::destroy_locked(const model::Vm& vm) {
  if (auto allowed = check_transition(vm.state, VmEvent::remove); !allowed) {
    return tl::unexpected(
        with_context(allowed.error(), fmt::format("removing vm \"{}\"", vm.name)));
  }
  if (auto destroyed = deps_.host.destroy(vm); !destroyed) {
    return tl::unexpected(
        with_context(destroyed.error(), fmt::format("removing vm \"{}\"", vm.name)));
  }
  return deps_.vms.remove(vm.id);
}

Expected<std::vector<std::string>> VmService::remove(const std::vector<std::string>& names_or_ids) {
  if (names_or_ids.empty()) {
    return fail(Errc::invalid_argument, "vm.delete needs at least one vm name");
  }
  std::vector<model::Vm> targets;
  for (const auto& name : names_or_ids) {
    BANGER_TRY_ASSIGN(auto vm, show(name));
    targets.push_back(std::move(vm));
  }
  std::vector<std::string> removed;
  for (const auto& vm : targets) {
    BANGER_TRY(remove(vm.id));
    removed.push_back(vm.name);
  }
  return removed;
}

Expected<model::Vm> VmService::start(const std::string& name_or_id,
                                     const base::ProgressFn& progress, const base::CancelFn& cancel,
                                     Readiness readiness) {
  BANGER_TRY_ASSIGN(auto found, show(name_or_id));
  auto lock = locks_.acquire(found.id);
  BANGER_TRY_ASSIGN(auto vm, reread(found, name_or_id));
  std::string doing = fmt::format("starting vm \"{}\"", vm.name);
  BANGER_TRY(transition(vm, VmEvent::start, doing));
  vm.last_error.clear();

  // Rollback in reverse order of what was set up; the VM ends in `error` with the reason.
  auto fail_start = [&](Error error, bool launched) -> Expected<model::Vm> {
    if (launched) {
      if (auto killed = deps_.host.kill(vm); !killed) {
        BANGER_LOG_WARN("vm {}: killing after a failed start: {}", vm.name, killed.error().message);
      }
    }
    if (auto released = deps_.host.release(vm); !released) {
      BANGER_LOG_WARN("vm {}: releasing {} after a failed start: {}", vm.name, vm.tap_name,
                      released.error().message);
    }
    error = with_context(std::move(error), doing);
    vm.tap_name.clear();
    vm.vmm_pid = 0;
    vm.vmm_start_time = 0;
    vm.last_error = error.message;
    (void)transition(vm, VmEvent::boot_failed, doing);
    return tl::unexpected(error);
  };

  base::report(progress, {"prepare", "preparing " + vm.name, 0, 0});
  auto prepared = deps_.host.prepare(vm, progress, cancel);
  if (!prepared) {
    return fail_start(prepared.error(), false);
  }
  prepared->apply_to(vm);
  if (auto saved = deps_.vms.update(vm); !saved) {
    return fail_start(saved.error(), false);
  }
  // Published ports are bound before the boot: a taken one fails the start at once (release()
  // in fail_start closes the ones bound).
  if (!vm.publish.empty()) {
    if (auto bound = deps_.host.add_forwards(vm, vm.publish); !bound) {
      return fail_start(bound.error(), false);
    }
  }
  // Boots on emulated CPUs take turns, as many at once as the host has CPUs (BootGate); the slot
  // is held until the VM is ready or the start failed.
  std::optional<BootGate::Slot> boot_slot;
  if (deps_.host.emulates_cpus(vm)) {
    if (boot_gate_.slots() != 0 && boot_gate_.booting() >= boot_gate_.slots()) {
      base::report(progress, {"boot",
                              fmt::format("{} waits for a free CPU ({} VMs are booting on {} "
                                          "emulated CPUs)",
                                          vm.name, boot_gate_.booting(), boot_gate_.slots()),
                              0, 0});
    }
    auto slot = boot_gate_.enter(cancel);
    if (!slot) {
      return fail_start(slot.error(), false);
    }
    boot_slot.emplace(std::move(*slot));
  }
  base::report(progress, {"boot", "booting " + vm.name, 0, 0});
  // The pid + start time are stored the moment the VMM exists, before launch() waits for it: a
  // daemon killed from here on leaves a record that reconcile uses to kill the VMM (security
  // review M2). A failed launch has killed its VMM itself.
  auto launched = deps_.host.launch(vm, [&](const Launched& spawned) -> Status {
    vm.vmm_pid = spawned.pid;
    vm.vmm_start_time = spawned.start_time;
    return deps_.vms.update(vm);
  });
  if (!launched) {
    return fail_start(launched.error(), false);
  }
  base::report(progress,
               {"ready",
                "waiting for " + vm.name + "'s guest agent" +
                    (readiness == Readiness::ssh && deps_.host.starts_ssh(vm) ? " and sshd" : ""),
                0, 0});
  if (auto ready = deps_.host.wait_ready(vm, readiness, cancel); !ready) {
    return fail_start(ready.error(), true);
  }
  vm.touched_at = base::to_unix_seconds(deps_.clock.now());
  BANGER_TRY(transition(vm, VmEvent::boot_succeeded, doing));
  BANGER_LOG_INFO("vm {} running (pid {}, ip {})", vm.name, vm.vmm_pid, vm.guest_ip);
  return vm;
}

Expected<model::Vm> VmService::stop_locked(model::Vm vm, std::chrono::seconds grace) {
  std::string doing = fmt::format("stopping vm \"{}\"", vm.name);
  BANGER_TRY(transition(vm, VmEvent::stop, doing));
  if (auto down = deps_.host.shutdown(vm, grace); !down) {
    BANGER_LOG_WARN("vm {}: {}; killing it", vm.name, down.error().message);
    (void)deps_.host.kill(vm);
  }
  if (auto released = deps_.host.release(vm); !released) {
    BANGER_LOG_WARN("vm {}: releasing {}: {}", vm.name, vm.tap_name, released.error().message);
  }
  vm.tap_name.clear();
  vm.vmm_pid = 0;
  vm.vmm_start_time = 0;
  BANGER_TRY(transition(vm, VmEvent::stopped, doing));
  return vm;
}

Expected<model::Vm> VmService::stop(const std::string& name_or_id, std::chrono::seconds grace) {
  BANGER_TRY_ASSIGN(auto found, show(name_or_id));
  auto lock = locks_.acquire(found.id);
  BANGER_TRY_ASSIGN(auto vm, reread(found, name_or_id));
  return stop_locked(std::move(vm), grace);
}

Expected<model::Vm> VmService::restart(const std::string& name_or_id,
                                       const base::ProgressFn& progress,
                                       const base::CancelFn& cancel) {
  BANGER_TRY_ASSIGN(auto vm, show(name_or_id));
  if (vm.state == model::VmState::running) {
    BANGER_TRY(stop(vm.id));
  }
  return start(vm.id, progress, cancel);
}

Expected<model::Vm> VmService::kill_locked(model::Vm vm, int signal) {
  std::string doing = signal == SIGKILL
                          ? fmt::format("killing vm \"{}\"", vm.name)
                          : fmt::format("sending signal {} to vm \"{}\"", signal, vm.name);
  auto next = check_transition(vm.state, VmEvent::kill);
  if (!next) {
    return tl::unexpected(with_context(next.error(), doing));
  }
  if (signal == SIGKILL) {
    if (auto killed = deps_.host.kill(vm); !killed) {
      return tl::unexpected(with_context(killed.error(), doing));
    }
  } else {
    auto exited = deps_.host.signal(vm, signal);
    if (!exited) {
      return tl::unexpected(with_context(exited.error(), doing));
    }
    if (!*exited) {
      // It handled or ignored the signal: nothing changes (a later exit is the watcher's).
      BANGER_LOG_INFO("vm {}: the VMM (pid {}) survived signal {}; the vm keeps running", vm.name,
                      vm.vmm_pid, signal);
      return vm;
    }
  }
  if (auto released = deps_.host.release(vm); !released) {
    BANGER_LOG_WARN("vm {}: releasing {}: {}", vm.name, vm.tap_name, released.error().message);
  }
  vm.tap_name.clear();
  vm.vmm_pid = 0;
  vm.vmm_start_time = 0;
  vm.state = *next;
  BANGER_TRY(deps_.vms.update(vm));
  return vm;
}

Expected<model::Vm> VmService::kill(const std::string& name_or_id, int signal) {
  BANGER_TRY_ASSIGN(auto found, show(name_or_id));
  auto lock = locks_.acquire(found.id);
  BANGER_TRY_ASSIGN(auto vm, reread(found, name_or_id));
  return kill_locked(std::move(vm), signal);
}

Expected<model::Vm> VmService::set(const std::string& name_or_id, std::optional<int> vcpu,
                                   std::optional<std::int64_t> memory_mib,
                                   std::optional<bool> nat) {
  BANGER_TRY_ASSIGN(auto found, show(name_or_id));
  auto lock = locks_.acquire(found.id);
  BANGER_TRY_ASSIGN(auto vm, reread(found, name_or_id));
  BANGER_TRY(check_transition(vm.state, VmEvent::set).map_error([&](Error e) {
    return with_context(std::move(e), fmt::format("changing vm \"{}\"", vm.name));
  }));
  if (vcpu) {
    vm.vcpu = *vcpu;
  }
  if (memory_mib) {
    vm.memory_mib = *memory_mib;
  }
  bool nat_changed = nat && *nat != vm.nat;
  if (nat) {
    vm.nat = *nat;
  }
  BANGER_TRY(validate_sizes(vm));
  // NAT applies at once on a running VM: rules first, so a failure changes nothing.
  if (nat_changed && vm.state == model::VmState::running) {
    BANGER_TRY(deps_.host.set_nat(vm, vm.nat).map_error([&](Error e) {
      return with_context(std::move(e), fmt::format("changing nat of vm \"{}\"", vm.name));
    }));
  }
  if (auto saved = deps_.vms.update(vm); !saved) {
    if (nat_changed && vm.state == model::VmState::running) {
      (void)deps_.host.set_nat(vm, !vm.nat);
    }
    return tl::unexpected(saved.error());
  }
  return vm;
}

Expected<PruneResult> VmService::prune(bool dry_run,
                                       const std::optional<std::vector<std::string>>& only_ids) {
  PruneResult result;
  auto skip = [&](const std::string& id, const std::string& name, std::string reason) {
    result.skipped.push_back(PruneSkip{.id = id, .name = name, .reason = std::move(reason)});
  };
  std::vector<model::Vm> candidates;
  if (only_ids) {
    for (const auto& id : *only_ids) {
      if (!model::is_vm_id(id)) {
        return fail(Errc::invalid_argument,
                    fmt::format("vm.prune: \"{}\" is not a vm id (16 hex digits)", id));
      }
    }
    std::set<std::string> seen;
    for (const auto& id : *only_ids) {
      if (!seen.insert(id).second) {
        continue;
      }
      auto vm = deps_.vms.get(id);
      if (!vm && vm.error().code == Errc::not_found) {
        skip(id, id, "it no longer exists");
        continue;
      }
      BANGER_TRY(vm);
      candidates.push_back(std::move(*vm));
    }
  } else {
    BANGER_TRY_ASSIGN(auto vms, list());
    for (auto& vm : vms) {
      if (is_idle(vm)) {
        candidates.push_back(std::move(vm));
      }
    }
  }
  for (const auto& found : candidates) {
    // Under the lock, the record is the truth: a VM started (or deleted) since it was listed
    // or confirmed is left alone, so prune never kills anything.
    std::optional<VmLocks::Lock> lock;
    if (!dry_run) {
      lock.emplace(locks_.acquire(found.id));
    }
    auto vm = deps_.vms.get(found.id);
    if (!vm && vm.error().code == Errc::not_found) {
      skip(found.id, found.name, "it no longer exists");
      continue;
    }
    BANGER_TRY(vm);
    if (!is_idle(*vm)) {
      skip(vm->id, vm->name, fmt::format("it is {} now", model::to_string(vm->state)));
      continue;
    }
    if (!dry_run) {
      BANGER_TRY(destroy_locked(*vm));
    }
    result.deleted.push_back(std::move(*vm));
  }
  return result;
}

Status VmService::touch(const std::string& name_or_id) {
  // No VM lock (callers run beside long lifecycle operations), so only touched_at is written:
  // writing back the whole record read here would undo a stop/kill/set that finished meanwhile.
  BANGER_TRY_ASSIGN(auto vm, show(name_or_id));
  return deps_.vms.touch(vm.id, base::to_unix_seconds(deps_.clock.now()));
}

Expected<model::Vm> VmService::running(const std::string& name_or_id) {
  BANGER_TRY_ASSIGN(auto vm, show(name_or_id));
  if (vm.state != model::VmState::running) {
    return fail(Errc::not_running, fmt::format("vm \"{}\" is {}: start it with banger vm start {}",
                                               vm.name, model::to_string(vm.state), vm.name));
  }
  return vm;
}

Expected<GuestHealth> VmService::health(const std::string& name_or_id) {
  BANGER_TRY_ASSIGN(auto vm, running(name_or_id));
  return deps_.host.guest_health(vm).map_error([&](Error e) {
    return with_context(std::move(e), fmt::format("asking vm \"{}\" for its health", vm.name));
  });
}

Expected<std::vector<GuestPort>> VmService::ports(const std::string& name_or_id) {
  BANGER_TRY_ASSIGN(auto vm, running(name_or_id));
  (void)touch(vm.id);
  return deps_.host.guest_ports(vm).map_error([&](Error e) {
    return with_context(std::move(e), fmt::format("listing the ports of vm \"{}\"", vm.name));
  });
}

Expected<GuestExecResult> VmService::exec(const std::string& name_or_id, const GuestExec& command) {
  if (command.argv.empty()) {
    return fail(Errc::invalid_argument, "name a command to run in the vm");
  }
  BANGER_TRY_ASSIGN(auto vm, running(name_or_id));
  (void)touch(vm.id);
  auto result = deps_.host.guest_exec(vm, command);
  if (!result) {
    return tl::unexpected(with_context(
        result.error(), fmt::format("running {} in vm \"{}\"", command.argv[0], vm.name)));
  }
  BANGER_TRY(check_exec_output(*result));
  return result;
}

Expected<agentclient::StreamSession> VmService::open_stream(
    const std::string& name_or_id, const agentproto::StreamExecParams& params,
    const base::CancelFn& cancel) {
  if (params.argv.empty()) {
    return fail(Errc::invalid_argument, "name a command to run in the vm");
  }
  BANGER_TRY_ASSIGN(auto vm, running(name_or_id));
  (void)touch(vm.id);
  auto session = deps_.host.open_stream(vm, params, kStreamOpenTimeout, cancel);
  if (!session) {
    return tl::unexpected(with_context(
        session.error(), fmt::format("running {} in vm \"{}\"", params.argv[0], vm.name)));
  }
  return session;
}

Status VmService::check_exec_output(const GuestExecResult& result) const {
  const std::size_t limit = options_.max_exec_output_bytes;
  const std::size_t size = result.stdout_data.size() + result.stderr_data.size();
  // Both streams travel base64-encoded: compare what they will take on the wire.
  if (limit == 0 ||
      base64_size(result.stdout_data.size()) + base64_size(result.stderr_data.size()) <=
          base64_size(limit)) {
    return {};
  }
  return fail(Errc::failed_precondition,
              fmt::format("the command's output ({} bytes) is too large for one reply (about "
                          "{} MiB at most): write it to a file in the vm, or use banger vm ssh",
                          size, limit / (1024 * 1024)));
}

Expected<std::vector<VmPorts>> VmService::ports(const std::vector<std::string>& names_or_ids) {
  if (names_or_ids.empty()) {
    return fail(Errc::invalid_argument, "name at least one vm");
  }
  std::vector<VmPorts> out(names_or_ids.size(), VmPorts{.name = {}, .ports = {}});
  for_each_index(names_or_ids.size(), kMaxParallelVms, [&](std::size_t i) {
    out[i].name = names_or_ids[i];
    auto vm = show(names_or_ids[i]);
    if (!vm) {
      out[i].ports = tl::unexpected(vm.error());
      return;
    }
    out[i].ports = ports(vm->id);
    if (out[i].ports) {
      out[i].name = vm->name;
    }
  });
  return out;
}

Expected<VmStats> VmService::stats(const std::string& name_or_id) {
  BANGER_TRY_ASSIGN(auto vm, running(name_or_id));
  VmStats out{.vm = vm};
  BANGER_TRY_ASSIGN(out.usage, deps_.host.usage(vm).map_error([&](Error e) {
    return with_context(std::move(e), fmt::format("measuring vm \"{}\"", vm.name));
  }));
  if (auto guest = deps_.host.guest_health(vm)) {
    out.guest = *guest;
  } else {
    BANGER_LOG_DEBUG("vm {}: no guest uptime for stats: {}", vm.name, guest.error().message);
  }
  return out;
}

Expected<std::vector<VmStats>> VmService::stats(const std::vector<std::string>& names_or_ids) {
  std::vector<std::string> names = names_or_ids;
  if (names.empty()) {
    BANGER_TRY_ASSIGN(auto vms, list());
    for (const auto& vm : vms) {
      if (vm.state == model::VmState::running) {
        names.push_back(vm.name);
      }
    }
  }
  std::vector<VmStats> out;
  for (auto& result :
       for_each<VmStats>(names, [this](const std::string& name) { return stats(name); })) {
    BANGER_TRY_ASSIGN(auto one, std::move(result));
    out.push_back(std::move(one));
  }
  return out;
}

void VmService::poll_usage() {
  auto vms = list();
  if (!vms) {
    BANGER_LOG_WARN("usage poll: {}", vms.error().message);
    return;
  }
  std::erase_if(*vms, [](const model::Vm& vm) { return vm.state != model::VmState::running; });
  deps_.host.poll_usage(*vms);
}

std::vector<std::string> VmService::stop_stale(std::chrono::seconds after) {
  std::vector<std::string> stopped;
  if (after.count() <= 0) {
    return stopped;
  }
  auto vms = list();
  if (!vms) {
    BANGER_LOG_WARN("stale vm sweep: {}", vms.error().message);
    return stopped;
  }
  auto is_stale = [&](const model::Vm& vm) {
    return vm.state == model::VmState::running &&
           base::to_unix_seconds(deps_.clock.now()) - vm.touched_at >= after.count();
  };
  for (const auto& found : *vms) {
    if (!is_stale(found)) {
      continue;
    }
    auto lock = locks_.acquire(found.id);
    auto vm = deps_.vms.get(found.id);
    if (!vm || !is_stale(*vm)) {
      continue;  // deleted or touched meanwhile
    }
    BANGER_LOG_INFO("vm {} untouched for {} s or more (auto_stop_stale_after): stopping it",
                    vm->name, after.count());
    if (auto down = stop_locked(*vm, kStopGrace); !down) {
      BANGER_LOG_WARN("stopping stale vm {}: {}", vm->name, down.error().message);
      continue;
    }
    stopped.push_back(vm->name);
  }
  return stopped;
}

Status VmService::verify_host_key(const std::string& name_or_id) {
  BANGER_TRY_ASSIGN(auto vm, show(name_or_id));
  return deps_.host.verify_host_key(vm);
}

Expected<std::string> VmService::console_log_path(const std::string& name_or_id) {
  BANGER_TRY_ASSIGN(auto vm, show(name_or_id));
  return deps_.host.console_log_path(vm);
}

Expected<VmLogs> VmService::logs(const std::string& name_or_id, std::int64_t offset,
                                 std::int64_t max_bytes) {
  BANGER_TRY_ASSIGN(auto vm, show(name_or_id));
  return VmLogs{.state = vm.state,
                .window = read_console(deps_.host.console_log_path(vm), offset, max_bytes)};
}

namespace {

// How the VMM ended, for last_error and the log.
std::string describe_exit(int pid, const VmmExit& how) {
  if (how.signal) {
    return fmt::format("the VMM (pid {}) was killed by signal {}", pid, *how.signal);
  }
  if (how.exit_code) {
    return fmt::format("the VMM (pid {}) exited with code {}", pid, *how.exit_code);
  }
  return fmt::format(
      "the VMM (pid {}) exited (its exit status went to the daemon that started "
      "it)",
      pid);
}

}  // namespace

Status VmService::vmm_exited(const std::string& vm_id, int pid, std::uint64_t start_time,
                             const VmmExit& how) {
  auto lock = locks_.acquire(vm_id);
  auto vm = deps_.vms.get(vm_id);
  if (!vm) {
    return vm.error().code == Errc::not_found ? Status{} : Status(tl::unexpected(vm.error()));
  }
  // A stop, kill, restart or delete that ran first already dealt with this process.
  if (vm->state != model::VmState::running || vm->vmm_pid != pid ||
      vm->vmm_start_time != start_time || deps_.host.alive(*vm)) {
    return {};
  }
  // Exit code 0 is also what QEMU returns when a panicking guest reboots under -no-reboot
  // (panic=1 on the kernel command line), so the console decides between the two. The panic
  // line comes before the call trace, so it is looked for further back than the tail shown.
  std::string recent = deps_.host.console_tail(*vm, 200);
  std::string panic;
  if (auto at = recent.rfind("Kernel panic"); at != std::string::npos) {
    panic = recent.substr(at, std::min<std::size_t>(recent.find('\n', at) - at, 200));
  }
  std::string tail = base::tail_lines(recent, 20);
  bool clean = how.exit_code == 0 && !how.signal && panic.empty() &&
               recent.find("Rebooting in") == std::string::npos;
  if (auto released = deps_.host.release(*vm); !released) {
    BANGER_LOG_WARN("vm {}: releasing {}: {}", vm->name, vm->tap_name, released.error().message);
  }
  vm->tap_name.clear();
  vm->vmm_pid = 0;
  vm->vmm_start_time = 0;
  std::string what = describe_exit(pid, how);
  if (clean) {
    BANGER_LOG_INFO("vm {}: the guest powered itself off ({})", vm->name, what);
    vm->last_error.clear();
    return transition(*vm, VmEvent::guest_poweroff, "vm " + vm->name + " powered off");
  }
  BANGER_LOG_WARN("vm {}: {} while the vm was running", vm->name, what);
  vm->last_error = fmt::format("{} while the vm was running", what);
  if (!panic.empty() && tail.find(panic) == std::string::npos) {
    vm->last_error += "; guest " + panic;
  }
  if (!tail.empty()) {
    vm->last_error += "; console:\n" + tail;
  }
  return transition(*vm, VmEvent::crash, "vm " + vm->name + " crashed");
}

Status VmService::reconcile() {
  BANGER_TRY_ASSIGN(auto vms, list());
  for (auto& vm : vms) {
    bool active = vm.state == model::VmState::starting || vm.state == model::VmState::running ||
                  vm.state == model::VmState::stopping;
    if (!active) {
      continue;
    }
    if (vm.state == model::VmState::running && deps_.host.alive(vm)) {
      BANGER_LOG_INFO("reconcile: vm {} still running (pid {})", vm.name, vm.vmm_pid);
      continue;
    }
    // Gone, or caught half-way through a start/stop by the crash: tear down, mark stopped.
    BANGER_LOG_INFO("reconcile: vm {} was {} but its VMM is gone; marking it stopped", vm.name,
                    model::to_string(vm.state));
    (void)deps_.host.kill(vm);
    vm.tap_name.clear();
    vm.vmm_pid = 0;
    vm.vmm_start_time = 0;
    BANGER_TRY(transition(vm, VmEvent::lost, "reconciling vm " + vm.name));
  }
  BANGER_TRY_ASSIGN(auto after, list());
  BANGER_TRY(deps_.host.reconcile(after));
  reforward_published(after);
  return {};
}

}  // namespace banger::vm
