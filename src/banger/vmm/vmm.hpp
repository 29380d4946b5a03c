// The Vmm interface: one per backend (QEMU microvm now, Firecracker later). The daemon hands a
// VmConfig to launch() and keeps the serializable VmmHandle in the VM record to find the VMM again.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "banger/base/error.hpp"

namespace banger::vmm {

enum class Accel { kvm, tcg };
enum class DiskFormat { raw, qcow2 };

struct DiskConfig {
  std::string path;
  DiskFormat format = DiskFormat::raw;
  bool read_only = false;
};

// Everything a backend needs to boot one VM. Paths are absolute; sockets must fit sun_path.
struct VmConfig {
  std::string vm_id;
  std::string name;
  int vcpu = 1;
  std::int64_t memory_mib = 256;
  std::string kernel_path;
  std::optional<std::string> initrd_path;
  std::string kernel_cmdline;  // complete, from kernel_cmdline(); backends may append (TCG tsc)
  DiskConfig root_disk;        // /dev/vda
  std::optional<DiskConfig> work_disk;  // /dev/vdb, mounted at /root
  std::string tap_name;                 // empty: no network device
  std::string mac;                      // "52:54:00:..", with tap_name
  std::string agent_socket_path;        // QEMU: virtio-serial unix socket; Firecracker: vsock UDS
  std::uint32_t vsock_cid =
      0;  // guest CID for a vsock device (QEMU: only with vhost-vsock); 0: none
  std::string control_socket_path;  // QEMU: QMP socket; Firecracker: API socket
  std::string console_log_path;     // serial console and the VMM's own stdout/stderr (appended)
  std::string run_dir;              // the VMM's working directory; empty: inherit
  Accel accel = Accel::tcg;         // decided by the caller (policy::decide_kvm)
};

// Identifies a launched VMM across daemon restarts; stored in the VM record.
struct VmmHandle {
  std::string backend;  // Vmm::name() of the driver that launched it ("qemu")
  pid_t pid = 0;
  std::uint64_t start_time = 0;  // /proc/<pid>/stat starttime: guards against pid reuse
  std::string control_socket;
  std::string console_log;
  std::string agent_socket;
  std::uint32_t vsock_cid = 0;  // the guest's vsock CID when it has a vsock device, else 0

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

class Vmm {
 public:
  virtual ~Vmm() = default;

  // Starts the VMM and returns once its control channel answers. not_found when the VMM binary
  // is missing; command_failed when it exits during start-up (the message carries the tail of
  // its log); timeout when it never answers (it is killed). Nothing is left running on failure.
  virtual Expected<VmmHandle> launch(const VmConfig& config) = 0;
  // Asks the guest to power off (ACPI) and returns without waiting. not_running when the VMM is
  // gone; unavailable when the control channel does not answer.
  virtual Status request_shutdown(const VmmHandle& handle) = 0;
  // Graceful stop: request_shutdown, wait up to grace for exit, then SIGKILL. Ok when the VMM
  // has exited (also when it already had); timeout when it survives SIGKILL.
  virtual Status stop(const VmmHandle& handle, std::chrono::milliseconds grace) = 0;
  // SIGKILL and wait for the exit. Ok when it is gone (also when it already was).
  virtual Status kill(const VmmHandle& handle) = 0;
  // running / paused / exited. A process that no longer matches pid + start time is exited.
  // unavailable when the process lives but its control channel does not answer.
  virtual Expected<VmmStatus> status(const VmmHandle& handle) = 0;
  // Where the guest agent listens for this VM.
  virtual AgentEndpoint agent_endpoint(const VmmHandle& handle) = 0;
  // The backend name stored in VmmHandle::backend ("qemu", "firecracker").
  virtual std::string name() const = 0;
};

// The guest's vsock CID, derived from its IPv4 address so it is stable across restarts and
// unique among VMs on one bridge: 0x0BA00000 | the low 20 bits of the address. 0 for text
// that is not an IPv4 address.
std::uint32_t vsock_cid_for_ip(const std::string& ipv4);

// The agent's vsock port in the guest (S8).
inline constexpr std::uint32_t kAgentVsockPort = 1024;

std::string_view accel_name(Accel accel);         // "kvm" | "tcg"
std::string_view disk_format_name(DiskFormat f);  // "raw" | "qcow2"
std::string_view vmm_state_name(VmmState state);  // "running" | "paused" | "exited"

// The handle as a JSON object with the field names above.
nlohmann::json vmm_handle_to_json(const VmmHandle& handle);
// Reads a handle written by vmm_handle_to_json. invalid_argument naming the missing or mistyped
// field.
Expected<VmmHandle> vmm_handle_from_json(const nlohmann::json& json);

}  // namespace banger::vmm
