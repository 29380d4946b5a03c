// The dry-run listing and the spec-line fragment.
#include "banger/workspace/render.hpp"

#include <fmt/format.h>

#include <array>
#include <vector>

#include "banger/base/strings.hpp"
#include "banger/workspace/host.hpp"
#include "banger/workspace/workspace.hpp"

namespace banger::workspace {

std::string human_size(std::uint64_t bytes) {
  constexpr std::array<const char*, 5> kUnits{"B", "KiB", "MiB", "GiB", "TiB"};
  if (bytes < 1024) {
    return fmt::format("{} B", bytes);
  }
  double value = static_cast<double>(bytes);
  std::size_t unit = 0;
  while (value >= 1024 && unit + 1 < kUnits.size()) {
    value /= 1024;
    ++unit;
  }
  std::string number = fmt::format("{:.1f}", value);
  if (number.size() > 2 && number.compare(number.size() - 2, 2, ".0") == 0) {
    number.resize(number.size() - 2);
  }
  return fmt::format("{} {}", number, kUnits[unit]);
}

std::string render_dry_run(const Plan& plan) {
  std::string out;
  std::size_t files = 0;
  std::size_t links = 0;
  std::size_t submodule_files = 0;
  for (const auto& entry : plan.entries) {
    switch (entry.kind) {
      case Entry::Kind::file:
        ++files;
        submodule_files += entry.in_submodule ? 1 : 0;
        out += fmt::format("{:>10}  {}{}\n", human_size(entry.size), host::escape_name(entry.path),
                           entry.mode & 0111 ? " (executable)" : "");
        break;
      case Entry::Kind::symlink:
        ++links;
        out += fmt::format("{:>10}  {} (symlink)\n", "", host::escape_name(entry.path));
        break;
      case Entry::Kind::directory:
        out += fmt::format("{:>10}  {}/\n", "", host::escape_name(entry.path));
        break;
    }
  }
  for (const auto& submodule : plan.submodules) {
    out += fmt::format(
        "submodule {}: its checked-out tracked files are copied (as plain files "
        "of the guest repository's working tree)\n",
        host::escape_name(submodule));
  }
  if (plan.git) {
    out += fmt::format("git: HEAD {}{}{}, shallow history, origin {}\n", plan.head,
                       plan.options.branch.empty() ? "" : ", new guest branch ",
                       host::escape_name(plan.options.branch),
                       plan.origin_url.empty() ? "(none)" : host::escape_name(plan.origin_url));
  } else {
    out += "no git: a plain copy, no git metadata\n";
  }
  out += fmt::format(
      "{} files, {} symlinks{}, {} in all, from {}\n", files, links,
      submodule_files ? fmt::format(" ({} files in submodules)", submodule_files) : std::string(),
      human_size(plan.total_bytes), host::escape_name(plan.root));
  return out;
}

std::string spec_fragment(const Plan& plan) {
  if (!plan.git) {
    return fmt::format("workspace {} (no git)", plan.repo_name);
  }
  std::string out = fmt::format("workspace {} @ {}", plan.repo_name, plan.head.substr(0, 7));
  if (!plan.options.branch.empty()) {
    out += fmt::format(" on {}", plan.options.branch);
  }
  std::vector<std::string> changes;
  if (plan.modified > 0) {
    changes.push_back(fmt::format("+{} modified", plan.modified));
  }
  if (plan.added > 0) {
    changes.push_back(fmt::format("+{} added", plan.added));
  }
  if (plan.deleted > 0) {
    changes.push_back(fmt::format("-{} deleted", plan.deleted));
  }
  if (plan.untracked > 0 && plan.options.include_untracked) {
    changes.push_back(fmt::format("+{} untracked", plan.untracked));
  }
  if (!changes.empty()) {
    out += " (" + base::join(changes, ", ") + ")";
  }
  return out;
}

}  // namespace banger::workspace
