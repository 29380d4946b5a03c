// ProcessLauncher seam: starts long-lived children (qemu, firecracker) detached in their own
// session, so they outlive the daemon; plus pid + start-time checks for reconcile after a restart.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "banger/base/error.hpp"

namespace banger::sys {

struct LaunchSpec {
  std::vector<std::string> argv;  // never a shell string; argv[0] without '/' is searched in PATH
  std::string cwd;                // empty: inherit the daemon's
  mode_t umask = 077;             // files the child creates are private by default
  std::map<std::string, std::string> env_overrides;  // added to the inherited environment
  std::string log_path;  // stdout and stderr are appended here (created 0600); empty: /dev/null
  // When set, log_path is not opened: stdout and stderr go into a pipe whose only reader is
  // this program (started first, detached the same way, stdin = the pipe, output to /dev/null).
  // It sees end of file once the child exits; the child counts as exited when both have.
  std::vector<std::string> log_writer;
};

// A started child. Destroying the handle never kills the child (VMMs outlive the daemon); it only
// stops tracking it.
class Process {
 public:
  virtual ~Process() = default;
  virtual pid_t pid() const = 0;
  // starttime (field 22 of /proc/<pid>/stat, clock ticks since boot): with pid() it names the
  // process even after the pid is reused.
  virtual std::uint64_t start_time() const = 0;
  // Sends sig. A child that has already exited is fine (nothing is sent). io on other failures.
  virtual Status signal(int sig) = 0;
  // Waits up to timeout for the child to exit. Returns its exit status once it has exited (the
  // exit code, 128+N when killed by signal N, -1 when the status was collected elsewhere), or
  // nullopt while it still runs. io when waiting itself fails.
  virtual Expected<std::optional<int>> wait_for(std::chrono::milliseconds timeout) = 0;
  // True while the child has not exited (wait_for(0) says nullopt).
  virtual bool alive() = 0;
};

class ProcessLauncher {
 public:
  virtual ~ProcessLauncher() = default;
  // Starts argv with stdin from /dev/null, stdout+stderr appended to log_path, in a new session,
  // with the given cwd, umask and environment, and no inherited descriptors beyond 0-2.
  // invalid_argument for an empty argv; not_found when the program (or cwd) does not exist;
  // permission_denied / io when the log file cannot be opened or exec fails otherwise.
  virtual Expected<std::unique_ptr<Process>> launch(const LaunchSpec& spec) = 0;
};

// fork + exec (the child resets signals, setsid()s, applies umask/cwd/stdio, and marks every other
// descriptor close-on-exec). Uses a pidfd (pidfd_open) for waiting and signalling where the kernel
// has it, else waitpid/kill.
class PosixProcessLauncher final : public ProcessLauncher {
 public:
  Expected<std::unique_ptr<Process>> launch(const LaunchSpec& spec) override;
};

// The starttime field of /proc/<pid>/stat. not_found when no such process; io when the file
// cannot be parsed.
Expected<std::uint64_t> process_start_time(pid_t pid);

// One process of the host, as reconcile sees it.
struct ProcessInfo {
  pid_t pid = 0;
  std::uint64_t start_time = 0;   // as process_start_time
  std::vector<std::string> argv;  // /proc/<pid>/cmdline split at NUL
};

// Every process under proc_root (normally /proc) whose cmdline and start time could be read.
// Processes that exit while being listed, kernel threads (empty cmdline) and unreadable entries
// are skipped: the list is a snapshot, so act on an entry only through pid + start time.
std::vector<ProcessInfo> list_processes(const std::string& proc_root = "/proc");

// Ok when neither the passwd database knows uid nor the group database gid (getpwuid_r,
// getgrgid_r: files, LDAP, ... as nsswitch.conf says). failed_precondition naming the user or
// group that owns the id; io when a lookup itself fails.
Status check_ids_unused(std::uint32_t uid, std::uint32_t gid);

// True when pid is a live (not zombie) process with this start time. Works for processes that are
// not our children (reconcile after a daemon restart).
bool process_matches(pid_t pid, std::uint64_t start_time);

}  // namespace banger::sys
