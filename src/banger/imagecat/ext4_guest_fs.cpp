#include "banger/imagecat/ext4_guest_fs.hpp"

#include <fmt/format.h>

#include <ctime>

#include "banger/base/expected.hpp"
#include "banger/base/printable.hpp"

namespace banger::imagecat {
namespace {

std::string shown(std::string_view path) { return base::printable(path, 300); }

Status check_path(std::string_view guest_path) {
  if (guest_path.empty() || guest_path.front() != '/') {
    return fail(Errc::invalid_argument,
                fmt::format("\"{}\" is not an absolute guest path", shown(guest_path)));
  }
  return {};
}

// "/usr/bin/ls" -> {"/usr/bin", "ls"}; "/x" -> {"/", "x"}.
std::pair<std::string, std::string> split_last(std::string_view guest_path) {
  std::string path(guest_path);
  while (path.size() > 1 && path.back() == '/') {
    path.pop_back();
  }
  auto slash = path.rfind('/');
  return {slash == 0 ? "/" : path.substr(0, slash), path.substr(slash + 1)};
}

}  // namespace

ext4::InodeMeta Ext4GuestFs::new_meta(mode_t mode) const {
  return {.mode = mode, .uid = 0, .gid = 0, .mtime = static_cast<std::int64_t>(std::time(nullptr))};
}

Expected<ext4::Ino> Ext4GuestFs::ensure_dirs(std::string_view guest_path, mode_t mode) {
  BANGER_TRY(check_path(guest_path));
  ext4::Ino at = ext4::kRootIno;
  std::string walked;
  std::string_view rest = guest_path.substr(1);
  while (!rest.empty()) {
    auto slash = rest.find('/');
    std::string_view part = rest.substr(0, slash);
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
    if (part.empty()) {
      continue;
    }
    walked += "/" + std::string(part);
    BANGER_TRY_ASSIGN(auto found, writer_.lookup(at, part));
    if (!found) {
      BANGER_TRY_ASSIGN(at, writer_.make_dir(at, part, new_meta(mode)));
      continue;
    }
    BANGER_TRY_ASSIGN(at, writer_.resolve(walked, true));  // a link leads where the guest goes
    BANGER_TRY_ASSIGN(auto info, writer_.stat(at));
    if (info.type != ext4::FileType::directory) {
      return fail(Errc::failed_precondition,
                  fmt::format("{} in the image is not a directory", shown(walked)));
    }
  }
  return at;
}

Expected<Ext4GuestFs::Parent> Ext4GuestFs::parent(std::string_view guest_path, bool create) {
  BANGER_TRY(check_path(guest_path));
  auto [dir, name] = split_last(guest_path);
  if (name.empty()) {
    return fail(Errc::invalid_argument, "the guest path \"/\" names no entry");
  }
  if (create) {
    BANGER_TRY_ASSIGN(auto ino, ensure_dirs(dir, 0755));
    return Parent{ino, name};
  }
  BANGER_TRY_ASSIGN(auto ino, writer_.resolve(dir, true));
  return Parent{ino, name};
}

Status Ext4GuestFs::write_file(std::string_view guest_path, std::string_view content, mode_t mode) {
  BANGER_TRY_ASSIGN(auto at, parent(guest_path, true));
  BANGER_TRY_ASSIGN(auto existing, writer_.lookup(at.dir, at.name));
  if (existing) {
    BANGER_TRY_ASSIGN(auto info, writer_.stat(*existing));
    if (info.type == ext4::FileType::directory) {
      return fail(Errc::failed_precondition,
                  fmt::format("{} in the image is a directory", shown(guest_path)));
    }
    BANGER_TRY(writer_.remove(at.dir, at.name));
  }
  BANGER_TRY_ASSIGN(auto ino, writer_.make_file(at.dir, at.name, new_meta(mode)));
  BANGER_TRY_ASSIGN(auto file, writer_.open_for_write(ino));
  BANGER_TRY(file.write(content.data(), content.size()));
  return file.close();
}

Status Ext4GuestFs::make_dirs(std::string_view guest_path, mode_t mode) {
  BANGER_TRY_ASSIGN(auto ino, ensure_dirs(guest_path, mode));
  return writer_.chmod(ino, mode);
}

Status Ext4GuestFs::symlink(std::string_view guest_path, std::string_view target) {
  BANGER_TRY_ASSIGN(auto at, parent(guest_path, false));
  BANGER_TRY_ASSIGN(auto existing, writer_.lookup(at.dir, at.name));
  if (existing) {
    return fail(Errc::already_exists, fmt::format("{} exists in the image", shown(guest_path)));
  }
  return writer_.make_symlink(at.dir, at.name, target, new_meta(0777)).map([](auto) {});
}

Status Ext4GuestFs::remove(std::string_view guest_path) {
  auto at = parent(guest_path, false);
  if (!at) {
    return at.error().code == Errc::not_found ? Status{} : tl::unexpected(at.error());
  }
  BANGER_TRY_ASSIGN(auto existing, writer_.lookup(at->dir, at->name));
  return existing ? writer_.remove(at->dir, at->name) : Status{};
}

bool Ext4GuestFs::exists(std::string_view guest_path) {
  return check_path(guest_path) && writer_.resolve(guest_path, false).has_value();
}

bool Ext4GuestFs::is_regular(std::string_view guest_path) {
  if (!check_path(guest_path)) {
    return false;
  }
  auto ino = writer_.resolve(guest_path, false);
  auto info = ino ? writer_.stat(*ino) : Expected<ext4::InodeInfo>(tl::unexpected(ino.error()));
  return info && info->type == ext4::FileType::regular;
}

bool Ext4GuestFs::is_executable(std::string_view guest_path) {
  if (!check_path(guest_path)) {
    return false;
  }
  auto ino = writer_.resolve(guest_path, true);
  auto info = ino ? writer_.stat(*ino) : Expected<ext4::InodeInfo>(tl::unexpected(ino.error()));
  return info && info->type == ext4::FileType::regular && (info->mode & 0111) != 0;
}

Expected<std::string> Ext4GuestFs::read_file(std::string_view guest_path, std::size_t max_bytes) {
  BANGER_TRY(check_path(guest_path));
  BANGER_TRY_ASSIGN(auto ino, writer_.resolve(guest_path, true));
  BANGER_TRY_ASSIGN(auto info, writer_.stat(ino));
  if (info.type != ext4::FileType::regular) {
    return fail(Errc::invalid_argument,
                fmt::format("{} in the image is not a regular file", shown(guest_path)));
  }
  return writer_.read(ino, max_bytes);
}

Expected<std::vector<std::string>> Ext4GuestFs::list(std::string_view guest_path) {
  BANGER_TRY(check_path(guest_path));
  BANGER_TRY_ASSIGN(auto ino, writer_.resolve(guest_path, true));
  BANGER_TRY_ASSIGN(auto info, writer_.stat(ino));
  if (info.type != ext4::FileType::directory) {
    return fail(Errc::not_found,
                fmt::format("{} in the image is not a directory", shown(guest_path)));
  }
  return writer_.list(ino);
}

}  // namespace banger::imagecat
