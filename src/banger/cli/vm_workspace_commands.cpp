// `vm workspace prepare|export|show` (SPEC S12, docs/workspaces.md): copy a workspace into a
// running VM again, get the guest's changes back as a patch, and see where a copy came from and
// what changed in it since.
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <optional>

#include "banger/api/bytes.hpp"
#include "banger/api/json_codec.hpp"
#include "banger/api/vm.hpp"
#include "banger/base/expected.hpp"
#include "banger/cli/command.hpp"
#include "banger/cli/guest_stream.hpp"
#include "banger/cli/printer.hpp"
#include "banger/cli/workspace_flags.hpp"
#include "banger/posix/fd.hpp"

namespace banger::cli {
namespace {

class VmWorkspacePrepareCommand final : public Command {
 public:
  void declare(CLI::App& app) override {
    app.add_option("vm", vm_, "VM name or id (running)")->required();
    app.add_option("path", path_, "the workspace to copy to /root/repo")->required();
    flags_.declare(app);
    app.add_flag("--dry-run", dry_run_, "print the files that would be copied and exit");
  }
  int run(Context& ctx) override {
    auto plan = flags_.inspect(path_);
    if (!plan) {
      return report_error(ctx, plan.error());
    }
    if (dry_run_) {
      ctx.printer.out(workspace::render_dry_run(*plan));
      return 0;
    }
    ctx.printer.err(escape_control(workspace::spec_fragment(*plan)) + " -> " + vm_ +
                    ":/root/repo\n");
    SignalPipe signals;
    if (auto copied = copy_workspace(ctx, vm_, {.plan = *plan, .signals = &signals}); !copied) {
      return report_error(ctx, copied.error());
    }
    return 0;
  }

 private:
  std::string vm_;
  std::string path_;
  WorkspaceFlags flags_;
  bool dry_run_ = false;
};

class VmWorkspaceExportCommand final : public Command {
 public:
  void declare(CLI::App& app) override {
    app.add_option("vm", vm_, "VM name or id (running)")->required();
    app.add_option("--base-commit", base_,
                   "diff from this commit (include the guest's commits since it); default: the "
                   "guest's HEAD");
    app.add_option("-o,--output", output_, "write the patch to this file (default: stdout)");
  }
  int run(Context& ctx) override {
    std::optional<std::string> base;
    if (!base_.empty()) {
      base = base_;
    }
    posix::Fd file;
    int out_fd = STDOUT_FILENO;
    std::string partial = output_ + ".partial";
    if (!output_.empty()) {
      // Written beside the target and renamed when complete: a failed export leaves no
      // half patch that `git apply` would half apply.
      file.reset(::open(partial.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
      if (!file.valid()) {
        return report_error(ctx, fail_errno("creating " + partial, errno).value());
      }
      out_fd = file.get();
    }
    auto command = workspace::guest_export_command(base, kGuestWorkspaceDir);
    SignalPipe signals;
    auto ran = run_in_guest(
        ctx, vm_, {.argv = command.argv, .cwd = command.cwd},
        {.stdout_fd = out_fd, .stderr_fd = STDERR_FILENO, .interrupt_fd = signals.read_fd()});
    auto done = [&]() -> Status {
      BANGER_TRY(ran);
      if (ran->exit_code == workspace::kNoWorkspaceExitCode) {
        return fail(Errc::failed_precondition,
                    fmt::format("vm {} has no git workspace in /root/repo", vm_));
      }
      if (ran->exit_code != 0) {
        return fail(
            Errc::command_failed,
            fmt::format("exporting the workspace of {} failed (exit {})", vm_, ran->exit_code));
      }
      return {};
    }();
    if (!output_.empty()) {
      file.reset();
      if (!done) {
        ::unlink(partial.c_str());
      } else if (::rename(partial.c_str(), output_.c_str()) != 0) {
        done = fail_errno("renaming " + partial + " to " + output_, errno);
      }
    }
    if (!done) {
      return report_error(ctx, done.error());
    }
    return 0;
  }

 private:
  std::string vm_;
  std::string base_;
  std::string output_;
};

class VmWorkspaceShowCommand final : public Command {
 public:
  void declare(CLI::App& app) override {
    app.add_option("vm", vm_, "VM name or id")->required();
    app.add_flag("--json", json_, "print JSON");
  }
  int run(Context& ctx) override {
    auto shown = call_daemon<api::VmShow>(ctx, {.name = vm_});
    if (!shown) {
      return report_error(ctx, shown.error());
    }
    const auto& recorded = shown->vm.workspace;
    if (recorded.path.empty()) {
      return report_error(
          ctx, Error{Errc::not_found, fmt::format("vm {} has no workspace: copy one with banger vm "
                                                  "workspace prepare {} <path>",
                                                  vm_, vm_)});
    }
    // The guest's side only while it runs; a stopped VM still shows where its copy came from.
    std::optional<workspace::GuestStatus> guest;
    std::string guest_error;
    if (shown->vm.state == "running") {
      auto status = guest_status(ctx);
      if (status) {
        guest = *status;
      } else {
        guest_error = status.error().message;
      }
    }
    if (json_) {
      nlohmann::json out = api::to_json_value(recorded);
      if (guest) {
        out["guest"] = {{"head", guest->head},
                        {"branch", guest->branch},
                        {"changed", guest->changed},
                        {"untracked", guest->untracked},
                        {"unexported", guest->unexported}};
      }
      print_json(ctx, out);
      return 0;
    }
    Table table{{"source:", escape_control(recorded.path)},
                {{"repo:", escape_control(recorded.repo)},
                 {"copied at:", recorded.head.empty() ? "(no git)" : recorded.head},
                 {"branch:", recorded.branch.empty() ? "-" : escape_control(recorded.branch)},
                 {"prepared:", recorded.prepared_at}}};
    if (guest) {
      table.rows.push_back({"guest head:", guest->head.empty() ? "-" : guest->head});
      table.rows.push_back(
          {"guest dirty:",
           fmt::format("{} changed, {} untracked{}", guest->changed, guest->untracked,
                       guest->unexported ? " (not exported yet)" : "")});
    } else if (!guest_error.empty()) {
      table.rows.push_back({"guest:", escape_control(guest_error)});
    } else {
      table.rows.push_back({"guest:", "(not running)"});
    }
    ctx.printer.out(render_table(table));
    ctx.printer.err(head_moved_warning(recorded));
    return 0;
  }

 private:
  // Runs guest_status_command through vm.exec (small, bounded output) and parses it.
  Expected<workspace::GuestStatus> guest_status(Context& ctx) {
    auto command = workspace::guest_status_command(kGuestWorkspaceDir);
    BANGER_TRY_ASSIGN(
        auto ran,
        call_daemon<api::VmExec>(
            ctx, {.name = vm_, .argv = command.argv, .cwd = command.cwd, .timeout_s = 60}));
    if (ran.exit_code == workspace::kNoWorkspaceExitCode) {
      return fail(Errc::not_found, "/root/repo is gone in the guest");
    }
    if (ran.exit_code != 0) {
      return fail(Errc::command_failed,
                  fmt::format("reading the guest's /root/repo failed (exit {})", ran.exit_code));
    }
    return workspace::parse_guest_status(api::base64_decode(ran.stdout_b64).value_or(""));
  }

  std::string vm_;
  bool json_ = false;
};

}  // namespace

std::vector<CommandEntry> vm_workspace_commands() {
  return {{{"vm", "workspace", "prepare"},
           "copy a workspace into a running VM's /root/repo again (replacing it)",
           "  banger vm workspace prepare web .\n"
           "  banger vm workspace prepare web ~/src/app --include-untracked --force",
           {},
           factory<VmWorkspacePrepareCommand>()},
          {{"vm", "workspace", "export"},
           "print the guest's changes to /root/repo as a patch for git apply",
           "  banger vm workspace export web | git apply\n"
           "  banger vm workspace export web --base-commit $(git rev-parse HEAD) -o guest.patch",
           {},
           factory<VmWorkspaceExportCommand>()},
          {{"vm", "workspace", "show"},
           "where a VM's workspace came from and what changed in it since",
           "  banger vm workspace show web\n  banger vm workspace show web --json",
           {},
           factory<VmWorkspaceShowCommand>()}};
}

}  // namespace banger::cli
