#include "banger/cli/daemon_launcher.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <string_view>
#include <thread>
#include <vector>

#include "banger/base/expected.hpp"
#include "banger/base/fd.hpp"
#include "banger/base/strings.hpp"
#include "banger/posix/env.hpp"
#include "banger/posix/subprocess.hpp"
#include "banger/sys/file_lock.hpp"
#include "banger/sys/fs.hpp"

namespace banger::cli {
namespace {

// The daemon prints "bangerd: <reason>" on stderr (the log file) when it refuses to start.
std::string startup_error_since(const std::string& log_file, off_t offset) {
  auto text = sys::read_file(log_file);
  if (!text || static_cast<std::size_t>(offset) > text->size()) {
    return {};
  }
  std::string reason;
  for (const auto& line : base::split(std::string_view(*text).substr(offset), '\n')) {
    if (line.rfind("bangerd: ", 0) == 0) {
      reason = line.substr(9);
    }
  }
  return reason;
}

// The CLI's environment without what would let the daemon (and every ssh it runs into an
// untrusted guest) use the user's ssh agent or X display (security review L3).
std::vector<std::string> daemon_env() {
  std::vector<std::string> env;
  for (auto& entry : posix::current_env()) {
    std::string_view name = std::string_view(entry).substr(0, entry.find('='));
    if (name != "SSH_AUTH_SOCK" && name != "SSH_AGENT_PID" && name != "DISPLAY" &&
        name != "XAUTHORITY") {
      env.push_back(std::move(entry));
    }
  }
  return env;
}

Expected<pid_t> spawn_daemon(const std::string& binary, const std::string& log_file) {
  base::UniqueFd null_fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  base::UniqueFd log_fd(::open(log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  if (!null_fd || !log_fd) {
    return fail_errno("opening " + log_file, errno);
  }
  auto child = posix::Subprocess::spawn({.argv = {binary, "--foreground"},
                                         .program = binary,
                                         .env = daemon_env(),
                                         .new_session = true,
                                         .stdio = posix::Stdio::redirect,
                                         .redirect = {null_fd.get(), log_fd.get(), log_fd.get()}});
  if (!child) {
    return fail_errno("starting " + binary, child.error().sys_errno);
  }
  return child->release();  // the daemon outlives this CLI
}

}  // namespace

std::string find_daemon_binary(const std::string& configured) {
  if (!configured.empty()) {
    return sys::find_executable(configured);
  }
  if (const char* env = std::getenv("BANGER_DAEMON_BIN"); env != nullptr && *env != '\0') {
    return sys::find_executable(env);
  }
  if (std::string dir = sys::self_executable_dir(); !dir.empty()) {
    if (std::string beside = dir + "/bangerd"; ::access(beside.c_str(), X_OK) == 0) {
      return beside;
    }
  }
  return sys::find_executable("bangerd");
}

Expected<rpc::Client> connect_existing(const paths::Paths& paths, uid_t uid) {
  // Before connecting (H2): a runtime dir another user could have created or can replace
  // may hold their socket; the peer check in connect() is the second line.
  BANGER_TRY(paths::check_runtime_dir(paths, uid));
  return rpc::Client::connect(paths.socket, uid);
}

Expected<rpc::Client> connect_or_start(const paths::Paths& paths, uid_t uid,
                                       const LaunchOptions& options) {
  BANGER_TRY(paths::check_trusted_ancestors(paths.state_dir, uid, "state dir"));
  auto first = connect_existing(paths, uid);
  if (first || first.error().code != Errc::unavailable) {
    return first;
  }
  BANGER_TRY(paths::prepare_runtime_dir(paths, uid));
  BANGER_TRY(paths::prepare_state_dirs(paths));
  // One spawner at a time: concurrent CLIs wait here, then find the daemon running.
  BANGER_TRY_ASSIGN(auto lock, sys::FileLock::acquire(paths.spawn_lock));
  auto second = rpc::Client::connect(paths.socket, uid);
  if (second || second.error().code != Errc::unavailable) {
    return second;
  }
  std::string binary = find_daemon_binary(options.daemon_binary);
  if (binary.empty()) {
    return fail(Errc::unavailable,
                "bangerd not found (looked in $BANGER_DAEMON_BIN, next to banger and in PATH)");
  }
  struct stat st{};
  off_t log_offset = ::stat(paths.log_file.c_str(), &st) == 0 ? st.st_size : 0;
  BANGER_TRY_ASSIGN(pid_t pid, spawn_daemon(binary, paths.log_file));

  auto deadline = std::chrono::steady_clock::now() + options.deadline;
  auto delay = std::chrono::milliseconds(5);
  while (true) {
    auto client = rpc::Client::connect(paths.socket, uid);
    if (client) {
      return client;
    }
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      std::string reason = startup_error_since(paths.log_file, log_offset);
      if (reason.empty()) {
        reason =
            fmt::format("it exited with status {}; see {}", WEXITSTATUS(status), paths.log_file);
      }
      return fail(Errc::failed_precondition, "bangerd failed to start: " + reason);
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return fail(Errc::timeout,
                  fmt::format("bangerd (pid {}) did not answer on {} within {} s; "
                              "see {}",
                              pid, paths.socket, options.deadline.count() / 1000, paths.log_file));
    }
    std::this_thread::sleep_for(delay);
    delay = std::min(delay * 2, std::chrono::milliseconds(400));
  }
}

}  // namespace banger::cli
