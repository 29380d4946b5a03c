// Safe tar extraction into a directory that is being built (a package tree, a rootfs, later
// OCI layers): in-process with libarchive, never changing the working directory, never
// writing outside the destination and never following a link inside it.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "banger/base/error.hpp"

struct archive;  // libarchive's reader

namespace banger::unpack {

enum class EntryType { file, directory, symlink, hardlink, fifo, char_device, block_device, other };

// One archive entry as a hook sees it, after its path was validated.
struct Entry {
  std::string path;  // relative to the destination, normalized ("usr/bin/x"), never empty
  EntryType type = EntryType::other;
  std::string link;  // symlink: the target as stored; hardlink: normalized relative target
  // The header's metadata, for hooks that re-create what extraction does not keep (owners,
  // setuid bits, device nodes, extended attributes).
  unsigned mode = 0;  // permission bits with setuid/setgid/sticky (07777)
  std::int64_t uid = 0;
  std::int64_t gid = 0;
  std::int64_t mtime = 0;   // seconds
  unsigned rdev_major = 0;  // char_device/block_device
  unsigned rdev_minor = 0;
  std::vector<std::pair<std::string, std::string>> xattrs;  // name, value (pax SCHILY.xattr.*)
  std::uint64_t size = 0;  // bytes of data the entry carries (regular files)
};

// Whether a directory on the way from root to root/relative (its parents, not the last
// component) is a symlink: writing there would follow a link in the tree being built.
bool crosses_symlink(const std::string& root, const std::string& relative);

enum class EntryAction { extract, skip };

// Called for every entry before anything is written for it; may change the destination tree
// itself (OCI whiteouts delete what they name and return skip). An error aborts extraction.
using EntryHook = std::function<Expected<EntryAction>(const Entry& entry, const std::string& root)>;

struct ExtractOptions {
  std::string kind = "archive";  // "package": the noun used in messages
  std::string name;              // "busybox-static_1.35_amd64.deb": the archive in messages
  EntryHook on_entry;            // optional
};

// Extracts every entry of reader (opened by the caller, positioned before the first header)
// under dest_dir (created if missing; symlinks in dest_dir itself are resolved first).
// Each entry path is normalized and re-rooted under dest_dir; absolute paths and ".." are
// refused. Hard-link targets must name a path inside dest_dir not reached through a symlink.
// Writing through a symlink that an earlier entry created is refused
// (ARCHIVE_EXTRACT_SECURE_SYMLINKS). Permission bits and mtimes are kept, ownership is not
// (files belong to the caller; setuid/setgid bits are dropped as a result).
// Errors: invalid_argument "unsafe path <p> in <kind> <name>: entries must stay inside the
// <kind> root", "unsafe hard link <p> -> <t> in <kind> <name>: ..." and "corrupt <kind>
// <name>: <why>" (unreadable data); io when writing fails (including a refused write
// through a symlink); the hook's errors.
Status extract_tar(::archive* reader, const std::string& dest_dir, const ExtractOptions& options);

// libarchive's last error on a, lower-cased ("truncated input"), for messages.
std::string error_text(::archive* a);

// Opens the tar file at path (any compression libarchive reads) and extracts it as above.
// not_found when path is missing.
Status extract_tar_file(const std::string& path, const std::string& dest_dir,
                        const ExtractOptions& options);

struct ReadOptions {
  std::string kind = "archive";  // the noun used in messages
  std::string name;              // the archive in messages
};

// Receives one block of an entry's data.
using DataSink = std::function<Status(const void* data, std::size_t size)>;
// Hands the current entry's data to a sink, block by block in order (call at most once; data
// not read is skipped).
using DataReader = std::function<Status(const DataSink& sink)>;
using EntryVisitor = std::function<Status(const Entry& entry, const DataReader& read_data)>;

// Reads the tar file at path (any compression libarchive reads) entry by entry without writing
// anything: each entry's path and hard-link target are validated and normalized as for
// extraction (absolute paths and ".." refused), the archive root "./" is skipped. Errors:
// not_found for a missing file, invalid_argument for unsafe paths and corrupt data (as above),
// the visitor's errors (which stop the read).
Status read_tar_file(const std::string& path, const ReadOptions& options,
                     const EntryVisitor& visit);

}  // namespace banger::unpack
