// MicrovmHost: the real VmHost. Images and kernels from imagecat/kernelcat (built or pulled on
// first use), disks from vmstorage (per-VM root overlay + work disk carrying the guest
// configuration), networking from hostnat, the VMM from vmm, readiness from guest (ssh with
// the host key pinned in banger's known_hosts), the guest agent for readiness, stop, health and
// ports, DNS records and NAT rules as VMs start and stop.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>

#include "banger/agentclient/agent_client.hpp"
#include "banger/agentclient/stream_channels.hpp"
#include "banger/base/clock.hpp"
#include "banger/config/config.hpp"
#include "banger/dns/dns_service.hpp"
#include "banger/forward/tcp_forwarder.hpp"
#include "banger/guest/known_hosts.hpp"
#include "banger/hostnat/nat_service.hpp"
#include "banger/hostnat/network_service.hpp"
#include "banger/imagecat/image_service.hpp"
#include "banger/kernelcat/kernel_service.hpp"
#include "banger/paths/paths.hpp"
#include "banger/sys/command_runner.hpp"
#include "banger/sys/proc_stats.hpp"
#include "banger/sys/process_launcher.hpp"
#include "banger/vm/vm_host.hpp"
#include "banger/vmm/vmm.hpp"
#include "banger/vmstorage/file_sync.hpp"
#include "banger/vmstorage/strategy.hpp"

namespace banger::vm {

struct MicrovmHostDeps {
  sys::CommandRunner& runner;
  base::Clock& clock;
  const paths::Paths& paths;
  const config::Config& config;
  hostnat::NetworkService& network;
  imagecat::ImageService& images;
  kernelcat::KernelService& kernels;
  const vmm::VmmRegistry& vmms;  // the Vmm of each backend; a VM uses the one in its record
  guest::KnownHosts& known_hosts;
  dns::DnsService& dns;              // <name>.vm records follow start/stop; the guest resolver
  hostnat::NatService& nat;          // per-VM outbound NAT rules
  forward::TcpForwarder& forwarder;  // host ports forwarded to guests (owner: the VM id)
  // CPU ticks and RSS of a VMM process (sys::sample_process on the real host; tests fake it,
  // since fake VMMs have fake pids).
  std::function<Expected<sys::ProcessSample>(pid_t)> sample_process;
  // The host's processes, for reconcile's search of unrecorded VMMs (tests fake it).
  std::function<std::vector<sys::ProcessInfo>()> list_processes = [] {
    return sys::list_processes();
  };
  // Whether a uid/gid is free of passwd/group entries (tests fake it).
  std::function<Status(std::uint32_t, std::uint32_t)> check_ids_unused = sys::check_ids_unused;
};

struct MicrovmHostOptions {
  vmm::Accel accel = vmm::Accel::tcg;  // decided once from policy::decide_kvm
  // The root disk of new QEMU VMs, and of new Firecracker VMs (raw files only: no qcow2).
  vmstorage::RootfsStrategy rootfs_strategy = vmstorage::RootfsStrategy::sparse_copy;
  vmstorage::RootfsStrategy raw_rootfs_strategy = vmstorage::RootfsStrategy::sparse_copy;
  std::chrono::seconds boot_timeout{180};  // VMM start -> ssh answers (TCG is slow)
  // QEMU gives guests a vsock device (caps.vhost_vsock); Firecracker guests always have one.
  bool vhost_vsock = false;
  // Root daemon: every VMM switches to its VM's unprivileged id (vmm::vmm_id_for_ip) after
  // opening its files (security review M8), and the work disk is edited as that id (M11);
  // docs/decisions/0013.
  bool drop_vmm_privileges = false;
  // Test-only fault point (BANGER_TEST_FAULT=after-vmm-spawn): the daemon SIGKILLs itself right
  // after spawning a VMM, before anything is recorded.
  bool test_fault_after_vmm_spawn = false;
};

// Owns: the per-VM files under vms/<id>/ and the VM sockets in the runtime dir.
// Does not own: VM records (VmService), images, kernels, the bridge and TAP pool.
// Thread-safety: all methods may be called concurrently for different VMs; VmService
// serializes calls for one VM.
// usage() without a recent poll_usage() sample: CPU% over this window (keeps `vm stats`
// snappy and the number meaningful).
inline constexpr std::chrono::milliseconds kUsageWindow{250};
// A poll_usage() sample younger than this is too close to now for a CPU% (usage() samples
// its own window instead).
inline constexpr std::chrono::milliseconds kMinPolledWindow{1000};

class MicrovmHost final : public VmHost {
 public:
  MicrovmHost(MicrovmHostDeps deps, MicrovmHostOptions options);

  Expected<Prepared> prepare(const model::Vm& vm, const base::ProgressFn& progress,
                             const base::CancelFn& cancel) override;
  // Also: with drop_vmm_privileges the VMM runs as vmm_id_for_ip(guest_ip) for uid and gid;
  // failed_precondition when that id has a passwd or group entry.
  Expected<Launched> launch(const model::Vm& vm, const SpawnedFn& on_spawned) override;
  Status check_sources(const model::Vm& vm) override;
  Status wait_ready(const model::Vm& vm, Readiness readiness,
                    const base::CancelFn& cancel) override;
  Status shutdown(const model::Vm& vm, std::chrono::seconds grace) override;
  Status kill(const model::Vm& vm) override;
  Expected<bool> signal(const model::Vm& vm, int signal) override;
  Status release(const model::Vm& vm) override;
  Status destroy(const model::Vm& vm) override;
  bool alive(const model::Vm& vm) override;
  Expected<base::UniqueFd> vmm_exit_fd(const model::Vm& vm) override;
  std::string console_tail(const model::Vm& vm, std::size_t lines) override;
  std::string console_log_path(const model::Vm& vm) override;
  Status verify_host_key(const model::Vm& vm) override;
  // Also kills every VMM process that is launched for one of vms (Vmm::launched_with) but not
  // held by its record (a running VM's pid + start time), before the TAP pool is reconciled.
  Status reconcile(const std::vector<model::Vm>& vms) override;
  Expected<GuestHealth> guest_health(const model::Vm& vm) override;
  Expected<std::vector<GuestPort>> guest_ports(const model::Vm& vm) override;
  Expected<GuestExecResult> guest_exec(const model::Vm& vm, const GuestExec& command) override;
  // CPU% since the sample poll_usage() last recorded for this VMM (same pid and start time)
  // when it is at least kMinPolledWindow old; else over kUsageWindow (sleeps that long).
  Expected<VmUsage> usage(const model::Vm& vm) override;
  void poll_usage(const std::vector<model::Vm>& running) override;
  // model::Image::ssh of vm's image; true when the image is unknown.
  bool starts_ssh(const model::Vm& vm) override;
  // QEMU VMs under TCG (Firecracker always runs on KVM).
  bool emulates_cpus(const model::Vm& vm) override {
    return vm.vmm == model::VmmBackend::qemu && options_.accel == vmm::Accel::tcg;
  }
  Status set_nat(const model::Vm& vm, bool enabled) override;
  Expected<std::vector<model::PortForward>> add_forwards(
      const model::Vm& vm, const std::vector<model::PortForward>& forwards) override;
  Status remove_forwards(const model::Vm& vm,
                         const std::vector<model::PortForward>& forwards) override;
  std::vector<model::PortForward> forwards(const model::Vm& vm) override;
  // Stream channels from the backend's stream_endpoints (QEMU: the <runtime>/<id>.s<n> sockets,
  // or vsock port 1025), one StreamChannels per VM (its channel leases), with the VM's token.
  Expected<agentclient::StreamSession> open_stream(const model::Vm& vm,
                                                   const agentproto::StreamExecParams& params,
                                                   std::chrono::milliseconds timeout,
                                                   const base::CancelFn& cancel) override;

 private:
  // The VM's backend (from its record) and the handle of its VMM (pid and start time from the
  // record, paths from the backend's layout). failed_precondition when no such backend runs.
  struct Driver {
    vmm::Vmm& vmm;
    vmm::VmmHandle handle;
    vmm::VmmPaths paths;  // the backend's layout for the VM
  };
  Expected<Driver> driver_of(const model::Vm& vm) const;
  // Creates the VM's root disk (the recorded strategy, else options_.rootfs_strategy) unless
  // it exists, and creates or refreshes its work disk with the guest configuration for
  // attachment, with the [[file_sync]] files of sync. Returns the strategy; errors are
  // vmstorage's.
  Expected<vmstorage::RootfsStrategy> prepare_disks(const model::Vm& vm,
                                                    const std::string& base_rootfs,
                                                    const hostnat::Attachment& attachment,
                                                    const std::string& public_key,
                                                    const std::string& agent_token,
                                                    const vmstorage::FileSyncPlan& sync);
  // The unprivileged uid:gid of the VM at guest_ip (vmm::vmm_id_for_ip): its VMM and the edits
  // of its work disk run as it. failed_precondition without an address or when the id has a
  // passwd/group entry.
  Expected<std::pair<std::uint32_t, std::uint32_t>> unprivileged_ids(
      const std::string& vm_name, const std::string& guest_ip) const;
  // The uid:gid vm's VMM drops to; nullopt when options_.drop_vmm_privileges is off.
  Expected<std::optional<std::pair<std::uint32_t, std::uint32_t>>> vmm_ids(
      const model::Vm& vm) const;
  // Kills VMMs of vms that no record holds (logged; a failure is logged too).
  void kill_unrecorded_vmms(const std::vector<model::Vm>& vms);
  // The VmConfig that boots vm under driver.
  Expected<vmm::VmConfig> vm_config(const model::Vm& vm, const Driver& driver);
  // The VM's agent client (one per VM and endpoint, reused: it serializes calls on the one
  // channel QEMU's chardev offers), with the token of vms/<id>/agent.token; prepare() makes a
  // new token and forgets the client.
  Expected<std::shared_ptr<agentclient::AgentClient>> agent_for(const model::Vm& vm);
  // Also forgets the VM's StreamChannels (leases still out keep their own slot state).
  void forget_agent(const model::Vm& vm);
  // The VM's stream channels (one per VM, made with the current token on first use).
  Expected<std::shared_ptr<agentclient::StreamChannels>> streams_for(const model::Vm& vm);
  // Whether the VM's image carries /usr/local/bin/banger-agent (every built image does; a
  // registered one may not, and then readiness and stop fall back to ssh). Cached per image.
  bool image_has_agent(const model::Vm& vm);
  // agent_for(vm), or failed_precondition naming the image when it has no agent.
  Expected<std::shared_ptr<agentclient::AgentClient>> require_agent(const model::Vm& vm);
  // failed_precondition "the VM exited during boot" with the console tail.
  Error exited_during_boot(const model::Vm& vm);
  // Waits for the agent's first health answer (the first step of readiness); vmm_exited is set
  // by stop_waiting when the VMM died.
  Expected<agentproto::HealthResult> wait_for_agent(const model::Vm& vm,
                                                    std::chrono::steady_clock::time_point deadline,
                                                    const base::CancelFn& stop_waiting,
                                                    const bool& vmm_exited);
  // Pins (first boot) or checks the host key the agent reported ("" = not made yet: polls
  // health until it is, up to deadline). invalid_argument for a key that is not
  // "ssh-ed25519 <base64>"; failed_precondition when it differs from the pinned one.
  Status pin_reported_host_key(const model::Vm& vm, std::string reported,
                               std::chrono::steady_clock::time_point deadline,
                               const base::CancelFn& stop_waiting, const bool& vmm_exited);
  // The console's last 20 lines for error messages (which reach bangerd.log and the user):
  // escaped, each cut to a bound and quoted with "  | " (L10: the guest writes the console).
  std::string quoted_console_tail(const model::Vm& vm);
  // Best-effort guest sync + poweroff over SSH, when the agent does not answer.
  void ssh_poweroff(const model::Vm& vm);
  // DNS record and (when vm.nat) NAT rules for a VM attached at ip via tap.
  Status publish(const model::Vm& vm, const std::string& ip, const std::string& tap);
  // Removes what publish() made; failures are logged.
  void unpublish(const model::Vm& vm);
  // The kernel a VM boots: its own, else its image's unless that is kDefaultKernel, else (for
  // an image without one) the configured default_kernel, else the newest `kernel build`
  // kernel, else kDefaultKernel.
  std::string kernel_name_for(const model::Vm& vm, const std::string& image_kernel_ref) const;
  // The stored image (kernel); nullopt when none is stored but a built-in recipe (a catalog
  // entry) makes one on first use; not_found naming it and the command that lists or gets one.
  Expected<std::optional<model::Image>> find_image(const std::string& name);
  Expected<std::optional<model::Kernel>> find_kernel(const std::string& name);
  // What find_image/find_kernel return, built or pulled when it is not stored yet.
  Expected<model::Image> obtain_image(const std::string& name, const base::ProgressFn& progress,
                                      const base::CancelFn& cancel);
  Expected<model::Kernel> obtain_kernel(const std::string& name, const base::ProgressFn& progress,
                                        const base::CancelFn& cancel);

  MicrovmHostDeps deps_;
  MicrovmHostOptions options_;
  std::mutex obtain_mutex_;  // one first-use build/pull at a time (several VMs may ask)
  // poll_usage()'s last sample per VM id.
  struct PolledSample {
    int pid = 0;
    std::uint64_t start_time = 0;
    std::chrono::steady_clock::time_point at;
    sys::ProcessSample sample;
  };
  std::mutex samples_mutex_;
  std::map<std::string, PolledSample> samples_;
  std::mutex agents_mutex_;
  std::map<std::string, std::shared_ptr<agentclient::AgentClient>> agents_;      // by VM id
  std::map<std::string, std::shared_ptr<agentclient::StreamChannels>> streams_;  // by VM id
  std::map<std::string, bool> image_has_agent_;  // by "<rootfs path>@<created_at>"
};

}  // namespace banger::vm
