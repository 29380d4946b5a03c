// The VM record (S4): its states, its durable fields and the validation of its name.
// Plain data: no I/O and no JSON here (store/ persists it, api/ puts it on the wire).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "banger/base/error.hpp"
#include "banger/model/port_forward.hpp"
#include "banger/model/vmm_backend.hpp"

namespace banger::model {

// Lifecycle states; the allowed moves between them are vm::check_transition().
enum class VmState {
  created,   // recorded, never started
  starting,  // host resources being set up and the VMM booting
  running,   // the VMM is up and the guest has booted
  stopping,  // asked to power off, waiting for the VMM to exit
  stopped,   // no VMM; host resources released
  error,     // a start failed or the VMM died unexpectedly; last_error says why
};

// Stable lower-case name ("running"), also used in the store and on the wire.
std::string_view to_string(VmState state);

// Parses a name produced by to_string(). invalid_argument lists the known states otherwise.
Expected<VmState> parse_vm_state(std::string_view text);

// A VM's id: 16 lowercase hex characters.
using VmId = std::string;

// Maximum length of a VM name (it is also a DNS label).
inline constexpr std::size_t kMaxVmNameLength = 63;
// Length of a VM id.
inline constexpr std::size_t kVmIdLength = 16;

// Everything about a VM that must survive a daemon restart, including the names of the host
// resources needed to tear it down after a crash. Empty strings and 0 mean "not set".
struct Vm {
  VmId id;                                   // 16 lowercase hex characters
  std::string name;                          // unique, see validate_vm_name()
  std::string image;                         // image name
  std::string kernel;                        // kernel name
  VmmBackend vmm = VmmBackend::qemu;         // the backend that runs it, chosen at create
  int vcpu = 0;                              // applies at next start
  std::int64_t memory_mib = 0;               // applies at next start
  std::int64_t disk_size_mib = 0;            // size of the writable work disk
  std::int64_t rootfs_overlay_size_mib = 0;  // size of the copy-on-write rootfs overlay
  bool nat = false;                          // outbound NAT on/off
  std::string guest_ip;                      // "172.31.0.5"
  std::string mac;                           // "02:fc:..." guest MAC (locally administered)
  int agent_cid = 0;                         // vsock context id of the guest agent
  int agent_port = 0;                        // vsock port of the guest agent
  VmState state = VmState::created;
  std::string last_error;        // why the VM is in `error` (or the last failure)
  std::int64_t created_at = 0;   // unix seconds
  std::int64_t touched_at = 0;   // unix seconds of the last ssh/exec/run/ports use
  std::string workspace_path;    // host directory copied to /root/repo ("" = no workspace)
  std::string workspace_repo;    // its name (the repository's directory name)
  std::string workspace_head;    // host HEAD commit at copy time ("" without git)
  std::string workspace_branch;  // the guest's branch (host branch or --branch)
  std::int64_t workspace_prepared_at = 0;  // unix seconds of the last copy
  std::string tap_name;                    // host TAP device ("tap-fc-3")
  std::string overlay_path;                // rootfs overlay file under vms/<id>/
  int vmm_pid = 0;                         // pid of the VMM process
  std::uint64_t vmm_start_time = 0;        // starttime field of /proc/<pid>/stat (clock ticks)
  std::string rootfs_strategy;  // "qcow2_overlay", "dm_snapshot", "reflink", "sparse_copy"
  // Host ports forwarded at every start (`--publish`; docs/forwarding.md), as asked (host_port 0
  // = a free port picked at each start).
  std::vector<PortForward> publish;

  friend bool operator==(const Vm&, const Vm&) = default;
};

// OK when name matches [a-z0-9][a-z0-9-]{0,62}; otherwise invalid_argument saying what is
// allowed: `invalid vm name "Web_1": use 1-63 characters: lowercase letters, digits and '-',
// starting with a letter or digit`.
Status validate_vm_name(std::string_view name);

// True when text is a full VM id (16 lowercase hex characters).
bool is_vm_id(std::string_view text);

// True when text is non-empty and only lowercase hex characters (a possible id prefix).
bool is_hex(std::string_view text);

}  // namespace banger::model
