// What every process-based backend (QEMU, Firecracker) needs around its VMM processes: the
// children it launched, kept by pid + start time; exit states, waits and signals that trust a
// pid only while its start time still matches (a daemon restart loses the child objects); and
// the start-up helpers for stale sockets and the console log's tail.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "banger/base/error.hpp"
#include "banger/sys/process_launcher.hpp"
#include "banger/vmm/vmm.hpp"

namespace banger::vmm {

// Thread-safety: every method may be called concurrently.
class ProcessTracker {
 public:
  // vmm_name ("qemu", "firecracker") names the process in messages.
  explicit ProcessTracker(std::string vmm_name) : vmm_name_(std::move(vmm_name)) {}

  // Remembers process as the VMM of handle (after a successful launch).
  void adopt(const VmmHandle& handle, std::shared_ptr<sys::Process> process);

  struct ExitState {
    bool exited = false;
    std::optional<int> code;  // known for our own children only
  };
  // Whether the VMM of handle has exited: our own child is asked (never blocks); any other
  // pid counts as exited once it no longer matches handle's start time.
  ExitState exit_state(const VmmHandle& handle);
  // Waits up to timeout for the VMM to exit; true when it has.
  bool wait_exit(const VmmHandle& handle, std::chrono::milliseconds timeout);
  // Sends sig to the VMM; nothing when it is gone or the pid names another process now.
  Status send_signal(const VmmHandle& handle, int sig);
  // SIGKILL, then waits up to timeout. timeout error when it survives.
  Status kill(const VmmHandle& handle, std::chrono::milliseconds timeout);
  // Vmm::signal: SIGKILL is kill(); another signal is sent, and true when the VMM exits within
  // wait (also when it already had).
  Expected<bool> signal(const VmmHandle& handle, int signal, std::chrono::milliseconds kill_timeout,
                        std::chrono::milliseconds wait);

 private:
  using Key = std::pair<pid_t, std::uint64_t>;
  // Our own child for handle, or nullptr (e.g. after a restart).
  std::shared_ptr<sys::Process> child(const VmmHandle& handle);

  std::string vmm_name_;
  std::mutex mutex_;
  std::map<Key, std::shared_ptr<sys::Process>> children_;
};

// invalid_argument `vm config: <field> must be set` unless config names its control socket,
// agent socket and console log.
Status require_vmm_paths(const VmConfig& config);

// How a VMM process is started: argv in config.run_dir with umask 077, its output appended to
// the console log, through console_writer (argv prefix; "<log> <max_bytes>" appended) when it
// is not empty.
sys::LaunchSpec vmm_launch_spec(std::vector<std::string> argv, const VmConfig& config,
                                const std::vector<std::string>& console_writer,
                                std::int64_t console_max_bytes);

// Size of the file at path, 0 when it cannot be read.
std::int64_t file_size(const std::string& path);
// The last lines the VMM wrote to its log since offset, trimmed; empty when none. Reads at most
// 64 KiB from the end (security review M10).
std::string log_tail(const std::string& path, std::int64_t offset, std::size_t lines);
// " (status N)" / " (killed by signal N)" for an exit code, "" when unknown.
std::string describe_exit(std::optional<int> code);
// Removes a socket file a previous VMM left behind (a missing one is fine).
Status remove_stale_socket(const std::string& path);
// After the VMM of handle is gone: removes its control and agent sockets and `more` (a VMM
// killed with SIGKILL cannot remove them itself); failures are logged.
void remove_vmm_sockets(const VmmHandle& handle, const std::vector<std::string>& more = {});

}  // namespace banger::vmm
