// Edits files inside an ext4 image without mounting it: a batch of operations applied by one
// `debugfs -w -f -` process, plus read-only queries (read_file, stat, exists).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "banger/base/error.hpp"
#include "banger/sys/command_runner.hpp"

namespace banger::ext4 {

enum class FileType { regular, directory, symlink, other };

// Special files make_node creates.
enum class NodeType { fifo, char_device, block_device };

// One queued operation. Paths are absolute guest paths; mode holds permission bits only (07777).
struct EditOp {
  enum class Kind { write_file, mkdir_p, symlink, remove, chmod, chown, make_node, set_xattr };
  Kind kind = Kind::write_file;
  std::string path;
  std::string content;                // write_file; set_xattr: the value
  std::string target;                 // symlink
  mode_t mode = 0;                    // write_file, mkdir_p, chmod
  FileType type = FileType::regular;  // chmod: the type the path is known to have
  uid_t uid = 0;                      // write_file, mkdir_p, chown
  gid_t gid = 0;                      // write_file, mkdir_p, chown
  bool keep_existing = false;         // mkdir_p: an existing directory keeps its mode and owner
  NodeType node = NodeType::fifo;     // make_node
  unsigned major = 0;                 // make_node: device number
  unsigned minor = 0;
  std::string xattr;  // set_xattr: the attribute name ("security.capability")
};

// Stable name of an op kind as used in error messages ("write_file").
std::string_view op_name(EditOp::Kind kind);

// A batch of edits, applied in the order they were added. Nothing is validated until
// plan_debugfs_script() / apply().
class Ext4Edit {
 public:
  // Creates or replaces a regular file (an existing file or symlink at path is removed first).
  // The parent directory must exist.
  Ext4Edit& write_file(std::string path, std::string content, mode_t mode = 0644, uid_t uid = 0,
                       gid_t gid = 0);
  // Creates path and each missing parent (parents get root:root 0755); path itself ends up a
  // directory with mode/uid/gid even when it already existed.
  Ext4Edit& mkdir_p(std::string path, mode_t mode = 0755, uid_t uid = 0, gid_t gid = 0);
  // Like mkdir_p, but when path already is a directory its mode and owner are left alone.
  Ext4Edit& ensure_dir(std::string path, mode_t mode = 0755);
  // Creates or replaces (like ln -sf) a symlink at path pointing to target (root:root 0777).
  Ext4Edit& symlink(std::string path, std::string target);
  // Removes a regular file or symlink; a missing path is fine, a directory is an error.
  Ext4Edit& remove(std::string path);
  // Sets the permission bits of an existing path of the given type (debugfs rewrites the whole
  // mode, so the type must be right; directories are checked, files are not).
  Ext4Edit& chmod(std::string path, mode_t mode, FileType type);
  // Sets the owner of an existing path (a symlink itself, not its target).
  Ext4Edit& chown(std::string path, uid_t uid, gid_t gid);
  // Creates a fifo or device node at path (its directory must exist and path must be free)
  // with permission bits mode and the owner; major/minor are ignored for fifos.
  Ext4Edit& make_node(std::string path, NodeType node, unsigned major, unsigned minor, mode_t mode,
                      uid_t uid, gid_t gid);
  // Sets extended attribute name ("security.capability", "user.x") of an existing path to
  // value (any bytes). Names are [A-Za-z0-9._-] after a user., security. or trusted. prefix.
  Ext4Edit& set_xattr(std::string path, std::string name, std::string value);

  // Adds other's ops after these.
  Ext4Edit& append(const Ext4Edit& other);

  const std::vector<EditOp>& ops() const { return ops_; }
  bool empty() const { return ops_.empty(); }

 private:
  std::vector<EditOp> ops_;
};

// Which errors debugfs may print for a step without failing the batch.
enum class Tolerate { none, any, already_exists, not_found };

struct DebugfsStep {
  std::string command;   // one debugfs command line
  std::size_t op_index;  // index into Ext4Edit::ops()
  Tolerate tolerate = Tolerate::none;
};

struct DebugfsPlan {
  std::string script;  // stdin for `debugfs -w -f -`: each step followed by its marker line
  std::vector<DebugfsStep> steps;
  // Files apply() must create before running debugfs: {staging path, content}.
  std::vector<std::pair<std::string, std::string>> staged_files;
};

// Marker line written after step n of a script ("banger-step-<n>"); debugfs echoes it on stderr
// as an unknown command, which attributes its error output to steps.
std::string step_marker(std::size_t n);

// Pure: renders the debugfs script for edit; contents of op i are staged as <staging_dir>/<i>.
// Any byte but NUL, '\n' and '\r' may appear in a path or symlink target: arguments with
// whitespace or '"' are quoted the way debugfs's parser (libss) reads them, so a name can never
// become a second command. invalid_argument when a path is not absolute, contains "..", a
// newline, carriage return or NUL, is longer than 3000 bytes (debugfs reads 8 KiB lines), names
// "/" for write_file/symlink/remove, or a mode has bits outside 07777.
// existing_dirs lists directories already in the image ("/root/.ssh"); mkdir_p issues `mkdir`
// only for prefixes not in it, because debugfs 1.47 leaks an inode (a corrupt filesystem for
// e2fsck) when asked to mkdir a directory that exists.
Expected<DebugfsPlan> plan_debugfs_script(const Ext4Edit& edit, const std::string& staging_dir,
                                          const std::set<std::string>& existing_dirs = {});

// Applies edit to image in one `debugfs -w -f -` run (no-op when edit is empty). Errors:
// invalid_argument from planning; not_found when image is missing; command_failed naming the
// image and the first failing op ("editing ext4 image <img>: write_file /a/b: <debugfs error>").
// On failure the image may be partly edited.
// staging_owner: the uid:gid that gets the staged content files (and their 0700 directory)
// when debugfs runs as that unprivileged identity (vmstorage::UnprivilegedImageRunner).
Status apply(sys::CommandRunner& runner, const std::string& image, const Ext4Edit& edit,
             std::optional<std::pair<uid_t, gid_t>> staging_owner = std::nullopt);

// Free space of the filesystem in image in bytes (the superblock's free block count, as the
// last writer left it). command_failed when debugfs cannot read it; not_found for no image.
Expected<std::uint64_t> free_bytes(sys::CommandRunner& runner, const std::string& image);

struct InodeInfo {
  FileType type = FileType::other;
  mode_t mode = 0;  // full mode: type bits | permission bits
  uid_t uid = 0;
  gid_t gid = 0;
  std::uint64_t size = 0;
};

// Metadata of guest_path (symlinks not followed). not_found when the path does not resolve;
// invalid_argument for a bad path; command_failed when debugfs cannot read the image.
Expected<InodeInfo> stat(sys::CommandRunner& runner, const std::string& image,
                         const std::string& guest_path);

// Whether guest_path exists (as anything); errors as for stat() except not_found.
Expected<bool> exists(sys::CommandRunner& runner, const std::string& image,
                      const std::string& guest_path);

// Contents of the regular file at guest_path. not_found when missing; failed_precondition when
// it is not a regular file; otherwise errors as for stat().
Expected<std::string> read_file(sys::CommandRunner& runner, const std::string& image,
                                const std::string& guest_path);

// Target of the symlink at guest_path. not_found when missing; failed_precondition when it is
// not a symlink; otherwise errors as for stat().
Expected<std::string> read_link(sys::CommandRunner& runner, const std::string& image,
                                const std::string& guest_path);

}  // namespace banger::ext4
