#include "banger/vm/vm_service.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <optional>

#include "banger/base/expected.hpp"
#include "banger/namegen/namegen.hpp"
#include "banger/vm/lifecycle.hpp"

namespace banger::vm {
namespace {

// Minimum length of an id prefix accepted by show(), so short words do not match by accident.
constexpr std::size_t kMinIdPrefix = 4;
// Retries when a generated name is taken between choosing it and inserting it.
constexpr int kGeneratedNameRetries = 5;

Status validate_sizes(const CreateSpec& spec) {
  if (spec.vcpu < 1) {
    return fail(Errc::invalid_argument,
                fmt::format("invalid vcpu count {}: use 1 or more", spec.vcpu));
  }
  if (spec.memory_mib < 1) {
    return fail(Errc::invalid_argument,
                fmt::format("invalid memory size {} MiB: use 1 MiB or more", spec.memory_mib));
  }
  if (spec.disk_size_mib < 1) {
    return fail(Errc::invalid_argument,
                fmt::format("invalid disk size {} MiB: use 1 MiB or more", spec.disk_size_mib));
  }
  return {};
}

}  // namespace

VmService::VmService(VmServiceDeps deps) : deps_(deps) {}

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
  BANGER_TRY(validate_sizes(spec));
  auto now = base::to_unix_seconds(deps_.clock.now());
  for (int attempt = 0;; ++attempt) {
    BANGER_TRY_ASSIGN(std::string name, pick_name(spec));
    model::Vm vm;
    vm.id = base::random_hex(deps_.random, model::kVmIdLength);
    vm.name = std::move(name);
    vm.image = spec.image;
    vm.kernel = spec.kernel;
    vm.vcpu = spec.vcpu;
    vm.memory_mib = spec.memory_mib;
    vm.disk_size_mib = spec.disk_size_mib;
    vm.nat = spec.nat;
    vm.state = model::VmState::created;
    vm.created_at = now;
    vm.touched_at = now;
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
  if (by_name || by_name.error().code != Errc::not_found) {
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

Status VmService::remove(const std::string& name_or_id) {
  BANGER_TRY_ASSIGN(auto found, show(name_or_id));
  auto lock = locks_.acquire(found.id);
  // Re-read under the lock: another operation may have changed or removed it meanwhile.
  auto vm = deps_.vms.get(found.id);
  if (!vm) {
    if (vm.error().code == Errc::not_found) {
      return fail(Errc::not_found, fmt::format("vm \"{}\" not found", name_or_id));
    }
    return tl::unexpected(vm.error());
  }
  if (auto allowed = check_transition(vm->state, VmEvent::remove); !allowed) {
    return tl::unexpected(
        with_context(allowed.error(), fmt::format("removing vm \"{}\"", vm->name)));
  }
  return deps_.vms.remove(vm->id);
}

}  // namespace banger::vm
