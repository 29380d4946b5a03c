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
  // The inspect() options for path. max_size_bytes: the config's workspace_max_size.
  workspace::Options options(const std::string& path, std::uint64_t max_size_bytes) const;

 private:
  bool include_untracked_ = false;
  bool no_git_ = false;
  bool force_ = false;
  std::string branch_;
  std::string from_;
};

// The config's workspace_max_size (docs/config.md), read by the CLI itself: the preflight runs
// before anything reaches the daemon. The config's errors name the key.
Expected<std::uint64_t> workspace_max_size();

// A tooling file of the workspace (toolingplan::kDetectedFiles), at most `max_bytes` of it;
// nullopt when it is absent, not a regular file or a symlink (never followed: the repository is
// not trusted to point the CLI at other files).
std::optional<std::string> read_small_file(const std::string& path, std::size_t max_bytes);

}  // namespace banger::cli
