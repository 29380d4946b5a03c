#include "banger/model/vm.hpp"

#include <array>

namespace banger::model {
namespace {

constexpr std::array<VmState, 6> kAllStates = {VmState::created, VmState::starting,
                                               VmState::running, VmState::stopping,
                                               VmState::stopped, VmState::error};

bool is_name_char(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; }

}  // namespace

std::string_view to_string(VmState state) {
  switch (state) {
    case VmState::created:
      return "created";
    case VmState::starting:
      return "starting";
    case VmState::running:
      return "running";
    case VmState::stopping:
      return "stopping";
    case VmState::stopped:
      return "stopped";
    case VmState::error:
      return "error";
  }
  return "unknown";
}

Expected<VmState> parse_vm_state(std::string_view text) {
  for (VmState state : kAllStates) {
    if (to_string(state) == text) {
      return state;
    }
  }
  return fail(Errc::invalid_argument,
              "unknown vm state \"" + std::string(text) +
                  "\": use created, starting, running, stopping, stopped or error");
}

Status validate_vm_name(std::string_view name) {
  bool ok = !name.empty() && name.size() <= kMaxVmNameLength && name.front() != '-';
  for (char c : name) {
    ok = ok && is_name_char(c);
  }
  if (!ok) {
    return fail(Errc::invalid_argument,
                "invalid vm name \"" + std::string(name) +
                    "\": use 1-63 characters: lowercase letters, digits and '-', starting with "
                    "a letter or digit");
  }
  return {};
}

bool is_hex(std::string_view text) {
  if (text.empty()) {
    return false;
  }
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return true;
}

bool is_vm_id(std::string_view text) { return text.size() == kVmIdLength && is_hex(text); }

}  // namespace banger::model
