// LayerFlattener: OCI layers replayed oldest-first into a staging tree (whiteouts, opaque
// directories, replaced paths), plus the ext4 edits that restore what an unprivileged
// extraction cannot keep: owners, setuid/setgid bits, modes without owner access, fifos,
// device nodes and extended attributes. No mounting and no root needed.
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
#include "banger/ext4/editor.hpp"
#include "banger/unpack/tar.hpp"

namespace banger::imagecat {

// What one path of the flattened image must be, beyond what the staging tree holds.
struct NodeMeta {
  unpack::EntryType type = unpack::EntryType::file;  // hard links are recorded as their target
  unsigned mode = 0;                                 // 07777
  std::int64_t uid = 0;
  std::int64_t gid = 0;
  std::int64_t mtime = 0;  // seconds; directories get it back after the last change below them
  unsigned rdev_major = 0;
  unsigned rdev_minor = 0;
  std::vector<std::pair<std::string, std::string>> xattrs;
};

// The layer rules (docs/images.md "OCI layers"), each failure an invalid_argument naming the
// layer and the path:
// - entry paths are relative and stay inside the tree (unpack's rules); hard links name a path
//   already present that is not a directory; nothing is written through a symlink of the tree;
// - every name is valid UTF-8, without newline or carriage return, at most 255 bytes;
// - `.wh.<name>` removes <name> (and everything below it) from the layers below; a whiteout
//   through a symlink, or naming "." or "..", is refused; `.wh..wh..opq` empties its directory
//   of what the layers below put there (entries of the same layer stay);
// - an entry replaces what is at its path unless both are directories (then they merge);
// - fifos and device nodes are not created in the tree (that needs root): they become
//   make_node edits.
// Staged files and directories always keep owner read/write (and search) access, so an
// unprivileged daemon can read them back; the edits restore the real modes.
// Thread-safety: one flattener per pull, used from one thread.
class LayerFlattener {
 public:
  // tree: the staging directory (created when missing; must be empty).
  explicit LayerFlattener(std::string tree) : tree_(std::move(tree)) {}

  // Applies the layer tar at path (any compression libarchive reads); name is used in
  // messages ("layer 2 (sha256:ab12...)"). cancelled between entries once cancel says so.
  Status apply(const std::string& path, const std::string& name, const base::CancelFn& cancel);

  // The edits that make an ext4 packed from the tree with `mkfs.ext4 -d` (which copies each
  // staged file's owner and mode) equal to the layers: owner and mode where the staged file
  // differs, make_node for special files, set_xattr for extended attributes. io when the tree
  // cannot be read.
  Expected<ext4::Ext4Edit> fixups() const;

  // Sets every directory's mtime back to its layer's: creating, replacing or whiting out
  // entries below a directory after it was extracted (later layers, banger's own files) moved
  // it to the time of the pull, which would make two pulls of one digest differ. Call last,
  // after every change to the tree. io naming the directory when it cannot be set.
  Status restore_directory_times() const;

  // Number of paths in the flattened image.
  std::size_t size() const { return meta_.size(); }
  const std::map<std::string, NodeMeta>& entries() const { return meta_; }
  const std::string& tree() const { return tree_; }

 private:
  Expected<unpack::EntryAction> on_entry(const unpack::Entry& entry, const std::string& name,
                                         const base::CancelFn& cancel);
  Status whiteout(const std::string& dir, const std::string& base, const std::string& path,
                  const std::string& name);
  // Removes path and everything below it from the tree and the records.
  Status remove_path(const std::string& relative);
  // Grants the owner access to what the last layer staged (see the class comment).
  Status keep_owner_access();

  std::string tree_;
  std::map<std::string, NodeMeta> meta_;  // relative path -> what it must be
  std::set<std::string> this_layer_;      // paths the layer being applied wrote
};

}  // namespace banger::imagecat
