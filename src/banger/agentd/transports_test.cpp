#include "banger/agentd/transports.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include "banger/testkit/fixture_files.hpp"
#include "banger/testkit/temp_dir.hpp"

namespace banger::agentd {
namespace {

TEST(FindVirtioPort, FindsPortByName) {
  testkit::TempDir sys;
  testkit::write_fixture(sys.path() + "/class/virtio-ports/vport0p1/name",
                         "org.qemu.guest_agent.0\n");
  testkit::write_fixture(sys.path() + "/class/virtio-ports/vport1p1/name", "org.banger.agent\n");
  EXPECT_EQ(find_virtio_port(sys.path(), "org.banger.agent"),
            std::optional<std::string>("/dev/vport1p1"));
  EXPECT_EQ(find_virtio_port(sys.path(), "org.other"), std::nullopt);
}

TEST(FindVirtioPort, MissingClassDirectoryIsNotFound) {
  testkit::TempDir sys;
  EXPECT_EQ(find_virtio_port(sys.path(), "org.banger.agent"), std::nullopt);
}

TEST(ListenUnix, ListensAndReplacesStaleSocket) {
  testkit::TempDir dir;
  const std::string path = dir.path() + "/a.sock";
  auto first = listen_unix(path);
  ASSERT_TRUE(first) << first.error().message();
  first->reset();
  auto second = listen_unix(path);
  ASSERT_TRUE(second) << second.error().message();
}

TEST(ListenUnix, RejectsTooLongPath) {
  auto fd = listen_unix(std::string(200, 'a'));
  ASSERT_FALSE(fd);
  EXPECT_EQ(fd.error().sys_errno, ENAMETOOLONG);
  EXPECT_EQ(fd.error().what, "unix socket path must be 1 to 107 bytes: " + std::string(200, 'a'));
}

}  // namespace
}  // namespace banger::agentd
