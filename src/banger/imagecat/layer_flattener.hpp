// LayerFlattener: OCI layers replayed oldest-first (whiteouts, opaque directories, replaced
// paths) into an in-memory model of the final image, then written straight into an ext4
// image (ext4::Ext4Writer): owners, modes with setuid/setgid/sticky bits, times, symlinks,
// hard links, fifos, device nodes and extended attributes, without a staging tree, mounting
// or root. Two reads of each layer: apply() reads the headers, write() the data of the files
// that survive (docs/images.md "OCI layers").
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "banger/base/error.hpp"
#include "banger/base/progress.hpp"
#include "banger/ext4/writer.hpp"
#include "banger/unpack/tar.hpp"

namespace banger::imagecat {

// One inode of the flattened image. Every path of a hard-link group names the same node.
struct ImageNode {
  unpack::EntryType type = unpack::EntryType::file;  // never hardlink
  unsigned mode = 0;                                 // 07777
  std::int64_t uid = 0;
  std::int64_t gid = 0;
  std::int64_t mtime = 0;  // seconds
  unsigned rdev_major = 0;
  unsigned rdev_minor = 0;
  std::vector<std::pair<std::string, std::string>> xattrs;
  std::string link;        // symlink: the target
  std::uint64_t size = 0;  // regular file: bytes
  // Regular file: where its data is, the entry's index in its layer and its path there.
  std::size_t layer = 0;
  std::size_t ordinal = 0;
  std::string source;
};

// The layer rules (docs/images.md "OCI layers"), each failure an invalid_argument naming the
// layer and the path:
// - entry paths are relative and stay inside the image (unpack's rules); hard links name a
//   path already present that is not a directory; nothing is written through a symlink of the
//   image, and a path below something that is not a directory is refused;
// - every name is valid UTF-8, without newline or carriage return, at most 255 bytes;
// - `.wh.<name>` removes <name> (and everything below it) from the layers below; a whiteout
//   through a symlink, or naming "." or "..", is refused; `.wh..wh..opq` empties its directory
//   of what the layers below put there (entries of the same layer stay);
// - an entry replaces what is at its path unless both are directories (then they merge, the
//   later entry's owner, mode and time winning);
// - directories a layer implies without listing them are root-owned 0755;
// - at most max_entries entries in all, extended-attribute values of at most 64 KiB.
// Thread-safety: one flattener per pull, used from one thread.
class LayerFlattener {
 public:
  // The model holds metadata for every entry it reads (not file data); max_entries bounds it
  // (across all layers, counting replaced entries too) so a hostile image cannot make the
  // daemon's memory grow without limit.
  static constexpr std::size_t kDefaultMaxEntries = 2'000'000;
  explicit LayerFlattener(std::size_t max_entries = kDefaultMaxEntries)
      : max_entries_(max_entries) {}

  // Pass 1: applies the headers of the layer tar at path (any compression libarchive reads);
  // name is used in messages ("layer 2 (sha256:ab12...)"). cancelled between entries once
  // cancel says so.
  Status apply(const std::string& path, const std::string& name, const base::CancelFn& cancel);

  // Pass 2: writes the flattened image into writer, a freshly made filesystem: directories,
  // then every other path, then each surviving file's data read again from its layer
  // (layer_paths and names in the order apply() saw them). invalid_argument when a layer no
  // longer matches what apply() read; the writer's errors (a full image) otherwise. Directory
  // times end as the layers set them.
  Status write(ext4::Ext4Writer& writer, const std::vector<std::string>& layer_paths,
               const std::vector<std::string>& names, const base::CancelFn& cancel) const;

  // Bytes the image's content needs: each file's size once plus 4 KiB per path (the estimate
  // ImageService uses for trees).
  std::uint64_t content_bytes() const;
  // Number of paths in the flattened image.
  std::size_t size() const { return paths_.size(); }
  // The node at a relative path ("usr/bin/x"), nullptr when there is none.
  const ImageNode* find(const std::string& relative) const;

 private:
  Status on_entry(const unpack::Entry& entry, std::size_t ordinal, const std::string& name,
                  const base::CancelFn& cancel);
  Status whiteout(const std::string& dir, const std::string& base, const std::string& path,
                  const std::string& name);
  // Removes relative and everything below it.
  void remove_path(const std::string& relative);

  std::vector<ImageNode> nodes_;              // may hold nodes no path names any more
  std::map<std::string, std::size_t> paths_;  // relative path -> node (sorted: parents first)
  std::set<std::string> this_layer_;          // paths the layer being applied wrote
  std::size_t layers_ = 0;                    // layers applied so far
  std::size_t max_entries_;
  std::size_t entries_ = 0;  // entries read so far, all layers
};

}  // namespace banger::imagecat
