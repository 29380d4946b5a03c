#include <fmt/format.h>

#include <map>
#include <sstream>

#include "banger/api/errors.hpp"
#include "banger/buildinfo/buildinfo.hpp"
#include "banger/cli/command.hpp"

namespace banger::cli {
namespace {

constexpr int kUsageError = 2;

// --help: the flags' resolved defaults are filled in first (only now: no config read or host
// probe for other commands); the text goes through the printer.
int print_help(Context& ctx, CLI::App& app, const CLI::Error& help,
               const std::vector<std::pair<CLI::App*, std::unique_ptr<Command>>>& commands) {
  const Expected<config::Config> config =
      ctx.load_config ? ctx.load_config() : Expected<config::Config>(config::Config{});
  const HelpDefaults defaults = resolve_help_defaults(config, config::probe_host());
  for (const auto& [sub, command] : commands) {
    command->describe_defaults(defaults);
  }
  std::ostringstream out;
  std::ostringstream err;
  const int code = app.exit(help, out, err);
  ctx.printer.out(out.str());
  ctx.printer.err(err.str());
  return code;
}

}  // namespace

void print_json(Context& ctx, const nlohmann::json& value) {
  ctx.printer.out(value.dump(2) + "\n");
}

std::vector<CommandEntry> command_table() {
  std::vector<CommandEntry> table = vm_commands();
  for (auto& entry : vm_guest_commands()) {
    table.push_back(std::move(entry));
  }
  for (auto& entry : vm_workspace_commands()) {
    table.push_back(std::move(entry));
  }
  for (auto& entry : vm_forward_commands()) {
    table.push_back(std::move(entry));
  }
  for (auto& entry : image_commands()) {
    table.push_back(std::move(entry));
  }
  for (auto& entry : kernel_commands()) {
    table.push_back(std::move(entry));
  }
  for (auto& entry : ssh_commands()) {
    table.push_back(std::move(entry));
  }
  for (auto& entry : daemon_commands()) {
    table.push_back(std::move(entry));
  }
  for (auto& entry : completion_commands()) {
    table.push_back(std::move(entry));
  }
  return table;
}

CommandTree build_command_tree() {
  CommandTree tree{
      std::make_unique<CLI::App>("banger: disposable Linux microVMs in one command", "banger"), {}};
  CLI::App& app = *tree.app;
  app.set_version_flag("--version", buildinfo::version_line("banger"));
  app.require_subcommand(1);
  // Long form only (`banger ps -q` is names only); every subcommand falls through to it.
  app.add_flag("--quiet", *tree.quiet, "no progress on stderr (warnings and errors still print)");
  app.footer("Run `banger <command> --help` for a command's flags and examples.");

  const auto table = command_table();
  std::map<std::string, CLI::App*> groups;
  auto& commands = tree.commands;
  for (const auto& entry : table) {
    CLI::App* parent = &app;
    std::string key;
    for (std::size_t i = 0; i + 1 < entry.path.size(); ++i) {
      key += entry.path[i] + " ";
      auto it = groups.find(key);
      if (it == groups.end()) {
        CLI::App* group = parent->add_subcommand(entry.path[i], entry.path[i] + " commands");
        group->require_subcommand(1);
        group->fallthrough();
        it = groups.emplace(key, group).first;
      }
      parent = it->second;
    }
    CLI::App* sub = parent->add_subcommand(entry.path.back(), entry.summary);
    for (const auto& alias : entry.aliases) {
      sub->alias(alias);
    }
    if (!entry.examples.empty()) {
      sub->footer("Examples:\n" + entry.examples);
    }
    sub->fallthrough();
    auto command = entry.make();
    command->declare(*sub);
    commands.emplace_back(sub, std::move(command));
  }
  if (auto it = groups.find("vm "); it != groups.end()) {
    it->second->description("create, inspect and delete VMs");
  }
  if (auto it = groups.find("vm workspace "); it != groups.end()) {
    it->second->description("copy a workspace into a VM again, export its changes, show it");
  }
  if (auto it = groups.find("image "); it != groups.end()) {
    it->second->description("build, register and delete root filesystem images");
  }
  if (auto it = groups.find("kernel "); it != groups.end()) {
    it->second->description("pull, import and delete guest kernels");
  }
  if (auto it = groups.find("daemon "); it != groups.end()) {
    it->second->description("inspect and stop the banger daemon");
  }
  return tree;
}

int run_command_line(int argc, char** argv, Context& ctx) {
  CommandTree tree = build_command_tree();
  CLI::App& app = *tree.app;
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return print_help(ctx, app, e, tree.commands);
  } catch (const CLI::CallForAllHelp& e) {
    return print_help(ctx, app, e, tree.commands);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    ctx.printer.err("banger: " + std::string(e.what()) + "\n");
    ctx.printer.err("Run `banger --help` for usage.\n");
    return kUsageError;
  }
  ctx.quiet = ctx.quiet || *tree.quiet;
  for (auto& [sub, command] : tree.commands) {
    if (sub->parsed()) {
      return command->run(ctx);
    }
  }
  return kUsageError;
}

}  // namespace banger::cli
