// NetworkService: host networking for VMs without NAT/DNS (S7): the bridge, the warm TAP pool
// and guest IP leases, behind one API the VM service calls on create/start/stop/delete.
#pragma once

#include <sys/types.h>

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "banger/base/error.hpp"
#include "banger/base/guarded.hpp"
#include "banger/hostnat/ip_allocator.hpp"
#include "banger/hostnat/link_ops.hpp"
#include "banger/hostnat/tap_pool.hpp"

namespace banger::hostnat {

// Owns: the bridge `bridge_name` (created on first attach, never removed automatically), the
//       tap-fc-* TAP devices (warm pool and the ones attached to VMs) and the in-memory table
//       of guest IP leases.
// Does not own: persisting leases (each VM record stores its IP and TAP; the daemon hands
//       them back through reconcile() at start), NAT rules and DNS (later), the VMM that
//       opens the TAP.
// Thread-safety: all public methods may be called concurrently; they serialize on one mutex,
//       which is held across the (quick, millisecond) netlink calls.
struct NetworkServiceDeps {
  LinkOps& links;
  std::string bridge_name;              // config bridge_name ("br-fc")
  std::string bridge_ip;                // config bridge_ip ("172.16.0.1")
  int cidr = 24;                        // config cidr (prefix length of the VM network)
  int tap_pool_size = 4;                // config tap_pool_size (idle TAPs kept warm)
  std::optional<uid_t> tap_owner = {};  // uid allowed to open the TAPs (none: root only)
};

// What a started VM needs to know about its network.
struct Attachment {
  std::string vm_id;
  std::string tap;      // "tap-fc-0"
  std::string ip;       // guest address "172.16.0.2"
  std::string mac;      // guest MAC "02:fc:ac:10:00:02" (mac_for_ip)
  std::string gateway;  // the bridge address "172.16.0.1"
  std::string netmask;  // "255.255.255.0"
  int prefix = 0;       // 24

  friend bool operator==(const Attachment&, const Attachment&) = default;
};

// One VM's lease as recorded in its VM record: its IP, and its TAP while its VMM runs.
struct Lease {
  std::string vm_id;
  std::string ip;   // "" when the VM has none yet
  std::string tap;  // "" unless the VM is running

  friend bool operator==(const Lease&, const Lease&) = default;
};

class NetworkService {
 public:
  explicit NetworkService(NetworkServiceDeps deps);
  NetworkService(const NetworkService&) = delete;
  NetworkService& operator=(const NetworkService&) = delete;

  // OK when bridge_name, bridge_ip and cidr describe a usable network; otherwise the
  // invalid_argument every other method also returns (validate_link_name, parse_ipv4,
  // Subnet::create errors, prefixed with "network config").
  Status check_config() const;

  // Leases vm_id an address without touching any link (for `vm create`): preferred_ip when
  // given, else the address vm_id already holds, else the lowest free one. A VM holds at most
  // one address: leasing preferred_ip frees any other it held. invalid_argument for a
  // malformed, reserved or outside address; already_exists when another VM holds
  // preferred_ip; unavailable when the network is full. Errors are prefixed with
  // "leasing an address for vm <id>".
  Expected<std::string> lease_ip(const std::string& vm_id, std::optional<std::string> preferred_ip);

  // Connects a VM about to start: leases its address as lease_ip() does, ensures the bridge
  // (created and addressed when missing, set up), takes a TAP from the pool (creating one when
  // none is idle), enslaves it to the bridge and sets it up. On failure nothing is left
  // behind: the TAP goes back to the pool and a newly leased address is freed. Errors are
  // lease_ip()'s, or LinkOps errors prefixed with "attaching vm <id>".
  Expected<Attachment> attach(const std::string& vm_id, std::optional<std::string> preferred_ip);

  // Disconnects a stopped VM: its TAP goes back to the pool (or is deleted when the pool is
  // full). The address stays leased to the VM (release_ip() frees it on delete). LinkOps errors
  // prefixed with "detaching vm <id>"; invalid_argument for a TAP that is not tap-fc-<n>.
  // A TAP given to a uid (give_tap) gets its pool owner back (tap_owner, else the daemon's
  // uid) first; a failure to do so is logged, not returned.
  Status detach(const Attachment& attachment);

  // Lets uid open the attached TAP `tap` (LinkOps::set_tap_owner) until detach(): the VMM of a
  // root daemon runs as the VM's unprivileged id, and Firecracker under the jailer opens its
  // TAP only after dropping to it. failed_precondition `tap x is not attached to a vm` for a
  // TAP attach() did not hand out; LinkOps errors.
  Status give_tap(const std::string& tap, uid_t uid);

  // Frees a deleted VM's address so the next VM can get it. OK when it was not leased.
  // invalid_argument for a malformed address.
  Status release_ip(const std::string& ip);

  // At daemon start, from the VM records: rebuilds the leases (each VM keeps its address;
  // records whose address is malformed, outside the network or taken twice are skipped with
  // a warning in the log), marks the TAPs of running VMs as in use, adopts or deletes other
  // tap-fc-* links (TapPool::reconcile) and refills the pool. Returns the first LinkOps
  // error, after trying everything.
  Status reconcile(const std::vector<Lease>& in_use);

  // Takes a TAP that cannot be opened (EBUSY: an orphaned VMM or another process holds it) out
  // of circulation (TapPool::quarantine()); the VM it was attached to no longer holds it, so
  // the next attach() gets another TAP. invalid_argument for a name that is not tap-fc-<n>.
  Status quarantine_tap(const std::string& tap);

  // Whether the bridge link exists (some daemon networked a VM on this host). LinkOps errors.
  Expected<bool> bridge_exists();

  // Creates idle TAPs until the pool is full again (call after a start, off the hot path).
  Status refill_pool();

  // Current leases by address (tap set for attached VMs), for inspection and tests.
  std::vector<Lease> leases() const;
  // Idle TAPs in the pool, lowest number first.
  std::vector<std::string> idle_taps() const;

 private:
  struct State {
    std::optional<IpAllocator> allocator;  // nullopt when the config is invalid
    TapPool pool;
    std::map<std::string, std::string> attached;  // tap -> vm id
    std::set<std::string> given;                  // attached TAPs give_tap() handed to a uid
  };

  // lease_ip() with the lock held; sets newly_leased when the address was not the VM's before.
  Expected<Ipv4> lease_locked(State& state, const std::string& vm_id,
                              const std::optional<std::string>& preferred_ip, bool& newly_leased);

  NetworkServiceDeps deps_;
  Status config_;
  base::Guarded<State> state_;
};

}  // namespace banger::hostnat
