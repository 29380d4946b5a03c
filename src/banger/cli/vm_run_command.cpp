// `banger vm run [path] [-- cmd...]` (SPEC S12): create and boot a VM; with a path, copy that
// workspace to /root/repo first (docs/workspaces.md); then attach with ssh (interactive) or run
// one command and exit with its exit code; --rm deletes the VM afterwards, also after Ctrl-C.
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <optional>
#include <set>
#include <tuple>

#include "banger/api/image.hpp"
#include "banger/api/vm.hpp"
#include "banger/base/expected.hpp"
#include "banger/cli/command.hpp"
#include "banger/cli/forward_flags.hpp"
#include "banger/cli/guest_stream.hpp"
#include "banger/cli/vm_support.hpp"
#include "banger/cli/workspace_flags.hpp"
#include "banger/config/size.hpp"
#include "banger/model/vm.hpp"
#include "banger/toolingplan/toolingplan.hpp"

namespace banger::cli {
namespace {

constexpr int kUsageError = 2;
constexpr int kSshConnectionError = 255;  // what ssh exits with when it cannot connect

Expected<std::set<std::string>> vm_names(Context& ctx) {
  BANGER_TRY_ASSIGN(auto client, ctx.connect(Connect::start_if_needed));
  BANGER_TRY_ASSIGN(auto listed, client.call<api::VmList>({}));
  std::set<std::string> names;
  for (const auto& vm : listed.vms) {
    names.insert(vm.name);
  }
  return names;
}

class VmRunCommand final : public Command {
 public:
  void declare(CLI::App& app) override {
    // CLI11 drops the "--" separator, so `vm run ./repo -- make` and `vm run -- make x` would
    // both fill path and command alike. The first positional is validated while it is parsed;
    // at that moment CLI11 has already recorded a "--" it passed (in remaining()), which tells
    // a workspace path from the first word of the command.
    app.validate_positionals();
    app.add_option("path", path_, "git workspace to copy into the VM's /root/repo")
        ->check(CLI::Validator(
            [this, &app](std::string& /*value*/) {
              if (!path_parsed_) {
                path_parsed_ = true;
                path_after_separator_ = !app.remaining().empty();
              }
              return std::string();
            },
            "", "path"));
    app.add_option("command", command_, "command to run in the VM (after --)");
    name_option_ = app.add_option("--name", request_.name, "VM name (default: generated)");
    // Their defaults are filled in by describe_defaults() for --help.
    defaulted_.image = app.add_option("--image", request_.image, "image");
    defaulted_.kernel = app.add_option("--kernel", request_.kernel, "kernel");
    defaulted_.vcpu = app.add_option("--vcpu", vcpu_, "virtual CPUs")->check(CLI::Range(1, 64));
    defaulted_.memory =
        app.add_option("--memory", memory_, "memory, e.g. 512M or 2G (a bare number is MiB)");
    defaulted_.disk = app.add_option("--disk-size", disk_, "work disk size, e.g. 8G");
    app.add_flag("--nat", request_.nat, "give the VM outbound internet access through NAT");
    app.add_option("--vmm", request_.vmm,
                   "backend for this VM: auto, qemu or firecracker (default: the config's vmm)")
        ->check(CLI::IsMember({"auto", "qemu", "firecracker"}));
    app.add_option("-p,--publish", publish_,
                   "[[ADDRESS:]HOST_PORT:]GUEST_PORT forwarded at every start (repeatable)");
    app.add_flag("--rm", rm_, "delete the VM afterwards (also after Ctrl-C)");
    app.add_flag("-d,--detach", detach_, "print the VM's name once it is ready and exit");
    workspace_flags_.declare(app);
    app.add_flag("--dry-run", dry_run_, "print the files a workspace copy would take and exit");
    app.add_flag("--no-bootstrap", no_bootstrap_,
                 "skip the workspace's tool installs (.mise.toml, .nvmrc, go.mod, ...)");
  }

  void describe_defaults(const HelpDefaults& defaults) override { defaulted_.describe(defaults); }

  int run(Context& ctx) override {
    const bool workspace_mode = path_parsed_ && !path_after_separator_;
    std::vector<std::string> command;
    if (path_parsed_ && !workspace_mode) {
      command.push_back(path_);
    }
    command.insert(command.end(), command_.begin(), command_.end());
    if (!workspace_mode && (workspace_flags_.any() || dry_run_ || no_bootstrap_)) {
      ctx.printer.err(
          "banger: --branch, --from, --include-untracked, --no-git, --force, --dry-run and "
          "--no-bootstrap need a workspace path: banger vm run <path> ...\n");
      return kUsageError;
    }
    std::optional<workspace::Plan> plan;
    if (workspace_mode) {
      auto inspected = workspace_flags_.inspect(path_);
      if (!inspected) {
        return report_error(ctx, inspected.error());
      }
      plan = std::move(*inspected);
      if (dry_run_) {
        ctx.printer.out(workspace::render_dry_run(*plan));
        return 0;
      }
    }
    if (rm_ && detach_) {
      ctx.printer.err("banger: --rm and --detach cannot be combined\n");
      return kUsageError;
    }
    if (detach_ && !command.empty()) {
      ctx.printer.err("banger: --detach takes no command: run it later with `banger vm ssh`\n");
      return kUsageError;
    }
    if (name_option_->count() > 0) {
      if (auto valid = model::validate_vm_name(request_.name); !valid) {
        return report_error(ctx, valid.error());
      }
    }
    if (int bad = fill_sizes_and_ports(ctx); bad != 0) {
      return bad;
    }
    request_.no_start = false;
    // A command (and the workspace copy) runs over the agent's stream channels: sshd need not be
    // up first. A shell (or --detach, after which the user ssh-es in) waits for sshd.
    request_.ready = std::string(command.empty() ? api::kReadySsh : api::kReadyAgent);

    // The names before the create, to find the VM a failed create leaves behind (its name is
    // generated by the daemon when --name is not given).
    auto before = vm_names(ctx);
    if (!before) {
      return report_error(ctx, before.error());
    }
    auto created = create(ctx, plan ? " | " + workspace::spec_fragment(*plan) : std::string());
    if (!created) {
      int code = report_error(ctx, created.error());
      if (auto kept = find_new_vm(ctx, *before)) {
        // Kept even with --rm: the console log says why it never became ready.
        ctx.printer.err(fmt::format("kept {0} for banger vm logs {0}\n", *kept));
      }
      return code;
    }
    const std::string name = created->vm.name;
    if (plan) {
      if (int failed = prepare(ctx, name, *plan); failed != 0) {
        return failed;
      }
    }
    if (detach_) {
      ctx.printer.out(name + "\n");
      return 0;
    }

    int exit_code = attach_any(ctx, created->vm, command, plan.has_value());
    if (rm_) {
      if (!delete_vm(ctx, name) && exit_code == 0) {
        exit_code = 1;
      }
    } else if (wants_still_running_reminder({.shell = command.empty(),
                                             .rm = rm_,
                                             .stdin_is_tty = ::isatty(STDIN_FILENO) == 1,
                                             .stderr_is_tty = ctx.printer.err_is_tty()})) {
      remind_if_still_running(ctx, name);
    }
    return exit_code;
  }

 private:
  DefaultedFlags defaulted_;
  Expected<api::VmCreate::Response> create(Context& ctx, std::string spec_suffix) {
    BANGER_TRY_ASSIGN(auto client, ctx.connect(Connect::start_if_needed));
    ProgressRenderer progress(ctx);
    progress.set_spec_suffix(std::move(spec_suffix));
    auto created = client.call<api::VmCreate>(
        request_, [&](const api::Event& event) { progress.on_event(event); });
    progress.finish();
    return created;
  }

  // The VM a failed create recorded, if exactly one appeared (or the requested name did).
  std::optional<std::string> find_new_vm(Context& ctx, const std::set<std::string>& before) {
    auto after = vm_names(ctx);
    if (!after) {
      return std::nullopt;
    }
    std::vector<std::string> added;
    for (const auto& name : *after) {
      if (before.count(name) == 0) {
        added.push_back(name);
      }
    }
    if (!request_.name.empty()) {
      bool present = std::find(added.begin(), added.end(), request_.name) != added.end();
      return present ? std::optional(request_.name) : std::nullopt;
    }
    return added.size() == 1 ? std::optional(added[0]) : std::nullopt;
  }

  // Copies the workspace and starts the tooling bootstrap. 0, or banger's exit code after a
  // failure: the VM is deleted with --rm (also after Ctrl-C), kept otherwise with the retry.
  int prepare(Context& ctx, const std::string& name, const workspace::Plan& plan) {
    Status copied;
    {
      SignalPipe signals;
      copied = copy_workspace(ctx, name, {.plan = plan, .signals = &signals});
    }
    if (!copied) {
      int code = report_error(ctx, copied.error());
      if (rm_) {
        (void)delete_vm(ctx, name);
      } else {
        ctx.printer.err(
            fmt::format("kept {0}: copy again with banger vm workspace prepare {0} {1}\n", name,
                        escape_control(path_)));
      }
      return code;
    }
    if (!no_bootstrap_) {
      start_bootstrap(ctx, name, plan);
    }
    return 0;
  }

  // The tooling bootstrap (toolingplan): best effort, in the background in the guest, logged
  // there; never fails vm run.
  void start_bootstrap(Context& ctx, const std::string& name, const workspace::Plan& plan) {
    std::map<std::string, std::string> files;
    for (auto file : toolingplan::kDetectedFiles) {
      if (auto text =
              read_small_file(plan.root + "/" + std::string(file), toolingplan::kMaxFileBytes)) {
        files.emplace(std::string(file), std::move(*text));
      }
    }
    auto tooling = toolingplan::plan(files, plan.repo_name, {.repo_dir = kGuestWorkspaceDir});
    for (const auto& warning : tooling.warnings) {
      ctx.printer.err("banger: tooling: " + escape_control(warning) + "\n");
    }
    if (tooling.guest_script.empty()) {
      return;
    }
    const std::string summary = escape_control(toolingplan::render_summary(tooling));
    if (tooling.needs_network && !request_.nat) {
      // SPEC S12: without NAT the installs could only fail; say so instead of trying.
      ctx.printer.err("banger: warning: " + summary +
                      ": skipped, the installs need the network and this VM has none (use "
                      "--nat, or --no-bootstrap to silence this)\n");
      return;
    }
    ctx.printer.err(summary + " (log: " + tooling.log_path + ")\n");
    // setsid: the installs outlive this stream session and its process group.
    auto started = run_in_guest(
        ctx, name,
        {.argv = {"sh", "-c",
                  "if command -v setsid >/dev/null 2>&1; then setsid sh -c \"$1\"; else sh -c "
                  "\"$1\"; fi </dev/null >/dev/null 2>&1 &",
                  "banger-bootstrap", tooling.guest_script},
         .cwd = kGuestWorkspaceDir},
        {});
    if (!started || started->exit_code != 0) {
      ctx.printer.err("banger: warning: the tooling bootstrap did not start" +
                      (started ? std::string() : ": " + escape_control(started.error().message)) +
                      "\n");
    }
  }

  // --rm: deletes the VM; false (reported) when that failed.
  bool delete_vm(Context& ctx, const std::string& name) {
    // A second Ctrl-C must not leave the VM behind half-deleted.
    InterruptCatcher ignore_interrupts;
    auto deleted = call_daemon<api::VmDelete>(ctx, {.names = {name}});
    if (!deleted) {
      report_error(ctx, with_context(deleted.error(), "deleting " + name));
      return false;
    }
    return true;
  }

  // Runs ssh as a child (not exec: --rm and the "still running" note come after it), or, for a
  // command whose stdin is not a terminal, the command through the agent's stream channel (no
  // ssh handshake). Returns banger's exit code: the command's in command mode, 0/1 for an
  // interactive session. In a workspace both run in /root/repo.
  // --vcpu, --memory, --disk-size and --publish into the request: 0, or kUsageError after
  // saying which flag is wrong.
  int fill_sizes_and_ports(Context& ctx) {
    if (vcpu_ > 0) {
      request_.vcpu = vcpu_;
    }
    for (auto [flag, text, out] : {std::tuple{"--memory", &memory_, &request_.memory_mib},
                                   std::tuple{"--disk-size", &disk_, &request_.disk_size_mib}}) {
      if (text->empty()) {
        continue;
      }
      auto mib = config::parse_size_mib(*text);
      if (!mib) {
        ctx.printer.err(fmt::format("banger: {}: {}\n", flag, mib.error().message));
        return kUsageError;
      }
      *out = *mib;
    }
    auto publish = parse_forward_specs(publish_);
    if (!publish) {
      ctx.printer.err(fmt::format("banger: --publish: {}\n", publish.error().message));
      return kUsageError;
    }
    request_.publish = std::move(*publish);
    return 0;
  }

  // attach_through_agent for an image without sshd (a pulled one), else attach (ssh). An older
  // daemon without image.show gets the ssh path.
  int attach_any(Context& ctx, const api::VmInfo& vm, const std::vector<std::string>& command,
                 bool in_workspace) {
    auto image = call_daemon<api::ImageShow>(ctx, {.name = vm.image});
    return image && !image->image.ssh
               ? attach_through_agent(ctx, vm.name, command, in_workspace, image->image)
               : attach(ctx, vm.name, command, in_workspace);
  }

  // The shell or command of an image without sshd (a pulled one): on an agent PTY when stdin
  // is a terminal, else on plain stream channels. The shell is the image's bash or sh, else
  // (distroless) banger's busybox sh.
  int attach_through_agent(Context& ctx, const std::string& name, std::vector<std::string> command,
                           bool in_workspace, const api::ImageInfo& image) {
    const bool stdin_tty = ::isatty(STDIN_FILENO) == 1;
    if (command.empty()) {
      const std::string launcher =
          image.init_flavour == "busybox" ? "/usr/local/lib/banger/bin/sh" : "/bin/sh";
      command = {launcher, "-c",
                 "for s in /bin/bash /bin/sh; do [ -x \"$s\" ] && exec \"$s\" -l; done; "
                 "exec " +
                     launcher + " -l"};
      if (!stdin_tty) {
        return report_error(ctx, Error{Errc::invalid_argument,
                                       fmt::format("an interactive shell needs a terminal on "
                                                   "stdin; run a command instead: banger vm "
                                                   "exec {} -- <command>",
                                                   name)});
      }
    }
    GuestRun run{.argv = command,
                 .cwd = in_workspace ? kGuestWorkspaceDir : "",
                 .env = {},
                 .timeout_s = 0,
                 .pty = std::nullopt};
    auto ran = stdin_tty ? run_on_terminal(ctx, name, run, /*interactive=*/true)
                         : run_on_stdio(ctx, name, run);
    if (!ran) {
      return report_error(ctx, ran.error());
    }
    return ran->exit_code;
  }

  int attach(Context& ctx, const std::string& name, std::vector<std::string> command,
             bool in_workspace) {
    const bool stdin_tty = ::isatty(STDIN_FILENO) == 1;
    if (!command.empty() && !stdin_tty) {
      auto ran =
          run_on_stdio(ctx, name, {.argv = command, .cwd = in_workspace ? kGuestWorkspaceDir : ""});
      if (!ran) {
        return report_error(ctx, ran.error());
      }
      return ran->exit_code;
    }
    bool force_tty = false;
    if (in_workspace) {
      // ssh runs its command through the guest's login shell: cd there first.
      if (command.empty()) {
        command = {"sh", "-c", "cd /root/repo && exec \"${SHELL:-/bin/sh}\" -l"};
        force_tty = stdin_tty;
      } else {
        command.insert(command.begin(), {"sh", "-c", "cd /root/repo && exec \"$@\"", "sh"});
      }
    }
    auto info = [&]() -> Expected<api::VmSshInfo::Response> {
      // Not kept open during the session: the daemon may restart meanwhile.
      BANGER_TRY_ASSIGN(auto client, ctx.connect(Connect::start_if_needed));
      return client.call<api::VmSshInfo>({.name = name});
    }();
    if (!info) {
      return report_error(ctx, info.error());
    }
    auto spec = ssh_spec_for(*info, command, stdin_tty);
    if (!spec) {
      return report_error(ctx, spec.error());
    }
    spec->force_tty = spec->force_tty || force_tty;
    spec->preserve_argv = true;
    auto ran = run_child(build_ssh_argv(*spec));
    if (!ran) {
      return report_error(ctx, with_ssh_hint(ran.error()));
    }
    if (!command.empty() && !force_tty) {
      return *ran;  // the guest command's exit code (255: ssh could not connect)
    }
    if (*ran == kSshConnectionError) {
      return report_error(
          ctx, Error{Errc::command_failed, fmt::format("ssh to {} failed (exit {})", name, *ran)});
    }
    return 0;
  }

  std::string path_;
  std::vector<std::string> command_;
  bool path_parsed_ = false;
  bool path_after_separator_ = false;
  api::VmCreate::Request request_;
  std::vector<std::string> publish_;
  CLI::Option* name_option_ = nullptr;
  int vcpu_ = 0;
  std::string memory_;
  std::string disk_;
  bool rm_ = false;
  bool detach_ = false;
  WorkspaceFlags workspace_flags_;
  bool dry_run_ = false;
  bool no_bootstrap_ = false;
};

}  // namespace

CommandEntry vm_run_entry() {
  return {{"vm", "run"},
          "create and boot a VM, then open a shell in it or run a command there",
          "  banger vm run                          # a shell in a fresh VM\n"
          "  banger vm run . -- make test           # copy this repo to /root/repo, run there\n"
          "  banger vm run --rm ./repo --include-untracked --branch try -- ./ci.sh\n"
          "  banger vm run ./repo --dry-run         # what would be copied\n"
          "  banger vm run --rm -- uname -a         # run one command, then delete the VM\n"
          "  banger vm run --image tiny -- sh -c 'exit 7'; echo $?   # 7\n"
          "  banger vm run -d --name web --nat      # boot in the background",
          {},
          [] { return std::make_unique<VmRunCommand>(); }};
}

}  // namespace banger::cli
