#include "banger/guest/ssh_keys.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "banger/sys/fs.hpp"
#include "banger/testkit/fake_command_runner.hpp"
#include "banger/testkit/temp_dir.hpp"

namespace banger::guest {
namespace {

// Runs commands for real and remembers their display lines.
class CountingRunner final : public sys::CommandRunner {
 public:
  Expected<sys::CommandResult> run(const sys::Command& command) override {
    ran.push_back(sys::to_display(command.argv));
    return real_.run(command);
  }
  std::vector<std::string> ran;

 private:
  sys::PosixCommandRunner real_;
};

// Behaves as if the program were not installed.
class MissingToolRunner final : public sys::CommandRunner {
 public:
  Expected<sys::CommandResult> run(const sys::Command& command) override {
    return fail(Errc::not_found, command.argv[0] + ": command not found");
  }
};

mode_t mode_of(const std::string& path) {
  struct stat st{};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

bool have_ssh_keygen() { return !sys::find_executable("ssh-keygen").empty(); }

TEST(EnsureKey, GeneratesEd25519KeyOnFirstUse) {
  if (!have_ssh_keygen()) {
    GTEST_SKIP() << "ssh-keygen (openssh-client) is not installed";
  }
  testkit::TempDir dir;
  std::string key = dir.path() + "/ssh/id_ed25519";
  CountingRunner runner;
  auto pair = ensure_key(runner, key);
  ASSERT_TRUE(pair) << pair.error().message;
  EXPECT_EQ(runner.ran,
            std::vector<std::string>{"ssh-keygen -q -t ed25519 -N  -C banger -f " + key});
  EXPECT_EQ(pair->private_key_path, key);
  EXPECT_EQ(pair->public_key_path, key + ".pub");
  EXPECT_EQ(pair->public_key.rfind("ssh-ed25519 AAAA", 0), 0u) << pair->public_key;
  EXPECT_EQ(pair->public_key.substr(pair->public_key.size() - 7), " banger");
  EXPECT_EQ(mode_of(key), 0600u);
  EXPECT_EQ(mode_of(dir.path() + "/ssh"), 0700u);
}

TEST(EnsureKey, ReusesExistingKeyWithoutRunningSshKeygen) {
  if (!have_ssh_keygen()) {
    GTEST_SKIP() << "ssh-keygen (openssh-client) is not installed";
  }
  testkit::TempDir dir;
  std::string key = dir.path() + "/id_ed25519";
  CountingRunner first;
  auto created = ensure_key(first, key);
  ASSERT_TRUE(created) << created.error().message;
  CountingRunner second;
  auto again = ensure_key(second, key);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_TRUE(second.ran.empty());
  EXPECT_EQ(again->public_key, created->public_key);
}

TEST(EnsureKey, RebuildsMissingPublicKey) {
  if (!have_ssh_keygen()) {
    GTEST_SKIP() << "ssh-keygen (openssh-client) is not installed";
  }
  testkit::TempDir dir;
  std::string key = dir.path() + "/id_ed25519";
  CountingRunner first;
  auto created = ensure_key(first, key);
  ASSERT_TRUE(created) << created.error().message;
  ASSERT_TRUE(sys::remove_all(key + ".pub"));
  CountingRunner second;
  auto again = ensure_key(second, key);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(second.ran, std::vector<std::string>{"ssh-keygen -y -f " + key});
  // ssh-keygen -y drops the comment; the key itself is the same.
  EXPECT_EQ(created->public_key.rfind(again->public_key, 0), 0u);
  EXPECT_EQ(sys::read_file(key + ".pub").value(), again->public_key + "\n");
}

TEST(EnsureKey, MissingSshKeygenNamesOpensshClient) {
  testkit::TempDir dir;
  MissingToolRunner runner;
  auto pair = ensure_key(runner, dir.path() + "/id_ed25519");
  ASSERT_FALSE(pair);
  EXPECT_EQ(pair.error().code, Errc::not_found);
  EXPECT_EQ(pair.error().message, "creating ssh key " + dir.path() +
                                      "/id_ed25519: ssh-keygen not found; install openssh-client");
}

TEST(EnsureKey, SshKeygenFailureCarriesItsStderr) {
  testkit::TempDir dir;
  testkit::FakeCommandRunner runner;
  runner.on("ssh-keygen", {.exit_code = 1, .out = "", .err = "Saving key failed: disk full\n"});
  auto pair = ensure_key(runner, dir.path() + "/id_ed25519");
  ASSERT_FALSE(pair);
  EXPECT_EQ(pair.error().code, Errc::command_failed);
  EXPECT_EQ(pair.error().message, "creating ssh key " + dir.path() +
                                      "/id_ed25519: ssh-keygen exited 1: Saving key failed: disk "
                                      "full");
}

TEST(EnsureKey, SshKeygenThatWritesNothingIsAnError) {
  testkit::TempDir dir;
  testkit::FakeCommandRunner runner;
  auto pair = ensure_key(runner, dir.path() + "/id_ed25519");
  ASSERT_FALSE(pair);
  EXPECT_EQ(pair.error().code, Errc::command_failed);
  EXPECT_EQ(pair.error().message,
            "creating ssh key " + dir.path() + "/id_ed25519: ssh-keygen did not create it");
}

TEST(EnsureKey, EmptyPathIsInvalid) {
  testkit::FakeCommandRunner runner;
  auto pair = ensure_key(runner, "");
  ASSERT_FALSE(pair);
  EXPECT_EQ(pair.error().code, Errc::invalid_argument);
  EXPECT_EQ(pair.error().message, "ssh key path is empty");
  EXPECT_TRUE(runner.ran().empty());
}

}  // namespace
}  // namespace banger::guest
