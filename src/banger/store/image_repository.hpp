// ImageRepository: the `images` table, one row per model::Image, keyed by name.
#pragma once

#include <string>
#include <vector>

#include "banger/base/error.hpp"
#include "banger/model/image.hpp"
#include "banger/store/database.hpp"

namespace banger::store {

// Thread-safety: every method may be called concurrently (each holds Database::lock()).
class ImageRepository {
 public:
  explicit ImageRepository(Database& db) : db_(db) {}

  // Adds image; already_exists `image "x" already exists` when the name is taken.
  Status insert(const model::Image& image);
  // not_found `image "x" not found`.
  Expected<model::Image> get(const std::string& name);
  // All images ordered by name.
  Expected<std::vector<model::Image>> list();
  // Replaces the row named image.name; not_found `image "x" not found`.
  Status update(const model::Image& image);
  // Deletes the row; not_found `image "x" not found`.
  Status remove(const std::string& name);

 private:
  Database& db_;
};

}  // namespace banger::store
