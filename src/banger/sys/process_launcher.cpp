#include "banger/sys/process_launcher.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <mutex>
#include <string_view>

#include "banger/base/defer.hpp"
#include "banger/base/expected.hpp"
#include "banger/base/fd.hpp"
#include "banger/base/strings.hpp"
#include "banger/posix/env.hpp"
#include "banger/posix/pidfd.hpp"
#include "banger/sys/fs.hpp"

namespace banger::sys {
namespace {

#ifndef SYS_pidfd_send_signal
constexpr long kSysPidfdSendSignal = 424;
#else
constexpr long kSysPidfdSendSignal = SYS_pidfd_send_signal;
#endif
#ifndef SYS_close_range
constexpr long kSysCloseRange = 436;
#else
constexpr long kSysCloseRange = SYS_close_range;
#endif
constexpr unsigned kCloseRangeCloexec = 1U << 2;  // CLOSE_RANGE_CLOEXEC

constexpr std::chrono::milliseconds kReapPollInterval{10};

// What the child reports through the exec-status pipe when it cannot exec.
enum class ChildStage : int { chdir = 1, exec = 2, stdio = 3 };
struct ChildFailure {
  int stage = 0;
  int err = 0;
};

// Duplicates fd to a descriptor >= 3 with O_CLOEXEC, so the child's dup2 onto 0-2 never clobbers.
Expected<base::UniqueFd> high_fd(base::UniqueFd fd, const std::string& what) {
  int dup = ::fcntl(fd.get(), F_DUPFD_CLOEXEC, 3);
  if (dup < 0) {
    return fail_errno("duplicating descriptor of " + what, errno);
  }
  return base::UniqueFd(dup);
}

int exit_status_from(const siginfo_t& info) {
  if (info.si_code == CLD_EXITED) {
    return info.si_status;
  }
  return 128 + info.si_status;
}

class PosixProcess final : public Process {
 public:
  PosixProcess(pid_t pid, std::uint64_t start_time, base::UniqueFd pidfd)
      : pid_(pid), start_time_(start_time), pidfd_(std::move(pidfd)) {}

  pid_t pid() const override { return pid_; }
  std::uint64_t start_time() const override { return start_time_; }
  // The log writer fed by this child's output (LaunchSpec::log_writer): the child counts as
  // exited only once the writer has written everything and exited too, or kWriterGrace after
  // the child's exit (then it is left to finish on its own).
  void set_writer(pid_t pid, base::UniqueFd pidfd) {
    std::lock_guard lock(mutex_);
    writer_pid_ = pid;
    writer_pidfd_ = std::move(pidfd);
  }

  Status signal(int sig) override {
    std::lock_guard lock(mutex_);
    if (exit_status_) {
      return {};
    }
    int rc = pidfd_.valid()
                 ? static_cast<int>(::syscall(kSysPidfdSendSignal, pidfd_.get(), sig, nullptr, 0U))
                 : ::kill(pid_, sig);
    if (rc != 0 && errno != ESRCH) {
      return fail_errno(fmt::format("sending signal {} to pid {}", sig, pid_), errno);
    }
    return {};
  }

  Expected<std::optional<int>> wait_for(std::chrono::milliseconds timeout) override {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      BANGER_TRY_ASSIGN(auto status, try_reap());
      if (status) {
        return status;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        return std::optional<int>{};
      }
      if (pidfd_.valid()) {
        // The pidfd becomes readable when the process exits.
        pollfd pfd{pidfd_.get(), POLLIN, 0};
        int pr = ::poll(&pfd, 1, static_cast<int>(left.count()));
        if (pr < 0 && errno != EINTR) {
          return fail_errno(fmt::format("waiting for pid {}", pid_), errno);
        }
      } else {
        struct timespec ts{0, std::min(left, kReapPollInterval).count() * 1000000L};
        ::nanosleep(&ts, nullptr);
      }
    }
  }

  bool alive() override {
    auto status = wait_for(std::chrono::milliseconds(0));
    return !status || !status->has_value();
  }

 private:
  // Collects the exit status without blocking; nullopt while the child (or, briefly, its log
  // writer) runs.
  Expected<std::optional<int>> try_reap() {
    std::lock_guard lock(mutex_);
    if (!exit_status_) {
      BANGER_TRY_ASSIGN(auto status, try_reap_child_locked());
      if (!status) {
        return status;
      }
      child_exited_at_ = std::chrono::steady_clock::now();
    }
    if (writer_pid_ > 0) {
      siginfo_t info{};
      int rc = ::waitid(P_PID, static_cast<id_t>(writer_pid_), &info, WEXITED | WNOHANG);
      bool done = rc != 0 ? errno != EINTR : info.si_pid != 0;
      if (!done && std::chrono::steady_clock::now() - child_exited_at_ < kWriterGrace) {
        return std::optional<int>{};
      }
      writer_pid_ = 0;
      writer_pidfd_.reset();
    }
    return exit_status_;
  }

  Expected<std::optional<int>> try_reap_child_locked() {
    siginfo_t info{};
    int rc = ::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG);
    if (rc != 0) {
      if (errno == EINTR) {
        return std::optional<int>{};
      }
      if (errno != ECHILD) {
        return fail_errno(fmt::format("waiting for pid {}", pid_), errno);
      }
      exit_status_ = -1;  // reaped elsewhere (e.g. SIGCHLD ignored)
    } else if (info.si_pid == 0) {
      return std::optional<int>{};
    } else {
      exit_status_ = exit_status_from(info);
    }
    pidfd_.reset();
    return exit_status_;
  }

  static constexpr std::chrono::seconds kWriterGrace{2};

  pid_t pid_;
  std::uint64_t start_time_;
  base::UniqueFd pidfd_;
  std::mutex mutex_;
  std::optional<int> exit_status_;
  pid_t writer_pid_ = 0;
  base::UniqueFd writer_pidfd_;
  std::chrono::steady_clock::time_point child_exited_at_;
};

// Runs in the forked child: only async-signal-safe calls until exec.
[[noreturn]] void exec_child(const char* path, char* const* argv, char* const* envp,
                             const char* cwd, mode_t mask, int in_fd, int out_fd, int status_fd) {
  auto report = [&](ChildStage stage) {
    ChildFailure failure{static_cast<int>(stage), errno};
    ssize_t ignored = ::write(status_fd, &failure, sizeof failure);
    (void)ignored;
    ::_exit(127);
  };
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  struct sigaction dfl{};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) {
    ::sigaction(sig, &dfl, nullptr);  // fails harmlessly for SIGKILL/SIGSTOP and RT internals
  }
  ::setsid();
  ::umask(mask);
  if (cwd != nullptr && ::chdir(cwd) != 0) {
    report(ChildStage::chdir);
  }
  if (::dup2(in_fd, 0) < 0 || ::dup2(out_fd, 1) < 0 || ::dup2(out_fd, 2) < 0) {
    report(ChildStage::stdio);
  }
  // Nothing the daemon holds (sockets, the instance lock) may leak into the VMM.
  ::syscall(kSysCloseRange, 3U, ~0U, kCloseRangeCloexec);
  ::execve(path, argv, envp);
  report(ChildStage::exec);
  ::_exit(127);
}

}  // namespace

namespace {

// fork + exec of argv (path resolved) with stdin in_fd and stdout+stderr out_fd; returns the pid
// once exec succeeded (an exec-status pipe reports failures before exec).
Expected<pid_t> spawn_child(const std::string& path, const std::vector<std::string>& args,
                            const std::map<std::string, std::string>& env_overrides,
                            const char* cwd, const std::string& cwd_text, mode_t mask, int in_fd,
                            int out_fd) {
  const std::string& program = args[0];
  auto status_pipe = posix::make_pipe();
  if (!status_pipe) {
    return tl::unexpected(from_sys(status_pipe.error(), "creating exec status pipe"));
  }
  base::UniqueFd status_read = std::move(status_pipe->read);
  base::UniqueFd status_write = std::move(status_pipe->write);

  const auto argv = posix::c_strings(args);
  const std::vector<std::string> env = posix::build_env(posix::current_env(), env_overrides);
  const auto envp = posix::c_strings(env);

  pid_t pid = ::fork();
  if (pid < 0) {
    return fail_errno("forking for " + program, errno);
  }
  if (pid == 0) {
    exec_child(path.c_str(), argv.data(), envp.data(), cwd, mask, in_fd, out_fd,
               status_write.get());
  }
  status_write.reset();

  ChildFailure failure;
  ssize_t got = 0;
  do {
    got = ::read(status_read.get(), &failure, sizeof failure);
  } while (got < 0 && errno == EINTR);
  if (got == static_cast<ssize_t>(sizeof failure)) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    switch (static_cast<ChildStage>(failure.stage)) {
      case ChildStage::chdir:
        return fail_errno(fmt::format("starting {}: changing to {}", program, cwd_text),
                          failure.err);
      case ChildStage::stdio:
        return fail_errno(fmt::format("starting {}: redirecting stdio", program), failure.err);
      case ChildStage::exec:
        break;
    }
    return fail_errno(fmt::format("starting {}: exec {}", program, path), failure.err);
  }
  return pid;
}

void kill_and_reap(pid_t pid) {
  ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
}

}  // namespace

Expected<std::unique_ptr<Process>> PosixProcessLauncher::launch(const LaunchSpec& spec) {
  if (spec.argv.empty()) {
    return fail(Errc::invalid_argument, "empty command");
  }
  const std::string& program = spec.argv[0];
  std::string path = find_executable(program);
  if (path.empty()) {
    return fail(Errc::not_found, fmt::format("{}: command not found", program));
  }
  std::string writer_path;
  if (!spec.log_writer.empty()) {
    writer_path = find_executable(spec.log_writer[0]);
    if (writer_path.empty()) {
      return fail(Errc::not_found, fmt::format("{}: command not found", spec.log_writer[0]));
    }
  }

  base::UniqueFd null_fd(::open("/dev/null", O_RDWR | O_CLOEXEC));
  if (!null_fd) {
    return fail_errno("opening /dev/null", errno);
  }
  BANGER_TRY_ASSIGN(null_fd, high_fd(std::move(null_fd), "/dev/null"));
  const char* cwd = spec.cwd.empty() ? nullptr : spec.cwd.c_str();
  base::UniqueFd log_fd;
  pid_t writer_pid = 0;
  base::UniqueFd writer_pidfd;
  if (!spec.log_writer.empty()) {
    // The writer reads the child's output from a pipe; it gets EOF once the child (the only
    // other holder of the write end) exits.
    auto pipe = posix::make_pipe();
    if (!pipe) {
      return tl::unexpected(from_sys(pipe.error(), "creating the log pipe"));
    }
    BANGER_TRY_ASSIGN(auto read_end, high_fd(std::move(pipe->read), "log pipe"));
    BANGER_TRY_ASSIGN(log_fd, high_fd(std::move(pipe->write), "log pipe"));
    BANGER_TRY_ASSIGN(writer_pid, spawn_child(writer_path, spec.log_writer, {}, cwd, spec.cwd,
                                              spec.umask, read_end.get(), null_fd.get()));
    writer_pidfd = posix::open_pidfd(writer_pid);
  } else if (spec.log_path.empty()) {
    log_fd.reset(::fcntl(null_fd.get(), F_DUPFD_CLOEXEC, 3));
  } else {
    log_fd.reset(
        ::open(spec.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0600));
    if (!log_fd) {
      return fail_errno("opening log file " + spec.log_path, errno);
    }
    BANGER_TRY_ASSIGN(log_fd, high_fd(std::move(log_fd), spec.log_path));
  }

  auto pid = spawn_child(path, spec.argv, spec.env_overrides, cwd, spec.cwd, spec.umask,
                         null_fd.get(), log_fd.get());
  log_fd.reset();  // the writer's EOF must depend on the child alone
  if (!pid) {
    if (writer_pid > 0) {
      kill_and_reap(writer_pid);
    }
    return tl::unexpected(pid.error());
  }

  // Open the pidfd before anything else can happen to the child; the pid cannot be reused while
  // the child is unreaped.
  base::UniqueFd pidfd = posix::open_pidfd(*pid);
  if (pidfd.valid()) {
    BANGER_TRY_ASSIGN(pidfd, high_fd(std::move(pidfd), "pidfd"));
  }
  auto start_time = process_start_time(*pid);
  if (!start_time) {
    kill_and_reap(*pid);
    if (writer_pid > 0) {
      kill_and_reap(writer_pid);
    }
    return tl::unexpected(with_context(start_time.error(), "starting " + program));
  }
  auto process = std::make_unique<PosixProcess>(*pid, *start_time, std::move(pidfd));
  if (writer_pid > 0) {
    process->set_writer(writer_pid, std::move(writer_pidfd));
  }
  return std::unique_ptr<Process>(std::move(process));
}

namespace {

// The starttime field of a /proc/<pid>/stat file at path.
Expected<std::uint64_t> start_time_from_stat_file(const std::string& path) {
  auto stat = read_file(path);
  if (!stat) {
    if (stat.error().sys_errno == ENOENT || stat.error().sys_errno == ESRCH) {
      return fail(Errc::not_found, fmt::format("no process ({} is gone)", path));
    }
    return tl::unexpected(stat.error());
  }
  // "pid (comm) state ppid ..."; comm may contain spaces and ')', so parse after the last ')'.
  auto close = stat->rfind(')');
  if (close == std::string::npos) {
    return fail(Errc::io, fmt::format("parsing {}: no command name", path));
  }
  auto fields = base::split(base::trim(std::string_view(*stat).substr(close + 1)), ' ');
  // fields[0] is field 3 (state), so field 22 (starttime) is fields[19].
  constexpr std::size_t kStartTimeIndex = 22 - 3;
  if (fields.size() <= kStartTimeIndex) {
    return fail(Errc::io, fmt::format("parsing {}: only {} fields", path, fields.size() + 2));
  }
  const std::string& field = fields[kStartTimeIndex];
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(field.data(), field.data() + field.size(), value);
  if (ec != std::errc() || end != field.data() + field.size()) {
    return fail(Errc::io, fmt::format("parsing {}: bad starttime '{}'", path, field));
  }
  return value;
}

}  // namespace

Expected<std::uint64_t> process_start_time(pid_t pid) {
  auto start_time = start_time_from_stat_file(fmt::format("/proc/{}/stat", pid));
  if (!start_time && start_time.error().code == Errc::not_found) {
    return fail(Errc::not_found, fmt::format("no process with pid {}", pid));
  }
  return start_time;
}

std::vector<ProcessInfo> list_processes(const std::string& proc_root) {
  std::vector<ProcessInfo> processes;
  DIR* dir = ::opendir(proc_root.c_str());
  if (dir == nullptr) {
    return processes;
  }
  base::Defer close_dir([dir] { ::closedir(dir); });
  while (const dirent* entry = ::readdir(dir)) {
    pid_t pid = 0;
    std::string_view name(entry->d_name);
    auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), pid);
    if (ec != std::errc() || end != name.data() + name.size() || pid <= 0) {
      continue;
    }
    auto cmdline = read_file(fmt::format("{}/{}/cmdline", proc_root, pid));
    if (!cmdline || cmdline->empty()) {
      continue;
    }
    ProcessInfo info{.pid = pid, .start_time = 0, .argv = {}};
    std::string_view rest(*cmdline);
    while (!rest.empty()) {
      auto nul = rest.find('\0');
      info.argv.emplace_back(rest.substr(0, nul));
      rest = nul == std::string_view::npos ? std::string_view() : rest.substr(nul + 1);
    }
    auto start_time = start_time_from_stat_file(fmt::format("{}/{}/stat", proc_root, pid));
    if (!start_time) {
      continue;
    }
    info.start_time = *start_time;
    processes.push_back(std::move(info));
  }
  return processes;
}

Status check_ids_unused(std::uint32_t uid, std::uint32_t gid) {
  std::vector<char> buffer(16384);
  passwd pw{};
  passwd* pw_found = nullptr;
  int rc = ::getpwuid_r(static_cast<uid_t>(uid), &pw, buffer.data(), buffer.size(), &pw_found);
  if (rc != 0 && rc != ENOENT && rc != ESRCH) {
    return fail_errno(fmt::format("looking up uid {} in the passwd database", uid), rc);
  }
  if (pw_found != nullptr) {
    return fail(Errc::failed_precondition,
                fmt::format("uid {} belongs to user \"{}\" in the passwd database; banger runs "
                            "each VM's VMM as an id of its own that no account may use",
                            uid, pw.pw_name));
  }
  group gr{};
  group* gr_found = nullptr;
  rc = ::getgrgid_r(static_cast<gid_t>(gid), &gr, buffer.data(), buffer.size(), &gr_found);
  if (rc != 0 && rc != ENOENT && rc != ESRCH) {
    return fail_errno(fmt::format("looking up gid {} in the group database", gid), rc);
  }
  if (gr_found != nullptr) {
    return fail(Errc::failed_precondition,
                fmt::format("gid {} belongs to group \"{}\" in the group database; banger runs "
                            "each VM's VMM as an id of its own that no group may use",
                            gid, gr.gr_name));
  }
  return {};
}

bool process_matches(pid_t pid, std::uint64_t start_time) {
  if (pid <= 0) {
    return false;
  }
  if (::kill(pid, 0) != 0 && errno != EPERM) {
    return false;
  }
  auto stat = read_file(fmt::format("/proc/{}/stat", pid));
  if (!stat) {
    return false;
  }
  auto close = stat->rfind(')');
  if (close == std::string::npos || close + 2 >= stat->size()) {
    return false;
  }
  char state = (*stat)[close + 2];
  if (state == 'Z' || state == 'X' || state == 'x') {
    return false;
  }
  auto actual = process_start_time(pid);
  return actual && *actual == start_time;
}

}  // namespace banger::sys
