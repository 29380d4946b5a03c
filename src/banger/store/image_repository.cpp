#include "banger/store/image_repository.hpp"

#include <fmt/format.h>

#include "banger/base/expected.hpp"

namespace banger::store {
namespace {

constexpr std::string_view kColumns =
    "name, rootfs_path, work_seed_path, kernel_ref, distro, init_flavour, extra_kernel_args, "
    "managed, size_bytes, created_at, ssh";

// Binds every field but name, starting at parameter `first`.
Status bind_fields(Statement& stmt, const model::Image& image, int first) {
  int i = first;
  BANGER_TRY(stmt.bind(i++, image.rootfs_path));
  BANGER_TRY(stmt.bind(i++, image.work_seed_path));
  BANGER_TRY(stmt.bind(i++, image.kernel_ref));
  BANGER_TRY(stmt.bind(i++, image.distro));
  BANGER_TRY(stmt.bind(i++, model::to_string(image.init_flavour)));
  BANGER_TRY(stmt.bind(i++, image.extra_kernel_args));
  BANGER_TRY(stmt.bind(i++, std::int64_t{image.managed ? 1 : 0}));
  BANGER_TRY(stmt.bind(i++, image.size_bytes));
  BANGER_TRY(stmt.bind(i++, image.created_at));
  BANGER_TRY(stmt.bind(i++, std::int64_t{image.ssh ? 1 : 0}));
  return {};
}

Expected<model::Image> read_row(const Statement& stmt) {
  model::Image image;
  image.name = stmt.column_text(0);
  image.rootfs_path = stmt.column_text(1);
  image.work_seed_path = stmt.column_text(2);
  image.kernel_ref = stmt.column_text(3);
  image.distro = stmt.column_text(4);
  std::string flavour = stmt.column_text(5);
  auto parsed = model::parse_init_flavour(flavour);
  if (!parsed) {
    return fail(Errc::internal, fmt::format("image \"{}\" has unknown init flavour \"{}\" in the "
                                            "store",
                                            image.name, flavour));
  }
  image.init_flavour = *parsed;
  image.extra_kernel_args = stmt.column_text(6);
  image.managed = stmt.column_int64(7) != 0;
  image.size_bytes = stmt.column_int64(8);
  image.created_at = stmt.column_int64(9);
  image.ssh = stmt.column_int64(10) != 0;
  return image;
}

tl::unexpected<Error> not_found(const std::string& name) {
  return fail(Errc::not_found, fmt::format("image \"{}\" not found", name));
}

}  // namespace

Status ImageRepository::insert(const model::Image& image) {
  auto guard = db_.lock();
  BANGER_TRY_ASSIGN(
      auto stmt,
      db_.prepare(fmt::format("INSERT INTO images ({}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                              kColumns)));
  BANGER_TRY(stmt.bind(1, image.name));
  BANGER_TRY(bind_fields(stmt, image, 2));
  if (auto done = stmt.step(); !done) {
    if (done.error().code == Errc::already_exists) {
      return fail(Errc::already_exists, fmt::format("image \"{}\" already exists", image.name));
    }
    return tl::unexpected(
        with_context(done.error(), fmt::format("saving image \"{}\"", image.name)));
  }
  return {};
}

Expected<model::Image> ImageRepository::get(const std::string& name) {
  auto guard = db_.lock();
  BANGER_TRY_ASSIGN(auto stmt,
                    db_.prepare(fmt::format("SELECT {} FROM images WHERE name = ?", kColumns)));
  BANGER_TRY(stmt.bind(1, name));
  BANGER_TRY_ASSIGN(bool row, stmt.step());
  if (!row) {
    return not_found(name);
  }
  return read_row(stmt);
}

Expected<std::vector<model::Image>> ImageRepository::list() {
  auto guard = db_.lock();
  BANGER_TRY_ASSIGN(auto stmt,
                    db_.prepare(fmt::format("SELECT {} FROM images ORDER BY name", kColumns)));
  std::vector<model::Image> images;
  while (true) {
    BANGER_TRY_ASSIGN(bool row, stmt.step());
    if (!row) {
      break;
    }
    BANGER_TRY_ASSIGN(auto image, read_row(stmt));
    images.push_back(std::move(image));
  }
  return images;
}

Status ImageRepository::update(const model::Image& image) {
  auto guard = db_.lock();
  BANGER_TRY_ASSIGN(auto stmt, db_.prepare("UPDATE images SET rootfs_path = ?, work_seed_path = "
                                           "?, kernel_ref = ?, distro = ?, init_flavour = ?, "
                                           "extra_kernel_args = ?, managed = ?, size_bytes = ?, "
                                           "created_at = ?, ssh = ? WHERE name = ?"));
  BANGER_TRY(bind_fields(stmt, image, 1));
  BANGER_TRY(stmt.bind(11, image.name));
  if (auto done = stmt.step(); !done) {
    return tl::unexpected(
        with_context(done.error(), fmt::format("saving image \"{}\"", image.name)));
  }
  if (db_.changes() == 0) {
    return not_found(image.name);
  }
  return {};
}

Status ImageRepository::remove(const std::string& name) {
  auto guard = db_.lock();
  BANGER_TRY_ASSIGN(auto stmt, db_.prepare("DELETE FROM images WHERE name = ?"));
  BANGER_TRY(stmt.bind(1, name));
  BANGER_TRY(stmt.step());
  if (db_.changes() == 0) {
    return not_found(name);
  }
  return {};
}

}  // namespace banger::store
