#include "banger/cli/workspace_flags.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "banger/base/expected.hpp"
#include "banger/config/config.hpp"
#include "banger/paths/paths.hpp"
#include "banger/posix/fd.hpp"

namespace banger::cli {

void WorkspaceFlags::declare(CLI::App& app) {
  app.add_flag("--include-untracked", include_untracked_,
               "also copy untracked files git does not ignore (default: tracked files only)");
  app.add_flag("--no-git", no_git_, "copy a plain directory: every file, no git metadata");
  app.add_option("--branch", branch_, "create this guest-only branch in the copy");
  app.add_option("--from", from_, "with --branch: start it at this commit (its clean tree)");
  app.add_flag("--force", force_,
               "copy a workspace over workspace_max_size, or replace a guest copy with "
               "unexported changes");
}

bool WorkspaceFlags::any() const {
  return include_untracked_ || no_git_ || force_ || !branch_.empty() || !from_.empty();
}

Expected<workspace::Plan> WorkspaceFlags::inspect(const std::string& path) const {
  auto env = paths::Environment::current();
  BANGER_TRY_ASSIGN(auto paths, paths::resolve_paths(env));
  BANGER_TRY_ASSIGN(auto config, config::load_config(paths, env));
  return workspace::inspect(
      {.path = path,
       .include_untracked = include_untracked_,
       .no_git = no_git_,
       .branch = branch_,
       .from = from_,
       .force = force_,
       .max_size_bytes =
           static_cast<std::uint64_t>(config.workspace_max_size_mib) * std::uint64_t{1024 * 1024}});
}

std::optional<std::string> read_small_file(const std::string& path, std::size_t max_bytes) {
  posix::Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
  struct stat st{};
  if (!fd.valid() || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return std::nullopt;
  }
  std::string text(max_bytes, '\0');
  std::size_t got = 0;
  while (got < max_bytes) {
    ssize_t n = ::read(fd.get(), text.data() + got, max_bytes - got);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      break;
    }
    got += static_cast<std::size_t>(n);
  }
  text.resize(got);
  return text;
}

}  // namespace banger::cli
