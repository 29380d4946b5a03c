// KernelRepository: the `kernels` table, one row per model::Kernel, keyed by name.
#pragma once

#include <string>
#include <vector>

#include "banger/base/error.hpp"
#include "banger/model/kernel.hpp"
#include "banger/store/database.hpp"

namespace banger::store {

// Thread-safety: every method may be called concurrently (each holds Database::lock()).
class KernelRepository {
 public:
  explicit KernelRepository(Database& db) : db_(db) {}

  // Adds kernel; already_exists `kernel "x" already exists` when the name is taken.
  Status insert(const model::Kernel& kernel);
  // not_found `kernel "x" not found`.
  Expected<model::Kernel> get(const std::string& name);
  // All kernels ordered by name.
  Expected<std::vector<model::Kernel>> list();
  // Replaces the row named kernel.name; not_found `kernel "x" not found`.
  Status update(const model::Kernel& kernel);
  // Deletes the row; not_found `kernel "x" not found`.
  Status remove(const std::string& name);

 private:
  Database& db_;
};

}  // namespace banger::store
