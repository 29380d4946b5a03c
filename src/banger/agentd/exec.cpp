#include "banger/agentd/exec.hpp"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>

#include "banger/agentd/proc_files.hpp"

namespace banger::agentd {
namespace {

using agentproto::ErrorCode;
using agentproto::WireError;
using Clock = std::chrono::steady_clock;

constexpr std::string_view kBasePath =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(other.release()) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      reset(other.release());
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  int get() const { return fd_; }
  int release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void reset(int fd = -1) {
    if (fd_ >= 0) {
      ::close(fd_);
    }
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

bool make_pipe(Fd& read_end, Fd& write_end) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    return false;
  }
  read_end.reset(fds[0]);
  write_end.reset(fds[1]);
  return true;
}

void set_nonblocking(int fd) {
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags >= 0) {
    ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  }
}

bool is_executable_file(const std::string& path) {
  struct stat st{};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

// Collects one output stream up to a cap.
struct Sink {
  Fd fd;
  std::string data;
  bool truncated = false;
  bool open() const { return fd.get() >= 0; }
};

// Reads what is available; closes the fd at EOF or on a hard error.
void drain(Sink& sink, std::size_t max_output) {
  char buffer[65536];
  while (sink.open()) {
    const ssize_t n = ::read(sink.fd.get(), buffer, sizeof buffer);
    if (n > 0) {
      const auto room = max_output - std::min(max_output, sink.data.size());
      const auto take = std::min(room, static_cast<std::size_t>(n));
      sink.data.append(buffer, take);
      if (take < static_cast<std::size_t>(n)) {
        sink.truncated = true;
      }
      continue;
    }
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return;
    }
    sink.fd.reset();  // EOF or error
  }
}

// Blocks SIGPIPE in this thread while feeding stdin (the agent ignores it anyway, but the code
// also runs inside other processes, such as tests); a SIGPIPE raised meanwhile is consumed.
class SigpipeGuard {
 public:
  SigpipeGuard() {
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGPIPE);
    ::pthread_sigmask(SIG_BLOCK, &block, &old_);
    was_blocked_ = sigismember(&old_, SIGPIPE) == 1;
  }
  SigpipeGuard(const SigpipeGuard&) = delete;
  SigpipeGuard& operator=(const SigpipeGuard&) = delete;
  ~SigpipeGuard() {
    if (!was_blocked_) {
      sigset_t pending;
      sigemptyset(&pending);
      if (::sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1) {
        sigset_t only;
        sigemptyset(&only);
        sigaddset(&only, SIGPIPE);
        const timespec zero{0, 0};
        ::sigtimedwait(&only, nullptr, &zero);
      }
      ::pthread_sigmask(SIG_SETMASK, &old_, nullptr);
    }
  }

 private:
  sigset_t old_{};
  bool was_blocked_ = false;
};

struct SpawnAttrs {
  posix_spawnattr_t attr{};
  posix_spawn_file_actions_t actions{};
  SpawnAttrs() {
    ::posix_spawnattr_init(&attr);
    ::posix_spawn_file_actions_init(&actions);
  }
  SpawnAttrs(const SpawnAttrs&) = delete;
  SpawnAttrs& operator=(const SpawnAttrs&) = delete;
  ~SpawnAttrs() {
    ::posix_spawn_file_actions_destroy(&actions);
    ::posix_spawnattr_destroy(&attr);
  }
};

int open_pidfd(pid_t pid) {
#ifdef SYS_pidfd_open
  const long fd = ::syscall(SYS_pidfd_open, pid, 0);
  return fd >= 0 ? static_cast<int>(fd) : -1;
#else
  (void)pid;
  return -1;
#endif
}

}  // namespace

std::vector<std::string> exec_base_env() {
  return {"PATH=" + std::string(kBasePath), "HOME=/root", "TERM=dumb", "LANG=C.UTF-8"};
}

std::variant<agentproto::ExecResult, agentproto::WireError> run_exec(
    const agentproto::ExecParams& params, std::size_t max_output) {
  if (params.argv.empty() || params.argv.front().empty()) {
    return WireError{ErrorCode::bad_request,
                     "field \"argv\": expected a non-empty array of strings"};
  }
  // Environment: base, then the request's entries (same name replaces).
  std::map<std::string, std::string> env;
  for (const auto& entry : exec_base_env()) {
    const auto eq = entry.find('=');
    env[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  for (const auto& [key, value] : params.env) {
    env[key] = value;
  }
  std::vector<std::string> env_strings;
  for (const auto& [key, value] : env) {
    env_strings.push_back(key + "=" + value);
  }

  const std::string cwd = params.cwd.empty() ? "/" : params.cwd;
  struct stat cwd_stat{};
  if (::stat(cwd.c_str(), &cwd_stat) != 0) {
    return WireError{ErrorCode::not_found, "working directory \"" + cwd + "\" does not exist"};
  }
  if (!S_ISDIR(cwd_stat.st_mode)) {
    return WireError{ErrorCode::not_found, "working directory \"" + cwd + "\" is not a directory"};
  }

  // Resolve the program the way execvp would, but with the child's PATH.
  const std::string& name = params.argv.front();
  std::string program;
  if (name.find('/') != std::string::npos) {
    program = name;
    const std::string resolved = name.front() == '/' ? name : cwd + "/" + name;
    struct stat st{};
    if (::stat(resolved.c_str(), &st) != 0) {
      return WireError{ErrorCode::not_found, "executable \"" + name + "\" not found"};
    }
  } else {
    const std::string& path = env["PATH"];
    std::size_t pos = 0;
    while (pos <= path.size()) {
      auto end = path.find(':', pos);
      if (end == std::string::npos) {
        end = path.size();
      }
      std::string dir = path.substr(pos, end - pos);
      pos = end + 1;
      if (dir.empty()) {
        dir = ".";
      }
      if (dir.front() != '/') {
        dir = cwd + "/" + dir;
      }
      if (is_executable_file(dir + "/" + name)) {
        program = dir + "/" + name;
        break;
      }
    }
    if (program.empty()) {
      return WireError{ErrorCode::not_found, "executable \"" + name + "\" not found in PATH"};
    }
  }

  Fd in_read, in_write, out_read, out_write, err_read, err_write;
  if (!make_pipe(in_read, in_write) || !make_pipe(out_read, out_write) ||
      !make_pipe(err_read, err_write)) {
    return WireError{ErrorCode::operation_failed, "creating pipes: " + errno_text(errno)};
  }

  SpawnAttrs spawn;
  ::posix_spawn_file_actions_adddup2(&spawn.actions, in_read.get(), 0);
  ::posix_spawn_file_actions_adddup2(&spawn.actions, out_write.get(), 1);
  ::posix_spawn_file_actions_adddup2(&spawn.actions, err_write.get(), 2);
  ::posix_spawn_file_actions_addclosefrom_np(&spawn.actions, 3);
  ::posix_spawn_file_actions_addchdir_np(&spawn.actions, cwd.c_str());
  sigset_t none;
  sigemptyset(&none);
  sigset_t all;
  sigfillset(&all);
  ::posix_spawnattr_setsigmask(&spawn.attr, &none);
  ::posix_spawnattr_setsigdefault(&spawn.attr, &all);
  ::posix_spawnattr_setflags(
      &spawn.attr,
      static_cast<short>(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSID));

  std::vector<char*> argv;
  for (const auto& arg : params.argv) {
    argv.push_back(const_cast<char*>(arg.c_str()));
  }
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (const auto& entry : env_strings) {
    envp.push_back(const_cast<char*>(entry.c_str()));
  }
  envp.push_back(nullptr);

  pid_t pid = -1;
  const int spawn_error =
      ::posix_spawn(&pid, program.c_str(), &spawn.actions, &spawn.attr, argv.data(), envp.data());
  if (spawn_error != 0) {
    if (spawn_error == ENOENT) {
      return WireError{ErrorCode::not_found, "executable \"" + name + "\" not found"};
    }
    return WireError{ErrorCode::operation_failed,
                     "cannot run \"" + name + "\": " + errno_text(spawn_error)};
  }
  in_read.reset();
  out_write.reset();
  err_write.reset();

  SigpipeGuard sigpipe_guard;
  Fd pidfd(open_pidfd(pid));
  Sink out{std::move(out_read), {}, false};
  Sink err{std::move(err_read), {}, false};
  set_nonblocking(out.fd.get());
  set_nonblocking(err.fd.get());
  set_nonblocking(in_write.get());
  std::size_t stdin_written = 0;
  if (params.stdin_data.empty()) {
    in_write.reset();
  }

  const bool has_deadline = params.timeout_s > 0;
  const auto deadline =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(
                         std::chrono::duration<double>(std::min(params.timeout_s, 1e9)));
  agentproto::ExecResult result;
  int status = 0;
  bool exited = false;
  while (!exited) {
    pollfd fds[4];
    nfds_t count = 0;
    const auto add = [&](int fd, short events) {
      if (fd >= 0) {
        fds[count++] = pollfd{fd, events, 0};
      }
    };
    add(in_write.get(), POLLOUT);
    add(out.fd.get(), POLLIN);
    add(err.fd.get(), POLLIN);
    add(pidfd.get(), POLLIN);
    int timeout_ms = -1;
    if (pidfd.get() < 0) {
      timeout_ms = 20;  // no pidfd: check for exit periodically
    }
    if (has_deadline && !result.timed_out) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      const int left_ms = static_cast<int>(std::clamp<std::int64_t>(left.count() + 1, 0, 1000));
      timeout_ms = timeout_ms < 0 ? left_ms : std::min(timeout_ms, left_ms);
    }
    if (count > 0 || timeout_ms >= 0) {
      const int ready = ::poll(fds, count, timeout_ms);
      if (ready < 0 && errno != EINTR) {
        ::kill(-pid, SIGKILL);
      }
    }
    if (in_write.get() >= 0) {
      while (stdin_written < params.stdin_data.size()) {
        const ssize_t n =
            ::write(in_write.get(), params.stdin_data.data() + stdin_written,
                    std::min<std::size_t>(params.stdin_data.size() - stdin_written, 65536));
        if (n > 0) {
          stdin_written += static_cast<std::size_t>(n);
          continue;
        }
        if (n < 0 && errno == EINTR) {
          continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
          break;
        }
        stdin_written = params.stdin_data.size();  // EPIPE: the child stopped reading
      }
      if (stdin_written >= params.stdin_data.size()) {
        in_write.reset();
      }
    }
    drain(out, max_output);
    drain(err, max_output);
    const pid_t waited = ::waitpid(pid, &status, WNOHANG);
    if (waited == pid || (waited < 0 && errno == ECHILD)) {
      exited = true;
      break;
    }
    if (has_deadline && !result.timed_out && Clock::now() >= deadline) {
      result.timed_out = true;
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
    }
  }
  // The process is gone: what it wrote is in the pipes; take it without waiting for
  // descendants that may still hold the write ends.
  drain(out, max_output);
  drain(err, max_output);
  if (result.timed_out) {
    ::kill(-pid, SIGKILL);
  }
  if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.signal = WTERMSIG(status);
    result.exit_code = 128 + result.signal;
  }
  result.stdout_data = std::move(out.data);
  result.stderr_data = std::move(err.data);
  result.stdout_truncated = out.truncated;
  result.stderr_truncated = err.truncated;
  return result;
}

}  // namespace banger::agentd
