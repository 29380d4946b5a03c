#include "banger/store/kernel_repository.hpp"

#include <fmt/format.h>

#include "banger/base/expected.hpp"

namespace banger::store {
namespace {

constexpr std::string_view kColumns =
    "name, distro, arch, version, vmlinux_path, initrd_path, sha256, source, imported_at";

// Binds every field but name, starting at parameter `first`.
Status bind_fields(Statement& stmt, const model::Kernel& kernel, int first) {
  int i = first;
  BANGER_TRY(stmt.bind(i++, kernel.distro));
  BANGER_TRY(stmt.bind(i++, kernel.arch));
  BANGER_TRY(stmt.bind(i++, kernel.version));
  BANGER_TRY(stmt.bind(i++, kernel.vmlinux_path));
  BANGER_TRY(stmt.bind(i++, kernel.initrd_path));
  BANGER_TRY(stmt.bind(i++, kernel.sha256));
  BANGER_TRY(stmt.bind(i++, kernel.source));
  BANGER_TRY(stmt.bind(i++, kernel.imported_at));
  return {};
}

model::Kernel read_row(const Statement& stmt) {
  model::Kernel kernel;
  kernel.name = stmt.column_text(0);
  kernel.distro = stmt.column_text(1);
  kernel.arch = stmt.column_text(2);
  kernel.version = stmt.column_text(3);
  kernel.vmlinux_path = stmt.column_text(4);
  kernel.initrd_path = stmt.column_text(5);
  kernel.sha256 = stmt.column_text(6);
  kernel.source = stmt.column_text(7);
  kernel.imported_at = stmt.column_int64(8);
  return kernel;
}

tl::unexpected<Error> not_found(const std::string& name) {
  return fail(Errc::not_found, fmt::format("kernel \"{}\" not found", name));
}

}  // namespace

Status KernelRepository::insert(const model::Kernel& kernel) {
  auto guard = db_.lock();
  BANGER_TRY_ASSIGN(auto stmt,
                    db_.prepare(fmt::format(
                        "INSERT INTO kernels ({}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", kColumns)));
  BANGER_TRY(stmt.bind(1, kernel.name));
  BANGER_TRY(bind_fields(stmt, kernel, 2));
  if (auto done = stmt.step(); !done) {
    if (done.error().code == Errc::already_exists) {
      return fail(Errc::already_exists, fmt::format("kernel \"{}\" already exists", kernel.name));
    }
    return tl::unexpected(
        with_context(done.error(), fmt::format("saving kernel \"{}\"", kernel.name)));
  }
  return {};
}

Expected<model::Kernel> KernelRepository::get(const std::string& name) {
  auto guard = db_.lock();
  BANGER_TRY_ASSIGN(auto stmt,
                    db_.prepare(fmt::format("SELECT {} FROM kernels WHERE name = ?", kColumns)));
  BANGER_TRY(stmt.bind(1, name));
  BANGER_TRY_ASSIGN(bool row, stmt.step());
  if (!row) {
    return not_found(name);
  }
  return read_row(stmt);
}

Expected<std::vector<model::Kernel>> KernelRepository::list() {
  auto guard = db_.lock();
  BANGER_TRY_ASSIGN(auto stmt,
                    db_.prepare(fmt::format("SELECT {} FROM kernels ORDER BY name", kColumns)));
  std::vector<model::Kernel> kernels;
  while (true) {
    BANGER_TRY_ASSIGN(bool row, stmt.step());
    if (!row) {
      break;
    }
    kernels.push_back(read_row(stmt));
  }
  return kernels;
}

Status KernelRepository::update(const model::Kernel& kernel) {
  auto guard = db_.lock();
  BANGER_TRY_ASSIGN(auto stmt, db_.prepare("UPDATE kernels SET distro = ?, arch = ?, version = ?, "
                                           "vmlinux_path = ?, initrd_path = ?, sha256 = ?, "
                                           "source = ?, imported_at = ? WHERE name = ?"));
  BANGER_TRY(bind_fields(stmt, kernel, 1));
  BANGER_TRY(stmt.bind(9, kernel.name));
  if (auto done = stmt.step(); !done) {
    return tl::unexpected(
        with_context(done.error(), fmt::format("saving kernel \"{}\"", kernel.name)));
  }
  if (db_.changes() == 0) {
    return not_found(kernel.name);
  }
  return {};
}

Status KernelRepository::remove(const std::string& name) {
  auto guard = db_.lock();
  BANGER_TRY_ASSIGN(auto stmt, db_.prepare("DELETE FROM kernels WHERE name = ?"));
  BANGER_TRY(stmt.bind(1, name));
  BANGER_TRY(stmt.step());
  if (db_.changes() == 0) {
    return not_found(name);
  }
  return {};
}

}  // namespace banger::store
