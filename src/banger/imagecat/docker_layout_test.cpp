#include "banger/imagecat/docker_layout.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "banger/sys/fs.hpp"
#include "banger/testkit/temp_dir.hpp"

namespace banger::imagecat {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// A tree as mmdebstrap leaves it after installing docker.io: dockerd, and the units enabled by
// the package's postinst.
void make_docker_tree(const std::string& root) {
  ASSERT_TRUE(sys::make_dirs(root + "/usr/sbin", 0755));
  ASSERT_TRUE(sys::write_file_atomic(root + "/usr/sbin/dockerd", "ELF", 0755));
  const std::string wants = root + "/etc/systemd/system/multi-user.target.wants";
  ASSERT_TRUE(sys::make_dirs(wants, 0755));
  fs::create_symlink("/lib/systemd/system/docker.service", wants + "/docker.service");
  fs::create_symlink("/lib/systemd/system/containerd.service", wants + "/containerd.service");
  fs::create_symlink("/lib/systemd/system/ssh.service", wants + "/ssh.service");
}

TEST(DockerLayout, SocketActivationOnlyWithTheDataRootOnTheWorkDisk) {
  testkit::TempDir dir;
  const std::string root = dir.path();
  make_docker_tree(root);
  ASSERT_TRUE(configure_docker(root));

  EXPECT_EQ(sys::read_file(root + "/etc/docker/daemon.json"),
            "{\n  \"data-root\": \"/root/.local/share/docker\"\n}\n");
  auto dropin = sys::read_file(root + "/etc/systemd/system/docker.service.d/banger.conf");
  ASSERT_TRUE(dropin);
  EXPECT_THAT(*dropin, HasSubstr("After=banger-init.service"));
  EXPECT_THAT(*dropin, HasSubstr("ExecStartPre=-/sbin/modprobe -a overlay br_netfilter"));
  const std::string wants = root + "/etc/systemd/system/multi-user.target.wants";
  EXPECT_FALSE(fs::is_symlink(wants + "/docker.service"));
  EXPECT_FALSE(fs::is_symlink(wants + "/containerd.service"));
  EXPECT_TRUE(fs::is_symlink(wants + "/ssh.service"));  // other units untouched
  EXPECT_EQ(fs::read_symlink(root + "/etc/systemd/system/sockets.target.wants/docker.socket"),
            "/lib/systemd/system/docker.socket");
  // Idempotent: a second run changes nothing and does not fail on the existing socket link.
  ASSERT_TRUE(configure_docker(root));
}

TEST(DockerLayout, TheModuleDirectoryIsMadeThroughTheUsrMergeLink) {
  testkit::TempDir dir;
  ASSERT_TRUE(sys::make_dirs(dir.path() + "/usr/lib", 0755));
  fs::create_symlink("usr/lib", dir.path() + "/lib");
  ASSERT_TRUE(prepare_guest_modules_dir(dir.path()));
  EXPECT_TRUE(fs::is_directory(dir.path() + "/usr/lib/modules"));
  EXPECT_TRUE(fs::is_symlink(dir.path() + "/lib"));
  ASSERT_TRUE(prepare_guest_modules_dir(dir.path()));  // existing: fine
}

TEST(DockerLayout, TreesWithoutDockerAreLeftAlone) {
  testkit::TempDir dir;
  ASSERT_TRUE(configure_docker(dir.path()));
  EXPECT_FALSE(sys::path_exists(dir.path() + "/etc"));
}

TEST(DockerLayout, LinksInTheTreeNeverLeadOutOfIt) {
  testkit::TempDir dir;
  testkit::TempDir outside;
  const std::string root = dir.path();
  make_docker_tree(root);
  // A package's absolute link: /etc/docker -> <host dir>. Followed as the guest would (inside
  // the tree), never to the host path.
  fs::create_symlink(outside.path(), root + "/etc/docker");
  auto status = configure_docker(root);
  EXPECT_TRUE(fs::is_empty(outside.path()));
  if (status) {
    EXPECT_TRUE(sys::path_exists(root + outside.path() + "/daemon.json"));
  }
}

}  // namespace
}  // namespace banger::imagecat
