// The command table: every `banger` command is one entry (path, summary, examples, factory),
// like ninja's kTools. CLI11 parses into the command object; run() does the work.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "banger/cli/context.hpp"
#include "banger/cli/help_defaults.hpp"
#include "banger/cli/progress.hpp"

namespace banger::cli {

class Command {
 public:
  virtual ~Command() = default;
  // Adds the command's flags and arguments, bound to members.
  virtual void declare(CLI::App& app) = 0;
  // Runs after a successful parse; returns the process exit code.
  virtual int run(Context& ctx) = 0;
  // Called before --help is printed, with the defaults resolved from the config and the host,
  // so flags can show them ("--vcpu ... (default 2 from host: 8 cores)"). Most commands have
  // none to show.
  virtual void describe_defaults(const HelpDefaults& /*defaults*/) {}
};

struct CommandEntry {
  std::vector<std::string> path;  // {"vm", "create"}
  std::string summary;            // one line for --help
  std::string examples;           // shown under --help
  std::vector<std::string> aliases;
  std::function<std::unique_ptr<Command>()> make;
};

// Pretty-prints a JSON value on stdout (every --json output).
void print_json(Context& ctx, const nlohmann::json& value);

// Connects (starting bangerd when needed) and calls method M. Errors are returned, not
// reported: callers pass them to report_error().
template <class M>
Expected<typename M::Response> call_daemon(Context& ctx, const typename M::Request& request,
                                           const rpc::Client::EventCallback& on_event = {}) {
  auto client = ctx.connect(Connect::start_if_needed);
  if (!client) {
    return tl::unexpected(client.error());
  }
  return client->template call<M>(request, on_event);
}

// call_daemon for a long call (pull, build): its events drawn by a ProgressRenderer, which is
// finished before this returns (an error then prints below the bars).
template <class M>
Expected<typename M::Response> call_with_progress(Context& ctx,
                                                  const typename M::Request& request) {
  auto client = ctx.connect(Connect::start_if_needed);
  if (!client) {
    return tl::unexpected(client.error());
  }
  ProgressRenderer progress(ctx);
  auto result =
      client->template call<M>(request, [&](const api::Event& event) { progress.on_event(event); });
  progress.finish();
  return result;
}

// The factory a CommandEntry needs for command class C.
template <class C>
std::function<std::unique_ptr<Command>()> factory() {
  return [] { return std::make_unique<C>(); };
}

std::vector<CommandEntry> daemon_commands();        // version, daemon *, doctor
std::vector<CommandEntry> vm_commands();            // vm *, ps
std::vector<CommandEntry> vm_guest_commands();      // vm health, vm ports, vm stats
std::vector<CommandEntry> vm_workspace_commands();  // vm workspace prepare|export|show
std::vector<CommandEntry> vm_forward_commands();    // vm forward
std::vector<CommandEntry> image_commands();         // image *
std::vector<CommandEntry> kernel_commands();        // kernel *
std::vector<CommandEntry> ssh_commands();           // ssh-config
std::vector<CommandEntry> completion_commands();    // completion, __complete (hidden)

// Every command, in help order.
std::vector<CommandEntry> command_table();

// The CLI11 tree of every command in the table, with the command objects its options are
// bound to (the app must not outlive them, nor they the app).
struct CommandTree {
  std::unique_ptr<CLI::App> app;
  std::vector<std::pair<CLI::App*, std::unique_ptr<Command>>> commands;
  // The root `--quiet` flag's value (heap-held: the tree is returned by value); copied into
  // Context::quiet after parsing.
  std::unique_ptr<bool> quiet = std::make_unique<bool>(false);
};

// Builds the tree run_command_line parses with; shell completion walks the same tree.
CommandTree build_command_tree();

// Parses argv against the table and runs the chosen command. Usage errors print CLI11's
// message and return 2.
int run_command_line(int argc, char** argv, Context& ctx);

}  // namespace banger::cli
