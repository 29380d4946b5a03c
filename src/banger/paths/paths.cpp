#include "banger/paths/paths.hpp"

#include <fmt/format.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <vector>

#include "banger/base/expected.hpp"
#include "banger/sys/fs.hpp"

extern char** environ;  // NOLINT(readability-redundant-declaration): POSIX, not in a header

namespace banger::paths {
namespace {

// Removes trailing slashes ("/a/b/" -> "/a/b"), keeping a lone "/".
std::string strip_trailing_slashes(std::string path) {
  while (path.size() > 1 && path.back() == '/') {
    path.pop_back();
  }
  return path;
}

bool is_absolute(const std::string& path) { return !path.empty() && path.front() == '/'; }

// An XDG base directory: the variable when set to an absolute path (relative values are
// ignored, as the XDG Base Directory spec requires), else <home>/<fallback>.
Expected<std::string> xdg_dir(const Environment& env, const std::string& var,
                              const std::string& fallback) {
  std::string value = env.get(var);
  if (is_absolute(value)) {
    return strip_trailing_slashes(value);
  }
  if (!is_absolute(env.home)) {
    return fail(Errc::invalid_argument,
                fmt::format("cannot find the home directory for {} (HOME is {}): set HOME, {} "
                            "or BANGER_HOME to an absolute path",
                            var, env.home.empty() ? "unset" : "\"" + env.home + "\"", var));
  }
  return strip_trailing_slashes(env.home) + "/" + fallback;
}

void fill_derived(Paths& p) {
  p.config_file = p.config_dir + "/config.toml";
  p.socket = p.runtime_dir + "/bangerd.sock";
  p.db = p.state_dir + "/state.db";
  p.log_file = p.state_dir + "/bangerd.log";
  p.state_lock = p.state_dir + "/bangerd.lock";
  p.daemon_lock = p.runtime_dir + "/bangerd.lock";
  p.spawn_lock = p.runtime_dir + "/spawn.lock";
  p.vms_dir = p.state_dir + "/vms";
  p.images_dir = p.state_dir + "/images";
  p.kernels_dir = p.state_dir + "/kernels";
  p.ssh_dir = p.state_dir + "/ssh";
  p.known_hosts = p.ssh_dir + "/known_hosts";
  p.ssh_config = p.state_dir + "/ssh_config";
  p.oci_cache_dir = p.cache_dir + "/oci";
  p.downloads_dir = p.cache_dir + "/downloads";
  p.kernel_builds_dir = p.cache_dir + "/kernel-builds";
}

std::string mode_string(mode_t mode) { return fmt::format("{:04o}", mode & 07777); }

// "/a/b/c" -> {"/", "/a", "/a/b"} (the directories above path).
std::vector<std::string> ancestors_of(const std::string& path) {
  std::vector<std::string> chain{"/"};
  for (std::size_t pos = path.find('/', 1);; pos = path.find('/', pos + 1)) {
    std::string prefix = path.substr(0, pos);
    if (pos == std::string::npos) {
      break;
    }
    if (prefix.size() > 1 && prefix != chain.back()) {
      chain.push_back(prefix);
    }
  }
  return chain;
}

// One directory (or symlink) on the way: replaceable by someone other than uid or root?
Status check_one(const std::string& dir, const struct stat& st, uid_t uid, std::string_view what,
                 const std::string& target) {
  if (st.st_uid != uid && st.st_uid != 0) {
    return fail(Errc::failed_precondition,
                fmt::format("{} {} is inside {}, which belongs to uid {} (not to uid {} or root), "
                            "who could replace it: {}",
                            what, target, dir, st.st_uid, uid,
                            uid == 0 ? "as root (e.g. `sudo -E`), set BANGER_HOME (or "
                                       "XDG_RUNTIME_DIR and HOME) to root-owned directories"
                                     : "set BANGER_HOME or the XDG variables to directories "
                                       "you own"));
  }
  if (S_ISLNK(st.st_mode) || (st.st_mode & S_ISVTX) != 0) {
    return {};  // a symlink's mode means nothing; a sticky dir protects entries of others
  }
  bool others_write = (st.st_mode & S_IWOTH) != 0;
  bool group_write = (st.st_mode & S_IWGRP) != 0 && st.st_gid != ::getgid() && st.st_gid != 0;
  if (others_write || group_write) {
    return fail(Errc::failed_precondition,
                fmt::format("{} {} is inside {} (mode {}), which other users may write to and so "
                            "replace what is in it: run chmod go-w {} or use another directory",
                            what, target, dir, mode_string(st.st_mode), dir));
  }
  return {};
}

Status check_chain(const std::string& path, uid_t uid, std::string_view what,
                   const std::string& target) {
  for (const auto& dir : ancestors_of(path)) {
    struct stat st{};
    if (::lstat(dir.c_str(), &st) != 0) {
      if (errno == ENOENT || errno == ENOTDIR) {
        return {};  // the rest does not exist yet: whoever creates it decides
      }
      return fail_errno(fmt::format("checking {} (on the way to {} {})", dir, what, target), errno);
    }
    BANGER_TRY(check_one(dir, st, uid, what, target));
  }
  return {};
}

}  // namespace

Environment Environment::current() {
  Environment env;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    std::string_view kv(*entry);
    auto eq = kv.find('=');
    if (eq == std::string_view::npos) {
      continue;
    }
    env.vars.emplace(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
  }
  env.uid = ::getuid();
  env.home = env.get("HOME");
  if (env.home.empty()) {
    std::vector<char> buf(16384);
    struct passwd pw{};
    struct passwd* found = nullptr;
    if (::getpwuid_r(env.uid, &pw, buf.data(), buf.size(), &found) == 0 && found != nullptr &&
        found->pw_dir != nullptr) {
      env.home = found->pw_dir;
    }
  }
  return env;
}

std::string Environment::get(const std::string& name) const {
  auto it = vars.find(name);
  return it == vars.end() ? std::string() : it->second;
}

std::string Paths::vm_dir(const std::string& vm_id) const { return vms_dir + "/" + vm_id; }

Expected<Paths> resolve_paths(const Environment& env) {
  Paths p;
  std::string home = env.get("BANGER_HOME");
  if (!home.empty()) {
    if (!is_absolute(home)) {
      return fail(Errc::invalid_argument,
                  fmt::format("BANGER_HOME must be an absolute path, got \"{}\"", home));
    }
    home = strip_trailing_slashes(home);
    std::string base = home == "/" ? "" : home;
    p.config_dir = base + "/config";
    p.state_dir = base + "/state";
    p.cache_dir = base + "/cache";
    p.runtime_dir = base + "/run";
  } else {
    BANGER_TRY_ASSIGN(auto config, xdg_dir(env, "XDG_CONFIG_HOME", ".config"));
    BANGER_TRY_ASSIGN(auto state, xdg_dir(env, "XDG_STATE_HOME", ".local/state"));
    BANGER_TRY_ASSIGN(auto cache, xdg_dir(env, "XDG_CACHE_HOME", ".cache"));
    p.config_dir = config + "/banger";
    p.state_dir = state + "/banger";
    p.cache_dir = cache + "/banger";
    std::string runtime = env.get("XDG_RUNTIME_DIR");
    if (is_absolute(runtime)) {
      p.runtime_dir = strip_trailing_slashes(runtime);
      p.runtime_dir += p.runtime_dir == "/" ? "banger" : "/banger";
    } else {
      p.runtime_dir = fmt::format("/tmp/banger-runtime-{}", env.uid);
    }
  }
  fill_derived(p);

  std::string socket = env.get("BANGER_SOCKET");
  if (!socket.empty()) {
    if (!is_absolute(socket)) {
      return fail(Errc::invalid_argument,
                  fmt::format("BANGER_SOCKET must be an absolute path, got \"{}\"", socket));
    }
    p.socket = socket;
  }
  if (p.socket.size() > kMaxSocketPathLength) {
    return fail(
        Errc::invalid_argument,
        fmt::format("socket path {} is {} bytes, a unix socket path may have at most {}: "
                    "set BANGER_SOCKET (or BANGER_HOME / XDG_RUNTIME_DIR) to a shorter path",
                    p.socket, p.socket.size(), kMaxSocketPathLength));
  }
  return p;
}

Status check_trusted_ancestors(const std::string& path, uid_t uid, std::string_view what) {
  BANGER_TRY(check_chain(path, uid, what, path));
  // A symlink on the way (owned by uid or root, so not swappable) may lead anywhere: the
  // directories it leads through must pass too.
  auto slash = path.rfind('/');
  std::string parent = slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
  char resolved[PATH_MAX];
  if (::realpath(parent.c_str(), resolved) != nullptr && parent != resolved) {
    BANGER_TRY(check_chain(resolved, uid, what, path));
  }
  return {};
}

namespace {

Status check_runtime_dir_itself(const std::string& dir, const struct stat& st, uid_t uid) {
  if (S_ISLNK(st.st_mode)) {
    return fail(Errc::failed_precondition,
                fmt::format("runtime dir {} is a symlink, which another user could have planted: "
                            "remove it (rm {}) and try again",
                            dir, dir));
  }
  if (!S_ISDIR(st.st_mode)) {
    return fail(Errc::failed_precondition,
                fmt::format("runtime dir {} exists but is not a directory: remove it (rm {}) "
                            "and try again",
                            dir, dir));
  }
  if (st.st_uid != uid) {
    return fail(Errc::failed_precondition,
                fmt::format("runtime dir {} is owned by uid {}, not by uid {}: remove it "
                            "(rm -r {}) or set XDG_RUNTIME_DIR to a directory you own",
                            dir, st.st_uid, uid, dir));
  }
  if ((st.st_mode & 077) != 0) {
    return fail(Errc::failed_precondition,
                fmt::format("runtime dir {} has mode {}, but must not be accessible by group or "
                            "others: run chmod 700 {}",
                            dir, mode_string(st.st_mode), dir));
  }
  return {};
}

}  // namespace

Status check_runtime_dir(const Paths& paths, uid_t uid) {
  const std::string& dir = paths.runtime_dir;
  BANGER_TRY(check_trusted_ancestors(dir, uid, "runtime dir"));
  struct stat st{};
  if (::lstat(dir.c_str(), &st) != 0) {
    if (errno == ENOENT) {
      return {};
    }
    return fail_errno("checking runtime dir " + dir, errno);
  }
  return check_runtime_dir_itself(dir, st, uid);
}

Status prepare_runtime_dir(const Paths& paths, uid_t uid) {
  const std::string& dir = paths.runtime_dir;
  BANGER_TRY(check_trusted_ancestors(dir, uid, "runtime dir"));
  auto slash = dir.rfind('/');
  if (slash != std::string::npos && slash > 0) {
    BANGER_TRY(sys::make_dirs(dir.substr(0, slash), 0700));
  }
  if (::mkdir(dir.c_str(), 0700) == 0) {
    // mkdir applies the umask; set the exact mode on the directory we just made.
    if (::chmod(dir.c_str(), 0700) != 0) {
      return fail_errno("setting mode 0700 on runtime dir " + dir, errno);
    }
  } else if (errno != EEXIST) {
    return fail_errno("creating runtime dir " + dir, errno);
  }

  struct stat st{};
  if (::lstat(dir.c_str(), &st) != 0) {
    return fail_errno("checking runtime dir " + dir, errno);
  }
  return check_runtime_dir_itself(dir, st, uid);
}

Status prepare_state_dirs(const Paths& paths) {
  BANGER_TRY(sys::make_dirs(paths.config_dir, 0755));
  BANGER_TRY(sys::make_dirs(paths.state_dir, 0700));
  for (const auto* dir : {&paths.vms_dir, &paths.images_dir, &paths.kernels_dir, &paths.ssh_dir}) {
    BANGER_TRY(sys::make_dirs(*dir, 0700));
  }
  BANGER_TRY(sys::make_dirs(paths.cache_dir, 0755));
  BANGER_TRY(sys::make_dirs(paths.oci_cache_dir, 0755));
  BANGER_TRY(sys::make_dirs(paths.downloads_dir, 0755));
  return {};
}

}  // namespace banger::paths
