// VmService: the VM records and their lifecycle (S4, S13): create, start, stop, restart,
// kill, delete, prune, set, and the daemon-start reconcile. Host effects go through VmHost.
#pragma once

#include <chrono>
#include <csignal>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "banger/base/clock.hpp"
#include "banger/base/error.hpp"
#include "banger/base/progress.hpp"
#include "banger/base/random.hpp"
#include "banger/model/vm.hpp"
#include "banger/store/vm_repository.hpp"
#include "banger/vm/boot_gate.hpp"
#include "banger/vm/console_log.hpp"
#include "banger/vm/lifecycle.hpp"
#include "banger/vm/vm_host.hpp"
#include "banger/vm/vm_locks.hpp"

namespace banger::vm {

// Owns: VM records in the `vms` table, their state transitions (check_transition) and the
//       per-VM locks that serialize operations on one VM.
// Does not own: the store itself, or anything on the host (VmHost does: images, kernels,
//       disks, TAPs, VMM processes).
// Thread-safety: all public methods may be called concurrently. Operations on one VM serialize
//       on its VmLocks entry; different VMs proceed in parallel. Name uniqueness is enforced
//       by the store, so concurrent creates of one name yield exactly one VM.
// What a workspace copy was made from (VmService::record_workspace).
struct WorkspaceRecord {
  std::string path;  // absolute host directory; "" clears the record
  std::string repo;
  std::string head;
  std::string branch;
};

// invalid_argument naming the first bad field of `workspace` (see record_workspace()).
Status validate_workspace_record(const WorkspaceRecord& workspace);

struct VmServiceDeps {
  store::VmRepository& vms;
  base::Clock& clock;
  base::Random& random;
  VmHost& host;
};

// Values fixed when the daemon starts.
struct VmServiceOptions {
  // What create() uses for what a CreateSpec leaves out: the config's defaults, with sizes
  // resolved once from the config and the host facts (config::resolve_vm_defaults).
  std::string default_image;
  std::string default_kernel;
  int default_vcpu = 1;
  std::int64_t default_memory_mib = 512;
  std::int64_t default_disk_size_mib = 4096;
  // The root disk's size ([vm_defaults] rootfs_overlay_size); 0 = the image rootfs's size.
  std::int64_t default_rootfs_overlay_size_mib = 0;
  // Largest stdout + stderr exec() returns (its reply must fit one RPC line); 0 = no limit.
  std::size_t max_exec_output_bytes = 0;
  // The backend new VMs get (policy::decide_vmm), and why VMs cannot be created under it
  // ("" = they can): create() fails with it as failed_precondition.
  model::VmmBackend default_vmm = model::VmmBackend::qemu;
  std::string vmm_refusal;
  // How many VMs whose host emulates their CPUs (VmHost::emulates_cpus: QEMU under TCG) boot at
  // once; the others wait for a slot (BootGate). 0 = no limit. The daemon uses the host's CPU
  // count.
  std::size_t emulated_boot_slots = 0;
};

// How long open_stream waits for a free stream channel and the agent's answer.
inline constexpr std::chrono::milliseconds kStreamOpenTimeout{30000};

// How long a stop waits for the guest to power off before killing the VMM (S13).
inline constexpr std::chrono::seconds kStopGrace{10};

// What `vm create` asks for; what is left out comes from VmServiceOptions.
struct CreateSpec {
  std::string name;    // empty: a generated unique adjective-noun name
  std::string image;   // empty: default_image
  std::string kernel;  // empty: default_kernel
  std::optional<int> vcpu;
  std::optional<std::int64_t> memory_mib;
  std::optional<std::int64_t> disk_size_mib;
  bool nat = false;
  // Chosen for this VM (the caller checked it can run); empty: default_vmm, refused with
  // vmm_refusal when that is set.
  std::optional<model::VmmBackend> vmm;
  std::vector<model::PortForward> publish;  // forwarded at every start (docs/forwarding.md)
};

// A running VM's port forward as `vm show` / `vm ports` report it.
struct VmForward {
  model::PortForward forward;  // as bound
  bool published = false;      // one of the VM's --publish forwards (re-made at every start)
};

// How a VMM process ended, as far as the daemon can tell: the exit code or the signal when the
// VMM was the daemon's own child (started by this daemon), neither after a daemon restart.
struct VmmExit {
  std::optional<int> exit_code;
  std::optional<int> signal;
};

// What `vm stats` reports for one running VM.
struct VmStats {
  model::Vm vm;
  VmUsage usage;
  std::optional<GuestHealth> guest;  // empty when the agent did not answer
};

// What `vm ports` reports for one of the VMs it was asked about.
struct VmPorts {
  std::string name;  // the VM's name; the name as asked when the VM was not found or failed
  Expected<std::vector<GuestPort>> ports;
};

// A window of a VM's console log (`vm logs`).
struct VmLogs {
  model::VmState state = model::VmState::created;
  ConsoleWindow window;
};

// A VM prune() left alone, and why.
struct PruneSkip {
  std::string id;
  std::string name;    // the id when the VM no longer exists
  std::string reason;  // e.g. "it is running now"
};

// What prune() deleted (or, with dry_run, would delete) and what it left alone.
struct PruneResult {
  std::vector<model::Vm> deleted;  // as re-read just before deleting
  std::vector<PruneSkip> skipped;
};

class VmService {
 public:
  explicit VmService(VmServiceDeps deps, VmServiceOptions options = {});

  // Records a new VM in state `created` with a random 16-hex id and created_at/touched_at from
  // the clock; the defaults fill what spec leaves out. failed_precondition with vmm_refusal;
  // invalid_argument for an invalid name or a
  // non-positive vcpu/memory/disk size; already_exists `vm "web" already exists` when the name is
  // taken; failed_precondition when no free name could be generated; not_found from
  // VmHost::check_sources when the image or kernel cannot be had (nothing is recorded then).
  Expected<model::Vm> create(const CreateSpec& spec);

  // All VMs ordered by created_at, then name.
  Expected<std::vector<model::Vm>> list();

  // The VM named exactly name_or_id; else the VM with that full id; else the only VM whose id
  // starts with it (4 or more hex characters). not_found `vm "x" not found`; invalid_argument
  // when an id prefix matches several VMs.
  Expected<model::Vm> show(const std::string& name_or_id);

  // Deletes the VM's record, under its per-VM lock. not_found as show(); failed_precondition
  // `removing vm "web": cannot remove vm in state running: stop it first` for active VMs.
  // Removing vms/<id> is not done here yet.
  Status remove(const std::string& name_or_id);
  // Resolves every name first (so a typo deletes nothing: show()'s errors), then removes each
  // VM in order and returns their names. invalid_argument for no names; remove()'s errors stop
  // at the first failing VM (the ones before it are gone).
  Expected<std::vector<std::string>> remove(const std::vector<std::string>& names_or_ids);

  // Boots a created/stopped/error VM: prepare (image, kernel, disks, network, DNS record, NAT),
  // launch, wait until the VM is ready at `readiness` (VmHost::wait_ready: the agent answers and
  // the host key is pinned; with Readiness::ssh also sshd answers). On failure everything started
  // is rolled back in reverse order and the VM is left in `error` with the reason (and the
  // console tail) in last_error; the error is returned. failed_precondition in other states.
  Expected<model::Vm> start(const std::string& name_or_id, const base::ProgressFn& progress = {},
                            const base::CancelFn& cancel = {},
                            Readiness readiness = Readiness::ssh);
  // Guest sync + poweroff, kill after the grace period, release the TAP: running -> stopped.
  Expected<model::Vm> stop(const std::string& name_or_id, std::chrono::seconds grace = kStopGrace);
  // stop (when running) then start.
  Expected<model::Vm> restart(const std::string& name_or_id, const base::ProgressFn& progress = {},
                              const base::CancelFn& cancel = {});
  // Kills the VMM at once and releases the TAP: starting/running/stopping -> stopped. With a
  // signal other than SIGKILL (one of api::signal_names(), checked by the caller) the VMM is sent
  // that signal instead (VmHost::signal): when it exits from it, the VM is released and stopped
  // exactly as by SIGKILL; when it survives it, the VM keeps running and the record is returned
  // unchanged (state running), so the caller can say so.
  Expected<model::Vm> kill(const std::string& name_or_id, int signal = SIGKILL);
  // Changes sizing (applies at next start) and NAT. failed_precondition while starting/stopping.
  Expected<model::Vm> set(const std::string& name_or_id, std::optional<int> vcpu,
                          std::optional<std::int64_t> memory_mib, std::optional<bool> nat);
  // Deletes idle VMs (created, stopped, error): exactly those of only_ids when given (the set a
  // dry run showed and the user confirmed), else every VM idle when listed. Each one is
  // re-read under its lock and deleted only if it is still idle; a VM that became active or
  // disappeared meanwhile is skipped with the reason, never killed. dry_run deletes nothing
  // (and takes no locks). invalid_argument naming the value for an id that is not 16 hex
  // digits; a failed delete stops the prune with its error (the VMs before it are gone).
  Expected<PruneResult> prune(bool dry_run,
                              const std::optional<std::vector<std::string>>& only_ids = {});
  // Marks ssh/exec/run/ports use (touched_at).
  Status touch(const std::string& name_or_id);
  // Records what the CLI just copied into the VM's /root/repo (vm_workspace.cpp): any state but
  // starting/stopping; prepared_at is now. invalid_argument naming the field for a relative
  // path, a repo name outside [A-Za-z0-9._-], a head that is not a full hex commit id or a
  // branch with control characters (each at most 255 bytes; workspace paths at most 4096). An
  // empty path clears the workspace.
  Expected<model::Vm> record_workspace(const std::string& name_or_id,
                                       const WorkspaceRecord& workspace);
  // Checks a running VM's ssh host key against the pinned one (VmHost::verify_host_key).
  Status verify_host_key(const std::string& name_or_id);
  // The VM's console log path.
  Expected<std::string> console_log_path(const std::string& name_or_id);
  // The VM's state and a window of its console log (read_console(): offset < 0 counts back
  // from the end, max_bytes is clamped to kMaxConsoleRead). not_found as show().
  Expected<VmLogs> logs(const std::string& name_or_id, std::int64_t offset, std::int64_t max_bytes);
  // The VM by name or id (as show()), when it is running; not_running
  // `vm "web" is stopped: start it with banger vm start web` otherwise.
  Expected<model::Vm> running(const std::string& name_or_id);
  // The running VM's agent health. not_running (with the start command) when the VM is not
  // running; the agent's unavailable/timeout otherwise.
  Expected<GuestHealth> health(const std::string& name_or_id);
  // The running VM's listening sockets (S8); marks the VM touched. not_running as health().
  Expected<std::vector<GuestPort>> ports(const std::string& name_or_id);
  // ports() for each name, concurrently (vm::for_each): one entry per name in order, each with
  // its own result (one VM failing does not hide the others). invalid_argument for no names.
  Expected<std::vector<VmPorts>> ports(const std::vector<std::string>& names_or_ids);
  // Runs command in the running VM through its agent; marks the VM touched. not_running as
  // health(); invalid_argument for an empty argv; the agent's errors (not_found naming a
  // program that does not exist in the guest) otherwise; failed_precondition naming the size
  // when stdout + stderr exceed max_exec_output_bytes (the reply could not be sent).
  Expected<GuestExecResult> exec(const std::string& name_or_id, const GuestExec& command);
  // Starts a command on one of the running VM's agent stream channels and returns the
  // connected channel (the caller pumps its frames; ADR 0009); marks the VM touched.
  // not_running as health(); invalid_argument for an empty argv; the host's errors
  // (VmHost::open_stream: all channels busy past kStreamOpenTimeout, an old agent, a missing
  // program) otherwise.
  Expected<agentclient::StreamSession> open_stream(const std::string& name_or_id,
                                                   const agentproto::StreamExecParams& params,
                                                   const base::CancelFn& cancel = {});
  // VMM CPU/RSS, disk usage and (when the agent answers) guest uptime. not_running as health().
  Expected<VmStats> stats(const std::string& name_or_id);
  // stats() for each name, concurrently (vm::for_each); no names means every running VM. The
  // first failure in name order fails the whole call.
  Expected<std::vector<VmStats>> stats(const std::vector<std::string>& names_or_ids);
  // Stops every running VM whose touched_at is `after` or more in the past (S13
  // auto_stop_stale_after; after <= 0 stops nothing). Returns the names it stopped; a VM
  // touched while the sweep runs is left alone. Failures are logged and skipped.
  std::vector<std::string> stop_stale(std::chrono::seconds after);
  // Hands every running VM to VmHost::poll_usage (stats_poll_interval; UsagePoller). A failed
  // listing is logged and skipped.
  void poll_usage();
  // A running VM's VMM exited without anyone asking (VmmWatcher saw its pidfd). Under the VM's
  // lock: when the record still names that process (pid and start time) and it is gone, the
  // VM's TAP, DNS record and NAT rules are released and the VM moves to `stopped`
  // (guest_poweroff: exit code 0 and no kernel panic in the console tail) or else to `error`
  // (crash) with how it ended and the console tail in last_error. Does nothing when the
  // record has moved on (stopped, restarted, deleted) or the process is still alive.
  Status vmm_exited(const std::string& vm_id, int pid, std::uint64_t start_time,
                    const VmmExit& how);
  // Forwards host ports to the running VM (`vm forward`; docs/forwarding.md) until it stops;
  // not persisted (`--publish` is). Returns them as bound. not_running as health();
  // invalid_argument from model::validate_port_forwards (also when the VM would have more than
  // model::kMaxForwardsPerVm); VmHost::add_forwards' errors (already_exists naming a taken host
  // address:port; nothing is bound then).
  Expected<std::vector<model::PortForward>> forward(
      const std::string& name_or_id, const std::vector<model::PortForward>& forwards);
  // Closes the running VM's forwards on these host address:ports (a published one comes back
  // at the next start). not_running as health(); not_found "no forward on 127.0.0.1:8080".
  Status unforward(const std::string& name_or_id, const std::vector<model::PortForward>& forwards);
  // The VM's forwards as bound (none unless it is running), published ones marked.
  Expected<std::vector<VmForward>> forwards(const model::Vm& vm);

  // Daemon start: VMs recorded as starting/running/stopping whose VMM is gone become
  // `stopped`; the host rebuilds leases and TAPs from the live set (S13); the published ports
  // of the running VMs are forwarded again (a port taken meanwhile is logged and skipped).
  Status reconcile();

 private:
  Expected<std::string> pick_name(const CreateSpec& spec);
  // Fails when the output cannot travel in one reply (max_exec_output_bytes).
  Status check_exec_output(const GuestExecResult& result) const;
  Expected<model::Vm> reread(const model::Vm& found, const std::string& name_or_id);
  // Moves the record to the event's state (and persists it); failed_precondition otherwise.
  Status transition(model::Vm& vm, VmEvent event, const std::string& doing);
  Expected<model::Vm> stop_locked(model::Vm vm, std::chrono::seconds grace);
  Expected<model::Vm> kill_locked(model::Vm vm, int signal = SIGKILL);
  // Deletes the VM (host state, then the record); it must be idle and its lock held.
  Status destroy_locked(const model::Vm& vm);
  // reconcile(): forwards the published ports of the running VMs again (the forwards died with
  // the previous daemon).
  void reforward_published(const std::vector<model::Vm>& vms);

  VmServiceDeps deps_;
  VmServiceOptions options_;
  VmLocks locks_;
  BootGate boot_gate_{options_.emulated_boot_slots};
};

}  // namespace banger::vm
