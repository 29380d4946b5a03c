#include "banger/toolingplan/toolingplan.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "banger/testkit/temp_dir.hpp"

namespace banger::toolingplan {
namespace {

void write(const std::string& path, const std::string& content, mode_t mode = 0644) {
  std::ofstream(path, std::ios::binary) << content;
  ::chmod(path.c_str(), mode);
}

std::string read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool exists(const std::string& path) {
  struct stat st{};
  return ::stat(path.c_str(), &st) == 0;
}

// Runs command with sh; returns its exit status.
int sh(const std::string& command) {
  int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(ToolingPlan, DetectsEveryFileKind) {
  auto p = plan({{".nvmrc", "v20.11.0\n"},
                 {".python-version", "# pinned\n3.12.1\n3.11\n"},
                 {"go.mod", "module example.com/x\n\ngo 1.22\n\ntoolchain go1.22.3\n"},
                 {"rust-toolchain.toml", "[toolchain]\nchannel = \"1.76.0\"\ncomponents = []\n"},
                 {"README.md", "ignored"}},
                "my repo");
  EXPECT_EQ(p.tools, (std::vector<Tool>{{"node", "20.11.0", ".nvmrc"},
                                        {"python", "3.12.1", ".python-version"},
                                        {"go", "1.22.3", "go.mod"},
                                        {"rust", "1.76.0", "rust-toolchain.toml"}}));
  EXPECT_TRUE(p.manifests.empty());
  EXPECT_TRUE(p.warnings.empty());
  EXPECT_TRUE(p.needs_network);
  EXPECT_EQ(p.log_path, "/root/.cache/banger/vm-run-tooling-my_repo.log");
  EXPECT_EQ(render_summary(p),
            "tooling: node 20.11.0 (.nvmrc), python 3.12.1 (.python-version), go 1.22.3 "
            "(go.mod), rust 1.76.0 (rust-toolchain.toml)");
}

TEST(ToolingPlan, SecondaryFilesAndManifests) {
  auto p = plan({{".node-version", "lts/*\n"},
                 {"go.mod", "module m\ngo 1.21\n"},
                 {"rust-toolchain", "stable\n"},
                 {".tool-versions", "# c\nnodejs 18.19.0\npython 3.11.7 3.10.0\n"},
                 {".mise.toml",
                  "[env]\nX = \"1\"\n[tools]\ngo = \"1.22\"\nterraform = [\"1.7\", "
                  "\"1.6\"]\n[tasks.a]\nrun = \"x\"\n"}},
                "r");
  EXPECT_EQ(p.manifests, (std::vector<std::string>{".mise.toml", ".tool-versions"}));
  // go.mod's go is covered by .mise.toml's go; node/rust come from their own files.
  EXPECT_EQ(p.tools, (std::vector<Tool>{{"go", "1.22", ".mise.toml"},
                                        {"terraform", "1.7", ".mise.toml"},
                                        {"nodejs", "18.19.0", ".tool-versions"},
                                        {"python", "3.11.7", ".tool-versions"},
                                        {"node", "lts", ".node-version"},
                                        {"rust", "stable", "rust-toolchain"}}));
  EXPECT_EQ(p.warnings,
            (std::vector<std::string>{"go.mod: go 1.21 ignored: a mise manifest names go"}));
  EXPECT_NE(p.guest_script.find("run mise trust '.mise.toml'\nrun mise trust '.tool-versions'\n"
                                "run mise install\nrun mise use --global 'node@lts'\n"
                                "run mise use --global 'rust@stable'\n"),
            std::string::npos)
      << p.guest_script;
}

TEST(ToolingPlan, NothingToDoMeansNoScriptAndNoSummary) {
  auto p = plan({{"go.mod", "module m\n"}, {".nvmrc", "\n# nothing\n"}}, "r");
  EXPECT_TRUE(p.tools.empty());
  EXPECT_FALSE(p.needs_network);
  EXPECT_EQ(p.guest_script, "");
  EXPECT_EQ(render_summary(p), "");
  auto only_manifest = plan({{".mise.toml", "[env]\nA = \"b\"\n"}}, "r");
  EXPECT_EQ(render_summary(only_manifest), "tooling: mise install (.mise.toml)");
}

TEST(ToolingPlan, RepoNamesAndVersionsAreSanitised) {
  EXPECT_EQ(sanitize_repo_name("ok-name_1.2"), "ok-name_1.2");
  EXPECT_EQ(sanitize_repo_name("a/../b c'$(x)"), "a_.._b_c___x_");
  EXPECT_EQ(sanitize_repo_name(".."), "repo");
  EXPECT_EQ(sanitize_repo_name(""), "repo");
  EXPECT_EQ(sanitize_repo_name(std::string(100, 'x')), std::string(64, 'x'));
  EXPECT_TRUE(is_valid_version("1.22.3"));
  EXPECT_TRUE(is_valid_version("nightly-2024-01-01"));
  EXPECT_TRUE(is_valid_version("3.12.1+local"));
  EXPECT_FALSE(is_valid_version("-rf"));
  EXPECT_FALSE(is_valid_version("1.2 3"));
  EXPECT_FALSE(is_valid_version("$(id)"));
  EXPECT_FALSE(is_valid_version(std::string(65, '1')));
  EXPECT_EQ(shell_quote("it's"), "'it'\\''s'");
}

// Hostile repository files: nothing in them may run, every refusal is a warning.
std::map<std::string, std::string> hostile_files(const std::string& canary) {
  return {{".nvmrc", "$(touch " + canary + ")\n"},
          {".python-version", "3.12'; touch " + canary + "; '\n"},
          {"go.mod", "module m\ngo 1.22\ntoolchain go1.22`touch " + canary + "`\n"},
          {"rust-toolchain", "stable\ntouch " + canary + "\n"},
          {".tool-versions", "$(touch " + canary + ") 1.0\nruby 3.3;touch\n"},
          {".mise.toml", "[tools]\nnode = \"20\\\"; touch " + canary + "\"\n"}};
}

TEST(ToolingPlan, InjectionAttemptsAreRefusedWithWarnings) {
  auto p = plan(hostile_files("/tmp/x"), "r");
  // go.mod's malformed toolchain line is refused; its plain `go` line still counts.
  EXPECT_EQ(p.tools,
            (std::vector<Tool>{{"go", "1.22", "go.mod"}, {"rust", "stable", "rust-toolchain"}}));
  EXPECT_EQ(p.warnings.size(), 6u);
  for (const auto& w : p.warnings) {
    EXPECT_NE(w.find("refused"), std::string::npos) << w;
  }
  EXPECT_EQ(p.warnings[0],
            ".mise.toml: node version \"20\\\"; touch /tmp/x\" refused (allowed: up "
            "to 64 of A-Z a-z 0-9 . _ + -)");
}

// The rendered script, run for real with a fake mise that records its argv: it installs what
// the plan says, logs, exits 0 even when mise fails, and never runs what the files contain.
TEST(ToolingPlanScript, RunsWithAFakeMiseAndExecutesNothingFromTheRepository) {
  testkit::TempDir dir;
  const std::string canary = dir.path() + "/canary";
  const std::string bin = dir.path() + "/bin";
  const std::string repo = dir.path() + "/repo";
  ASSERT_EQ(::mkdir(bin.c_str(), 0755), 0);
  ASSERT_EQ(::mkdir(repo.c_str(), 0755), 0);
  write(bin + "/mise",
        "#!/bin/sh\nfor a in \"$@\"; do printf '[%s]' \"$a\" >>" + dir.path() +
            "/argv; done\necho >>" + dir.path() + "/argv\n[ \"$1\" != use ] || exit 3\n",
        0755);
  auto files = hostile_files(canary);
  files[".nvmrc"] = "v20.11.0\n";
  auto p = plan(files, "x'; touch " + canary + "; '",
                {.repo_dir = repo, .log_dir = dir.path() + "/log dir"});
  write(dir.path() + "/script.sh", p.guest_script);
  ASSERT_EQ(sh("sh -n " + dir.path() + "/script.sh"), 0) << p.guest_script;
  EXPECT_EQ(sh("PATH=" + bin + ":/usr/bin:/bin sh " + dir.path() + "/script.sh"), 0);
  EXPECT_EQ(read(dir.path() + "/argv"),
            "[trust][.mise.toml]\n[trust][.tool-versions]\n[install]\n"
            "[use][--global][node@20.11.0]\n[use][--global][go@1.22]\n"
            "[use][--global][rust@stable]\n");
  std::string log = read(p.log_path);
  EXPECT_NE(log.find("banger: failed (exit 3): mise use --global node@20.11.0"), std::string::npos)
      << log;
  EXPECT_NE(log.find("banger: tooling bootstrap finished"), std::string::npos) << log;
  EXPECT_EQ(p.log_path, dir.path() + "/log dir/vm-run-tooling-x___touch_" +
                            sanitize_repo_name(canary) + "___.log");
  EXPECT_FALSE(exists(canary));
}

TEST(ToolingPlanScript, WithoutMiseItLogsOneLineAndExitsZero) {
  testkit::TempDir dir;
  const std::string repo = dir.path() + "/repo";
  ASSERT_EQ(::mkdir(repo.c_str(), 0755), 0);
  auto p = plan({{".nvmrc", "20\n"}}, "r", {.repo_dir = repo, .log_dir = dir.path() + "/log"});
  write(dir.path() + "/script.sh", p.guest_script);
  // A PATH with sh's own tools but no mise.
  EXPECT_EQ(sh("PATH=/nonexistent:/usr/bin:/bin sh " + dir.path() + "/script.sh"), 0);
  EXPECT_EQ(read(p.log_path),
            "banger: mise is not on PATH in this image: tooling bootstrap skipped\n");
}

}  // namespace
}  // namespace banger::toolingplan
