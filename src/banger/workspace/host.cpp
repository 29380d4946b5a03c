#include "banger/workspace/host.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <map>

#include <linux/openat2.h>

#include "banger/base/expected.hpp"
#include "banger/base/strings.hpp"
#include "banger/sys/command_runner.hpp"

namespace banger::workspace::host {
namespace {

// git on a big repository (ls-files, status of 100,000 files) is slow but bounded.
constexpr auto kGitTimeout = std::chrono::minutes(10);

}  // namespace

Expected<GitResult> git(const std::string& root, const std::vector<std::string>& args) {
  return git(root, args, {}, {});
}

Expected<GitResult> git(const std::string& root, const std::vector<std::string>& args,
                        std::string input, const std::map<std::string, std::string>& env) {
  sys::Command command;
  command.stdin_data = std::move(input);
  // core.fsmonitor=false: a repository's config must not make `git status` run a program.
  command.argv = {"git", "--no-pager", "--no-optional-locks", "-c", "core.fsmonitor=false",
                  "-C",  root};
  command.argv.insert(command.argv.end(), args.begin(), args.end());
  command.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(kGitTimeout);
  command.env_overrides = {{"LC_ALL", "C"}, {"GIT_TERMINAL_PROMPT", "0"}, {"GIT_PAGER", "cat"}};
  command.env_overrides.insert(env.begin(), env.end());
  sys::PosixCommandRunner runner;
  auto result = runner.run(command);
  if (!result) {
    if (result.error().code == Errc::not_found) {
      return fail(Errc::unavailable,
                  "git is not installed on this host (install git, or use --no-git)");
    }
    return tl::unexpected(with_context(result.error(), "running git"));
  }
  return GitResult{result->exit_code, std::move(result->out), std::move(result->err)};
}

Expected<std::string> git_checked(const std::string& root, const std::vector<std::string>& args) {
  return git_checked(root, args, {}, {});
}

Expected<std::string> git_checked(const std::string& root, const std::vector<std::string>& args,
                                  std::string input,
                                  const std::map<std::string, std::string>& env) {
  BANGER_TRY_ASSIGN(auto result, git(root, args, std::move(input), env));
  if (result.exit_code != 0) {
    std::size_t command = 0;
    while (command + 1 < args.size() && args[command] == "-c") {
      command += 2;
    }
    return fail(Errc::command_failed, fmt::format("git {} in {} exited {}: {}",
                                                  command < args.size() ? args[command] : "", root,
                                                  result.exit_code, base::trim(result.err)));
  }
  return std::move(result.out);
}

std::vector<std::string> split_nul(std::string_view text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < text.size()) {
    auto end = text.find('\0', start);
    if (end == std::string_view::npos) {
      end = text.size();
    }
    out.emplace_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

bool is_safe_relative(std::string_view path) {
  if (path.empty() || path.front() == '/') {
    return false;
  }
  for (const auto& part : base::split(path, '/')) {
    if (part.empty() || part == "." || part == "..") {
      return false;
    }
  }
  return true;
}

posix::Result<posix::Fd> open_beneath(int root, const std::string& relative, int flags) {
  open_how how{};
  how.flags = static_cast<std::uint64_t>(flags) | O_CLOEXEC;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  long fd = -1;
  do {
    fd = ::syscall(SYS_openat2, root, relative.c_str(), &how, sizeof how);
  } while (fd < 0 && (errno == EINTR || errno == EAGAIN));
  if (fd < 0) {
    return posix::sys_fail(errno, "open " + relative);
  }
  return posix::Fd(static_cast<int>(fd));
}

posix::Result<struct stat> stat_beneath(int root, const std::string& relative) {
  auto fd = open_beneath(root, relative, O_PATH | O_NOFOLLOW);
  if (!fd) {
    return tl::unexpected(fd.error());
  }
  struct stat st{};
  if (::fstat(fd->get(), &st) != 0) {
    return posix::sys_fail(errno, "stat " + relative);
  }
  return st;
}

Expected<std::string> read_link_beneath(int root, const std::string& relative) {
  auto fd = open_beneath(root, relative, O_PATH | O_NOFOLLOW);
  if (!fd) {
    return tl::unexpected(from_sys(fd.error()));
  }
  std::string target(4096, '\0');
  const auto n = ::readlinkat(fd->get(), "", target.data(), target.size());
  if (n < 0) {
    return fail_errno("reading the symlink " + escape_name(relative), errno);
  }
  target.resize(static_cast<std::size_t>(n));
  return target;
}

std::string escape_name(std::string_view name) {
  std::string out;
  for (const char c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u >= 0x7f) {
      out += fmt::format("\\{:03o}", u);
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace banger::workspace::host
