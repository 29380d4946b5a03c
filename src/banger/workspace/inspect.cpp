// inspect(): the preflight and the enumeration of what a workspace copies.
#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <set>

#include "banger/base/expected.hpp"
#include "banger/base/strings.hpp"
#include "banger/workspace/host.hpp"
#include "banger/workspace/render.hpp"
#include "banger/workspace/workspace.hpp"

namespace banger::workspace {
namespace {

std::string basename_of(const std::string& path) {
  const auto slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

Status check_options(const Options& options) {
  if (options.path.empty()) {
    return fail(Errc::invalid_argument, "the workspace path is empty");
  }
  if (!options.from.empty() && options.branch.empty()) {
    return fail(Errc::invalid_argument, "--from needs --branch (the guest-only branch to create)");
  }
  if (options.include_untracked && (options.no_git || !options.from.empty())) {
    return fail(Errc::invalid_argument,
                options.no_git ? "--include-untracked means nothing with --no-git (every file is "
                                 "copied)"
                               : "--include-untracked cannot be used with --from (the guest gets "
                                 "the commit's clean tree)");
  }
  if (options.no_git && !options.branch.empty()) {
    return fail(Errc::invalid_argument, "--branch needs git: it cannot be used with --no-git");
  }
  if (!options.branch.empty()) {
    if (options.branch.front() == '-') {
      return fail(Errc::invalid_argument,
                  fmt::format("invalid branch name {}", host::escape_name(options.branch)));
    }
    BANGER_TRY_ASSIGN(auto check,
                      host::git("/", {"check-ref-format", "refs/heads/" + options.branch}));
    if (check.exit_code != 0) {
      return fail(Errc::invalid_argument,
                  fmt::format("invalid branch name {} (see git check-ref-format)",
                              host::escape_name(options.branch)));
    }
  }
  return {};
}

// realpath of the user's path: a symlink to a repository copies that repository.
Expected<std::string> resolve_root(const std::string& path) {
  char* resolved = ::realpath(path.c_str(), nullptr);
  if (resolved == nullptr) {
    const int err = errno;
    if (err == ENOENT || err == ENOTDIR) {
      return fail(Errc::not_found, fmt::format("workspace path {} does not exist", path));
    }
    return fail_errno(fmt::format("resolving workspace path {}", path), err);
  }
  std::string out(resolved);
  std::free(resolved);  // NOLINT(cppcoreguidelines-no-malloc): realpath's contract
  struct stat st{};
  if (::stat(out.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return fail(Errc::invalid_argument, fmt::format("workspace path {} is not a directory", path));
  }
  return out;
}

posix::Result<posix::Fd> open_root(const std::string& root) {
  const int fd = ::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    return posix::sys_fail(errno, "open " + root);
  }
  return posix::Fd(fd);
}

std::uint32_t git_mode_bits(std::string_view mode) {
  if (mode == "100755") {
    return 0755;
  }
  if (mode == "120000") {
    return 0777;
  }
  return mode == "160000" ? 0755 : 0644;
}

// Adds root/path as found in the working tree; a path that is gone (deleted, or a symlink on the
// way, as git sees it too) is skipped and `false` returned.
Expected<bool> add_worktree_entry(int root, const std::string& path, bool in_submodule,
                                  Plan& plan) {
  if (!host::is_safe_relative(path)) {
    return fail(Errc::invalid_argument,
                fmt::format("refusing unsafe path {} in {}", host::escape_name(path), plan.root));
  }
  auto st = host::stat_beneath(root, path);
  if (!st) {
    const int err = st.error().sys_errno;
    if (err == ENOENT || err == ENOTDIR || err == ELOOP || err == EXDEV) {
      return false;
    }
    return tl::unexpected(from_sys(st.error(), "inspecting " + host::escape_name(path)));
  }
  Entry entry{.path = path,
              .mode = static_cast<std::uint32_t>(st->st_mode & 07777),
              .in_submodule = in_submodule};
  if (S_ISREG(st->st_mode)) {
    entry.kind = Entry::Kind::file;
    entry.size = static_cast<std::uint64_t>(st->st_size);
    plan.total_bytes += entry.size;
  } else if (S_ISLNK(st->st_mode)) {
    entry.kind = Entry::Kind::symlink;
    entry.size = static_cast<std::uint64_t>(st->st_size);
  } else if (S_ISDIR(st->st_mode)) {
    entry.kind = Entry::Kind::directory;
  } else {
    return false;  // a fifo or device where a file was tracked: git cannot have it either
  }
  plan.entries.push_back(std::move(entry));
  return true;
}

bool under_any(const std::string& path, const std::vector<std::string>& prefixes) {
  return std::any_of(prefixes.begin(), prefixes.end(), [&](const std::string& prefix) {
    return path.size() > prefix.size() && path.compare(0, prefix.size(), prefix) == 0 &&
           path[prefix.size()] == '/';
  });
}

// XY counts of `git status --porcelain=v1 -z -uall`.
void count_status(std::string_view status, Plan& plan) {
  const auto records = host::split_nul(status);
  for (std::size_t i = 0; i < records.size(); ++i) {
    const auto& record = records[i];
    if (record.size() < 4) {
      continue;
    }
    const char x = record[0];
    const char y = record[1];
    if (x == 'R' || x == 'C') {
      ++i;  // the rename's source path follows as its own record
    }
    if (x == '?') {
      ++plan.untracked;
    } else if (x == '!') {
      continue;
    } else if (x == 'A') {
      ++plan.added;
    } else if (x == 'D' || y == 'D') {
      ++plan.deleted;
    } else {
      ++plan.modified;
    }
  }
}

Status enumerate_git_worktree(int root, Plan& plan) {
  BANGER_TRY_ASSIGN(plan.index_info, host::git_checked(plan.root, {"ls-files", "-z", "-s"}));
  for (const auto& record : host::split_nul(plan.index_info)) {
    if (record.rfind("160000 ", 0) == 0) {
      const auto tab = record.find('\t');
      if (tab != std::string::npos) {
        plan.submodules.push_back(record.substr(tab + 1));
      }
    }
  }
  plan.submodules.erase(std::unique(plan.submodules.begin(), plan.submodules.end()),
                        plan.submodules.end());
  for (const auto& submodule : plan.submodules) {
    BANGER_TRY(add_worktree_entry(root, submodule, false, plan));
  }
  // Without submodules the index's paths are the tracked files (one git process less).
  std::vector<std::string> tracked;
  if (plan.submodules.empty()) {
    for (const auto& record : host::split_nul(plan.index_info)) {
      if (const auto tab = record.find('\t'); tab != std::string::npos) {
        tracked.push_back(record.substr(tab + 1));
      }
    }
  } else {
    BANGER_TRY_ASSIGN(auto listed, host::git_checked(plan.root, {"ls-files", "-z", "--cached",
                                                                 "--recurse-submodules"}));
    tracked = host::split_nul(listed);
  }
  std::set<std::string> seen(plan.submodules.begin(), plan.submodules.end());
  for (const auto& path : tracked) {
    if (!seen.insert(path).second) {
      continue;  // an unmerged path is listed once per stage
    }
    BANGER_TRY(add_worktree_entry(root, path, under_any(path, plan.submodules), plan));
  }
  if (plan.options.include_untracked) {
    BANGER_TRY_ASSIGN(auto others, host::git_checked(plan.root, {"ls-files", "-z", "--others",
                                                                 "--exclude-standard"}));
    for (const auto& path : host::split_nul(others)) {
      if (!path.empty() && path.back() != '/' && seen.insert(path).second) {
        BANGER_TRY(add_worktree_entry(root, path, false, plan));
      }
    }
  }
  BANGER_TRY_ASSIGN(auto status,
                    host::git_checked(plan.root, {"status", "--porcelain=v1", "-z", "-uall",
                                                  "--ignore-submodules=none"}));
  count_status(status, plan);
  return {};
}

// --from: the commit's tree, read from git's objects by the stream writer.
Status enumerate_commit_tree(Plan& plan) {
  BANGER_TRY_ASSIGN(auto tree, host::git_checked(plan.root, {"ls-tree", "-r", "-z", "-l",
                                                             "--full-tree", plan.from_commit}));
  for (const auto& record : host::split_nul(tree)) {
    // "<mode> <type> <oid> <size>\t<path>"
    const auto tab = record.find('\t');
    const auto fields = base::split(record.substr(0, tab == std::string::npos ? 0 : tab), ' ');
    std::vector<std::string> words;
    for (const auto& field : fields) {
      if (!field.empty()) {
        words.push_back(field);
      }
    }
    if (tab == std::string::npos || words.size() != 4) {
      return fail(Errc::internal, "unexpected git ls-tree output");
    }
    Entry entry{.path = record.substr(tab + 1), .mode = git_mode_bits(words[0])};
    if (!host::is_safe_relative(entry.path)) {
      return fail(Errc::invalid_argument, fmt::format("refusing unsafe path {} in {}",
                                                      host::escape_name(entry.path), plan.root));
    }
    if (words[1] == "commit") {
      entry.kind = Entry::Kind::directory;
      plan.submodules.push_back(entry.path);
    } else {
      entry.kind = words[0] == "120000" ? Entry::Kind::symlink : Entry::Kind::file;
      entry.size = std::strtoull(words[3].c_str(), nullptr, 10);
      entry.oid = words[2];
      if (entry.kind == Entry::Kind::file) {
        plan.total_bytes += entry.size;
      }
    }
    plan.entries.push_back(std::move(entry));
  }
  return {};
}

// --no-git: every directory, file and symlink under the root (the root's own .git excepted),
// depth first, never following a symlink. Sockets, fifos and devices are left out.
Status walk_plain(int root, const std::string& relative, Plan& plan) {
  auto dir_fd = host::open_beneath(root, relative.empty() ? "." : relative,
                                   O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
  if (!dir_fd) {
    return tl::unexpected(from_sys(dir_fd.error(), "listing " + plan.root));
  }
  DIR* dir = ::fdopendir(dir_fd->release());
  if (dir == nullptr) {
    return fail_errno("listing " + plan.root + "/" + relative, errno);
  }
  std::vector<std::string> names;
  while (const dirent* ent = ::readdir(dir)) {
    const std::string name = ent->d_name;
    if (name != "." && name != ".." && !(relative.empty() && name == ".git")) {
      names.push_back(name);
    }
  }
  ::closedir(dir);
  std::sort(names.begin(), names.end());
  for (const auto& name : names) {
    const std::string path = relative.empty() ? name : relative + "/" + name;
    BANGER_TRY_ASSIGN(const bool added, add_worktree_entry(root, path, false, plan));
    if (added && plan.entries.back().kind == Entry::Kind::directory) {
      BANGER_TRY(walk_plain(root, path, plan));
    }
  }
  return {};
}

// The slow path of inspect_git: why the path is not a usable work tree.
Status diagnose_git(Plan& plan) {
  auto probe = host::git(plan.root, {"rev-parse", "--is-bare-repository", "--is-inside-work-tree"});
  BANGER_TRY(probe);
  const auto lines = base::split(base::trim(probe->out), '\n');
  if (probe->exit_code != 0 || lines.size() != 2) {
    return fail(Errc::failed_precondition,
                fmt::format("{} is not inside a git work tree (--no-git copies a plain "
                            "directory: all files, no git metadata)",
                            plan.options.path));
  }
  if (lines[0] == "true") {
    return fail(Errc::failed_precondition,
                fmt::format("{} is a bare git repository: a workspace needs a work tree",
                            plan.options.path));
  }
  if (lines[1] != "true") {
    return fail(Errc::failed_precondition,
                fmt::format("{} is not inside a git work tree (it is inside a .git directory)",
                            plan.options.path));
  }
  return fail(Errc::failed_precondition,
              fmt::format("the repository at {} has no commit yet: commit once, or use --no-git",
                          plan.options.path));
}

Status inspect_git(Plan& plan) {
  // One git for the common case; diagnose_git explains a failure.
  auto probe = host::git(plan.root, {"rev-parse", "--is-bare-repository", "--is-inside-work-tree",
                                     "--show-toplevel", "HEAD", "--symbolic-full-name", "HEAD"});
  BANGER_TRY(probe);
  const auto lines = base::split(base::trim(probe->out), '\n');
  if (probe->exit_code != 0 || lines.size() != 5 || lines[0] != "false" || lines[1] != "true") {
    return diagnose_git(plan);
  }
  plan.root = lines[2];
  plan.repo_name = basename_of(plan.root);
  constexpr std::string_view kHeads = "refs/heads/";
  plan.head = lines[3];
  plan.branch = lines[4].rfind(kHeads, 0) == 0 ? lines[4].substr(kHeads.size()) : "";
  BANGER_TRY_ASSIGN(auto origin, host::git(plan.root, {"config", "--get", "remote.origin.url"}));
  // The value as git stores it (only the newline git config --get ends it with is dropped).
  if (origin.exit_code == 0 && !origin.out.empty() && origin.out.back() == '\n') {
    origin.out.pop_back();
  }
  plan.origin_url = origin.exit_code == 0 ? origin.out : "";
  if (!plan.options.from.empty()) {
    if (plan.options.from.front() == '-') {
      return fail(Errc::invalid_argument,
                  fmt::format("--from {}: not a commit", host::escape_name(plan.options.from)));
    }
    BANGER_TRY_ASSIGN(auto from, host::git(plan.root, {"rev-parse", "--verify", "-q",
                                                       plan.options.from + "^{commit}"}));
    if (from.exit_code != 0) {
      return fail(Errc::not_found, fmt::format("--from {}: no such commit in {}",
                                               host::escape_name(plan.options.from), plan.root));
    }
    plan.from_commit = std::string(base::trim(from.out));
    plan.head = plan.from_commit;
    return enumerate_commit_tree(plan);
  }
  return {};
}

}  // namespace

Expected<Plan> inspect(const Options& options) {
  BANGER_TRY(check_options(options));
  Plan plan{.options = options};
  BANGER_TRY_ASSIGN(plan.root, resolve_root(options.path));
  plan.repo_name = basename_of(plan.root);
  plan.git = !options.no_git;
  if (plan.git) {
    BANGER_TRY(inspect_git(plan));
  }
  auto root = open_root(plan.root);
  if (!root) {
    return tl::unexpected(from_sys(root.error(), "opening the workspace"));
  }
  if (!plan.git) {
    BANGER_TRY(walk_plain(root->get(), "", plan));
  } else if (plan.from_commit.empty()) {
    BANGER_TRY(enumerate_git_worktree(root->get(), plan));
  }
  if (plan.total_bytes > options.max_size_bytes && !options.force) {
    return fail(Errc::failed_precondition,
                fmt::format("{} is {}, over workspace_max_size {}: use --force", plan.root,
                            human_size(plan.total_bytes), human_size(options.max_size_bytes)));
  }
  return plan;
}

}  // namespace banger::workspace
