// Shell completion as a shell runs it: the script from `banger completion <shell>` loaded in a
// real bash, zsh and fish, asked for the candidates of partial command lines, with the daemon
// stopped (static candidates, nothing on stderr, no daemon started) and running (live names).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <cstdlib>
#include <cstring>
#include <ostream>

#include "harness.hpp"

#include "banger/base/fd.hpp"
#include "banger/sys/fs.hpp"
#include "banger/testkit/probes.hpp"

namespace banger::itest {
namespace {

using ::testing::Contains;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

std::string shell_quoted(const std::string& word) {
  std::string out = "'";
  for (char c : word) {
    out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  }
  return out + "'";
}

std::string quoted_words(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& word : words) {
    out += " " + shell_quoted(word);
  }
  return out;
}

// bash: registers the script, then calls the function `complete -p banger` names the way
// readline does (COMP_WORDS as readline splits them; `=` is a word of its own).
std::string bash_driver(const std::vector<std::string>& words) {
  return "source <(banger completion bash) || exit 9\n"
         "fn=$(complete -p banger | sed -n 's/.* -F \\([^ ]*\\) .*/\\1/p')\n"
         "[ -n \"$fn\" ] || { echo 'banger has no completion function' >&2; exit 9; }\n"
         "COMP_WORDS=(" +
         quoted_words(words) +
         ")\n"
         "COMP_CWORD=$((${#COMP_WORDS[@]} - 1))\n"
         "COMP_LINE=\"${COMP_WORDS[*]}\"; COMP_POINT=${#COMP_LINE}\n"
         "\"$fn\" banger \"${COMP_WORDS[COMP_CWORD]}\" \"${COMP_WORDS[COMP_CWORD-1]}\"\n"
         "printf '%s\\n' \"${COMPREPLY[@]}\"\n";
}

// zsh: compinit, the script registers itself with compdef; the completion widget's builtins
// (compadd, _files) print what they were given, since only a terminal runs real widgets.
// compinit over the whole fpath reads thousands of files (seconds on a loaded machine): it runs
// over a private fpath holding only compinit's own files and the base functions.
std::string zsh_driver(const std::vector<std::string>& words) {
  return "for d in $fpath; do [[ -f $d/compinit ]] && break; done\n"
         "mkdir -p ~/zfp && ln -sf $d/{compinit,compaudit,compdump,compinstall} $d/Base/_*(N) "
         "~/zfp/ || exit 9\n"
         "fpath=(~/zfp)\n"
         "autoload -U compinit && compinit -u -D || exit 9\n"
         "source <(banger completion zsh) || exit 9\n"
         "[[ ${_comps[banger]} == _banger ]] || { print -u2 'not registered'; exit 9; }\n"
         "compadd() { local i=${@[(i)--]}; print -rl -- \"${(@)@[i+1,-1]}\"; }\n"
         "_files() { print -r -- \"<files $*>\"; }\n"
         "words=(" +
         quoted_words(words) +
         ")\n"
         "CURRENT=${#words}\n"
         "_banger\n"
         "exit 0\n";  // _banger fails when it added nothing
}

// fish: `complete -C` asks fish's own completion machinery for a command line.
std::string fish_driver(const std::vector<std::string>& words) {
  std::string line;
  for (const auto& word : words) {
    line += (line.empty() ? "" : " ") + word;
  }
  return "banger completion fish | source; or exit 9\n"
         "complete -C " +
         shell_quoted(line) + "\n";
}

struct Shell {
  std::string name;
  std::string (*driver)(const std::vector<std::string>&);
};

void PrintTo(const Shell& shell, std::ostream* out) { *out << shell.name; }

class CompletionShellTest : public ::testing::TestWithParam<Shell> {
 protected:
  void SetUp() override {
    if (auto why = testkit::probe_tools({GetParam().name}); !why.empty()) {
      GTEST_SKIP() << why;  // scripts/install-deps.sh installs bash, zsh and fish
    }
    ASSERT_TRUE(sys::make_dirs(home_.dir() + "/home"));
    ASSERT_TRUE(sys::make_dirs(home_.dir() + "/work/subdir"));
    ASSERT_TRUE(sys::write_file_atomic(home_.dir() + "/work/subfile", ""));
  }

  // The candidates the shell offers for words (the last one is the word being completed),
  // description stripped; with `stderr` set to what the shell printed on stderr.
  std::vector<std::string> candidates(const std::vector<std::string>& words) {
    const std::string shell = GetParam().name;
    std::vector<std::string> argv{shell};
    if (shell == "bash") {
      argv.insert(argv.end(), {"--norc", "--noprofile"});
    } else if (shell == "zsh") {
      argv.push_back("-f");
    } else {
      argv.push_back("--no-config");
    }
    argv.insert(argv.end(), {"-c", GetParam().driver(words)});
    const char* path = std::getenv("PATH");
    sys::Command command{.argv = argv,
                         .timeout = std::chrono::seconds(30),
                         .env_overrides = {{"BANGER_HOME", home_.dir()},
                                           {"HOME", home_.dir() + "/home"},
                                           {"XDG_CONFIG_HOME", home_.dir() + "/home/.config"},
                                           {"XDG_DATA_HOME", home_.dir() + "/home/.local/share"},
                                           {"NO_COLOR", "1"},
                                           {"BANGER_REQUIRE_NETNS", "1"},
                                           {"PATH", bin_dir() + ":" + (path ? path : "")}},
                         .cwd = home_.dir() + "/work"};
    auto result = runner_.run(command);
    EXPECT_TRUE(result) << result.error().message;
    if (!result) {
      return {};
    }
    EXPECT_EQ(result->exit_code, 0) << shell << ": " << result->err;
    stderr_ = result->err;
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start < result->out.size()) {
      std::size_t end = result->out.find('\n', start);
      if (end == std::string::npos) {
        end = result->out.size();
      }
      std::string line = result->out.substr(start, end - start);
      line = line.substr(0, line.find('\t'));
      if (!line.empty()) {
        out.push_back(line);
      }
      start = end + 1;
    }
    return out;
  }

  static std::string bin_dir() {
    std::string banger = bin("banger");
    return banger.substr(0, banger.rfind('/'));
  }

  BangerHome home_;
  sys::PosixCommandRunner runner_;
  std::string stderr_;
};

TEST_P(CompletionShellTest, StaticCandidatesWithoutADaemonStartNone) {
  EXPECT_THAT(candidates({"banger", "v"}), UnorderedElementsAre("vm", "version"));
  EXPECT_EQ(stderr_, "");
  EXPECT_THAT(candidates({"banger", "vm", "st"}), UnorderedElementsAre("start", "stop", "stats"));
  EXPECT_THAT(candidates({"banger", "vm", "create", "--n"}),
              UnorderedElementsAre("--name", "--nat", "--no-start"));
  EXPECT_THAT(candidates({"banger", "completion", ""}),
              UnorderedElementsAre("bash", "fish", "zsh"));
  // Live names need the daemon: silently none.
  EXPECT_THAT(candidates({"banger", "vm", "start", ""}), IsEmpty());
  EXPECT_EQ(stderr_, "");
  EXPECT_THAT(candidates({"banger", "vm", "create", "--image", ""}), IsEmpty());
  EXPECT_EQ(stderr_, "");

  EXPECT_FALSE(sys::path_exists(home_.socket()));
  auto status = home_.banger({"daemon", "status"});
  EXPECT_EQ(status.exit_code, 3) << status.out << status.err;
}

TEST_P(CompletionShellTest, PathsAreCompletedByTheShell) {
  if (GetParam().name == "zsh") {
    EXPECT_THAT(candidates({"banger", "vm", "run", "sub"}), UnorderedElementsAre("<files -/>"));
    EXPECT_THAT(candidates({"banger", "image", "register", "--rootfs", "sub"}),
                UnorderedElementsAre("<files >"));
  } else if (GetParam().name == "fish") {
    EXPECT_THAT(candidates({"banger", "vm", "run", "sub"}), UnorderedElementsAre("subdir/"));
    EXPECT_THAT(candidates({"banger", "image", "register", "--rootfs", "sub"}),
                UnorderedElementsAre("subdir/", "subfile"));
  } else {
    EXPECT_THAT(candidates({"banger", "vm", "run", "sub"}), UnorderedElementsAre("subdir"));
    EXPECT_THAT(candidates({"banger", "image", "register", "--rootfs", "sub"}),
                UnorderedElementsAre("subdir", "subfile"));
  }
}

TEST_P(CompletionShellTest, LiveNamesComeFromARunningDaemon) {
  if (auto why = testkit::probe_tools({"mkfs.ext4"}); !why.empty()) {
    GTEST_SKIP() << why;
  }
  auto created = home_.banger({"vm", "create", "--no-start", "--name", "web"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  created = home_.banger({"vm", "create", "--no-start", "--name", "worker"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  // An image the daemon accepts without a download: an empty ext4, and as its kernel an x86_64
  // ELF (/proc/self/exe: bangerd itself, as the daemon opens the path).
  const std::string rootfs = home_.dir() + "/root.ext4";
  auto made = runner_.run({.argv = {"mkfs.ext4", "-q", rootfs, "8M"}});
  ASSERT_TRUE(made && made->exit_code == 0) << (made ? made->err : made.error().message);
  auto registered = home_.banger(
      {"image", "register", "--name", "img1", "--rootfs", rootfs, "--kernel", "/proc/self/exe"});
  ASSERT_EQ(registered.exit_code, 0) << registered.err;

  EXPECT_THAT(candidates({"banger", "vm", "start", ""}), UnorderedElementsAre("web", "worker"));
  EXPECT_THAT(candidates({"banger", "vm", "delete", "wo"}), UnorderedElementsAre("worker"));
  EXPECT_THAT(candidates({"banger", "vm", "workspace", "show", "we"}), UnorderedElementsAre("web"));
  EXPECT_THAT(candidates({"banger", "vm", "create", "--image", ""}), UnorderedElementsAre("img1"));
  EXPECT_THAT(candidates({"banger", "image", "show", "i"}), UnorderedElementsAre("img1"));
  if (GetParam().name == "bash") {
    // readline splits `--image=i` at '='; the candidate replaces the part after it.
    EXPECT_THAT(candidates({"banger", "vm", "run", "--image", "=", "i"}),
                UnorderedElementsAre("img1"));
  } else {
    EXPECT_THAT(candidates({"banger", "vm", "run", "--image=i"}),
                UnorderedElementsAre("--image=img1"));
  }
  EXPECT_THAT(candidates({"banger", "vm", "st"}), Contains("start"));
  EXPECT_EQ(stderr_, "");
}

INSTANTIATE_TEST_SUITE_P(Shells, CompletionShellTest,
                         ::testing::Values(Shell{"bash", bash_driver}, Shell{"zsh", zsh_driver},
                                           Shell{"fish", fish_driver}),
                         [](const auto& test_param) { return test_param.param.name; });

TEST(Completion, CompleteCommandPrintsNothingOnStderrAndStartsNoDaemon) {
  BangerHome home;
  auto result = home.banger({"__complete", "--", "vm", "start", ""});
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_EQ(result.out, "");
  EXPECT_EQ(result.err, "");
  result = home.banger({"__complete", "--", "vm", "run", ""});
  EXPECT_EQ(result.out, ":dirs\n");
  EXPECT_EQ(result.err, "");
  EXPECT_FALSE(sys::path_exists(home.socket()));
  EXPECT_FALSE(sys::path_exists(home.log_file()));
  EXPECT_EQ(home.banger({"daemon", "status"}).exit_code, 3);
  // Hidden from help.
  EXPECT_EQ(home.banger({"--help"}).out.find("__complete"), std::string::npos);
}

// Given a "daemon" that accepts connections and never answers: completion gives up on live
// names after its deadline and prints nothing, instead of hanging the shell.
TEST(Completion, ADaemonThatNeverAnswersYieldsNoNamesInsteadOfAHang) {
  BangerHome home;
  ASSERT_TRUE(sys::make_dirs(home.dir() + "/run"));
  ASSERT_EQ(::chmod((home.dir() + "/run").c_str(), 0700), 0);
  base::UniqueFd listener(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(listener.valid());
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::string path = home.socket();
  ASSERT_LT(path.size(), sizeof addr.sun_path);
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  ASSERT_EQ(::bind(listener.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(listener.get(), 8), 0);  // connections queue; none is ever accepted

  auto result = home.banger({"__complete", "--", "vm", "start", ""});
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_EQ(result.out, "");
  EXPECT_EQ(result.err, "");
  result = home.banger({"__complete", "--", "vm", "st"});  // static: no daemon asked
  EXPECT_THAT(result.out, ::testing::HasSubstr("start\t"));
}

}  // namespace
}  // namespace banger::itest
