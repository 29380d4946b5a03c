// VmRepository: the `vms` table, one row per model::Vm. Services use this, never Database.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "banger/base/error.hpp"
#include "banger/model/vm.hpp"
#include "banger/store/database.hpp"

namespace banger::store {

// Thread-safety: every method may be called concurrently; each holds Database::lock() for its
// statements. Name uniqueness is enforced by the UNIQUE constraint on vms.name, so concurrent
// inserts of one name (from threads or processes) yield exactly one row.
class VmRepository {
 public:
  explicit VmRepository(Database& db) : db_(db) {}

  // Adds vm. already_exists `vm "web" already exists` when the name is taken (or
  // `vm id 0123456789abcdef already exists` for an id clash); unavailable when the database
  // stays locked by another process past the busy timeout.
  Status insert(const model::Vm& vm);

  // The VM with this full id; not_found `vm "<id>" not found`.
  Expected<model::Vm> get(const std::string& id);

  // The VM with exactly this name; not_found `vm "web" not found`.
  Expected<model::Vm> find_by_name(const std::string& name);

  // VMs whose id starts with prefix, ordered by id (empty when none).
  Expected<std::vector<model::Vm>> find_by_id_prefix(const std::string& prefix);

  // All VMs ordered by created_at, then name.
  Expected<std::vector<model::Vm>> list();

  // Replaces every field of the row with vm.id, except that touched_at only moves forward
  // (the later of the stored and the given value): a record read before a concurrent touch()
  // cannot undo it. not_found `vm "web" not found` when no such row; already_exists
  // `vm "x" already exists` when renaming onto a taken name.
  Status update(const model::Vm& vm);

  // Sets only touched_at (to the later of the stored value and `at`), leaving every other
  // column as it is: callers that do not hold the VM's lock (ssh, exec, ports) can mark use
  // without undoing a concurrent lifecycle change. not_found `vm "<id>" not found`.
  Status touch(const std::string& id, std::int64_t at);

  // Deletes the row with this id; not_found `vm "<id>" not found`.
  Status remove(const std::string& id);

  // Whether a VM has exactly this name.
  Expected<bool> name_taken(const std::string& name);

 private:
  Expected<std::vector<model::Vm>> query(const std::string& sql_tail,
                                         const std::optional<std::string>& arg);

  Database& db_;
};

}  // namespace banger::store
