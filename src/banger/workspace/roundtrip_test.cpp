// Round trips through real git and real tar, no VM: write_upload_stream() feeds the guest
// prepare command run on the host (with GNU tar, and with busybox's applets first on PATH), and
// the result is compared with the host repository.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "banger/testkit/probes.hpp"
#include "banger/testkit/temp_dir.hpp"
#include "banger/workspace/test_support.hpp"
#include "banger/workspace/workspace.hpp"

namespace banger::workspace {
namespace {

using testing_support::bash;
using testing_support::bash_ok;
using testing_support::prepare;

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The number of NUL-terminated records of an index_info.
std::uint32_t host_records(const std::string& index_info) {
  return static_cast<std::uint32_t>(std::count(index_info.begin(), index_info.end(), '\0'));
}

bool exists(const std::string& path) {
  struct stat st{};
  return ::lstat(path.c_str(), &st) == 0;
}

class WorkspaceRoundTrip : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = testkit::probe_tools({"git", "tar"}); !why.empty()) {
      GTEST_SKIP() << why;
    }
    testing_support::isolate_git(tmp_.path());
    repo_ = tmp_.path() + "/my repo";
    testing_support::make_fixture_repo(repo_, tmp_.path() + "/sub-origin");
    guest_ = tmp_.path() + "/guest/root/repo";
  }

  // A directory of busybox applet links (sh, tar, find, sed, ...) put first on PATH: a tiny
  // image with git added.
  std::string busybox_bin() {
    if (!testkit::probe_tools({"busybox"}).empty()) {
      return "";
    }
    const std::string dir = tmp_.path() + "/busybox-bin";
    bash_ok("mkdir -p \"$1\" && busybox --install -s \"$1\"", {dir});
    return dir;
  }

  Plan inspect_ok(Options options) {
    options.path = repo_;
    auto plan = inspect(options);
    EXPECT_TRUE(plan.has_value()) << (plan ? "" : plan.error().message);
    return plan ? *plan : Plan{};
  }

  // Every entry of the plan is in the guest with the host's type, mode, bytes or link target.
  void expect_same_entries(const Plan& plan) {
    ASSERT_FALSE(plan.entries.empty());
    for (const auto& entry : plan.entries) {
      const std::string host = plan.root + "/" + entry.path;
      const std::string guest = guest_ + "/" + entry.path;
      struct stat hs{};
      struct stat gs{};
      ASSERT_EQ(::lstat(host.c_str(), &hs), 0) << entry.path;
      ASSERT_EQ(::lstat(guest.c_str(), &gs), 0) << "missing in the guest: " << entry.path;
      EXPECT_EQ(hs.st_mode & S_IFMT, gs.st_mode & S_IFMT) << entry.path;
      if (S_ISLNK(hs.st_mode)) {
        std::string ht(4096, '\0');
        std::string gt(4096, '\0');
        ht.resize(static_cast<std::size_t>(::readlink(host.c_str(), ht.data(), ht.size())));
        gt.resize(static_cast<std::size_t>(::readlink(guest.c_str(), gt.data(), gt.size())));
        EXPECT_EQ(ht, gt) << entry.path;
      } else if (S_ISREG(hs.st_mode)) {
        EXPECT_EQ(hs.st_mode & 07777, gs.st_mode & 07777) << entry.path;
        EXPECT_EQ(slurp(host), slurp(guest)) << entry.path;
      }
    }
  }

  // What git says about the host's repository and the guest's must be the same bytes.
  // Untracked files are compared only when they were copied.
  void expect_same_git_view(bool untracked = false) {
    const std::string status =
        untracked ? "git status --porcelain=v1 -z" : "git status --porcelain=v1 -z -uno";
    EXPECT_NE(bash_ok(status, {}, repo_), "");
    for (const std::string& command : std::vector<std::string>{
             status, "git diff", "git diff --cached", "git log -1 --format=%H%n%s",
             "git config --get remote.origin.url || echo no-origin",
             "git symbolic-ref -q HEAD || echo detached"}) {
      EXPECT_EQ(bash_ok(command, {}, repo_), bash_ok(command, {}, guest_)) << command;
    }
    EXPECT_EQ(bash_ok("git fsck --no-progress --no-dangling 2>&1; echo rc=$?", {}, guest_),
              "rc=0\n");
  }

  void expect_git_workspace(const std::string& tar_dir) {
    auto plan = inspect_ok({});
    ASSERT_TRUE(plan.git);
    auto run = prepare(plan, guest_, tar_dir);
    ASSERT_TRUE(run.feed.has_value()) << run.feed.error().message << "\n" << run.err;
    ASSERT_EQ(run.exit_code, 0) << run.err;
    expect_same_entries(plan);
    expect_same_git_view();
    EXPECT_FALSE(exists(guest_ + "/ignored.log"));
    EXPECT_FALSE(exists(guest_ + "/build"));
    EXPECT_FALSE(exists(guest_ + "/gone.txt"));
    EXPECT_FALSE(exists(guest_ + "/untracked.txt"));
    EXPECT_TRUE(exists(guest_ + "/sub/s.txt"));
    EXPECT_FALSE(exists(guest_ + "/.git/banger"));
    auto script = bash("./script.sh", {}, guest_);
    EXPECT_EQ(script.exit_code, 7);
    EXPECT_EQ(script.out, "script ran\n");
  }

  testkit::TempDir tmp_;
  std::string repo_;
  std::string guest_;
};

TEST_F(WorkspaceRoundTrip, GnuTarReproducesTheHostsFilesAndGitState) { expect_git_workspace(""); }

TEST_F(WorkspaceRoundTrip, BusyboxTarAndShellReproduceTheHostsFilesAndGitState) {
  const auto dir = busybox_bin();
  if (dir.empty()) {
    GTEST_SKIP() << "needs busybox";
  }
  ASSERT_NE(bash_ok("PATH=\"$1:$PATH\"; readlink -f \"$(command -v tar)\"", {dir}).find("busybox"),
            std::string::npos);
  expect_git_workspace(dir);
}

TEST_F(WorkspaceRoundTrip, IncludeUntrackedCopiesUntrackedButNeverIgnoredFiles) {
  auto plan = inspect_ok({.include_untracked = true});
  auto run = prepare(plan, guest_);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(slurp(guest_ + "/untracked.txt"), "untracked\n");
  EXPECT_FALSE(exists(guest_ + "/ignored.log"));
  EXPECT_FALSE(exists(guest_ + "/build/out"));
  expect_same_git_view(true);
}

TEST_F(WorkspaceRoundTrip, ExportAppliesOnACleanCloneAndReproducesTheGuestTree) {
  auto plan = inspect_ok({});
  ASSERT_EQ(prepare(plan, guest_).exit_code, 0);
  bash_ok(R"SH(
echo 'guest edit' >> src/mod.c
echo 'new in guest' > "$(printf 'guest\nnew.txt')"
printf '\0\1guest binary\377' > src/new.bin
rm 'with space.txt'
chmod 755 deep/er/file.txt
git mv -- -leading-dash.txt renamed-dash.txt
git add src/mod.c && git commit -q -m 'guest commit'
echo after-commit >> README.md
ln -s src guest-link
echo ig > ignored.log
)SH",
          {}, guest_);
  auto run = testing_support::run_guest(guest_export_command(plan.head, guest_), "", {});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  ASSERT_NE(run.out.find("GIT binary patch"), std::string::npos);
  const std::string clone = tmp_.path() + "/clone";
  const std::string patch = tmp_.path() + "/guest.patch";
  std::ofstream(patch, std::ios::binary) << run.out;
  bash_ok(
      "git clone -q \"$1\" \"$2\" && cd \"$2\" && git checkout -q \"$3\" && "
      "git apply --check \"$4\" && git apply \"$4\"",
      {repo_, clone, plan.head, patch});
  // The same tree (names, bytes, modes, links) on both sides, ignored files aside.
  const std::string tree_of =
      "i=$(mktemp); rm -f $i; GIT_INDEX_FILE=$i git add -A && GIT_INDEX_FILE=$i git write-tree; "
      "rm -f $i";
  const auto guest_tree = bash_ok(tree_of, {}, guest_);
  const auto clone_tree = bash_ok(tree_of, {}, clone);
  EXPECT_EQ(guest_tree, clone_tree)
      << bash_ok("git ls-tree -r " + guest_tree, {}, guest_) << "\n---\n"
      << bash_ok("git ls-tree -r " + clone_tree, {}, clone);
  EXPECT_EQ(
      bash("diff -r --no-dereference -x .git -x sub -x ignored.log \"$1\" \"$2\"", {guest_, clone})
          .exit_code,
      0);
}

TEST_F(WorkspaceRoundTrip, RefusesToReplaceUnexportedChangesUnlessForced) {
  auto plan = inspect_ok({});
  ASSERT_EQ(prepare(plan, guest_).exit_code, 0);
  auto again = prepare(plan, guest_);
  EXPECT_EQ(again.exit_code, 0) << "nothing changed in the guest: " << again.err;

  bash_ok("echo 'guest work' > guest-work.txt", {}, guest_);
  auto refused = prepare(plan, guest_);
  EXPECT_EQ(refused.exit_code, kDirtyExitCode);
  EXPECT_NE(refused.err.find("not exported"), std::string::npos) << refused.err;
  EXPECT_TRUE(exists(guest_ + "/guest-work.txt"));

  // Exporting records what was exported: the same state may then be replaced.
  auto exported = testing_support::run_guest(guest_export_command(std::nullopt, guest_), "", {});
  ASSERT_EQ(exported.exit_code, 0) << exported.err;
  EXPECT_EQ(prepare(plan, guest_).exit_code, 0);
  EXPECT_FALSE(exists(guest_ + "/guest-work.txt"));

  bash_ok("git commit -q --allow-empty -m 'guest only'", {}, guest_);
  EXPECT_EQ(prepare(plan, guest_).exit_code, kDirtyExitCode);
  plan.options.force = true;
  auto forced = prepare(plan, guest_);
  EXPECT_EQ(forced.exit_code, 0) << forced.err;
  EXPECT_EQ(bash_ok("git rev-parse HEAD", {}, guest_), plan.head + "\n");
}

TEST_F(WorkspaceRoundTrip, RefusesADirectoryBangerDidNotMake) {
  bash_ok("mkdir -p \"$1\" && echo mine > \"$1/mine.txt\"", {guest_});
  auto plan = inspect_ok({});
  auto run = prepare(plan, guest_);
  EXPECT_EQ(run.exit_code, kDirtyExitCode);
  EXPECT_NE(run.err.find("not made by banger"), std::string::npos) << run.err;
  EXPECT_EQ(slurp(guest_ + "/mine.txt"), "mine\n");
}

TEST_F(WorkspaceRoundTrip, AGuestWithoutGitFailsWithAClearMessage) {
  const auto dir = busybox_bin();
  if (dir.empty()) {
    GTEST_SKIP() << "needs busybox";
  }
  auto plan = inspect_ok({});
  auto command = guest_prepare_command(plan, guest_);
  command.argv[0] = dir + "/sh";
  command.argv.insert(command.argv.begin(), {dir + "/env", "PATH=" + dir});
  auto run = testing_support::run_guest({.argv = command.argv, .cwd = "/"}, "",
                                        [&](int fd) { return write_upload_stream(plan, fd); });
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.err.find("the image has no git"), std::string::npos) << run.err;
  ASSERT_FALSE(run.feed.has_value()) << "the guest stops reading";
  EXPECT_NE(run.feed.error().message.find("the guest stopped reading"), std::string::npos)
      << run.feed.error().message;
  EXPECT_FALSE(exists(guest_));
}

TEST_F(WorkspaceRoundTrip, NoGitCopiesEveryFileOfAPlainDirectory) {
  auto plan = inspect_ok({.no_git = true});
  EXPECT_FALSE(plan.git);
  auto run = prepare(plan, guest_);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  expect_same_entries(plan);
  EXPECT_EQ(slurp(guest_ + "/ignored.log"), "ig\n");
  EXPECT_EQ(slurp(guest_ + "/untracked.txt"), "untracked\n");
  EXPECT_FALSE(exists(guest_ + "/.git"));
  EXPECT_EQ(prepare(plan, guest_).exit_code, 0);
  bash_ok("sleep 1.1; echo changed > untracked.txt", {}, guest_);
  EXPECT_EQ(prepare(plan, guest_).exit_code, kDirtyExitCode);
}

TEST_F(WorkspaceRoundTrip, BranchFromACommitChecksOutItsCleanTreeOnANewBranch) {
  const auto first = bash_ok("git rev-parse HEAD~1", {}, repo_);
  auto plan = inspect_ok({.branch = "feature/x", .from = "HEAD~1"});
  EXPECT_EQ(plan.head + "\n", first);
  auto run = prepare(plan, guest_);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(
      bash_ok("git symbolic-ref HEAD; git rev-parse HEAD; git status --porcelain", {}, guest_),
      "refs/heads/feature/x\n" + first);
  EXPECT_TRUE(exists(guest_ + "/gone.txt"));
  EXPECT_EQ(slurp(guest_ + "/README.md"), "hello\n");
}

TEST_F(WorkspaceRoundTrip, BranchWithoutFromKeepsTheWorkingTreeChanges) {
  auto plan = inspect_ok({.branch = "try-it"});
  ASSERT_EQ(prepare(plan, guest_).exit_code, 0);
  EXPECT_EQ(bash_ok("git symbolic-ref --short HEAD", {}, guest_), "try-it\n");
  EXPECT_EQ(bash_ok("git status --porcelain=v1 -z -uno", {}, repo_),
            bash_ok("git status --porcelain=v1 -z -uno", {}, guest_));
}

TEST_F(WorkspaceRoundTrip, ACutStreamLeavesThePreviousWorkspaceAndNoStagingBehind) {
  auto plan = inspect_ok({.force = true});
  ASSERT_EQ(prepare(plan, guest_).exit_code, 0);
  bash_ok("echo kept > kept.txt", {}, guest_);
  const std::string stream = tmp_.path() + "/stream.tar";
  {
    posix::Fd out(::open(stream.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    ASSERT_TRUE(write_upload_stream(plan, out.get()).has_value());
  }
  const std::string whole = slurp(stream);
  // Mid-header, mid-data, and exactly at an entry boundary (before the end marker).
  const auto end_marker = whole.find(".git/banger/end");
  ASSERT_NE(end_marker, std::string::npos);
  for (const std::size_t cut : {std::size_t{700}, whole.size() / 2, end_marker}) {
    auto run = testing_support::run_guest(guest_prepare_command(plan, guest_), "", [&](int fd) {
      return posix::write_all(fd, std::string_view(whole).substr(0, cut)).has_value()
                 ? Status{}
                 : fail(Errc::io, "short write");
    });
    EXPECT_NE(run.exit_code, 0) << "cut at " << cut;
    EXPECT_EQ(slurp(guest_ + "/kept.txt"), "kept\n") << "cut at " << cut;
    EXPECT_FALSE(exists(tmp_.path() + "/guest/root/.repo.banger-new")) << "cut at " << cut;
  }
}

TEST_F(WorkspaceRoundTrip, ASha256RepositoryArrivesAsOne) {
  repo_ = tmp_.path() + "/sha256";
  bash_ok(
      "git init -q --object-format=sha256 -b main \"$1\" && cd \"$1\" && echo a > a && "
      "echo b > b && git add . && git commit -q -m one && echo more >> a && git rm -q b && "
      "echo c > c && git add c",
      {repo_});
  auto plan = inspect_ok({});
  ASSERT_EQ(plan.head.size(), 64U);
  auto run = prepare(plan, guest_);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(bash_ok("git rev-parse --show-object-format", {}, guest_), "sha256\n");
  expect_same_git_view();
}

// A clean repository takes the guest's short path (the fingerprint's index becomes the real
// one); the fingerprint still sees every kind of guest change, and ignored output is none.
TEST_F(WorkspaceRoundTrip, ACleanRepositoryArrivesRefreshedAndItsFingerprintHolds) {
  repo_ = tmp_.path() + "/clean";
  bash_ok(
      "git init -q -b main \"$1\" && cd \"$1\" && printf 'build/\\n' > .gitignore && "
      "echo a > a && mkdir d && echo b > d/b && chmod 755 d/b && git add . && "
      "git commit -q -m one && git remote add origin https://example.invalid/x.git",
      {repo_});
  auto plan = inspect_ok({});
  for (const std::string& tar_dir : {std::string(), busybox_bin()}) {
    plan.options.force = true;
    auto run = prepare(plan, guest_, tar_dir);
    ASSERT_EQ(run.exit_code, 0) << run.err;
    // diff-files does not refresh: an index without stat data would list every file.
    EXPECT_EQ(bash_ok("git diff-files --name-only; git status --porcelain", {}, guest_), "");
    for (const char* command : {"git log -1 --format=%H%n%s", "git config --get remote.origin.url",
                                "git symbolic-ref HEAD", "git ls-files -s"}) {
      EXPECT_EQ(bash_ok(command, {}, repo_), bash_ok(command, {}, guest_)) << command;
    }
    EXPECT_EQ(bash_ok("git fsck --no-progress --no-dangling 2>&1; echo rc=$?", {}, guest_),
              "rc=0\n");
    plan.options.force = false;
    bash_ok("mkdir build && echo out > build/out", {}, guest_);
    auto again = prepare(plan, guest_, tar_dir);
    EXPECT_EQ(again.exit_code, 0) << "ignored output is not a change: " << again.err;
    for (const char* change : {"echo edit >> a", "chmod 644 d/b", "rm a", "echo new > new",
                               "git commit -q --allow-empty -m guest"}) {
      bash_ok(change, {}, guest_);
      EXPECT_EQ(prepare(plan, guest_, tar_dir).exit_code, kDirtyExitCode) << change;
      plan.options.force = true;
      ASSERT_EQ(prepare(plan, guest_, tar_dir).exit_code, 0) << change;
      plan.options.force = false;
    }
  }
  // The short path runs one git in the guest: the index and its tree came from the host.
  const std::string wrapper = tmp_.path() + "/git-log-bin";
  std::string real_git = bash_ok("command -v git");
  real_git.pop_back();  // its newline
  ASSERT_EQ(::mkdir(wrapper.c_str(), 0755), 0);
  std::ofstream(wrapper + "/git") << "#!/bin/sh\nprintf '%s\\n' \"$*\" >> '" << wrapper
                                  << "/log'\nexec " << real_git << " \"$@\"\n";
  ASSERT_EQ(::chmod((wrapper + "/git").c_str(), 0755), 0);
  plan.options.force = true;
  ASSERT_EQ(prepare(plan, guest_, wrapper).exit_code, 0);
  EXPECT_EQ(slurp(wrapper + "/log"), "add -A -v\n");
}

// The origin URL is data in the guest's .git/config: quotes, backslashes, newlines, comment
// characters and a leading dash come back byte for byte and add no other setting.
TEST_F(WorkspaceRoundTrip, AHostileOriginUrlStaysOneValueInTheGuestsConfig) {
  const std::string url =
      "-x \"q\" back\\slash\n[core]\n\tsshCommand = touch /tmp/pwned ;# \ttab\rcr \\n end";
  bash_ok("git config remote.origin.url \"$1\"", {url}, repo_);
  auto plan = inspect_ok({});
  ASSERT_EQ(plan.origin_url, url);
  auto run = prepare(plan, guest_);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(bash_ok("git config --get remote.origin.url", {}, guest_), url + "\n");
  EXPECT_EQ(bash_ok("git config --local --name-only --list", {}, guest_),
            "core.repositoryformatversion\ncore.filemode\ncore.bare\ncore.logallrefupdates\n"
            "remote.origin.url\nremote.origin.fetch\n");
}

TEST_F(WorkspaceRoundTrip, TheStreamRefusesABranchThatLeavesRefsHeads) {
  auto plan = inspect_ok({});
  for (const char* branch :
       {"../../config", "a/../../b", "a//b", ".hidden", "a/.b", "sp ace", "new\nline", "/abs"}) {
    plan.options.branch = branch;
    posix::Fd fd(::open("/dev/null", O_WRONLY | O_CLOEXEC));
    auto status = write_upload_stream(plan, fd.get());
    ASSERT_FALSE(status.has_value()) << branch;
    EXPECT_EQ(status.error().code, Errc::invalid_argument) << branch;
  }
}

// The index is built on the host in the plainest format: version 2, the entries, no extension,
// a real checksum (any guest git reads it).
TEST_F(WorkspaceRoundTrip, TheStreamsIndexIsAPlainVersion2Index) {
  auto plan = inspect_ok({});
  const std::string stream = tmp_.path() + "/stream.tar";
  {
    posix::Fd out(::open(stream.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    ASSERT_TRUE(write_upload_stream(plan, out.get()).has_value());
  }
  const std::string index = bash_ok("tar -xOf \"$1\" .git/index", {stream});
  ASSERT_GE(index.size(), 32U);
  const auto be = [&](std::size_t at, int bytes) {
    std::uint32_t value = 0;
    for (int i = 0; i < bytes; ++i) {
      value = (value << 8) | static_cast<unsigned char>(index[at + static_cast<std::size_t>(i)]);
    }
    return value;
  };
  EXPECT_EQ(index.substr(0, 4), "DIRC");
  EXPECT_EQ(be(4, 4), 2U);
  const auto count = be(8, 4);
  EXPECT_EQ(count, host_records(plan.index_info));
  std::size_t offset = 12;
  for (std::uint32_t i = 0; i < count && offset + 62 <= index.size(); ++i) {
    const std::size_t name_length = be(offset + 60, 2) & 0xfff;
    offset += (62 + name_length + 8) & ~std::size_t{7};
  }
  EXPECT_EQ(offset + 20, index.size()) << "no extensions after the entries";
  EXPECT_NE(index.substr(index.size() - 20), std::string(20, '\0')) << "a real checksum";
}

// Objects over one pack block travel in blocks and the guest indexes them.
TEST_F(WorkspaceRoundTrip, APackOverOneBlockIsIndexedInTheGuest) {
  bash_ok("head -c 1500000 /dev/urandom > random.bin && git add random.bin", {}, repo_);
  auto plan = inspect_ok({});
  const std::string stream = tmp_.path() + "/stream.tar";
  {
    posix::Fd out(::open(stream.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    ASSERT_TRUE(write_upload_stream(plan, out.get()).has_value());
  }
  EXPECT_NE(bash_ok("tar -tf \"$1\"", {stream}).find(".git/banger/pack/000001"), std::string::npos);
  auto run = prepare(plan, guest_);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  expect_same_entries(plan);
  expect_same_git_view();
  EXPECT_FALSE(exists(guest_ + "/.git/banger"));
}

// Unmerged entries have no tree on the host: the guest computes the fingerprint itself.
TEST_F(WorkspaceRoundTrip, AnUnmergedIndexArrivesAsTheHostHasIt) {
  repo_ = tmp_.path() + "/conflict";
  bash_ok(
      "git init -q -b main \"$1\" && cd \"$1\" && echo base > f && git add f && "
      "git commit -q -m base && git checkout -q -b other && echo other > f && "
      "git commit -q -am other && git checkout -q main && echo main > f && "
      "git commit -q -am main && ! git merge -q other >/dev/null 2>&1",
      {repo_});
  auto plan = inspect_ok({});
  auto run = prepare(plan, guest_);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(bash_ok("git ls-files -s", {}, repo_), bash_ok("git ls-files -s", {}, guest_));
  EXPECT_EQ(bash_ok("git status --porcelain", {}, repo_),
            bash_ok("git status --porcelain", {}, guest_));
  EXPECT_EQ(prepare(plan, guest_).exit_code, 0) << "the fingerprint holds";
  bash_ok("echo edit > f", {}, guest_);
  EXPECT_EQ(prepare(plan, guest_).exit_code, kDirtyExitCode);
}

TEST_F(WorkspaceRoundTrip, ADetachedHeadStaysDetached) {
  bash_ok("git checkout -q --detach", {}, repo_);
  auto plan = inspect_ok({});
  ASSERT_EQ(prepare(plan, guest_).exit_code, 0);
  EXPECT_EQ(bash("git symbolic-ref -q HEAD", {}, guest_).exit_code, 1);
  EXPECT_EQ(bash_ok("git rev-parse HEAD", {}, guest_), plan.head + "\n");
  expect_same_git_view();
}

TEST_F(WorkspaceRoundTrip, StatusCommandReportsTheGuestState) {
  auto plan = inspect_ok({});
  ASSERT_EQ(prepare(plan, guest_).exit_code, 0);
  auto run = testing_support::run_guest(guest_status_command(guest_), "", {});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  auto status = parse_guest_status(run.out);
  ASSERT_TRUE(status.has_value()) << status.error().message << "\n" << run.out;
  EXPECT_TRUE(status->git);
  EXPECT_EQ(status->head, plan.head);
  EXPECT_EQ(status->base, plan.head);
  EXPECT_EQ(status->branch, "main");
  EXPECT_EQ(status->changed, 5);  // README.md, src/mod.c, src/raw.bin, staged-new.txt, gone.txt
  EXPECT_EQ(status->untracked, 0);
  EXPECT_FALSE(status->unexported);
  bash_ok("echo new > new.txt", {}, guest_);
  status = parse_guest_status(testing_support::run_guest(guest_status_command(guest_), "", {}).out);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->untracked, 1);
  EXPECT_TRUE(status->unexported);

  auto missing = testing_support::run_guest(guest_status_command(tmp_.path() + "/nope"), "", {});
  EXPECT_EQ(missing.exit_code, kNoWorkspaceExitCode);
}

TEST_F(WorkspaceRoundTrip, AFileThatGrowsWhileItIsCopiedFailsTheStream) {
  const std::string big = repo_ + "/big.bin";
  bash_ok("head -c 1048576 /dev/zero > \"$1\" && git add big.bin", {big}, repo_);
  auto plan = inspect_ok({});
  for (const char* change : {"grew", "shrank"}) {
    bool changed = false;
    const std::string how = change;
    auto cancel = [&] {
      // Called between blocks: once big.bin is open for streaming, change it.
      if (!changed && bash_ok("ls -l /proc/$1/fd", {std::to_string(::getpid())}).find("big.bin") !=
                          std::string::npos) {
        changed = true;
        if (how == "grew") {
          std::ofstream(big, std::ios::app) << "more";
        } else {
          EXPECT_EQ(::truncate(big.c_str(), 10), 0);
        }
      }
      return false;
    };
    const std::string sink = tmp_.path() + "/sink";
    posix::Fd fd(::open(sink.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    auto status = write_upload_stream(plan, fd.get(), cancel);
    ASSERT_FALSE(status.has_value()) << change;
    EXPECT_EQ(status.error().code, Errc::failed_precondition);
    EXPECT_NE(status.error().message.find(change), std::string::npos) << status.error().message;
    bash_ok("head -c 1048576 /dev/zero > \"$1\"", {big});
  }
}

TEST_F(WorkspaceRoundTrip, CancelStopsTheStream) {
  auto plan = inspect_ok({});
  posix::Fd fd(::open("/dev/null", O_WRONLY | O_CLOEXEC));
  auto status = write_upload_stream(plan, fd.get(), [] { return true; });
  ASSERT_FALSE(status.has_value());
  EXPECT_EQ(status.error().code, Errc::cancelled);
}

TEST(WorkspaceStream, AOneGibFileStreamsInBoundedMemory) {
  testkit::TempDir tmp;
  bash_ok("truncate -s 1G \"$1/big.bin\"", {tmp.path()});
  auto plan = inspect({.path = tmp.path(), .no_git = true});
  ASSERT_TRUE(plan.has_value()) << plan.error().message;
  ASSERT_EQ(plan->total_bytes, 1ULL << 30);
  rusage before{};
  ::getrusage(RUSAGE_SELF, &before);
  posix::Fd fd(::open("/dev/null", O_WRONLY | O_CLOEXEC));
  auto status = write_upload_stream(*plan, fd.get());
  ASSERT_TRUE(status.has_value()) << status.error().message;
  rusage after{};
  ::getrusage(RUSAGE_SELF, &after);
  EXPECT_LT(after.ru_maxrss - before.ru_maxrss, 64 * 1024) << "KiB of peak memory growth";
}

TEST(WorkspaceStream, RefusesAbsoluteAndDotDotEntryPaths) {
  testkit::TempDir tmp;
  for (const char* path : {"/etc/passwd", "../outside", "a/../../b", "a//b", "./a", ""}) {
    Plan plan{.root = tmp.path(), .git = false};
    plan.entries.push_back({.path = path, .kind = Entry::Kind::directory, .mode = 0755});
    posix::Fd fd(::open("/dev/null", O_WRONLY | O_CLOEXEC));
    auto status = write_upload_stream(plan, fd.get());
    ASSERT_FALSE(status.has_value()) << path;
    EXPECT_EQ(status.error().code, Errc::invalid_argument) << path;
  }
}

}  // namespace
}  // namespace banger::workspace
