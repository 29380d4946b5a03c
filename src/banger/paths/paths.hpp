// Where banger keeps its config, state, cache and runtime files (SPEC S3), computed once
// from the environment and passed down; plus creation and hardening of those directories.
#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <string_view>

#include "banger/base/error.hpp"

namespace banger::paths {

// The inputs of path resolution, captured once so resolve_paths() is pure and testable.
struct Environment {
  std::map<std::string, std::string> vars;  // environment variables
  uid_t uid = 0;                            // the real uid of the process
  std::string home;                         // the user's home directory ("" if unknown)

  // Reads the process environment, getuid() and HOME (falling back to the passwd entry).
  static Environment current();

  // The value of an environment variable; "" when it is unset.
  std::string get(const std::string& name) const;
};

// Every file and directory banger uses. All paths are absolute, without trailing '/'.
struct Paths {
  std::string config_file;  // <config_dir>/config.toml
  std::string config_dir;   // $XDG_CONFIG_HOME/banger or $BANGER_HOME/config
  std::string state_dir;    // $XDG_STATE_HOME/banger or $BANGER_HOME/state
  std::string cache_dir;    // $XDG_CACHE_HOME/banger or $BANGER_HOME/cache
  std::string
      runtime_dir;         // $XDG_RUNTIME_DIR/banger, /tmp/banger-runtime-<uid> or $BANGER_HOME/run
  std::string socket;      // <runtime_dir>/bangerd.sock, or $BANGER_SOCKET
  std::string db;          // <state_dir>/state.db
  std::string log_file;    // <state_dir>/bangerd.log
  std::string state_lock;  // <state_dir>/bangerd.lock: one daemon per store (M6)
  std::string daemon_lock;        // <runtime_dir>/bangerd.lock: one daemon per socket; its pid
  std::string spawn_lock;         // <runtime_dir>/spawn.lock
  std::string vms_dir;            // <state_dir>/vms
  std::string images_dir;         // <state_dir>/images
  std::string kernels_dir;        // <state_dir>/kernels
  std::string ssh_dir;            // <state_dir>/ssh
  std::string known_hosts;        // <state_dir>/ssh/known_hosts
  std::string ssh_config;         // <state_dir>/ssh_config
  std::string oci_cache_dir;      // <cache_dir>/oci
  std::string downloads_dir;      // <cache_dir>/downloads
  std::string kernel_builds_dir;  // <cache_dir>/kernel-builds (`kernel build`'s cache)

  // <vms_dir>/<vm_id>. vm_id must be a plain id (no '/'); callers validate ids first.
  std::string vm_dir(const std::string& vm_id) const;
};

// The longest unix socket path the kernel accepts (sun_path is 108 bytes with the NUL).
inline constexpr std::size_t kMaxSocketPathLength = 107;

// Resolves every path from env (SPEC S3): BANGER_HOME puts everything under one directory,
// otherwise the XDG base directories are used; BANGER_SOCKET overrides the socket path.
// Pure: reads nothing but env. Errors (Errc::invalid_argument): BANGER_HOME or BANGER_SOCKET
// not absolute, no usable home directory when an XDG variable is unset, socket path too long.
Expected<Paths> resolve_paths(const Environment& env);

// Checks that nobody but uid and root can swap `path` for something else (security review H2):
// every existing directory above it (not path itself), lexically and after resolving symlinks, is
// owned by uid or root, and when others (or a group other than uid's primary group) may write to
// it, it has the sticky bit (like /tmp). A root CLI or daemon whose XDG_RUNTIME_DIR or HOME points
// into a user's directory (`sudo -E`) is refused here. Components that do not exist yet are
// skipped. `what` names the path in the message ("runtime dir"). Errc::failed_precondition
// naming the offending directory, its owner and mode, and what to do; Errc::io when lstat fails.
Status check_trusted_ancestors(const std::string& path, uid_t uid, std::string_view what);

// Checks an existing runtime dir without creating anything, for the CLI before it connects
// (H2): the ancestors as check_trusted_ancestors; the dir itself is no symlink, a directory,
// owned by uid with no group/other permission. A missing runtime dir is fine (nothing can
// listen in it). Errors as prepare_runtime_dir.
Status check_runtime_dir(const Paths& paths, uid_t uid);

// Checks the ancestors (check_trusted_ancestors), creates runtime_dir with mode 0700 (parents
// 0700 as needed) and checks it with lstat.
// Errc::failed_precondition when it is a symlink, not a directory, not owned by uid or has
// any group/other permission bit (the message says how to fix it); Errc::io (or
// permission_denied for EACCES/EPERM) when mkdir/lstat fail.
Status prepare_runtime_dir(const Paths& paths, uid_t uid);

// Creates config_dir, cache_dir (0755) and state_dir with vms/, images/, kernels/, ssh/
// (0700), plus the cache's oci/ and downloads/. Existing directories are left as they are.
// Errc::io (permission_denied for EACCES/EPERM) when a mkdir fails;
// Errc::failed_precondition when a path exists and is not a directory.
Status prepare_state_dirs(const Paths& paths);

}  // namespace banger::paths
