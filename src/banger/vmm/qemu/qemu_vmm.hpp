// QemuVmm: the Vmm backend for qemu-system-x86_64 -M microvm. Starts QEMU through the
// ProcessLauncher (detached, umask 077, console + QEMU's stderr into the VM log through the
// capped console writer) and
// controls it over QMP (one short connection per operation).
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <utility>

#include "banger/sys/process_launcher.hpp"
#include "banger/vmm/process_tracker.hpp"
#include "banger/vmm/qemu/argv.hpp"
#include "banger/vmm/vmm.hpp"

namespace banger::vmm::qemu {

struct QemuVmmDeps {
  sys::ProcessLauncher& launcher;
};

struct QemuVmmOptions {
  QemuHostCaps caps;                                                  // binary, vhost, kHz
  std::chrono::milliseconds ready_timeout{std::chrono::seconds(10)};  // spawn -> QMP answers
  std::chrono::milliseconds qmp_timeout{std::chrono::seconds(5)};     // per QMP operation
  std::chrono::milliseconds kill_timeout{std::chrono::seconds(5)};    // SIGKILL -> exit
  // signal(): how long a VMM sent another signal may take to exit before it counts as having
  // survived it (QEMU exits at once on SIGTERM, SIGINT and SIGHUP).
  std::chrono::milliseconds signal_wait{std::chrono::seconds(5)};
  std::size_t log_tail_lines = 20;  // lines of the VM log quoted in start-up errors
  // The program (argv prefix) that writes QEMU's output (serial console + diagnostics) into the
  // console log with a size cap; launch() appends "<console log path> <console_max_bytes>".
  // The daemon uses `bangerd --console-log`; empty: QEMU's output is appended to the log
  // directly, without a cap (unit tests with a fake launcher).
  std::vector<std::string> console_writer;
  std::int64_t console_max_bytes = std::int64_t{8} << 20;  // console.log and console.log.1 each
};

class QemuVmm final : public Vmm {
 public:
  QemuVmm(QemuVmmDeps deps, QemuVmmOptions options);

  Backend backend() const override { return Backend::qemu; }
  // <runtime>/<id>.qmp, <runtime>/<id>.agent, <runtime>/<id>.s0 .. .s3 (stream channels) and
  // <vm dir>/console.log.
  VmmPaths layout(const std::string& vm_id, const std::string& runtime_dir,
                  const std::string& vm_dir) const override;
  // The shared command line; QEMU's devices need nothing more (TCG's tsc arguments are added
  // to the argv by qemu_argv, where the accelerator is known).
  std::string kernel_cmdline(const CmdlineSpec& spec) const override;

  // As Vmm::launch. Also invalid_argument when a socket or log path is empty. Stale sockets at
  // the control and agent paths are removed first. Errors quote the log lines QEMU wrote during
  // this start (not older boots).
  Expected<VmmHandle> launch(const VmConfig& config) override;
  Status request_shutdown(const VmmHandle& handle) override;
  Status stop(const VmmHandle& handle, std::chrono::milliseconds grace) override;
  Status kill(const VmmHandle& handle) override;
  Expected<bool> signal(const VmmHandle& handle, int signal) override;
  // QMP "running" is running; every other live QEMU run state ("paused", "prelaunch",
  // "shutdown", ...) is paused, with the raw state in detail.
  Expected<VmmStatus> status(const VmmHandle& handle) override;
  bool alive(const VmmHandle& handle) override { return !processes_.exit_state(handle).exited; }
  AgentEndpoint agent_endpoint(const VmmHandle& handle) override;
  std::vector<AgentEndpoint> stream_endpoints(const VmmHandle& handle,
                                              const VmmPaths& paths) override;
  // A qemu-system-* argv with "-qmp" naming paths.control_socket as qemu_argv writes it.
  bool launched_with(const std::vector<std::string>& argv, const VmmPaths& paths) const override;
  // Its QMP, agent and stream sockets.
  void discard(const VmmHandle& handle, const VmmPaths& paths) override {
    remove_vmm_sockets(handle, paths.stream_sockets);
  }
  // Nothing: QEMU leaves nothing but sockets, which discard() and the next launch remove.
  void remove_leftovers(const std::vector<std::string>& /*running_vm_ids*/) override {}
  // The options it was built with (the daemon reads caps to configure the VM host).
  const QemuVmmOptions& options() const { return options_; }

 private:
  QemuVmmDeps deps_;
  QemuVmmOptions options_;
  ProcessTracker processes_{"qemu"};
};

}  // namespace banger::vmm::qemu
