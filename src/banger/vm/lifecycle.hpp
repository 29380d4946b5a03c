// The VM state machine (S4, S13): which events are allowed in which state, as one pure function.
#pragma once

#include <array>
#include <string_view>

#include "banger/base/error.hpp"
#include "banger/model/vm.hpp"

namespace banger::vm {

// What happens to a VM. User requests and observations of the VMM are both events.
enum class VmEvent {
  start,           // user: `vm start`/`vm run`; created|stopped|error -> starting
  boot_succeeded,  // the VMM is up and the guest agent answered; starting -> running
  boot_failed,     // starting failed and was rolled back; starting -> error (last_error set)
  stop,            // user: `vm stop`, asks the guest to power off; running -> stopping
  stopped,         // the VMM exited after a stop; stopping -> stopped
  kill,            // user: `vm kill`, or a stop that passed its grace period;
                   // starting|running|stopping -> stopped
  crash,           // the VMM exited while nobody asked it to; running -> error (last_error says
                   // how it exited: a crash is a failure to look at, not a normal stop)
  guest_poweroff,  // the VMM exited cleanly while running because the guest powered itself off
                   // (exit code 0, no kernel panic on the console); running -> stopped
  lost,            // daemon-start reconcile found the VMM gone (or a different process under
                   // its pid); starting|running|stopping -> stopped, resources torn down (S13)
  remove,          // user: `vm delete`/`vm prune`; created|stopped|error, state unchanged (the
                   // record is deleted). A running VM must be stopped first.
  set,             // user: `vm set` (sizing applies at next start); any state but
                   // starting|stopping, state unchanged
};

// Every event, for table tests and help text.
inline constexpr std::array<VmEvent, 11> kAllVmEvents = {
    VmEvent::start,   VmEvent::boot_succeeded, VmEvent::boot_failed, VmEvent::stop,
    VmEvent::stopped, VmEvent::kill,           VmEvent::crash,       VmEvent::guest_poweroff,
    VmEvent::lost,    VmEvent::remove,         VmEvent::set};

// Stable lower_case name of an event ("boot_succeeded").
std::string_view to_string(VmEvent event);

// The state a VM in `from` moves to on `event`. failed_precondition when the event is not
// allowed in that state, e.g. `cannot start vm in state running`, `cannot remove vm in state
// running: stop it first`.
Expected<model::VmState> check_transition(model::VmState from, VmEvent event);

}  // namespace banger::vm
