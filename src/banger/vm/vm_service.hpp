// VmService: the VM records and their lifecycle (S4, S13). For now it creates, lists, shows
// and removes records; start/stop/reconcile arrive with the network and VMM services.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "banger/base/clock.hpp"
#include "banger/base/error.hpp"
#include "banger/base/random.hpp"
#include "banger/model/vm.hpp"
#include "banger/store/vm_repository.hpp"
#include "banger/vm/vm_locks.hpp"

namespace banger::vm {

// Owns: VM records in the `vms` table, their state transitions (check_transition) and the
//       per-VM locks that serialize operations on one VM.
// Does not own: the store itself, images, kernels, host networking, VMM processes or the
//       vms/<id> directories (later issues add them to VmServiceDeps).
// Thread-safety: all public methods may be called concurrently. Operations on one VM serialize
//       on its VmLocks entry; different VMs proceed in parallel. Name uniqueness is enforced
//       by the store, so concurrent creates of one name yield exactly one VM.
struct VmServiceDeps {
  store::VmRepository& vms;
  base::Clock& clock;
  base::Random& random;
};

// What `vm create` asks for, with sizes already resolved from flags and config.
struct CreateSpec {
  std::string name;  // empty: a generated unique adjective-noun name
  std::string image;
  std::string kernel;
  int vcpu = 0;
  std::int64_t memory_mib = 0;
  std::int64_t disk_size_mib = 0;
  bool nat = false;
};

class VmService {
 public:
  explicit VmService(VmServiceDeps deps);

  // Records a new VM in state `created` with a random 16-hex id and created_at/touched_at from
  // the clock. invalid_argument for an invalid name or a non-positive vcpu/memory/disk size;
  // already_exists `vm "web" already exists` when the name is taken; failed_precondition when
  // no free name could be generated.
  Expected<model::Vm> create(const CreateSpec& spec);

  // All VMs ordered by created_at, then name.
  Expected<std::vector<model::Vm>> list();

  // The VM named exactly name_or_id; else the VM with that full id; else the only VM whose id
  // starts with it (4 or more hex characters). not_found `vm "x" not found`; invalid_argument
  // when an id prefix matches several VMs.
  Expected<model::Vm> show(const std::string& name_or_id);

  // Deletes the VM's record, under its per-VM lock. not_found as show(); failed_precondition
  // `removing vm "web": cannot remove vm in state running: stop it first` for active VMs.
  // Removing vms/<id> is not done here yet.
  Status remove(const std::string& name_or_id);

 private:
  Expected<std::string> pick_name(const CreateSpec& spec);

  VmServiceDeps deps_;
  VmLocks locks_;
};

}  // namespace banger::vm
