#include "banger/imagecat/layer_flattener.hpp"

#include <fmt/format.h>

#include <unordered_map>

#include "banger/base/expected.hpp"
#include "banger/base/log.hpp"
#include "banger/base/printable.hpp"
#include "banger/base/strings.hpp"

namespace banger::imagecat {
namespace {

using unpack::EntryType;

constexpr std::string_view kWhiteoutPrefix = ".wh.";
constexpr std::string_view kOpaqueMarker = ".wh..wh..opq";
constexpr std::size_t kMaxNameBytes = 255;
constexpr std::size_t kMaxShownBytes = 1024;
constexpr std::size_t kMaxXattrBytes = 65536;  // Linux's XATTR_SIZE_MAX
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

bool keepable_xattr(std::string_view name) {
  return name.starts_with("user.") || name.starts_with("security.") || name.starts_with("trusted.");
}

Error refused(const std::string& layer, const std::string& path, std::string_view why) {
  return Error{Errc::invalid_argument, fmt::format("{}: {}: {}", layer, shown(path), why), 0, {}};
}

ext4::InodeMeta inode_meta(const ImageNode& node) {
  return {.mode = node.mode,
          .uid = static_cast<std::uint32_t>(node.uid),
          .gid = static_cast<std::uint32_t>(node.gid),
          .mtime = node.mtime};
}

std::string base_of(const std::string& relative) {
  auto slash = relative.rfind('/');
  return slash == std::string::npos ? relative : relative.substr(slash + 1);
}

// mkfs.ext4 makes this directory; a layer that has one reuses it.
constexpr std::string_view kLostFound = "lost+found";

}  // namespace

const ImageNode* LayerFlattener::find(const std::string& relative) const {
  auto it = paths_.find(relative);
  return it == paths_.end() ? nullptr : &nodes_[it->second];
}

std::uint64_t LayerFlattener::content_bytes() const {
  constexpr std::uint64_t kPerEntry = 4096;
  std::set<std::size_t> counted;
  std::uint64_t bytes = 0;
  for (const auto& [path, id] : paths_) {
    bytes += kPerEntry;
    if (nodes_[id].type == EntryType::file && counted.insert(id).second) {
      bytes += nodes_[id].size;
    }
  }
  return bytes;
}

Status LayerFlattener::apply(const std::string& path, const std::string& name,
                             const base::CancelFn& cancel) {
  this_layer_.clear();
  std::size_t ordinal = 0;
  BANGER_TRY(
      unpack::read_tar_file(path, {.kind = "image", .name = name},
                            [&](const unpack::Entry& entry, const unpack::DataReader&) -> Status {
                              return on_entry(entry, ordinal++, name, cancel);
                            }));
  ++layers_;
  return {};
}

Status LayerFlattener::on_entry(const unpack::Entry& entry, std::size_t ordinal,
                                const std::string& name, const base::CancelFn& cancel) {
  if (base::is_cancelled(cancel)) {
    return fail(Errc::cancelled, "image pull cancelled");
  }
  if (++entries_ > max_entries_) {
    return tl::unexpected(
        refused(name, entry.path,
                fmt::format("the image has more than {} entries; banger refuses larger ones",
                            max_entries_)));
  }
  const auto parts = base::split(entry.path, '/');
  for (const auto& part : parts) {
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
  // Nothing is written through a link: every directory on the way must be one (or missing).
  std::string prefix;
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    prefix = join_relative(prefix, parts[i]);
    auto it = paths_.find(prefix);
    if (it == paths_.end()) {
      continue;
    }
    EntryType type = nodes_[it->second].type;
    if (type == EntryType::symlink) {
      return tl::unexpected(refused(name, entry.path,
                                    "a parent directory is a symlink: nothing is written through "
                                    "links in an image"));
    }
    if (type != EntryType::directory) {
      return tl::unexpected(
          refused(name, entry.path, fmt::format("{} is not a directory", shown(prefix))));
    }
  }
  const std::string dir = parent_of(entry.path);
  const std::string base = base_of(entry.path);
  if (base.starts_with(kWhiteoutPrefix)) {
    return whiteout(dir, base, entry.path, name);
  }
  if (entry.uid < 0 || entry.uid > kMaxId || entry.gid < 0 || entry.gid > kMaxId) {
    return tl::unexpected(refused(name, entry.path, "owner ids must be 0..4294967294"));
  }
  if (entry.type == EntryType::other) {
    return tl::unexpected(
        refused(name, entry.path, "sockets and unknown file types are not allowed in images"));
  }
  std::size_t id = 0;
  if (entry.type == EntryType::hardlink) {
    auto target = paths_.find(entry.link);
    if (target == paths_.end() || nodes_[target->second].type == EntryType::directory) {
      return tl::unexpected(
          refused(name, entry.path,
                  fmt::format("hard link to {}, which is not a file already in the image",
                              shown(entry.link))));
    }
    if (entry.link == entry.path) {
      return {};  // a link to itself changes nothing
    }
    id = target->second;
  } else {
    ImageNode node{.type = entry.type,
                   .mode = entry.mode,
                   .uid = entry.uid,
                   .gid = entry.gid,
                   .mtime = entry.mtime,
                   .rdev_major = entry.rdev_major,
                   .rdev_minor = entry.rdev_minor,
                   .xattrs = {},
                   .link = entry.type == EntryType::symlink ? entry.link : std::string(),
                   .size = entry.type == EntryType::file ? entry.size : 0,
                   .layer = layers_,
                   .ordinal = ordinal,
                   .source = entry.type == EntryType::file ? entry.path : std::string()};
    for (const auto& [xattr, value] : entry.xattrs) {
      if (value.size() > kMaxXattrBytes) {
        return tl::unexpected(
            refused(name, entry.path,
                    fmt::format("extended attribute {} is larger than 64 KiB", shown(xattr))));
      }
      if (keepable_xattr(xattr)) {
        node.xattrs.emplace_back(xattr, value);
      } else {
        BANGER_LOG_WARN(
            "{}: {}: extended attribute {} is not kept (only user., security. and "
            "trusted. attributes are)",
            name, shown(entry.path), shown(xattr));
      }
    }
    if (entry.type == EntryType::symlink && entry.link.empty()) {
      return tl::unexpected(refused(name, entry.path, "a symlink needs a target"));
    }
    auto existing = paths_.find(entry.path);
    if (existing != paths_.end() && entry.type == EntryType::directory &&
        nodes_[existing->second].type == EntryType::directory) {
      nodes_[existing->second] = std::move(node);  // directories merge; this entry's metadata
      this_layer_.insert(entry.path);
      return {};
    }
    id = nodes_.size();
    nodes_.push_back(std::move(node));
  }
  // An entry replaces what is there (a directory with everything below it).
  remove_path(entry.path);
  // Parents the layer does not list are root-owned 0755 directories (what Docker does).
  for (std::string up = dir; !up.empty() && !paths_.contains(up); up = parent_of(up)) {
    paths_.emplace(up, nodes_.size());
    nodes_.push_back(ImageNode{.type = EntryType::directory, .mode = 0755});
  }
  paths_[entry.path] = id;
  this_layer_.insert(entry.path);
  return {};
}

Status LayerFlattener::whiteout(const std::string& dir, const std::string& base,
                                const std::string& path, const std::string& name) {
  if (base == kOpaqueMarker) {
    // Keep what this layer wrote below dir (and the directories leading to it); remove
    // everything the layers below left there.
    const std::string below = dir.empty() ? std::string() : dir + "/";
    std::vector<std::string> doomed;
    for (auto it = paths_.lower_bound(below); it != paths_.end() && it->first.starts_with(below);
         ++it) {
      const std::string& at = it->first;
      if (!doomed.empty() && at.starts_with(doomed.back() + "/")) {
        continue;  // already goes with its directory
      }
      auto newer = this_layer_.lower_bound(at + "/");
      bool leads_to_new = newer != this_layer_.end() && newer->starts_with(at + "/");
      if (!this_layer_.contains(at) && !leads_to_new) {
        doomed.push_back(at);
      }
    }
    for (const auto& at : doomed) {
      remove_path(at);
    }
    return {};
  }
  if (base.starts_with(std::string(kWhiteoutPrefix) + std::string(kWhiteoutPrefix))) {
    return {};  // other reserved .wh..wh. names (e.g. .wh..wh.plnk) carry nothing to apply
  }
  std::string target = base.substr(kWhiteoutPrefix.size());
  if (target.empty() || target == "." || target == "..") {
    return tl::unexpected(refused(name, path, "a whiteout must name an entry of its directory"));
  }
  remove_path(join_relative(dir, target));
  return {};
}

void LayerFlattener::remove_path(const std::string& relative) {
  paths_.erase(relative);
  for (auto it = paths_.lower_bound(relative + "/");
       it != paths_.end() && it->first.starts_with(relative + "/");) {
    it = paths_.erase(it);
  }
}

Status LayerFlattener::write(ext4::Ext4Writer& writer, const std::vector<std::string>& layer_paths,
                             const std::vector<std::string>& names,
                             const base::CancelFn& cancel) const {
  if (layer_paths.size() != layers_ || names.size() != layers_) {
    return fail(Errc::internal,
                fmt::format("writing {} layers, {} applied", layer_paths.size(), layers_));
  }
  std::vector<ext4::Ino> inodes(nodes_.size(), 0);
  std::unordered_map<std::string, ext4::Ino> dirs{{"", ext4::kRootIno}};
  auto parent_inode = [&](const std::string& path) -> Expected<ext4::Ino> {
    auto it = dirs.find(parent_of(path));
    if (it == dirs.end()) {
      return fail(Errc::internal, "no directory for " + shown(path));
    }
    return it->second;
  };
  auto with_path = [](const Error& error, const std::string& path) {
    return tl::unexpected(with_context(error, "writing /" + shown(path)));
  };
  // Creating a name scans its directory (ext4 directories written this way are linear), so a
  // hostile image of one huge directory is slow: a pull stays cancellable between paths.
  auto cancelled = [&]() -> Status {
    if (base::is_cancelled(cancel)) {
      return fail(Errc::cancelled, "image pull cancelled");
    }
    return {};
  };
  if (auto ours = writer.lookup(ext4::kRootIno, kLostFound); ours && *ours) {
    auto theirs = paths_.find(std::string(kLostFound));
    if (theirs != paths_.end() && nodes_[theirs->second].type != EntryType::directory) {
      BANGER_TRY(writer.remove(ext4::kRootIno, kLostFound));
    } else if (theirs != paths_.end()) {
      dirs[std::string(kLostFound)] = inodes[theirs->second] = **ours;
      BANGER_TRY(writer.set_meta(**ours, inode_meta(nodes_[theirs->second])));
    }
  }
  // Directories first: the map is sorted, so a parent comes before what is below it.
  for (const auto& [path, id] : paths_) {
    const ImageNode& node = nodes_[id];
    if (node.type != EntryType::directory || dirs.contains(path)) {
      continue;
    }
    BANGER_TRY(cancelled());
    BANGER_TRY_ASSIGN(auto parent, parent_inode(path));
    auto made = writer.make_dir(parent, base_of(path), inode_meta(node));
    if (!made) {
      return with_path(made.error(), path);
    }
    dirs[path] = inodes[id] = *made;
  }
  // Every other path: the first name of a node creates it, the others link to it.
  for (const auto& [path, id] : paths_) {
    const ImageNode& node = nodes_[id];
    if (node.type == EntryType::directory) {
      continue;
    }
    BANGER_TRY(cancelled());
    BANGER_TRY_ASSIGN(auto parent, parent_inode(path));
    const std::string base = base_of(path);
    if (inodes[id] != 0) {
      if (Status linked = writer.link(parent, base, inodes[id]); !linked) {
        return with_path(linked.error(), path);
      }
      continue;
    }
    Expected<ext4::Ino> made = 0;
    if (node.type == EntryType::file) {
      made = writer.make_file(parent, base, inode_meta(node));
    } else if (node.type == EntryType::symlink) {
      made = writer.make_symlink(parent, base, node.link, inode_meta(node));
    } else if (is_special(node.type)) {
      ext4::NodeType type = node.type == EntryType::fifo          ? ext4::NodeType::fifo
                            : node.type == EntryType::char_device ? ext4::NodeType::char_device
                                                                  : ext4::NodeType::block_device;
      made =
          writer.make_node(parent, base, type, node.rdev_major, node.rdev_minor, inode_meta(node));
    } else {
      return fail(Errc::internal, "unexpected entry type at " + shown(path));
    }
    if (!made) {
      return with_path(made.error(), path);
    }
    inodes[id] = *made;
  }
  // Extended attributes, once per node.
  for (const auto& [path, id] : paths_) {
    for (const auto& [xattr, value] : nodes_[id].xattrs) {
      if (Status set = writer.set_xattr(inodes[id], xattr, value); !set) {
        return with_path(set.error(), path);
      }
    }
  }
  // File data, each layer read once more in order; data of replaced files is skipped.
  std::vector<std::map<std::size_t, std::size_t>> wanted(layers_);  // ordinal -> node
  for (const auto& [path, id] : paths_) {
    if (nodes_[id].type == EntryType::file && nodes_[id].size > 0) {
      wanted[nodes_[id].layer].emplace(nodes_[id].ordinal, id);
    }
  }
  for (std::size_t layer = 0; layer < layers_; ++layer) {
    if (wanted[layer].empty()) {
      continue;
    }
    std::size_t ordinal = 0;
    auto next = wanted[layer].begin();
    Status copied = unpack::read_tar_file(
        layer_paths[layer], {.kind = "image", .name = names[layer]},
        [&](const unpack::Entry& entry, const unpack::DataReader& read_data) -> Status {
          const std::size_t at = ordinal++;
          if (next == wanted[layer].end() || next->first != at) {
            return {};
          }
          BANGER_TRY(cancelled());
          const ImageNode& node = nodes_[next->second];
          if (entry.path != node.source || entry.type != EntryType::file ||
              entry.size != node.size) {
            return tl::unexpected(
                refused(names[layer], entry.path, "the layer changed while it was unpacked"));
          }
          BANGER_TRY_ASSIGN(auto file, writer.open_for_write(inodes[next->second]));
          std::uint64_t written = 0;
          BANGER_TRY(read_data([&](const void* data, std::size_t size) -> Status {
            written += size;
            return file.write(data, size);
          }));
          BANGER_TRY(file.close());
          if (written != node.size) {
            return tl::unexpected(
                refused(names[layer], entry.path, "the layer changed while it was unpacked"));
          }
          ++next;
          return {};
        });
    if (!copied) {
      return copied;
    }
    if (next != wanted[layer].end()) {
      return fail(Errc::invalid_argument,
                  fmt::format("{}: the layer changed while it was unpacked", names[layer]));
    }
  }
  return {};
}

}  // namespace banger::imagecat
