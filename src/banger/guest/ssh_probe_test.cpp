#include "banger/guest/ssh_probe.hpp"

#include <gtest/gtest.h>

#include <deque>

#include "banger/sys/fs.hpp"
#include "banger/testkit/fake_clock.hpp"
#include "banger/testkit/fake_command_runner.hpp"
#include "banger/testkit/temp_dir.hpp"

namespace banger::guest {
namespace {

using namespace std::chrono_literals;

const std::string key1 = "AAAAC3NzaC1lZDI1NTE5AAAAINW5i5metELidgOqF9OiS67Ui7SDFsw2EYNY37dZ4Z58";
const std::string key2 = "AAAAC3NzaC1lZDI1NTE5AAAAIFGSsYaTYF7QUidiuhobPDCyGdw2nO4vQotrUuqfPgbR";
const std::string scan_line = "ssh-keyscan -T 2 -p 22 -t ed25519 172.16.0.2";

// Returns scripted results in order (the last one repeats) and records the clock at each run.
class SequenceRunner final : public sys::CommandRunner {
 public:
  SequenceRunner(base::Clock& clock, std::deque<Expected<sys::CommandResult>> results)
      : clock_(clock), results_(std::move(results)) {}
  Expected<sys::CommandResult> run(const sys::Command& command) override {
    ran.push_back(sys::to_display(command.argv));
    at.push_back(std::chrono::duration_cast<std::chrono::milliseconds>(
        clock_.steady_now().time_since_epoch()));
    auto result = results_.front();
    if (results_.size() > 1) {
      results_.pop_front();
    }
    return result;
  }
  std::vector<std::string> ran;
  std::vector<std::chrono::milliseconds> at;

 private:
  base::Clock& clock_;
  std::deque<Expected<sys::CommandResult>> results_;
};

sys::CommandResult refused() { return {.exit_code = 1, .out = "", .err = ""}; }
sys::CommandResult answers(const std::string& key) {
  return {.exit_code = 0,
          .out = "172.16.0.2 ssh-ed25519 " + key + "\n",
          .err = "# 172.16.0.2:22 SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\n"};
}

WaitForSshOptions web_options(const base::Clock& clock) {
  return {.ip = "172.16.0.2",
          .port = 22,
          .host_names = {"172.16.0.2", "web.vm"},
          .deadline = clock.steady_now() + 10s,
          .scan_timeout = 2s,
          .cancel = {}};
}

TEST(Keyscan, Argv) {
  EXPECT_EQ(keyscan_argv("172.16.0.2", 22, 2s),
            (std::vector<std::string>{"ssh-keyscan", "-T", "2", "-p", "22", "-t", "ed25519",
                                      "172.16.0.2"}));
  EXPECT_EQ(keyscan_argv("127.0.0.1", 2222, 1500ms)[2], "2");
  EXPECT_EQ(keyscan_argv("127.0.0.1", 2222, 0ms)[2], "1");
}

TEST(Keyscan, ParsesTheEd25519Line) {
  auto key = parse_keyscan_output(
      "# 172.16.0.2:22 SSH-2.0-dropbear\n"
      "172.16.0.2 ssh-rsa AAAAB3NzaC1yc2E=\n"
      "[127.0.0.1]:2222  ssh-ed25519  " +
      key1 + "\n");
  ASSERT_TRUE(key) << key.error().message;
  EXPECT_EQ(*key, (HostKey{.type = "ssh-ed25519", .base64 = key1}));
}

TEST(Keyscan, NoKeyMeansNotReady) {
  for (const std::string out : {"", "\n", "# 172.16.0.2:22 SSH-2.0-OpenSSH\n",
                                "172.16.0.2 ssh-rsa AAAAB3NzaC1yc2E=\n", "garbage\n"}) {
    auto key = parse_keyscan_output(out);
    ASSERT_FALSE(key) << out;
    EXPECT_EQ(key.error().code, Errc::unavailable);
    EXPECT_EQ(key.error().message, "no ssh-ed25519 host key offered yet");
  }
  auto bad = parse_keyscan_output("172.16.0.2 ssh-ed25519 !!!\n");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, Errc::invalid_argument);
}

TEST(Keyscan, ScanRunsSshKeyscan) {
  testkit::FakeCommandRunner runner;
  runner.on("ssh-keyscan", answers(key1));
  auto key = scan_host_key(runner, "172.16.0.2");
  ASSERT_TRUE(key) << key.error().message;
  EXPECT_EQ(key->base64, key1);
  EXPECT_EQ(runner.ran(), std::vector<std::string>{scan_line});
}

TEST(Keyscan, EmptyOutputIsUnavailable) {
  testkit::FakeCommandRunner runner;
  runner.on("ssh-keyscan", refused());
  auto key = scan_host_key(runner, "172.16.0.2");
  ASSERT_FALSE(key);
  EXPECT_EQ(key.error().code, Errc::unavailable);
  EXPECT_EQ(key.error().message, "sshd on 172.16.0.2:22 is not answering yet");

  runner.on("ssh-keyscan", {.exit_code = 1, .out = "", .err = "write (172.16.0.2): Broken pipe\n"});
  key = scan_host_key(runner, "172.16.0.2");
  ASSERT_FALSE(key);
  EXPECT_EQ(key.error().message,
            "sshd on 172.16.0.2:22 is not answering yet: write (172.16.0.2): Broken pipe");
}

TEST(Keyscan, MissingToolAndBadPort) {
  testkit::FakeClock clock;
  SequenceRunner runner(clock, {fail(Errc::not_found, "ssh-keyscan: command not found")});
  auto key = scan_host_key(runner, "172.16.0.2");
  ASSERT_FALSE(key);
  EXPECT_EQ(key.error().code, Errc::not_found);
  EXPECT_EQ(key.error().message, "ssh-keyscan not found; install openssh-client");

  auto port = scan_host_key(runner, "172.16.0.2", 0);
  ASSERT_FALSE(port);
  EXPECT_EQ(port.error().code, Errc::invalid_argument);
  EXPECT_EQ(port.error().message, "ssh port 0 is out of range: it must be 1..65535");
}

TEST(Keyscan, HungKeyscanIsUnavailable) {
  testkit::FakeClock clock;
  SequenceRunner runner(clock, {fail(Errc::timeout, "ssh-keyscan timed out after 7000 ms")});
  auto key = scan_host_key(runner, "172.16.0.2");
  ASSERT_FALSE(key);
  EXPECT_EQ(key.error().code, Errc::unavailable);
  EXPECT_EQ(key.error().message,
            "sshd on 172.16.0.2:22 is not answering yet: ssh-keyscan timed out after 7000 ms");
}

TEST(WaitForSsh, PollsWithBackoffThenPins) {
  testkit::TempDir dir;
  testkit::FakeClock clock;
  KnownHosts hosts(dir.path() + "/known_hosts");
  SequenceRunner runner(
      clock, {refused(), refused(), refused(), refused(), refused(), refused(), answers(key1)});
  ASSERT_TRUE(wait_for_ssh(runner, clock, hosts, web_options(clock)));
  EXPECT_EQ(runner.ran, std::vector<std::string>(7, scan_line));
  // 100 ms, doubling, capped at 200 ms.
  EXPECT_EQ(runner.at, (std::vector<std::chrono::milliseconds>{0ms, 100ms, 300ms, 500ms, 700ms,
                                                               900ms, 1100ms}));
  EXPECT_EQ(sys::read_file(hosts.path()).value(), "172.16.0.2,web.vm ssh-ed25519 " + key1 + "\n");
}

TEST(WaitForSsh, LaterBootWithTheSameKeySucceeds) {
  testkit::TempDir dir;
  testkit::FakeClock clock;
  KnownHosts hosts(dir.path() + "/known_hosts");
  ASSERT_TRUE(hosts.pin({"172.16.0.2", "web.vm"}, "ssh-ed25519", key1));
  SequenceRunner runner(clock, {answers(key1)});
  EXPECT_TRUE(wait_for_ssh(runner, clock, hosts, web_options(clock)));
}

TEST(WaitForSsh, ChangedKeyFails) {
  testkit::TempDir dir;
  testkit::FakeClock clock;
  KnownHosts hosts(dir.path() + "/known_hosts");
  ASSERT_TRUE(hosts.pin({"172.16.0.2", "web.vm"}, "ssh-ed25519", key1));
  SequenceRunner runner(clock, {answers(key2)});
  auto waited = wait_for_ssh(runner, clock, hosts, web_options(clock));
  ASSERT_FALSE(waited);
  EXPECT_EQ(waited.error().code, Errc::failed_precondition);
  EXPECT_EQ(waited.error().message.rfind("host key for web.vm (172.16.0.2) changed: expected "
                                         "SHA256:uepLRCXR8AvnC6tbDWj8jJnGaA5ql0rQBZ9/TAs2JFg, got "
                                         "SHA256:JyYnQBuuq+ZtNODBqrT5T/Cd3GqBBdYl55FbvI4HZAI;",
                                         0),
            0u)
      << waited.error().message;
}

TEST(WaitForSsh, TimesOutAtTheDeadline) {
  testkit::TempDir dir;
  testkit::FakeClock clock;
  KnownHosts hosts(dir.path() + "/known_hosts");
  SequenceRunner runner(clock, {refused()});
  auto waited = wait_for_ssh(runner, clock, hosts, web_options(clock));
  ASSERT_FALSE(waited);
  EXPECT_EQ(waited.error().code, Errc::timeout);
  EXPECT_EQ(waited.error().message,
            "timed out after 10s waiting for ssh: sshd on 172.16.0.2:22 is not answering yet");
  EXPECT_EQ(runner.at.back(), 10000ms);  // the last sleep is cut to the deadline
  EXPECT_FALSE(sys::path_exists(hosts.path()));
}

TEST(WaitForSsh, StopsWhenCancelled) {
  testkit::TempDir dir;
  testkit::FakeClock clock;
  KnownHosts hosts(dir.path() + "/known_hosts");
  SequenceRunner runner(clock, {refused()});
  auto options = web_options(clock);
  options.cancel = [&] { return runner.ran.size() >= 3; };
  auto waited = wait_for_ssh(runner, clock, hosts, options);
  ASSERT_FALSE(waited);
  EXPECT_EQ(waited.error().code, Errc::cancelled);
  EXPECT_EQ(waited.error().message, "waiting for sshd on 172.16.0.2:22: cancelled");
  EXPECT_EQ(runner.ran.size(), 3u);
}

TEST(WaitForSsh, MissingKeyscanFailsAtOnce) {
  testkit::TempDir dir;
  testkit::FakeClock clock;
  KnownHosts hosts(dir.path() + "/known_hosts");
  SequenceRunner runner(clock, {fail(Errc::not_found, "ssh-keyscan: command not found")});
  auto waited = wait_for_ssh(runner, clock, hosts, web_options(clock));
  ASSERT_FALSE(waited);
  EXPECT_EQ(waited.error().code, Errc::not_found);
  EXPECT_EQ(runner.ran.size(), 1u);
}

}  // namespace
}  // namespace banger::guest
