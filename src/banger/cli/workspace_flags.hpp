// The workspace flags `vm run <path>` and `vm workspace prepare` share (SPEC S12), and the
// host-side reads around a workspace copy.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "banger/base/error.hpp"
#include "banger/workspace/workspace.hpp"

namespace banger::cli {

class WorkspaceFlags {
 public:
  void declare(CLI::App& app);
  // True when any of the flags was given.
  bool any() const;
  // The preflight of path with these flags (workspace::inspect), bounded by the config's
  // workspace_max_size, which the CLI reads itself: the preflight runs before anything reaches
  // the daemon. Config errors name the key.
  Expected<workspace::Plan> inspect(const std::string& path) const;

 private:
  bool include_untracked_ = false;
  bool no_git_ = false;
  bool force_ = false;
  std::string branch_;
  std::string from_;
};

// A tooling file of the workspace (toolingplan::kDetectedFiles), at most `max_bytes` of it;
// nullopt when it is absent, not a regular file or a symlink (never followed: the repository is
// not trusted to point the CLI at other files).
std::optional<std::string> read_small_file(const std::string& path, std::size_t max_bytes);

}  // namespace banger::cli
