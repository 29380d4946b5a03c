// The Vmm interface: one per backend (QEMU microvm now, Firecracker later). The backend names a
// VM's sockets (layout()) and completes its kernel command line; launch() boots a VmConfig. The
// VM record keeps the backend, pid and start time, from which the host rebuilds the VmmHandle.
#pragma once

#include <sys/types.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "banger/base/error.hpp"
#include "banger/model/vmm_backend.hpp"
#include "banger/vmm/kernel_cmdline.hpp"

namespace banger::vmm {

// The backends and disk formats (one enum each, defined with the VM record).
using Backend = model::VmmBackend;
using DiskFormat = model::DiskFormat;

enum class Accel { kvm, tcg };

struct DiskConfig {
  std::string path;
  DiskFormat format = DiskFormat::raw;
  bool read_only = false;
};

struct VmmHandle;

// Everything a backend needs to boot one VM. Paths are absolute; sockets must fit sun_path.
struct VmConfig {
  std::string vm_id;
  std::string name;
  int vcpu = 1;
  std::int64_t memory_mib = 256;
  std::string kernel_path;
  std::optional<std::string> initrd_path;
  std::string kernel_cmdline;  // complete, from Vmm::kernel_cmdline(); QEMU appends TCG tsc args
  DiskConfig root_disk;        // /dev/vda
  std::optional<DiskConfig> work_disk;  // /dev/vdb, mounted at /root
  std::string tap_name;                 // empty: no network device
  std::string mac;                      // "52:54:00:..", with tap_name
  std::string agent_socket_path;        // QEMU: virtio-serial unix socket; Firecracker: vsock UDS
  // QEMU: the unix socket of each stream channel's virtio-serial port org.banger.stream.<n>
  // (ADR 0009), agentproto::kStreamChannels of them; empty: no stream ports.
  std::vector<std::string> stream_socket_paths;
  std::uint32_t vsock_cid =
      0;  // guest CID for a vsock device (QEMU: only with vhost-vsock); 0: none
  std::string control_socket_path;  // QEMU: QMP socket; Firecracker: API socket
  std::string console_log_path;     // serial console and the VMM's own stdout/stderr (appended)
  std::string run_dir;              // the VMM's working directory; empty: inherit
  Accel accel = Accel::tcg;         // decided by the caller (policy::decide_kvm)
  // The unprivileged uid:gid the VMM switches to once it has opened its TAP, disks, console and
  // sockets (QEMU -runas); nullopt: it keeps the daemon's ids (a daemon that is not root).
  std::optional<std::pair<std::uint32_t, std::uint32_t>> run_as;
  // Called by launch() with the spawned VMM's handle right after the spawn, before launch waits
  // for anything, so the caller can record pid + start time before a crash could lose them
  // (security review M2). An error makes launch() kill the VMM and fail with that error.
  std::function<Status(const VmmHandle&)> on_spawned;
};

// Identifies a launched VMM across daemon restarts; stored in the VM record.
struct VmmHandle {
  Backend backend = Backend::qemu;  // the driver that launched it
  pid_t pid = 0;
  std::uint64_t start_time = 0;  // /proc/<pid>/stat starttime: guards against pid reuse
  std::string control_socket;
  std::string console_log;
  std::string agent_socket;
  std::uint32_t vsock_cid = 0;  // the guest's vsock CID when it has a vsock device, else 0
  std::string jail_dir;  // Firecracker under the jailer: its jail (VmmPaths::jail_dir), else ""

  bool operator==(const VmmHandle&) const = default;
};

enum class VmmState { running, paused, exited };

struct VmmStatus {
  VmmState state = VmmState::exited;
  std::optional<int> exit_code;  // when exited and the status is known (our own child)
  std::string detail;            // backend's raw state ("running", "prelaunch", "shutdown", ...)
};

// How the host reaches the guest agent.
struct AgentEndpoint {
  enum class Kind {
    virtio_serial_unix,     // QEMU: a unix socket that is the guest's virtio-serial port
    firecracker_vsock_uds,  // Firecracker: unix socket, "CONNECT <port>\n" handshake
    af_vsock,               // kernel vhost-vsock: cid + port (never connect() on these hosts)
  };
  Kind kind = Kind::virtio_serial_unix;
  std::string path;
  std::uint32_t cid = 0;
  std::uint32_t port = 0;

  bool operator==(const AgentEndpoint&) const = default;
};

// Where a VM's VMM-owned files live. The backend names them; the VM host passes them to launch()
// and rebuilds the VmmHandle from them after a restart.
struct VmmPaths {
  std::string control_socket;  // QEMU: <runtime>/<id>.qmp (QMP); Firecracker: its API socket
  std::string agent_socket;    // QEMU: <runtime>/<id>.agent (virtio-serial); Firecracker: vsock UDS
  // QEMU: <runtime>/<id>.s<n> for each stream channel n (virtio-serial org.banger.stream.<n>);
  // empty for a backend whose stream channels are vsock connections.
  std::vector<std::string> stream_sockets;
  std::string console_log;  // <vm dir>/console.log: serial console plus the VMM's own output
  // Firecracker under the jailer: <chroot base>/<exec file name>/<vm id>, the jail the jailer
  // builds (control_socket and agent_socket are symlinks into it); "" otherwise.
  std::string jail_dir;

  bool operator==(const VmmPaths&) const = default;
};

class Vmm {
 public:
  virtual ~Vmm() = default;

  // Which backend this is (stored in VM records and VmmHandle::backend).
  virtual Backend backend() const = 0;
  // The paths of vm_id's sockets (under runtime_dir, which keeps them short enough for
  // sun_path) and console log (under vm_dir). Pure.
  virtual VmmPaths layout(const std::string& vm_id, const std::string& runtime_dir,
                          const std::string& vm_dir) const = 0;
  // The guest kernel command line for spec: the shared arguments (vmm::kernel_cmdline) plus
  // what this backend's devices need. Pure.
  virtual std::string kernel_cmdline(const CmdlineSpec& spec) const = 0;

  // Starts the VMM and returns once its control channel answers. not_found when the VMM binary
  // is missing; command_failed when it exits during start-up (the message carries the tail of
  // its log); timeout when it never answers (it is killed). Nothing is left running on failure.
  virtual Expected<VmmHandle> launch(const VmConfig& config) = 0;
  // Asks the guest to power off (ACPI) and returns without waiting. not_running when the VMM is
  // gone; unavailable when the control channel does not answer.
  virtual Status request_shutdown(const VmmHandle& handle) = 0;
  // Graceful stop: request_shutdown, wait up to grace for exit, then SIGKILL. Ok when the VMM
  // has exited (also when it already had); timeout when it survives SIGKILL. Once it is gone
  // (here, in kill and after a failed launch) its control and agent sockets are removed
  // (remove_vmm_sockets): a killed VMM cannot remove them itself.
  virtual Status stop(const VmmHandle& handle, std::chrono::milliseconds grace) = 0;
  // SIGKILL and wait for the exit. Ok when it is gone (also when it already was).
  virtual Status kill(const VmmHandle& handle) = 0;
  // `vm kill --signal`: sends signal (one of api::signal_names()) to the VMM process and waits a
  // while (QEMU: QemuVmmOptions::signal_wait) for it to exit. true when it is gone (also when it
  // already was); false when it still runs: it handled or ignored the signal (QEMU handles
  // SIGUSR1). SIGKILL behaves as kill(). A pid that no longer matches the handle's start time is
  // never signalled.
  virtual Expected<bool> signal(const VmmHandle& handle, int signal) = 0;
  // True while the VMM process of handle lives (same pid and start time). Cheap: no control
  // channel round trip.
  virtual bool alive(const VmmHandle& handle) = 0;
  // running / paused / exited. A process that no longer matches pid + start time is exited.
  // unavailable when the process lives but its control channel does not answer.
  virtual Expected<VmmStatus> status(const VmmHandle& handle) = 0;
  // Removes what the VMM of handle leaves behind once it is gone: its sockets (paths'
  // stream_sockets too) and, for Firecracker under the jailer, its jail. Never call it while
  // the VMM lives (alive()). Failures are logged: there is nothing a caller could do.
  virtual void discard(const VmmHandle& handle, const VmmPaths& paths) = 0;
  // At daemon start, after orphaned VMMs were killed: removes what this backend left for VMs
  // that do not run now (Firecracker: jails a crash left), keeping running_vm_ids'. Failures
  // are logged.
  virtual void remove_leftovers(const std::vector<std::string>& running_vm_ids) = 0;
  // Where the guest agent listens for this VM.
  virtual AgentEndpoint agent_endpoint(const VmmHandle& handle) = 0;
  // Where the guest agent serves this VM's stream channels (ADR 0009), one endpoint per channel:
  // QEMU with vsock: agentproto::kStreamChannels times AF_VSOCK (cid, 1025); otherwise one
  // virtio-serial unix socket per paths.stream_sockets entry. Empty when it has none.
  virtual std::vector<AgentEndpoint> stream_endpoints(const VmmHandle& handle,
                                                      const VmmPaths& paths) = 0;
  // True when argv (a process's command line, e.g. /proc/<pid>/cmdline) is a VMM this backend
  // launched for the VM whose files are paths: it names paths.control_socket exactly as
  // launch() does. Reconcile uses it to find VMMs a crashed daemon never recorded. Pure.
  virtual bool launched_with(const std::vector<std::string>& argv, const VmmPaths& paths) const = 0;
};

// The Vmm of each backend the daemon runs, so a VM is always driven by the backend in its record.
// Does not own the Vmms. Thread-safety: fill it before use; lookups may then run concurrently.
class VmmRegistry {
 public:
  VmmRegistry() = default;
  explicit VmmRegistry(Vmm& vmm) { add(vmm); }
  // Registers vmm under vmm.backend(), replacing an earlier one.
  void add(Vmm& vmm) { vmms_[static_cast<std::size_t>(vmm.backend())] = &vmm; }
  // The Vmm for backend; failed_precondition `no firecracker backend runs in this daemon` when
  // none was registered.
  Expected<Vmm*> get(Backend backend) const;

 private:
  std::array<Vmm*, 2> vmms_{};  // by Backend
};

// The guest's vsock CID, derived from its IPv4 address so it is stable across restarts and
// unique among VMs on one bridge: 0x0BA00000 | the low 20 bits of the address. 0 for text
// that is not an IPv4 address.
std::uint32_t vsock_cid_for_ip(const std::string& ipv4);

// The first of the unprivileged ids a root daemon runs VMMs as (docs/decisions/0013).
inline constexpr std::uint32_t kVmmIdBase = 0x0BA00000;  // 195035136
// The uid (= gid) the VMM of the guest at ipv4 runs as when the daemon is root (security review
// M8): kVmmIdBase | the low 20 bits of the address, so it is distinct among the VMs of one
// bridge (at most a /12) and stable across restarts, like the vsock CID. 0 for text that is not
// an IPv4 address.
std::uint32_t vmm_id_for_ip(const std::string& ipv4);

// <runtime_dir>/<vm_id>.s<n> for each of the agentproto::kStreamChannels stream channels: the
// unix sockets behind the virtio-serial ports org.banger.stream.<n> (ADR 0009).
std::vector<std::string> stream_socket_paths(const std::string& runtime_dir,
                                             const std::string& vm_id);

std::string_view accel_name(Accel accel);         // "kvm" | "tcg"
std::string_view vmm_state_name(VmmState state);  // "running" | "paused" | "exited"

// The handle as a JSON object with the field names above.
nlohmann::json vmm_handle_to_json(const VmmHandle& handle);
// Reads a handle written by vmm_handle_to_json. invalid_argument naming the missing or mistyped
// field.
Expected<VmmHandle> vmm_handle_from_json(const nlohmann::json& json);

}  // namespace banger::vmm
