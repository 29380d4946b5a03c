#include "banger/agentd/health.hpp"

#include <gtest/gtest.h>

#include "banger/testkit/fixture_files.hpp"
#include "banger/testkit/temp_dir.hpp"

namespace banger::agentd {
namespace {

TEST(ReadHealth, ReadsUptimeBootIdAndVersion) {
  testkit::TempDir dir;
  testkit::write_fixture(dir.path() + "/uptime", "123.45 678.90\n");
  testkit::write_fixture(dir.path() + "/sys/kernel/random/boot_id", "0d9c-11\n");
  auto health = read_health(dir.path(), "9.9.9", {dir.path() + "/none.pub"});
  ASSERT_TRUE(std::holds_alternative<agentproto::HealthResult>(health));
  const auto& h = std::get<agentproto::HealthResult>(health);
  EXPECT_EQ(h.uptime_s, 123.45);
  EXPECT_EQ(h.boot_id, "0d9c-11");
  EXPECT_EQ(h.version, "9.9.9");
  EXPECT_FALSE(h.hostname.empty());
  EXPECT_EQ(h.ssh_host_key, std::optional<std::string>(""));  // sent, empty: no key yet
}

TEST(ReadHealth, MissingUptimeIsOperationFailed) {
  testkit::TempDir dir;
  auto health = read_health(dir.path(), "1", {});
  ASSERT_TRUE(std::holds_alternative<agentproto::WireError>(health));
  const auto& e = std::get<agentproto::WireError>(health);
  EXPECT_EQ(e.code, agentproto::ErrorCode::operation_failed);
  EXPECT_EQ(e.message, "reading " + dir.path() + "/uptime: No such file or directory");
}

TEST(ReadHealth, UnparsableUptimeIsOperationFailed) {
  testkit::TempDir dir;
  testkit::write_fixture(dir.path() + "/uptime", "soon\n");
  auto health = read_health(dir.path(), "1", {});
  ASSERT_TRUE(std::holds_alternative<agentproto::WireError>(health));
  EXPECT_EQ(std::get<agentproto::WireError>(health).message,
            "parsing " + dir.path() + "/uptime: no uptime number");
}

constexpr const char* kKey = "AAAAC3NzaC1lZDI1NTE5AAAAIGIov89ORwN9tfN6MsuhmZlBuD4njrmg+NojQqHV1rXO";

TEST(ReadSshHostKey, FirstWellFormedFileWinsAndTheCommentIsDropped) {
  testkit::TempDir dir;
  testkit::write_fixture(dir.path() + "/rsa.pub", "ssh-rsa AAAAB3Nza root@x\n");
  testkit::write_fixture(dir.path() + "/ed.pub", std::string("ssh-ed25519 ") + kKey + " root@vm\n");
  testkit::write_fixture(dir.path() + "/other.pub", "ssh-ed25519 AAAAother\n");
  EXPECT_EQ(read_ssh_host_key({dir.path() + "/missing.pub", dir.path() + "/rsa.pub",
                               dir.path() + "/ed.pub", dir.path() + "/other.pub"}),
            std::string("ssh-ed25519 ") + kKey);
}

TEST(ReadSshHostKey, HalfWrittenHostileOrHugeFilesGiveNothing) {
  testkit::TempDir dir;
  const std::string path = dir.path() + "/k.pub";
  for (const std::string& content :
       {std::string(""), std::string("ssh-ed25519"), std::string("ssh-ed25519 \n"),
        std::string("ssh-ed25519 AAAA\"; reboot\n"), std::string("ssh-ed25519 AAAA\x1b[2J\n"),
        std::string("ssh-ed25519 ") + std::string(300, 'A') + "\n",
        std::string("ssh-ed25519 AAAA ") + std::string(5000, 'c')}) {
    testkit::write_fixture(path, content);
    EXPECT_EQ(read_ssh_host_key({path}), "") << content.substr(0, 40);
  }
}

TEST(ParseUptime, TakesFirstNumber) {
  EXPECT_EQ(parse_uptime("5.5 1.0\n"), std::optional<double>(5.5));
  EXPECT_EQ(parse_uptime("7\n"), std::optional<double>(7));
  EXPECT_EQ(parse_uptime(""), std::nullopt);
  EXPECT_EQ(parse_uptime("-1 2"), std::nullopt);
}

TEST(ReadHealth, RealProcWorks) {
  auto health = read_health("/proc", agent_version(), {});
  ASSERT_TRUE(std::holds_alternative<agentproto::HealthResult>(health));
  EXPECT_GT(std::get<agentproto::HealthResult>(health).uptime_s, 0);
  EXPECT_EQ(std::get<agentproto::HealthResult>(health).boot_id.size(), 36u);
}

}  // namespace
}  // namespace banger::agentd
