// `banger ssh-config [--install|--uninstall]` (S9): prints the path of banger's ssh config and
// manages the one marked Include block in ~/.ssh/config. Nothing else edits ~/.ssh/config.
#include <fmt/format.h>
#include <sys/stat.h>

#include <cerrno>
#include <filesystem>

#include "banger/api/daemon.hpp"
#include "banger/base/expected.hpp"
#include "banger/cli/command.hpp"
#include "banger/cli/ssh_include.hpp"
#include "banger/paths/paths.hpp"
#include "banger/sys/fs.hpp"

namespace banger::cli {
namespace {

// ~/.ssh/config, following a symlink (dotfile managers link it) so the link survives.
Expected<std::string> user_ssh_config_path() {
  auto env = paths::Environment::current();
  if (env.home.empty()) {
    return fail(Errc::failed_precondition,
                "cannot find your home directory (HOME is unset): ~/.ssh/config is unknown");
  }
  std::string path = env.home + "/.ssh/config";
  std::error_code ec;
  if (std::filesystem::is_symlink(path, ec)) {
    auto target = std::filesystem::canonical(path, ec);
    if (ec) {
      return fail(Errc::io,
                  fmt::format("{} is a symlink that cannot be resolved: {}", path, ec.message()));
    }
    return target.string();
  }
  return path;
}

// The file's text ("" when it does not exist yet) and the mode to keep (0600 for a new file).
Expected<std::pair<std::string, mode_t>> read_user_config(const std::string& path) {
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) {
      return std::pair<std::string, mode_t>{"", 0600};
    }
    return fail_errno("reading " + path, errno);
  }
  BANGER_TRY_ASSIGN(auto text, sys::read_file(path));
  return std::pair<std::string, mode_t>{std::move(text), st.st_mode & 07777};
}

class SshConfigCommand final : public Command {
 public:
  void declare(CLI::App& app) override {
    auto* install = app.add_flag("--install", install_,
                                 "include banger's ssh config from ~/.ssh/config (marked block)");
    auto* uninstall =
        app.add_flag("--uninstall", uninstall_, "remove banger's block from ~/.ssh/config");
    install->excludes(uninstall);
    app.add_flag("--json", json_, "print JSON");
  }

  int run(Context& ctx) override {
    auto info = call_daemon<api::SshConfig>(ctx, {});
    if (!info) {
      return report_error(ctx, info.error());
    }
    if (!install_ && !uninstall_) {
      if (json_) {
        print_json(ctx, {{"path", info->path},
                         {"key_path", info->key_path},
                         {"known_hosts_path", info->known_hosts_path}});
      } else {
        ctx.printer.out(info->path + "\n");
      }
      return 0;
    }
    auto changed = edit_user_config(*info);
    if (!changed) {
      return report_error(ctx, changed.error());
    }
    if (json_) {
      print_json(ctx, {{"path", info->path}, {"user_config", *changed}, {"installed", install_}});
    } else if (install_) {
      ctx.printer.out(
          fmt::format("{} now includes {}: `ssh <vm>.vm` works\n", *changed, info->path));
    } else {
      ctx.printer.out(fmt::format("removed banger's Include from {}\n", *changed));
    }
    return 0;
  }

 private:
  // Applies --install/--uninstall; returns the edited file's path.
  Expected<std::string> edit_user_config(const api::SshConfig::Response& info) {
    if (install_) {
      BANGER_TRY_ASSIGN(auto own, paths::resolve_paths(paths::Environment::current()));
      BANGER_TRY(check_include_path(info.path, own.ssh_config));
    }
    BANGER_TRY_ASSIGN(auto path, user_ssh_config_path());
    BANGER_TRY_ASSIGN(auto current, read_user_config(path));
    std::string updated = install_ ? install_ssh_include(current.first, info.path)
                                   : uninstall_ssh_include(current.first);
    if (updated == current.first) {
      return path;  // already as asked: do not touch the file
    }
    std::string dir = std::filesystem::path(path).parent_path().string();
    BANGER_TRY(sys::make_dirs(dir, 0700));
    BANGER_TRY(sys::write_file_atomic(path, updated, current.second));
    return path;
  }

  bool install_ = false;
  bool uninstall_ = false;
  bool json_ = false;
};

}  // namespace

std::vector<CommandEntry> ssh_commands() {
  return {{{"ssh-config"},
           "print banger's ssh config path; --install includes it from ~/.ssh/config",
           "  banger ssh-config\n  banger ssh-config --install   # then: ssh web.vm\n"
           "  banger ssh-config --uninstall",
           {},
           factory<SshConfigCommand>()}};
}

}  // namespace banger::cli
