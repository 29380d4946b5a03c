// VmHost: the external effects of running one VM, at the level the lifecycle asks for them
// (prepare, launch, wait until ready, shut down, release, destroy). VmService owns the state
// machine, locking and rollback order; MicrovmHost is the real implementation and
// FakeVmHost (tests) records what was asked.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "banger/agentclient/stream_channels.hpp"
#include "banger/agentproto/stream.hpp"
#include "banger/base/error.hpp"
#include "banger/base/fd.hpp"
#include "banger/base/progress.hpp"
#include "banger/model/vm.hpp"

namespace banger::vm {

// What prepare() decided; VmService copies it into the VM record.
struct Prepared {
  std::string kernel;  // resolved kernel name
  std::string tap;
  std::string guest_ip;
  std::string mac;
  std::string rootfs_strategy;
  std::string overlay_path;

  // Copies what was decided into the VM's record fields.
  void apply_to(model::Vm& vm) const {
    vm.kernel = kernel;
    vm.tap_name = tap;
    vm.guest_ip = guest_ip;
    vm.mac = mac;
    vm.rootfs_strategy = rootfs_strategy;
    vm.overlay_path = overlay_path;
  }
};

struct Launched {
  int pid = 0;
  std::uint64_t start_time = 0;
};

// Told the spawned VMM's pid + start time before launch() waits for it; an error makes launch()
// kill the VMM and fail with it.
using SpawnedFn = std::function<Status(const Launched&)>;

// What the guest agent says about itself (S8 `health`).
struct GuestHealth {
  double uptime_s = 0;
  std::string boot_id;
  std::string agent_version;
  std::string hostname;
};

// One listening socket in the guest (S8 `ports`), TCP ones probed from the host.
struct GuestPort {
  std::string proto;    // "tcp" or "udp"
  std::string family;   // "ipv4" or "ipv6"
  std::string address;  // bound address as the guest reports it ("0.0.0.0", "::", "127.0.0.1")
  int port = 0;
  int pid = 0;             // 0 when the owner is unknown
  std::string process;     // "" when the owner is unknown
  std::string scheme;      // "http" or "https" when the host's probe got such an answer, else ""
  bool reachable = false;  // bound to an address the host can reach (not loopback-only)
};

// A command for the guest agent's `exec` (S8).
struct GuestExec {
  std::vector<std::string> argv;
  std::map<std::string, std::string> env;
  std::string cwd;
  std::string stdin_data;
  double timeout_s = 0;  // 0 = none
  // Ends the wait for the reply (the RPC's caller hung up): the channel is not held for a
  // caller that is gone.
  base::CancelFn cancel;
};

struct GuestExecResult {
  int exit_code = 0;
  int signal = 0;
  bool timed_out = false;
  std::string stdout_data;
  std::string stderr_data;
  bool stdout_truncated = false;
  bool stderr_truncated = false;
};

// Host-side numbers for a running VM (`vm stats`).
struct VmUsage {
  // VMM process (100 = 1 core): since the last poll_usage() sample of this VMM, else over a
  // short window (kUsageWindow).
  double cpu_percent = 0;
  double cpu_seconds = 0;                 // VMM process user+system time since it started
  std::int64_t rss_bytes = 0;             // VMM process resident memory
  std::int64_t disk_allocated_bytes = 0;  // blocks the VM's files use on the host
  std::int64_t disk_apparent_bytes = 0;   // their apparent (sparse) size
};

// How ready start() waits for a VM to be (S8, S9). Images with an agent: the agent answers
// `health` and reports the guest sshd's host key, which is pinned from that authenticated
// channel (first boot) or checked against the pinned one; `ssh` also waits until the sshd
// sends its identification line. Images without an agent (and agents that predate the key
// report): sshd answers ssh-keyscan and its key is pinned/checked, at both levels.
enum class Readiness {
  agent,  // commands go through the agent next (`vm run -- cmd`): sshd is not waited for
  ssh,    // a user or tool connects with ssh next (the default)
};

class VmHost {
 public:
  virtual ~VmHost() = default;
  // Obtains the image and kernel (building/pulling known defaults on first use), creates or
  // refreshes the VM's disks and guest configuration, and attaches it to the network.
  // On error everything it attached is released again.
  virtual Expected<Prepared> prepare(const model::Vm& vm, const base::ProgressFn& progress,
                                     const base::CancelFn& cancel) = 0;
  // Whether vm's image and kernel exist or can be obtained on first use (a built-in recipe,
  // a catalog kernel), without obtaining them: create() asks before recording a VM, so a typo
  // leaves nothing behind. not_found naming the image or kernel and how to list or get one.
  virtual Status check_sources(const model::Vm& vm) = 0;
  // Starts the VMM for a prepared VM (the record carries the prepared fields). on_spawned (when
  // set) learns the VMM's pid + start time right after the spawn, before any wait, so the
  // caller can record them before a crash could lose them (security review M2).
  virtual Expected<Launched> launch(const model::Vm& vm, const SpawnedFn& on_spawned) = 0;
  // Waits until the VM is ready at the given level (see Readiness). timeout with the console
  // tail when it does not become ready in time; failed_precondition when the VMM exited or the
  // guest's host key differs from the pinned one.
  virtual Status wait_ready(const model::Vm& vm, Readiness readiness,
                            const base::CancelFn& cancel) = 0;
  // Guest sync + poweroff (agent, else ssh), then waits up to grace for the VMM to exit, then
  // kills it.
  virtual Status shutdown(const model::Vm& vm, std::chrono::seconds grace) = 0;
  // Kills the VMM at once.
  virtual Status kill(const model::Vm& vm) = 0;
  // `vm kill --signal`: sends signal to the VMM and waits a while for it to exit (Vmm::signal).
  // true when it is gone (also when it already was), false when it survived the signal.
  virtual Expected<bool> signal(const model::Vm& vm, int signal) = 0;
  // Closes the VM's port forwards (and their connections), removes its DNS record and NAT rules
  // and returns its TAP to the pool (the IP stays leased to the VM).
  virtual Status release(const model::Vm& vm) = 0;
  // Deletes everything the VM owns on the host: disks, sockets, its known_hosts entries and
  // its IP lease.
  virtual Status destroy(const model::Vm& vm) = 0;
  // True when the VM's VMM process is alive (same pid and start time).
  virtual bool alive(const model::Vm& vm) = 0;
  // A descriptor that becomes readable when the VM's VMM process (the recorded pid and start
  // time) exits: a pidfd, watched by VmmWatcher. not_running when that process is already gone;
  // unavailable where the kernel has no pidfd_open.
  virtual Expected<base::UniqueFd> vmm_exit_fd(const model::Vm& vm) = 0;
  // The last lines of the VM's console log ("" when there is none).
  virtual std::string console_tail(const model::Vm& vm, std::size_t lines) = 0;
  // Checks the running guest's ssh host key (the one its agent reports, else ssh-keyscan's)
  // against the pinned one, pinning it when none is (S9): the clear "host key ... changed"
  // failed_precondition when it differs. With the agent's key, also waits (30 s at most) until
  // sshd answers: a VM started with agent readiness may still be starting it.
  virtual Status verify_host_key(const model::Vm& vm) = 0;
  // Path of the console log.
  virtual std::string console_log_path(const model::Vm& vm) = 0;
  // At daemon start: rebuild host state (IP leases, TAPs in use, NAT rules, DNS records) from
  // every VM record.
  virtual Status reconcile(const std::vector<model::Vm>& vms) = 0;
  // Asks the running guest's agent for `health`: unavailable when the agent cannot be reached,
  // timeout when it does not answer.
  virtual Expected<GuestHealth> guest_health(const model::Vm& vm) = 0;
  // The running guest's listening sockets (agent `ports`), TCP ones probed for HTTP/HTTPS.
  virtual Expected<std::vector<GuestPort>> guest_ports(const model::Vm& vm) = 0;
  // Runs a command through the guest agent and waits for it (no ssh involved).
  virtual Expected<GuestExecResult> guest_exec(const model::Vm& vm, const GuestExec& command) = 0;
  // VMM process CPU and memory and the VM's disk usage on the host.
  virtual Expected<VmUsage> usage(const model::Vm& vm) = 0;
  // Records a CPU/RSS sample of each running VM's VMM (stats_poll_interval, UsagePoller) that
  // usage() measures CPU% from; forgets VMs not in running. The default records nothing.
  virtual void poll_usage(const std::vector<model::Vm>& running) { (void)running; }
  // Whether vm's CPUs are emulated (QEMU under TCG): its boot is CPU work, so VmService lets
  // only as many such boots run at once as the host has CPUs (BootGate).
  virtual bool emulates_cpus(const model::Vm& vm) {
    (void)vm;
    return false;
  }
  // Whether vm's image starts sshd (false for agent-only images: pulled ones). For messages;
  // wait_ready decides readiness itself.
  virtual bool starts_ssh(const model::Vm& vm) {
    (void)vm;
    return true;
  }
  // Turns outbound NAT on or off for a running VM (S7); the rules follow at once.
  virtual Status set_nat(const model::Vm& vm, bool enabled) = 0;
  // Forwards host TCP ports to the VM's guest_ip (docs/forwarding.md), all or nothing, and
  // returns them as bound (host_port 0 replaced by the port the host picked). invalid_argument
  // for an invalid forward or an address that is not the host's; already_exists "host port
  // 127.0.0.1:8080 is already in use"; permission_denied for a privileged port.
  virtual Expected<std::vector<model::PortForward>> add_forwards(
      const model::Vm& vm, const std::vector<model::PortForward>& forwards) = 0;
  // Closes the VM's forwards on these host address:ports (guest_port is ignored) and their
  // connections. not_found "no forward on 127.0.0.1:8080" (nothing closed) for one it lacks.
  virtual Status remove_forwards(const model::Vm& vm,
                                 const std::vector<model::PortForward>& forwards) = 0;
  // The VM's forwards as bound, ordered by host address and port.
  virtual std::vector<model::PortForward> forwards(const model::Vm& vm) = 0;
  // Opens a stream session on one of the running guest's stream channels (ADR 0009): the agent
  // has authenticated this host, started params.argv (the returned pid) and the session's
  // channel carries frames from now on (agentproto::pump_host_session). timeout covers waiting
  // for a free channel and the handshake. Errors as agentclient::StreamChannels::open
  // (unavailable "all 4 stream channels of vm X are busy", permission_denied, not_found for a
  // missing program, failed_precondition for an image without the agent or with an old one).
  virtual Expected<agentclient::StreamSession> open_stream(
      const model::Vm& vm, const agentproto::StreamExecParams& params,
      std::chrono::milliseconds timeout, const base::CancelFn& cancel) = 0;
};

}  // namespace banger::vm
