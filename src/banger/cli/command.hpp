// The command table: every `banger` command is one entry (path, summary, examples, factory),
// like ninja's kTools. CLI11 parses into the command object; run() does the work.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "banger/cli/context.hpp"

namespace banger::cli {

class Command {
 public:
  virtual ~Command() = default;
  // Adds the command's flags and arguments, bound to members.
  virtual void declare(CLI::App& app) = 0;
  // Runs after a successful parse; returns the process exit code.
  virtual int run(Context& ctx) = 0;
};

struct CommandEntry {
  std::vector<std::string> path;  // {"vm", "create"}
  std::string summary;            // one line for --help
  std::string examples;           // shown under --help
  std::vector<std::string> aliases;
  std::function<std::unique_ptr<Command>()> make;
};

std::vector<CommandEntry> daemon_commands();  // version, daemon *, doctor
std::vector<CommandEntry> vm_commands();      // vm *, ps
std::vector<CommandEntry> image_commands();   // image *
std::vector<CommandEntry> kernel_commands();  // kernel *

// Every command, in help order.
std::vector<CommandEntry> command_table();

// Parses argv against the table and runs the chosen command. Usage errors print CLI11's
// message and return 2.
int run_command_line(int argc, char** argv, Context& ctx);

}  // namespace banger::cli
