#include "banger/model/vm.hpp"

#include <string>

#include "banger/base/enum_names.hpp"

namespace banger::model {
namespace {

constexpr auto kVmStateNames = base::make_enum_names<VmState>({{VmState::created, "created"},
                                                               {VmState::starting, "starting"},
                                                               {VmState::running, "running"},
                                                               {VmState::stopping, "stopping"},
                                                               {VmState::stopped, "stopped"},
                                                               {VmState::error, "error"}});

bool is_name_char(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; }

}  // namespace

std::string_view to_string(VmState state) { return kVmStateNames.name(state); }

Expected<VmState> parse_vm_state(std::string_view text) {
  if (auto state = kVmStateNames.parse(text)) {
    return *state;
  }
  return fail(Errc::invalid_argument,
              "unknown vm state \"" + std::string(text) + "\": use " + kVmStateNames.allowed());
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
  // A name in the form of a VM id would be taken for another VM's id (security review L9).
  if (is_vm_id(name)) {
    return fail(Errc::invalid_argument,
                "invalid vm name \"" + std::string(name) +
                    "\": 16 hex digits is the form of a vm id; choose a name that is not");
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
