// FirecrackerVmm: the Vmm backend for Firecracker (issue 13). Starts `firecracker --api-sock
// <sock> --id <vm id>` through the ProcessLauncher (detached, its own session, umask 077,
// output into the VM's console log through the capped writer), configures the machine over
// the API socket (the requests of api_requests.hpp, in order) and starts it. The agent is
// reached through Firecracker's vsock unix socket ("CONNECT <port>\n"). Firecracker exits when
// its guest powers off or reboots.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "banger/sys/process_launcher.hpp"
#include "banger/vmm/firecracker/api_requests.hpp"
#include "banger/vmm/firecracker/jail.hpp"
#include "banger/vmm/process_tracker.hpp"
#include "banger/vmm/vmm.hpp"

namespace banger::vmm::firecracker {

struct FirecrackerVmmDeps {
  sys::ProcessLauncher& launcher;
  JailStager& jails;  // used only with options.jailer.enabled
};

// Firecracker under its jailer (config jailer_enabled, jail.hpp).
struct JailerOptions {
  bool enabled = false;     // config jailer_enabled
  std::string binary;       // the `jailer` binary (config jailer_bin, resolved); "": not found
  std::string chroot_base;  // its --chroot-base-dir: <state dir>/jailer
};

struct FirecrackerVmmOptions {
  // config firecracker_bin, resolved. With the jailer it must be canonical (no symlink): its
  // file name names the jail directory, as the jailer computes it from the resolved path.
  std::string binary = "firecracker";
  JailerOptions jailer;
  std::chrono::milliseconds ready_timeout{std::chrono::seconds(10)};  // spawn -> API answers
  std::chrono::milliseconds api_timeout{std::chrono::seconds(5)};     // per API request
  std::chrono::milliseconds kill_timeout{std::chrono::seconds(5)};    // SIGKILL -> exit
  std::chrono::milliseconds signal_wait{std::chrono::seconds(5)};     // see QemuVmmOptions
  std::size_t log_tail_lines = 20;
  // As QemuVmmOptions::console_writer / console_max_bytes.
  std::vector<std::string> console_writer;
  std::int64_t console_max_bytes = std::int64_t{8} << 20;
};

class FirecrackerVmm final : public Vmm {
 public:
  FirecrackerVmm(FirecrackerVmmDeps deps, FirecrackerVmmOptions options);

  Backend backend() const override { return Backend::firecracker; }
  // <runtime>/<id>.fc (API socket), <runtime>/<id>.vsock (the vsock device's unix socket, which
  // carries the agent and the stream channels), no stream sockets, <vm dir>/console.log; under
  // the jailer the jail dir, into which both sockets are symlinks once launched.
  VmmPaths layout(const std::string& vm_id, const std::string& runtime_dir,
                  const std::string& vm_dir) const override;
  // The shared command line plus what Firecracker's guests want: reboot through the keyboard
  // controller (Firecracker exits on it), panic=1, no PCI bus.
  std::string kernel_cmdline(const CmdlineSpec& spec) const override;

  // As Vmm::launch. Also invalid_argument for what configuration_requests() refuses (a qcow2
  // disk, ...) and for a VM without a vsock CID (the agent needs the vsock device); the
  // configuration's fault_message when Firecracker refuses a request (it is killed then).
  // Under the jailer: the jail is staged first (plan_jail, JailStager::stage: their errors, a
  // daemon that is not root among them), then `jailer ... -- --api-sock /api.sock` is started
  // and told the jail's paths; the jail is removed again on failure.
  Expected<VmmHandle> launch(const VmConfig& config) override;
  // PUT /actions SendCtrlAltDel.
  Status request_shutdown(const VmmHandle& handle) override;
  Status stop(const VmmHandle& handle, std::chrono::milliseconds grace) override;
  Status kill(const VmmHandle& handle) override;
  Expected<bool> signal(const VmmHandle& handle, int signal) override;
  // GET /'s state: "Running" is running, "Paused" paused, anything else paused with the raw
  // state in detail ("Not started").
  Expected<VmmStatus> status(const VmmHandle& handle) override;
  bool alive(const VmmHandle& handle) override { return !processes_.exit_state(handle).exited; }
  AgentEndpoint agent_endpoint(const VmmHandle& handle) override;
  // agentproto::kStreamChannels connections to the vsock socket's stream port.
  std::vector<AgentEndpoint> stream_endpoints(const VmmHandle& handle,
                                              const VmmPaths& paths) override;
  // An argv with "--api-sock" followed by paths.control_socket, or, for a jail dir, a jailed
  // Firecracker of that jail (jailed_with).
  bool launched_with(const std::vector<std::string>& argv, const VmmPaths& paths) const override;
  // Its sockets (symlinks under the jailer) and its jail.
  void discard(const VmmHandle& handle, const VmmPaths& paths) override;
  // Under the jailer: removes every jail but running_vm_ids' (a crash or a failed cleanup left
  // them).
  void remove_leftovers(const std::vector<std::string>& running_vm_ids) override;

  const FirecrackerVmmOptions& options() const { return options_; }

 private:
  bool jailed() const { return options_.jailer.enabled; }
  // The jailer's <exec file name>: the file name of the (canonical) Firecracker binary.
  std::string exec_file_name() const;
  // Waits until the API socket answers GET /; the process's exit or the deadline fail it.
  Status wait_for_api(sys::Process& process, const VmConfig& config, std::int64_t log_offset);

  FirecrackerVmmDeps deps_;
  FirecrackerVmmOptions options_;
  ProcessTracker processes_{"firecracker"};
};

}  // namespace banger::vmm::firecracker
