#include "banger/vm/lifecycle.hpp"

#include <fmt/format.h>

#include "banger/base/enum_names.hpp"

namespace banger::vm {
namespace {

using model::VmState;

constexpr auto kVmEventNames =
    base::make_enum_names<VmEvent>({{VmEvent::start, "start"},
                                    {VmEvent::boot_succeeded, "boot_succeeded"},
                                    {VmEvent::boot_failed, "boot_failed"},
                                    {VmEvent::stop, "stop"},
                                    {VmEvent::stopped, "stopped"},
                                    {VmEvent::kill, "kill"},
                                    {VmEvent::crash, "crash"},
                                    {VmEvent::guest_poweroff, "guest_poweroff"},
                                    {VmEvent::lost, "lost"},
                                    {VmEvent::remove, "remove"},
                                    {VmEvent::set, "set"}});

bool is_active(VmState state) {
  return state == VmState::starting || state == VmState::running || state == VmState::stopping;
}

tl::unexpected<Error> refuse(VmEvent event, VmState from) {
  std::string_view state = model::to_string(from);
  std::string message;
  switch (event) {
    case VmEvent::start:
      message = fmt::format("cannot start vm in state {}", state);
      break;
    case VmEvent::boot_succeeded:
      message = fmt::format("cannot complete boot of vm in state {}", state);
      break;
    case VmEvent::boot_failed:
      message = fmt::format("cannot fail boot of vm in state {}", state);
      break;
    case VmEvent::stop:
      message = fmt::format("cannot stop vm in state {}", state);
      break;
    case VmEvent::stopped:
      message = fmt::format("cannot mark vm stopped in state {}", state);
      break;
    case VmEvent::kill:
      message = fmt::format("cannot kill vm in state {}", state);
      break;
    case VmEvent::crash:
      message = fmt::format("cannot mark vm crashed in state {}", state);
      break;
    case VmEvent::guest_poweroff:
      message = fmt::format("cannot mark vm powered off by its guest in state {}", state);
      break;
    case VmEvent::lost:
      message = fmt::format("cannot mark vm lost in state {}", state);
      break;
    case VmEvent::remove:
      message = fmt::format("cannot remove vm in state {}: stop it first", state);
      break;
    case VmEvent::set:
      message = fmt::format(
          "cannot change settings of vm in state {}: wait until it has started or stopped", state);
      break;
  }
  return fail(Errc::failed_precondition, std::move(message));
}

}  // namespace

std::string_view to_string(VmEvent event) { return kVmEventNames.name(event); }

Expected<model::VmState> check_transition(model::VmState from, VmEvent event) {
  switch (event) {
    case VmEvent::start:
      if (from == VmState::created || from == VmState::stopped || from == VmState::error) {
        return VmState::starting;
      }
      break;
    case VmEvent::boot_succeeded:
      if (from == VmState::starting) {
        return VmState::running;
      }
      break;
    case VmEvent::boot_failed:
      if (from == VmState::starting) {
        return VmState::error;
      }
      break;
    case VmEvent::stop:
      if (from == VmState::running) {
        return VmState::stopping;
      }
      break;
    case VmEvent::stopped:
      if (from == VmState::stopping) {
        return VmState::stopped;
      }
      break;
    case VmEvent::kill:
    case VmEvent::lost:
      if (is_active(from)) {
        return VmState::stopped;
      }
      break;
    case VmEvent::crash:
      if (from == VmState::running) {
        return VmState::error;
      }
      break;
    case VmEvent::guest_poweroff:
      if (from == VmState::running) {
        return VmState::stopped;
      }
      break;
    case VmEvent::remove:
      if (!is_active(from)) {
        return from;
      }
      break;
    case VmEvent::set:
      if (from != VmState::starting && from != VmState::stopping) {
        return from;
      }
      break;
  }
  return refuse(event, from);
}

}  // namespace banger::vm
