#include "banger/imagecat/layer_flattener.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <system_error>

#include "banger/base/expected.hpp"
#include "banger/base/log.hpp"
#include "banger/base/printable.hpp"
#include "banger/base/strings.hpp"

namespace banger::imagecat {
namespace {

namespace fs = std::filesystem;
using unpack::EntryType;

constexpr std::string_view kWhiteoutPrefix = ".wh.";
constexpr std::string_view kOpaqueMarker = ".wh..wh..opq";
constexpr std::size_t kMaxNameBytes = 255;
constexpr std::size_t kMaxShownBytes = 1024;
constexpr std::int64_t kMaxId = 0xfffffffeLL;  // (uid_t)-1 means "no change" to chown

bool valid_utf8(std::string_view text) {
  for (std::size_t i = 0; i < text.size();) {
    auto c = static_cast<unsigned char>(text[i]);
    std::size_t len = c < 0x80           ? 1
                      : (c >> 5) == 0x6  ? 2
                      : (c >> 4) == 0xe  ? 3
                      : (c >> 3) == 0x1e ? 4
                                         : 0;
    if (len == 0 || i + len > text.size()) {
      return false;
    }
    for (std::size_t k = 1; k < len; ++k) {
      if ((static_cast<unsigned char>(text[i + k]) & 0xc0) != 0x80) {
        return false;
      }
    }
    // Overlong forms and surrogates are invalid UTF-8 too.
    if ((len == 2 && c < 0xc2) ||
        (len == 3 && c == 0xe0 && static_cast<unsigned char>(text[i + 1]) < 0xa0) ||
        (len == 3 && c == 0xed && static_cast<unsigned char>(text[i + 1]) >= 0xa0) ||
        (len == 4 && c == 0xf0 && static_cast<unsigned char>(text[i + 1]) < 0x90) ||
        (len == 4 && c > 0xf4) ||
        (len == 4 && c == 0xf4 && static_cast<unsigned char>(text[i + 1]) >= 0x90)) {
      return false;
    }
    i += len;
  }
  return true;
}

// The path as shown in messages: control bytes escaped.
std::string shown(std::string_view path) { return base::printable(path, kMaxShownBytes); }

std::string parent_of(const std::string& relative) {
  auto slash = relative.rfind('/');
  return slash == std::string::npos ? std::string() : relative.substr(0, slash);
}

std::string join_relative(const std::string& dir, std::string_view name) {
  return dir.empty() ? std::string(name) : dir + "/" + std::string(name);
}

bool is_special(EntryType type) {
  return type == EntryType::fifo || type == EntryType::char_device ||
         type == EntryType::block_device;
}

ext4::FileType file_type(EntryType type) {
  switch (type) {
    case EntryType::directory:
      return ext4::FileType::directory;
    case EntryType::symlink:
      return ext4::FileType::symlink;
    case EntryType::file:
    case EntryType::hardlink:
      return ext4::FileType::regular;
    default:
      return ext4::FileType::other;
  }
}

bool keepable_xattr(std::string_view name) {
  return name.starts_with("user.") || name.starts_with("security.") || name.starts_with("trusted.");
}

Error refused(const std::string& layer, const std::string& path, std::string_view why) {
  return Error{Errc::invalid_argument, fmt::format("{}: {}: {}", layer, shown(path), why), 0, {}};
}

}  // namespace

Status LayerFlattener::apply(const std::string& path, const std::string& name,
                             const base::CancelFn& cancel) {
  this_layer_.clear();
  unpack::ExtractOptions options{.kind = "image",
                                 .name = name,
                                 .on_entry = [&](const unpack::Entry& entry, const std::string&) {
                                   return on_entry(entry, name, cancel);
                                 }};
  BANGER_TRY(unpack::extract_tar_file(path, tree_, options));
  return keep_owner_access();
}

Expected<unpack::EntryAction> LayerFlattener::on_entry(const unpack::Entry& entry,
                                                       const std::string& name,
                                                       const base::CancelFn& cancel) {
  if (base::is_cancelled(cancel)) {
    return fail(Errc::cancelled, "image pull cancelled");
  }
  for (const auto& part : base::split(entry.path, '/')) {
    if (part.size() > kMaxNameBytes) {
      return tl::unexpected(
          refused(name, entry.path, "a name longer than 255 bytes cannot be stored in ext4"));
    }
    if (part.find_first_of("\n\r") != std::string::npos || !valid_utf8(part)) {
      return tl::unexpected(
          refused(name, entry.path,
                  "names must be valid UTF-8 without newline or carriage return characters"));
    }
  }
  const std::string dir = parent_of(entry.path);
  const std::string base = entry.path.substr(dir.empty() ? 0 : dir.size() + 1);
  if (unpack::crosses_symlink(tree_, entry.path)) {
    return tl::unexpected(refused(name, entry.path,
                                  "a parent directory is a symlink: nothing is written through "
                                  "links in an image"));
  }
  if (base.starts_with(kWhiteoutPrefix)) {
    BANGER_TRY(whiteout(dir, base, entry.path, name));
    return unpack::EntryAction::skip;
  }
  if (entry.uid < 0 || entry.uid > kMaxId || entry.gid < 0 || entry.gid > kMaxId) {
    return tl::unexpected(refused(name, entry.path, "owner ids must be 0..4294967294"));
  }
  NodeMeta meta{.type = entry.type,
                .mode = entry.mode,
                .uid = entry.uid,
                .gid = entry.gid,
                .mtime = entry.mtime,
                .rdev_major = entry.rdev_major,
                .rdev_minor = entry.rdev_minor,
                .xattrs = {}};
  for (const auto& [xattr, value] : entry.xattrs) {
    if (keepable_xattr(xattr)) {
      meta.xattrs.emplace_back(xattr, value);
    } else {
      BANGER_LOG_WARN(
          "{}: {}: extended attribute {} is not kept (only user., security. and "
          "trusted. attributes are)",
          name, shown(entry.path), shown(xattr));
    }
  }
  if (entry.type == EntryType::other) {
    return tl::unexpected(
        refused(name, entry.path, "sockets and unknown file types are not allowed in images"));
  }
  if (entry.type == EntryType::hardlink) {
    struct stat target{};
    if (::lstat((tree_ + "/" + entry.link).c_str(), &target) != 0 || S_ISDIR(target.st_mode)) {
      return tl::unexpected(
          refused(name, entry.path,
                  fmt::format("hard link to {}, which is not a file already in the image",
                              shown(entry.link))));
    }
    auto linked = meta_.find(entry.link);
    meta = linked != meta_.end() ? linked->second : NodeMeta{};
    if (linked == meta_.end()) {
      meta.mode = target.st_mode & 07777;
    }
  }
  // An entry replaces what is there, unless both are directories (they merge).
  struct stat existing{};
  std::string full = tree_ + "/" + entry.path;
  if (::lstat(full.c_str(), &existing) == 0 &&
      !(entry.type == EntryType::directory && S_ISDIR(existing.st_mode)) &&
      entry.link != entry.path) {
    BANGER_TRY(remove_path(entry.path));
  }
  // Parents the layer does not list are root-owned 0755 directories (what Docker does).
  for (std::string up = dir; !up.empty(); up = parent_of(up)) {
    if (!meta_.emplace(up, NodeMeta{.type = EntryType::directory, .mode = 0755}).second) {
      break;
    }
  }
  meta_[entry.path] = std::move(meta);
  this_layer_.insert(entry.path);
  if (is_special(entry.type)) {
    std::error_code ec;
    fs::create_directories(tree_ + "/" + dir, ec);
    if (ec) {
      return fail(Errc::io, fmt::format("{}: creating {}: {}", name, shown(dir), ec.message()));
    }
    return unpack::EntryAction::skip;  // made in the image by fixups()
  }
  return unpack::EntryAction::extract;
}

Status LayerFlattener::whiteout(const std::string& dir, const std::string& base,
                                const std::string& path, const std::string& name) {
  if (base == kOpaqueMarker) {
    // Keep what this layer wrote below dir (and the directories leading to it); remove
    // everything the layers below left there.
    std::function<Status(const std::string&)> prune = [&](const std::string& at) -> Status {
      std::error_code ec;
      std::string full = at.empty() ? tree_ : tree_ + "/" + at;
      struct stat st{};
      if (::lstat(full.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
        return {};
      }
      std::vector<std::string> children;
      for (fs::directory_iterator it(full, ec), end; !ec && it != end; it.increment(ec)) {
        children.push_back(it->path().filename().string());
      }
      if (ec) {
        return fail(Errc::io, fmt::format("{}: reading {}: {}", name, shown(at), ec.message()));
      }
      for (const auto& child : children) {
        std::string relative = join_relative(at, child);
        auto below = this_layer_.lower_bound(relative + "/");
        bool leads_to_new = below != this_layer_.end() && below->starts_with(relative + "/");
        if (this_layer_.contains(relative) || leads_to_new) {
          BANGER_TRY(prune(relative));
        } else {
          BANGER_TRY(remove_path(relative));
        }
      }
      return {};
    };
    return prune(dir);
  }
  if (base.starts_with(std::string(kWhiteoutPrefix) + std::string(kWhiteoutPrefix))) {
    return {};  // other reserved .wh..wh. names (e.g. .wh..wh.plnk) carry nothing to apply
  }
  std::string target = base.substr(kWhiteoutPrefix.size());
  if (target.empty() || target == "." || target == "..") {
    return tl::unexpected(refused(name, path, "a whiteout must name an entry of its directory"));
  }
  return remove_path(join_relative(dir, target));
}

Status LayerFlattener::remove_path(const std::string& relative) {
  std::string full = tree_ + "/" + relative;
  struct stat st{};
  if (::lstat(full.c_str(), &st) == 0) {
    std::error_code ec;
    if (S_ISDIR(st.st_mode)) {
      fs::remove_all(full, ec);  // never follows symlinks
    } else if (::unlink(full.c_str()) != 0) {
      ec.assign(errno, std::generic_category());
    }
    if (ec) {
      return fail(Errc::io, fmt::format("removing {} from the image tree: {}", shown(relative),
                                        ec.message()));
    }
  }
  meta_.erase(relative);
  for (auto it = meta_.lower_bound(relative + "/");
       it != meta_.end() && it->first.starts_with(relative + "/");) {
    it = meta_.erase(it);
  }
  return {};
}

Status LayerFlattener::keep_owner_access() {
  for (const auto& relative : this_layer_) {
    std::string full = tree_ + "/" + relative;
    struct stat st{};
    if (::lstat(full.c_str(), &st) != 0) {
      continue;  // removed again by a later entry of the layer, or a special file
    }
    mode_t need = S_ISDIR(st.st_mode) ? 0700 : S_ISREG(st.st_mode) ? 0600 : 0;
    if ((st.st_mode & need) != need && ::chmod(full.c_str(), (st.st_mode & 07777) | need) != 0) {
      return fail_errno("making " + shown(relative) + " readable in the image tree", errno);
    }
  }
  return {};
}

Status LayerFlattener::restore_directory_times() const {
  for (const auto& [relative, meta] : meta_) {
    if (meta.type != EntryType::directory) {
      continue;
    }
    const timespec times[2] = {{.tv_sec = meta.mtime, .tv_nsec = 0},
                               {.tv_sec = meta.mtime, .tv_nsec = 0}};
    std::string full = tree_ + "/" + relative;
    struct stat st{};
    // Only a real directory: a later layer may have put a symlink there (never followed).
    if (::lstat(full.c_str(), &st) == 0 && S_ISDIR(st.st_mode) &&
        ::utimensat(AT_FDCWD, full.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) {
      return fail_errno("restoring the time of " + shown(relative) + " in the image tree", errno);
    }
  }
  return {};
}

Expected<ext4::Ext4Edit> LayerFlattener::fixups() const {
  ext4::Ext4Edit edit;
  for (const auto& [relative, meta] : meta_) {
    std::string guest = "/" + relative;
    auto uid = static_cast<uid_t>(meta.uid);
    auto gid = static_cast<gid_t>(meta.gid);
    if (is_special(meta.type)) {
      ext4::NodeType node = meta.type == EntryType::fifo          ? ext4::NodeType::fifo
                            : meta.type == EntryType::char_device ? ext4::NodeType::char_device
                                                                  : ext4::NodeType::block_device;
      edit.make_node(guest, node, meta.rdev_major, meta.rdev_minor, meta.mode, uid, gid);
    } else {
      struct stat st{};
      if (::lstat((tree_ + "/" + relative).c_str(), &st) != 0) {
        return fail_errno("reading " + shown(relative) + " in the image tree", errno);
      }
      if (st.st_uid != uid || st.st_gid != gid) {
        edit.chown(guest, uid, gid);
      }
      if (!S_ISLNK(st.st_mode) && (st.st_mode & 07777) != meta.mode) {
        edit.chmod(guest, meta.mode,
                   S_ISDIR(st.st_mode) ? ext4::FileType::directory : file_type(meta.type));
      }
    }
    for (const auto& [xattr, value] : meta.xattrs) {
      edit.set_xattr(guest, xattr, value);
    }
  }
  return edit;
}

}  // namespace banger::imagecat
