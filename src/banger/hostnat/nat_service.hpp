// NatService: guest isolation and per-VM outbound NAT (S7). Keeps the set of running VMs (each
// with or without NAT) and makes nftables' `table ip banger` and `table bridge banger` match it,
// atomically, with `nft -f -`; turns on net.ipv4.ip_forward for the first NAT VM.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "banger/base/error.hpp"
#include "banger/base/guarded.hpp"
#include "banger/hostnat/nat_ip_forward.hpp"
#include "banger/hostnat/nat_ruleset.hpp"
#include "banger/sys/command_runner.hpp"

namespace banger::hostnat {

// Owns: nftables `table ip banger` and `table bridge banger` (rendered by render_nat_ruleset();
//       replaced as a whole on every change) and the in-memory set of running VMs (the
//       "admitted" ones, NAT or not), which always equals what was last applied.
// Does not own: persisting which VMs want NAT (the VM records; the daemon hands them back to
//       rebuild() at start), the bridge and TAPs (NetworkService), net.ipv4.ip_forward's
//       value before banger (it is only ever turned on, see enable()).
// Thread-safety: all public methods may be called concurrently (VMs start in parallel); they
//       serialize on one mutex held across the nft run, so each change renders from the
//       latest set and applies in order.
//
// A TAP may only send once its VM is admitted (the bridge table drops everything else from
// tap-fc-*), so a VM must be admitted before it boots. Once any change has been applied the
// tables stay, even with no VM left: the forward chain then drops everything forwarded from
// the bridge, so ip_forward=1 (which banger never turns back off) cannot let a guest without
// NAT past the host. Only remove_all() deletes them.
struct NatServiceDeps {
  sys::CommandRunner& runner;   // runs `nft`
  IpForwarding& ip_forwarding;  // ProcSysIpForwarding in the daemon
  std::string bridge_name;      // config bridge_name ("br-fc")
  std::string bridge_cidr;      // the VM network, "172.16.0.0/24" (or the bridge's "172.16.0.1/24")
};

class NatService {
 public:
  explicit NatService(NatServiceDeps deps);
  NatService(const NatService&) = delete;
  NatService& operator=(const NatService&) = delete;

  // OK when bridge_name and bridge_cidr can be put into rules; otherwise the invalid_argument
  // (validate_nat_network()'s, prefixed with "nat config") every other method also returns.
  Status check_config() const;

  // For doctor: OK when `nft list ruleset` runs and exits 0. unavailable `nft not found:
  // install the nftables package`; command_failed `listing the nftables ruleset: nft exited 1:
  // <stderr>` (typically missing CAP_NET_ADMIN); other runner errors (timeout, io) with the same
  // prefix.
  Status check_prerequisites();

  // Admits vm (a VM about to boot on the bridge): its TAP may send from its address and MAC,
  // with NAT when vm.nat; replaces any earlier entry of vm.vm_id and re-applies the tables (also
  // when nothing changed). Errors and ip_forward as enable(), prefixed with "admitting vm <id>".
  Status admit(const NatVm& vm);

  // Gives vm_id outbound NAT for ip (its TAP tap), admitting it when it was not (see admit()),
  // replacing any earlier entry of vm_id, and re-applies the tables (also when nothing changed,
  // which repairs a table flushed behind our back). Then makes sure net.ipv4.ip_forward is 1; it is
  // never set back to 0 automatically: the host may have had forwarding on for something else
  // (docker, libvirt, a router setup) before banger, which we cannot tell apart afterwards, and the
  // table's drop rule already keeps VMs without NAT from forwarding. On any failure the set and the
  // table are as before the call. Errors are prefixed with "enabling nat for vm <id>":
  // invalid_argument (validate_nat_vm()'s messages; `address 172.16.0.2 is already used by vm
  // <other>`); unavailable `nft not found: install the nftables package`; command_failed `applying
  // table ip banger: nft exited 1: <nft's stderr>`; IpForwarding errors prefixed with "enabling ip
  // forwarding".
  Status enable(const std::string& vm_id, const std::string& ip, const std::string& tap);

  // Takes NAT away from vm_id (it stays admitted) and re-applies the tables; OK without running
  // anything when the VM has no NAT. Errors are prefixed with "disabling nat for vm <id>": the
  // nft errors of enable(); on failure vm_id keeps its NAT.
  Status disable(const std::string& vm_id);

  // Takes a stopped VM's rules away (NAT and admission; its TAP may send nothing any more) and
  // re-applies the tables; OK without running anything when it was not admitted. Errors are
  // prefixed with "evicting vm <id>": the nft errors of enable(); on failure nothing changes.
  Status evict(const std::string& vm_id);

  // At daemon start: replaces the whole set with vms (every running VM; nat set for those that
  // want NAT) and applies it; the same list always gives the same tables, so calling it twice
  // changes nothing. An empty list still installs the tables (their drop rules only), which
  // also replaces whatever an earlier daemon left. ip_forward as in enable().
  // Errors are prefixed with "rebuilding nat rules": invalid_argument (render_nat_ruleset()'s
  // messages; nothing is applied), then the errors of enable(). On failure the set is as
  // before.
  Status rebuild(const std::vector<NatVm>& vms);

  // Deletes both tables (OK when they do not exist) and empties the set; leaves ip_forward as is.
  // Errors are prefixed with "removing nat rules": the nft errors of enable() with "deleting
  // table ip banger" in place of "applying table ip banger".
  Status remove_all();

  // Whether either table exists on the host (left by this or an earlier daemon): `nft list
  // table` for both. false when nft is not installed (then there can be none). Other runner
  // errors (timeout, io) prefixed with "listing table ip banger".
  Expected<bool> tables_exist();

  // Whether vm_id's NAT rules are applied.
  bool enabled(const std::string& vm_id) const;

  // The admitted VMs as applied (nat set for those with NAT), by vm id.
  std::vector<NatVm> vms() const;

 private:
  struct State {
    std::map<std::string, NatVm> applied;  // vm id -> entry, exactly what the tables hold
    bool table_applied = false;            // whether we have put the tables in place
  };

  // Makes the tables hold `next` and turns on forwarding when a VM in next has NAT; on failure
  // puts the previous table back and leaves state untouched.
  Status apply_locked(State& state, const std::map<std::string, NatVm>& next);
  // Replaces vm's entry (validated first) and applies; `doing` prefixes errors.
  Status put(NatVm vm, const std::string& doing);
  // Runs `nft -f -` with script; `doing` names the step in errors.
  Status run_nft(const std::string& script, std::string_view doing);

  NatServiceDeps deps_;
  NatNetwork network_;
  Status config_;
  base::Guarded<State> state_;
};

}  // namespace banger::hostnat
