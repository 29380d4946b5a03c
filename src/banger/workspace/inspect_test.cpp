// inspect(): the preflight errors and the enumeration, against real repositories.
#include <gtest/gtest.h>

#include <algorithm>

#include "banger/testkit/probes.hpp"
#include "banger/testkit/temp_dir.hpp"
#include "banger/workspace/test_support.hpp"
#include "banger/workspace/workspace.hpp"

namespace banger::workspace {
namespace {

using testing_support::bash_ok;

class WorkspaceInspect : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = testkit::probe_tools({"git"}); !why.empty()) {
      GTEST_SKIP() << why;
    }
    testing_support::isolate_git(tmp_.path());
    repo_ = tmp_.path() + "/repo";
    testing_support::make_fixture_repo(repo_, tmp_.path() + "/sub-origin");
  }

  Error error_for(Options options) {
    auto plan = inspect(options);
    EXPECT_FALSE(plan.has_value());
    return plan ? Error{} : plan.error();
  }

  const Entry* find(const Plan& plan, const std::string& path) {
    auto it = std::find_if(plan.entries.begin(), plan.entries.end(),
                           [&](const Entry& e) { return e.path == path; });
    return it == plan.entries.end() ? nullptr : &*it;
  }

  testkit::TempDir tmp_;
  std::string repo_;
};

TEST_F(WorkspaceInspect, EnumeratesTheWorkingTreeAsGitSeesIt) {
  auto plan = inspect({.path = repo_ + "/src"});  // any directory inside the repository
  ASSERT_TRUE(plan.has_value()) << plan.error().message;
  EXPECT_EQ(plan->root, repo_);
  EXPECT_EQ(plan->repo_name, "repo");
  EXPECT_EQ(plan->head.size(), 40U);
  EXPECT_EQ(plan->branch, "main");
  EXPECT_EQ(plan->origin_url, "https://example.invalid/repo.git");
  EXPECT_EQ(plan->submodules, std::vector<std::string>{"sub"});
  ASSERT_NE(find(*plan, "sub/s.txt"), nullptr);
  EXPECT_TRUE(find(*plan, "sub/s.txt")->in_submodule);
  EXPECT_EQ(find(*plan, "script.sh")->mode, 0755U);
  EXPECT_EQ(find(*plan, "link-out")->kind, Entry::Kind::symlink);
  EXPECT_NE(find(*plan, "staged-new.txt"), nullptr);
  EXPECT_NE(find(*plan, "new\nline.txt"), nullptr);
  EXPECT_NE(find(*plan, "latin\351.txt"), nullptr);
  EXPECT_EQ(find(*plan, "gone.txt"), nullptr) << "deleted in the working tree";
  EXPECT_EQ(find(*plan, "untracked.txt"), nullptr);
  EXPECT_EQ(find(*plan, "ignored.log"), nullptr);
  EXPECT_EQ(plan->modified, 3);  // README.md (MM), src/mod.c, src/raw.bin (mode)
  EXPECT_EQ(plan->added, 1);
  EXPECT_EQ(plan->deleted, 1);
  EXPECT_EQ(plan->untracked, 1);
  EXPECT_GT(plan->total_bytes, 300000U);
  EXPECT_EQ(spec_fragment(*plan),
            "workspace repo @ " + plan->head.substr(0, 7) + " (+3 modified, +1 added, -1 deleted)");
  const auto listing = render_dry_run(*plan);
  EXPECT_NE(listing.find("new\\nline.txt"), std::string::npos) << listing;
  EXPECT_NE(listing.find("latin\\351.txt"), std::string::npos);
  EXPECT_NE(listing.find("submodule sub"), std::string::npos);
  EXPECT_NE(listing.find("(1 files in submodules)"), std::string::npos);
}

TEST_F(WorkspaceInspect, IncludeUntrackedAddsUntrackedButNotIgnoredFiles) {
  auto plan = inspect({.path = repo_, .include_untracked = true});
  ASSERT_TRUE(plan.has_value());
  EXPECT_NE(find(*plan, "untracked.txt"), nullptr);
  EXPECT_EQ(find(*plan, "ignored.log"), nullptr);
  EXPECT_EQ(find(*plan, "build/out"), nullptr);
  EXPECT_NE(spec_fragment(*plan).find("+1 untracked"), std::string::npos);
}

TEST_F(WorkspaceInspect, NoGitTakesEveryFileButTheGitDirectory) {
  auto plan = inspect({.path = repo_, .no_git = true});
  ASSERT_TRUE(plan.has_value());
  EXPECT_FALSE(plan->git);
  EXPECT_NE(find(*plan, "ignored.log"), nullptr);
  EXPECT_NE(find(*plan, "build"), nullptr);
  EXPECT_EQ(find(*plan, "build")->kind, Entry::Kind::directory);
  EXPECT_EQ(find(*plan, ".git"), nullptr);
  EXPECT_EQ(spec_fragment(*plan), "workspace repo (no git)");
}

TEST_F(WorkspaceInspect, ASymlinkToARepositoryIsResolved) {
  bash_ok("ln -s \"$1\" \"$2\"", {repo_, tmp_.path() + "/link"});
  auto plan = inspect({.path = tmp_.path() + "/link"});
  ASSERT_TRUE(plan.has_value());
  EXPECT_EQ(plan->root, repo_);
}

TEST_F(WorkspaceInspect, PreflightErrorsNameThePathAndTheWayOut) {
  auto missing = error_for({.path = tmp_.path() + "/nope"});
  EXPECT_EQ(missing.code, Errc::not_found);
  EXPECT_NE(missing.message.find("/nope does not exist"), std::string::npos);

  bash_ok("mkdir -p \"$1\"", {tmp_.path() + "/plain"});
  auto plain = error_for({.path = tmp_.path() + "/plain"});
  EXPECT_EQ(plain.code, Errc::failed_precondition);
  EXPECT_NE(plain.message.find("not inside a git work tree (--no-git"), std::string::npos)
      << plain.message;

  bash_ok("git init -q --bare \"$1\"", {tmp_.path() + "/bare.git"});
  auto bare = error_for({.path = tmp_.path() + "/bare.git"});
  EXPECT_EQ(bare.code, Errc::failed_precondition);
  EXPECT_NE(bare.message.find("bare git repository"), std::string::npos) << bare.message;

  auto inside_git_dir = error_for({.path = repo_ + "/.git"});
  EXPECT_EQ(inside_git_dir.code, Errc::failed_precondition);

  bash_ok("git init -q \"$1\"", {tmp_.path() + "/empty"});
  auto empty = error_for({.path = tmp_.path() + "/empty"});
  EXPECT_NE(empty.message.find("no commit yet"), std::string::npos) << empty.message;

  auto file = error_for({.path = repo_ + "/README.md"});
  EXPECT_EQ(file.code, Errc::invalid_argument);

  auto big = error_for({.path = repo_, .max_size_bytes = 1000});
  EXPECT_EQ(big.code, Errc::failed_precondition);
  EXPECT_NE(big.message.find("over workspace_max_size 1000 B: use --force"), std::string::npos)
      << big.message;
  EXPECT_TRUE(inspect({.path = repo_, .force = true, .max_size_bytes = 1000}).has_value());

  EXPECT_EQ(error_for({.path = repo_, .from = "HEAD"}).code, Errc::invalid_argument);
  for (const char* name : {"bad..name", "-x", "a b", "x.lock", "end/", "@{u}"}) {
    auto bad = error_for({.path = repo_, .branch = name});
    EXPECT_EQ(bad.code, Errc::invalid_argument) << name;
    EXPECT_NE(bad.message.find("invalid branch name"), std::string::npos) << bad.message;
  }
  EXPECT_EQ(error_for({.path = repo_, .no_git = true, .branch = "x"}).code, Errc::invalid_argument);
  auto no_commit = error_for({.path = repo_, .branch = "x", .from = "no-such-ref"});
  EXPECT_EQ(no_commit.code, Errc::not_found);
  EXPECT_EQ(error_for({.path = "", .branch = "x"}).code, Errc::invalid_argument);
}

TEST_F(WorkspaceInspect, DetachedHeadHasNoBranch) {
  bash_ok("git checkout -q --detach", {}, repo_);
  auto plan = inspect({.path = repo_});
  ASSERT_TRUE(plan.has_value());
  EXPECT_EQ(plan->branch, "");
}

}  // namespace
}  // namespace banger::workspace
