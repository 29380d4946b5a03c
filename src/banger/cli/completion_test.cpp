#include "banger/cli/completion.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "banger/api/signal.hpp"
#include "banger/cli/command.hpp"

namespace banger::cli {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

// Stands in for the daemon: fixed names per kind, and which kinds were asked for.
struct FakeNames {
  std::vector<NameKind> asked;
  bool daemon_running = true;
  NameSource source() {
    return [this](NameKind kind) -> std::vector<Candidate> {
      asked.push_back(kind);
      if (!daemon_running) {
        return {};
      }
      switch (kind) {
        case NameKind::vms:
          return {{"web", "VM, running"}, {"db", "VM, stopped"}, {"worker", "VM, created"}};
        case NameKind::images:
          return {{"tiny", "image, alpine"}, {"debian-bookworm", "image, debian"}};
        case NameKind::kernels:
          return {{"debian-cloud", "kernel 6.1"}};
        case NameKind::kernel_catalog:
          return {{"debian-cloud", "Debian's cloud kernel"}, {"debian-generic", ""}};
      }
      return {};
    };
  }
};

class CompletionTest : public ::testing::Test {
 protected:
  std::vector<std::string> values(const std::vector<std::string>& words) {
    last_ = complete(*tree_.app, words, names_.source());
    std::vector<std::string> out;
    for (const auto& candidate : last_.candidates) {
      out.push_back(candidate.value);
    }
    return out;
  }

  CommandTree tree_ = build_command_tree();
  FakeNames names_;
  Completion last_;
};

TEST_F(CompletionTest, FirstWordCompletesCommandsAndGroups) {
  EXPECT_THAT(values({"v"}), UnorderedElementsAre("vm", "version"));
  EXPECT_THAT(values({"k"}), ElementsAre("kernel"));
  EXPECT_THAT(values({"p"}), ElementsAre("ps"));
  EXPECT_THAT(names_.asked, IsEmpty());  // static candidates never ask the daemon
}

TEST_F(CompletionTest, GroupWordsCompleteTheirCommandsAndAliases) {
  EXPECT_THAT(values({"vm", "st"}), UnorderedElementsAre("start", "stop", "stats"));
  EXPECT_THAT(values({"vm", "r"}), UnorderedElementsAre("run", "restart", "rm"));
  EXPECT_THAT(values({"vm", "workspace", ""}), UnorderedElementsAre("prepare", "export", "show"));
  EXPECT_THAT(values({"image", "l"}), UnorderedElementsAre("list", "ls"));
  EXPECT_EQ(last_.candidates[0].description, "list images");
}

TEST_F(CompletionTest, HiddenCompleteCommandIsNotOffered) {
  EXPECT_THAT(values({"_"}), IsEmpty());
  EXPECT_THAT(values({"c"}), ElementsAre("completion"));
}

TEST_F(CompletionTest, DashCompletesTheCurrentCommandsFlags) {
  EXPECT_THAT(values({"vm", "create", "--n"}),
              UnorderedElementsAre("--name", "--nat", "--no-start"));
  EXPECT_THAT(values({"vm", "logs", "-"}), UnorderedElementsAre("--help", "--follow"));
  EXPECT_THAT(values({"--v"}), ElementsAre("--version"));
  EXPECT_THAT(values({"vm", "create", "--image", "tiny", "--js"}), ElementsAre("--json"));
}

TEST_F(CompletionTest, FlagValuesComeFromTheDaemon) {
  EXPECT_THAT(values({"vm", "create", "--image", ""}), ElementsAre("tiny", "debian-bookworm"));
  EXPECT_EQ(last_.candidates[0].description, "image, alpine");
  EXPECT_THAT(values({"vm", "run", "--kernel", "deb"}), ElementsAre("debian-cloud"));
  EXPECT_THAT(values({"vm", "create", "--image=d"}), ElementsAre("--image=debian-bookworm"));
  EXPECT_THAT(names_.asked, ElementsAre(NameKind::images, NameKind::kernels, NameKind::images));
}

TEST_F(CompletionTest, PositionalsCompleteLiveNamesByTheirName) {
  EXPECT_THAT(values({"vm", "start", ""}), ElementsAre("web", "db", "worker"));
  EXPECT_THAT(values({"vm", "delete", "w"}), ElementsAre("web", "worker"));
  EXPECT_THAT(values({"vm", "stop", "web", "w"}), ElementsAre("web", "worker"));  // `vms`
  EXPECT_THAT(values({"vm", "workspace", "export", "d"}), ElementsAre("db"));
  EXPECT_THAT(values({"vm", "exec", "--env", "A=1", "w"}), ElementsAre("web", "worker"));
  EXPECT_THAT(values({"image", "show", ""}), ElementsAre("tiny", "debian-bookworm"));
  EXPECT_THAT(values({"kernel", "rm", ""}), ElementsAre("debian-cloud"));
  EXPECT_THAT(values({"kernel", "pull", ""}), ElementsAre("debian-cloud", "debian-generic"));
  EXPECT_THAT(values({"completion", ""}), ElementsAre("bash", "zsh", "fish"));
}

TEST_F(CompletionTest, OnlyTheFirstPositionalOfASingleVmCommandIsAVm) {
  EXPECT_THAT(values({"vm", "show", "web", ""}), IsEmpty());
  EXPECT_THAT(values({"vm", "exec", "web", "--", "l"}), IsEmpty());  // the guest command
  EXPECT_EQ(names_.asked.size(), 0u);
}

TEST_F(CompletionTest, PathsAreLeftToTheShell) {
  EXPECT_THAT(values({"vm", "run", ""}), IsEmpty());
  EXPECT_EQ(last_.fallback, Fallback::dirs);
  EXPECT_THAT(values({"vm", "workspace", "prepare", "web", "./s"}), IsEmpty());
  EXPECT_EQ(last_.fallback, Fallback::dirs);
  EXPECT_THAT(values({"image", "register", "--kernel", ""}), IsEmpty());  // a vmlinux file
  EXPECT_EQ(last_.fallback, Fallback::files);
  EXPECT_THAT(values({"vm", "workspace", "export", "web", "-o", "p"}), IsEmpty());
  EXPECT_EQ(last_.fallback, Fallback::files);
  EXPECT_THAT(names_.asked, IsEmpty());
}

TEST_F(CompletionTest, WithoutADaemonLiveNamesAreSilentlyEmpty) {
  names_.daemon_running = false;
  EXPECT_THAT(values({"vm", "start", ""}), IsEmpty());
  EXPECT_THAT(values({"vm", "create", "--image", ""}), IsEmpty());
  EXPECT_EQ(last_.fallback, Fallback::none);
}

// Given a tree with the flags that have fixed value lists (whichever commands declare them).
TEST(Completion, VmmAndSignalFlagsCompleteTheirFixedValues) {
  CLI::App app{"test", "banger"};
  std::string vmm;
  std::string signal;
  CLI::App* vm = app.add_subcommand("vm", "vm commands");
  vm->add_subcommand("create", "create")->add_option("--vmm", vmm, "backend");
  vm->add_subcommand("kill", "kill")->add_option("-s,--signal", signal, "signal");
  auto values = [&](const std::vector<std::string>& words) {
    std::vector<std::string> out;
    for (const auto& candidate : complete(app, words, {}).candidates) {
      out.push_back(candidate.value);
    }
    return out;
  };
  EXPECT_THAT(values({"vm", "create", "--vmm", ""}), ElementsAre("auto", "qemu", "firecracker"));
  EXPECT_THAT(values({"vm", "create", "--vmm=f"}), ElementsAre("--vmm=firecracker"));
  EXPECT_THAT(values({"vm", "kill", "--signal", "SIGT"}), ElementsAre("SIGTERM"));
  EXPECT_THAT(values({"vm", "kill", "-s", "TE"}), ElementsAre("TERM"));
  std::vector<std::string> every;
  for (const auto& signal_name : api::signal_names()) {
    every.emplace_back(signal_name.name);
  }
  EXPECT_EQ(values({"vm", "kill", "--signal", ""}), every);
}

TEST(Completion, RenderedLinesCarryDescriptionsAndTheFallback) {
  Completion completion{{{"web", "VM, running"}, {"db", ""}, {"x", "two\nlines"}}, Fallback::files};
  EXPECT_EQ(render_completion(completion), "web\tVM, running\ndb\nx\ttwo lines\n:files\n");
  EXPECT_EQ(render_completion({{}, Fallback::dirs}), ":dirs\n");
  EXPECT_EQ(render_completion({}), "");
}

TEST(Completion, ScriptsExistForBashZshAndFishOnly) {
  for (const char* shell : {"bash", "zsh", "fish"}) {
    auto script = completion_script(shell);
    ASSERT_TRUE(script) << shell;
    EXPECT_NE(script->find("__complete --"), std::string::npos) << shell;
  }
  auto tcsh = completion_script("tcsh");
  ASSERT_FALSE(tcsh);
  EXPECT_EQ(tcsh.error().code, Errc::invalid_argument);
  EXPECT_EQ(tcsh.error().message, "no completion for shell \"tcsh\" (bash, zsh or fish)");
}

}  // namespace
}  // namespace banger::cli
