// Shell completion: the candidates for a partial `banger` command line, computed from the CLI11
// command tree run_command_line parses with (so new commands and flags complete without
// completion code), and the bash/zsh/fish scripts that ask `banger __complete` for them.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>

#include "banger/base/error.hpp"

namespace banger::cli {

// The live names a candidate list may need from the daemon.
enum class NameKind {
  vms,            // every VM's name
  images,         // every stored image
  kernels,        // every stored kernel
  kernel_catalog  // the kernel catalog's entries (`kernel pull <name>`)
};

struct Candidate {
  std::string value;
  std::string description;  // one line, may be empty (bash ignores it)
};

// Returns the names of a kind, or nothing when they cannot be had (no daemon running). Must not
// print anything.
using NameSource = std::function<std::vector<Candidate>(NameKind)>;

// What the shell adds on its own: file or directory names matching the current word.
enum class Fallback { none, files, dirs };

struct Completion {
  std::vector<Candidate> candidates;  // each starts with the current word
  Fallback fallback = Fallback::none;
};

// The candidates for the last of words (the word under the cursor, possibly empty); words are
// the command line after `banger`. Walks root's subcommands and options like the parser:
//   - a word starting with '-' (not after `--`) is a flag; it completes the current command's
//     visible long flags (short ones only when it has none), `--flag=value` completes values;
//   - after a flag that takes a value, the word is that value;
//   - otherwise subcommands and aliases where the command has them, else its next positional.
// Values come from kValueRules (completion.cpp) by flag or positional name: VM, image and kernel
// names through names (asked only when needed, at most once), fixed lists (--vmm, --signal),
// or files/directories left to the shell.
Completion complete(const CLI::App& root, const std::vector<std::string>& words,
                    const NameSource& names);

// The wire format between `banger __complete` and the scripts: one `value\tdescription` line per
// candidate (tab and description omitted when empty; newlines and tabs inside become spaces),
// then `:files` or `:dirs` as the last line when the shell should add paths.
std::string render_completion(const Completion& completion);

// The completion script for shell ("bash", "zsh" or "fish"); Errc::invalid_argument naming the
// supported shells otherwise.
Expected<std::string> completion_script(std::string_view shell);

}  // namespace banger::cli
