// Ext4Writer: writes a tree straight into an ext4 image through libext2fs, without mounting
// and without a staging directory: directories, regular files streamed in, symlinks, hard
// links, fifos and device nodes, owners, modes, times and extended attributes. It is how a
// pulled OCI image becomes ext4 in one pass over its layers (docs/images.md "OCI layers").
//
// Contract: the image is one banger just made with mkfs.ext4 (trusted input): libext2fs is
// not hardened against hostile filesystems, so a guest's disk is never opened with this
// (vmstorage keeps using debugfs under an unprivileged runner for those).
// Names are single path components: non-empty, no '/', no NUL, at most 255 bytes; anything
// else is invalid_argument. Nothing is followed by the inode-level calls; resolve() follows
// symlinks inside the filesystem the way the guest would (an absolute link starts at the
// image's root), so no path can lead outside the image.
// Thread-safety: one writer per image, used from one thread.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "banger/base/error.hpp"
#include "banger/ext4/editor.hpp"

namespace banger::ext4 {

using Ino = std::uint32_t;
inline constexpr Ino kRootIno = 2;  // EXT2_ROOT_INO

// What every new inode gets. mode holds permission bits only (07777).
struct InodeMeta {
  mode_t mode = 0644;
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::int64_t mtime = 0;  // seconds since the epoch; also atime and ctime
};

class Ext4Writer;

// One regular file being written from its first byte. Call close() to finish it; a file
// destroyed without close() is closed and its error dropped.
class Ext4FileWriter {
 public:
  Ext4FileWriter(Ext4FileWriter&& other) noexcept;
  Ext4FileWriter& operator=(Ext4FileWriter&&) = delete;
  ~Ext4FileWriter();

  // Appends size bytes. io naming the image when a block cannot be written ("no space left"
  // when the image is full).
  Status write(const void* data, std::size_t size);
  Status close();

 private:
  friend class Ext4Writer;
  Ext4FileWriter(void* file, std::string image) : file_(file), image_(std::move(image)) {}
  void* file_;  // ext2_file_t
  std::string image_;
};

class Ext4Writer {
 public:
  // Opens image (an ext4 filesystem) for writing. not_found when it is missing; io when
  // libext2fs cannot open it.
  static Expected<Ext4Writer> open(const std::string& image);

  Ext4Writer(Ext4Writer&& other) noexcept;
  Ext4Writer& operator=(Ext4Writer&& other) noexcept;
  // Closes without flushing when close() was not called: a writer dropped on an error path
  // leaves an image the caller deletes anyway.
  ~Ext4Writer();

  // Writes every change to the image and closes it. io on failure.
  Status close();

  // The inode named name in directory dir, nullopt when there is none.
  Expected<std::optional<Ino>> lookup(Ino dir, std::string_view name);
  // The inode at an absolute path ("/usr/bin/x"; "." and ".." are refused). Symlinks in the
  // path's directories are followed as the guest would; the last component is followed only
  // with follow_last. not_found when a component is missing; invalid_argument for a loop.
  Expected<Ino> resolve(std::string_view path, bool follow_last);
  Expected<InodeInfo> stat(Ino ino);

  // Each make_* creates a new inode named name in dir (already_exists when the name is taken)
  // with meta's mode, owner and times.
  Expected<Ino> make_dir(Ino dir, std::string_view name, const InodeMeta& meta);
  // An empty regular file; fill it with open_for_write().
  Expected<Ino> make_file(Ino dir, std::string_view name, const InodeMeta& meta);
  Expected<Ino> make_symlink(Ino dir, std::string_view name, std::string_view target,
                             const InodeMeta& meta);
  Expected<Ino> make_node(Ino dir, std::string_view name, NodeType type, unsigned major,
                          unsigned minor, const InodeMeta& meta);
  // A second name for ino (not a directory) in dir; its link count goes up by one.
  Status link(Ino dir, std::string_view name, Ino ino);
  // rm -rf of name in dir: a directory with everything below it, a file or link itself (never
  // followed). The blocks, extended-attribute block and inode are freed with the last link.
  // not_found when the name is missing.
  Status remove(Ino dir, std::string_view name);

  // Sets mode (permission bits; the type is kept), owner and times of ino.
  Status set_meta(Ino ino, const InodeMeta& meta);
  // Sets only the permission bits of ino (owner and times stay).
  Status chmod(Ino ino, mode_t mode);
  // Sets extended attribute name (e.g. "security.capability") of ino to value.
  Status set_xattr(Ino ino, const std::string& name, std::string_view value);
  // Value of extended attribute name of ino; nullopt when it has none.
  Expected<std::optional<std::string>> get_xattr(Ino ino, const std::string& name);

  // Writes the regular file ino from its first byte (it should be empty).
  Expected<Ext4FileWriter> open_for_write(Ino ino);
  // The content of the regular file ino; invalid_argument when it is larger than max_bytes.
  Expected<std::string> read(Ino ino, std::size_t max_bytes);
  // The target of the symlink ino.
  Expected<std::string> read_link(Ino ino);
  // Names in directory ino, without "." and "..".
  Expected<std::vector<std::string>> list(Ino dir);

  const std::string& image() const { return image_; }

 private:
  Ext4Writer(void* fs, std::string image) : fs_(fs), image_(std::move(image)) {}
  // Links ino into dir as name, growing dir when its blocks are full.
  Status add_entry(Ino dir, std::string_view name, Ino ino, int file_type);
  // Allocates an inode for a new mode near dir.
  Expected<Ino> new_inode(Ino dir, unsigned type_bits);
  // Frees ino's blocks, xattr block and the inode itself (its link count reached zero).
  Status release(Ino ino);
  Status fail_with(long code, const std::string& doing) const;

  void* fs_;  // ext2_filsys
  std::string image_;
};

}  // namespace banger::ext4
