// VmService's workspace record: what `vm run <path>` / `vm workspace prepare` copied into the
// guest, so `vm show`/`vm list` can say it and `vm exec` can run there (docs/workspaces.md).
// The copy itself is the CLI's (it reads the user's files with the user's permissions, ADR 0009).
#include <fmt/format.h>

#include <algorithm>

#include "banger/base/clock.hpp"
#include "banger/base/expected.hpp"
#include "banger/base/printable.hpp"
#include "banger/vm/lifecycle.hpp"
#include "banger/vm/vm_service.hpp"

namespace banger::vm {
namespace {

constexpr std::size_t kMaxWorkspaceField = 255;
constexpr std::size_t kMaxWorkspacePath = 4096;

bool is_lower_hex(std::string_view text) {
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

bool has_control_character(std::string_view text) {
  return std::any_of(text.begin(), text.end(), [](char c) {
    auto byte = static_cast<unsigned char>(c);
    return byte < 0x20 || byte == 0x7f;
  });
}

tl::unexpected<Error> bad_field(std::string_view field, std::string_view why) {
  return fail(Errc::invalid_argument, fmt::format("workspace {}: {}", field, why));
}

}  // namespace

Status validate_workspace_record(const WorkspaceRecord& workspace) {
  if (workspace.path.empty()) {
    return {};  // clears the record; the other fields are ignored
  }
  if (workspace.path.front() != '/' || workspace.path.size() > kMaxWorkspacePath ||
      workspace.path.find('\0') != std::string::npos) {
    return bad_field("path", fmt::format("must be an absolute host path of at most {} bytes",
                                         kMaxWorkspacePath));
  }
  const auto& repo = workspace.repo;
  bool repo_ok = !repo.empty() && repo.size() <= kMaxWorkspaceField && repo != "." &&
                 repo != ".." && std::all_of(repo.begin(), repo.end(), [](char c) {
                   return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                          (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
                 });
  if (!repo_ok) {
    return bad_field("repo", fmt::format("\"{}\" must be 1 to {} of [A-Za-z0-9._-]",
                                         base::printable(repo, 64), kMaxWorkspaceField));
  }
  const auto& head = workspace.head;
  if (!head.empty() && !((head.size() == 40 || head.size() == 64) && is_lower_hex(head))) {
    return bad_field("head", fmt::format("\"{}\" is not a full commit id (40 or 64 lowercase hex)",
                                         base::printable(head, 80)));
  }
  if (workspace.branch.size() > kMaxWorkspaceField || has_control_character(workspace.branch)) {
    return bad_field("branch",
                     fmt::format("\"{}\" must be at most {} bytes without control "
                                 "characters",
                                 base::printable(workspace.branch, 64), kMaxWorkspaceField));
  }
  return {};
}

Expected<model::Vm> VmService::record_workspace(const std::string& name_or_id,
                                                const WorkspaceRecord& workspace) {
  BANGER_TRY(validate_workspace_record(workspace));
  BANGER_TRY_ASSIGN(auto found, show(name_or_id));
  auto lock = locks_.acquire(found.id);
  BANGER_TRY_ASSIGN(auto vm, reread(found, name_or_id));
  if (vm.state == model::VmState::starting || vm.state == model::VmState::stopping) {
    return fail(Errc::failed_precondition,
                fmt::format("vm \"{}\" is {}: record its workspace once that is done", vm.name,
                            model::to_string(vm.state)));
  }
  bool clear = workspace.path.empty();
  vm.workspace_path = workspace.path;
  vm.workspace_repo = clear ? "" : workspace.repo;
  vm.workspace_head = clear ? "" : workspace.head;
  vm.workspace_branch = clear ? "" : workspace.branch;
  vm.workspace_prepared_at = clear ? 0 : base::to_unix_seconds(deps_.clock.now());
  BANGER_TRY(deps_.vms.update(vm));
  return vm;
}

}  // namespace banger::vm
