// The guest tooling bootstrap of a workspace (SPEC S12, issue 11 item 7): which tool versions a
// repository asks for (.mise.toml, .tool-versions, .nvmrc/.node-version, .python-version,
// go.mod, rust-toolchain[.toml]) and the POSIX sh script that installs them with mise in the
// guest. Pure: the caller reads the files. A repository is untrusted input: versions and tool
// names outside a strict charset are dropped with a warning, and the script quotes everything.
#pragma once

#include <array>
#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace banger::toolingplan {

// The files plan() looks at, relative to the repository root; the caller reads those that
// exist (at most kMaxFileBytes of each: longer content is cut there).
inline constexpr std::array<std::string_view, 8> kDetectedFiles = {
    ".mise.toml",      ".tool-versions", ".nvmrc",         ".node-version",
    ".python-version", "go.mod",         "rust-toolchain", "rust-toolchain.toml"};
inline constexpr std::size_t kMaxFileBytes = 8192;
// Versions: 1 to 64 of [A-Za-z0-9._+-], not starting with '-' or '.'.
inline constexpr std::size_t kMaxVersionLength = 64;

struct Tool {
  std::string name;     // mise's tool name: "node", "python", "go", "rust", or a manifest's
  std::string version;  // as the file says (a leading "v" of .nvmrc dropped)
  std::string source;   // the file it came from: ".nvmrc", "go.mod"

  bool operator==(const Tool&) const = default;
};

struct Options {
  std::string repo_dir = "/root/repo";          // where the script runs (cd)
  std::string log_dir = "/root/.cache/banger";  // where its log goes (created)
};

struct Plan {
  std::vector<Tool> tools;  // in kDetectedFiles order, then file order
  // .mise.toml / .tool-versions found: the script runs `mise trust` + `mise install` for them.
  std::vector<std::string> manifests;
  std::vector<std::string> warnings;  // rejected entries, one line each (file: what)
  bool needs_network = false;         // something would be installed
  std::string log_path;               // <log_dir>/vm-run-tooling-<sanitised repo>.log
  // POSIX sh, run in the guest after the copy. Always exits 0: every failure is logged. Without
  // mise on PATH it logs one line saying so and exits 0. Empty when there is nothing to do.
  std::string guest_script;
};

// Pure: files maps a name of kDetectedFiles to its content (other names are ignored);
// repo_name is the workspace's name (sanitised for the log file name).
Plan plan(const std::map<std::string, std::string>& files, std::string_view repo_name,
          const Options& options = {});

// One line for the user: "tooling: node 20.11.0 (.nvmrc), go 1.22 (go.mod)"; with manifests
// only, "tooling: mise install (.mise.toml)"; "" when there is nothing.
std::string render_summary(const Plan& plan);

// Pure: name with every byte outside [A-Za-z0-9._-] replaced by '_', cut to 64 bytes; "repo"
// when that leaves "", "." or "..".
std::string sanitize_repo_name(std::string_view name);

// Whether version is acceptable (the charset and length above).
bool is_valid_version(std::string_view version);

// Pure: s as one POSIX sh word in single quotes.
std::string shell_quote(std::string_view s);

}  // namespace banger::toolingplan
