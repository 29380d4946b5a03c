#include "banger/imagecat/rootfs_layout.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>

#include "banger/sys/fs.hpp"
#include "banger/testkit/temp_dir.hpp"

namespace banger::imagecat {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

mode_t mode_of(const std::string& path) {
  struct stat st{};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

std::string link_of(const std::string& path) {
  std::error_code ec;
  return fs::read_symlink(path, ec).string();
}

TEST(RootfsLayout, AppletListBecomesAbsolutePathsWithoutUnsafeLines) {
  EXPECT_EQ(parse_applet_list("bin/ash\nsbin/init\nusr/bin/wget\n\n/abs\n../x\nbin/a b\n"),
            (std::vector<std::string>{"/bin/ash", "/sbin/init", "/usr/bin/wget"}));
  EXPECT_EQ(plan_busybox_applets("/t/tree").argv,
            (std::vector<std::string>{"/t/tree/bin/busybox", "--list-full"}));
}

TEST(RootfsLayout, TinyTreeHasInitAppletsEtcAndTheHookPoint) {
  // Given a tree holding what the busybox-static and dropbear-bin .debs unpack to.
  testkit::TempDir dir;
  const std::string root = dir.path() + "/tree";
  ASSERT_TRUE(sys::make_dirs(root + "/bin"));
  ASSERT_TRUE(sys::make_dirs(root + "/usr/sbin"));
  ASSERT_TRUE(sys::make_dirs(root + "/usr/share/doc/busybox-static"));
  ASSERT_TRUE(sys::write_file_atomic(root + "/bin/busybox", "elf", 0755));
  ASSERT_TRUE(sys::write_file_atomic(root + "/usr/sbin/dropbear", "elf", 0755));

  ASSERT_TRUE(write_tiny_tree(root, {"/bin/sh", "/sbin/init", "/usr/bin/wget", "/bin/busybox"}));

  EXPECT_EQ(link_of(root + "/bin/sh"), "/bin/busybox");
  EXPECT_EQ(link_of(root + "/usr/bin/wget"), "/bin/busybox");
  EXPECT_EQ(*sys::read_file(root + "/bin/busybox"), "elf");  // existing files are kept
  EXPECT_EQ(*sys::read_file(root + "/sbin/init"), tiny_init_script());
  EXPECT_EQ(mode_of(root + "/sbin/init"), 0755u);
  EXPECT_EQ(*sys::read_file(root + "/etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n");
  EXPECT_EQ(*sys::read_file(root + "/etc/shadow"), "root::19000:0:99999:7:::\n");
  EXPECT_EQ(mode_of(root + "/etc/shadow"), 0600u);
  EXPECT_EQ(*sys::read_file(root + "/etc/group"), "root:x:0:\n");
  EXPECT_EQ(*sys::read_file(root + "/etc/shells"), "/bin/sh\n");
  EXPECT_EQ(*sys::read_file(root + "/etc/hostname"), "tiny\n");
  EXPECT_EQ(mode_of(root + "/root"), 0700u);
  EXPECT_EQ(mode_of(root + "/tmp"), 01777u);
  for (const char* d : {"/proc", "/sys", "/dev", "/run", "/etc/dropbear", "/var/log", "/etc/banger",
                        "/etc/banger/init.d", "/usr/local/lib/banger"}) {
    EXPECT_TRUE(fs::is_directory(root + d)) << d;
  }
  EXPECT_FALSE(fs::exists(root + "/usr/share/doc"));
  // No baked host key: every VM makes its own at first boot.
  EXPECT_TRUE(fs::is_empty(root + "/etc/dropbear"));
}

TEST(RootfsLayout, TinyInitDoesWhatTheGuestNeeds) {
  std::string init = tiny_init_script();
  EXPECT_EQ(init.rfind("#!/bin/sh\n", 0), 0u);
  for (const char* step :
       {"mount -t proc proc /proc", "mount -t sysfs sysfs /sys", "mount -t devpts devpts /dev/pts",
        "mount -t tmpfs tmpfs /run", "mount -t tmpfs tmpfs /tmp", "ip link set lo up",
        "if [ -b /dev/vdb ]; then", "mount -t ext4 /dev/vdb /root", "/etc/banger/init.d/*",
        "dropbearkey -t ed25519 -f \"$key\"", "dropbear -r \"$key\" -p 22 -s -E",
        "trap 'echo \"banger-init: powering off\"; sync; poweroff -f' TERM"}) {
    EXPECT_THAT(init, HasSubstr(step));
  }
}

TEST(RootfsLayout, DebianTreeGetsSshdKeygenUnitsFstabAndNoBakedKeys) {
  // Given what mmdebstrap leaves: host keys, apt caches, a machine-id.
  testkit::TempDir dir;
  const std::string root = dir.path();
  ASSERT_TRUE(sys::make_dirs(root + "/etc/ssh"));
  ASSERT_TRUE(sys::make_dirs(root + "/var/cache/apt/archives/partial"));
  ASSERT_TRUE(sys::make_dirs(root + "/var/lib/apt/lists"));
  ASSERT_TRUE(sys::make_dirs(root + "/var/lib/dbus"));
  ASSERT_TRUE(sys::write_file_atomic(root + "/etc/ssh/ssh_host_ed25519_key", "k", 0600));
  ASSERT_TRUE(sys::write_file_atomic(root + "/etc/ssh/ssh_host_ed25519_key.pub", "k"));
  ASSERT_TRUE(sys::write_file_atomic(root + "/etc/ssh/sshd_config", "Include x\n"));
  ASSERT_TRUE(sys::write_file_atomic(root + "/var/cache/apt/archives/x.deb", "deb"));
  ASSERT_TRUE(sys::write_file_atomic(root + "/var/lib/apt/lists/y_Packages", "p"));
  ASSERT_TRUE(sys::write_file_atomic(root + "/etc/machine-id", "0123456789abcdef\n"));
  ASSERT_TRUE(sys::write_file_atomic(root + "/var/lib/dbus/machine-id", "0123\n"));

  auto configured = configure_debian_tree(root);
  ASSERT_TRUE(configured) << configured.error().message;

  EXPECT_FALSE(fs::exists(root + "/etc/ssh/ssh_host_ed25519_key"));
  EXPECT_FALSE(fs::exists(root + "/etc/ssh/ssh_host_ed25519_key.pub"));
  EXPECT_TRUE(fs::exists(root + "/etc/ssh/sshd_config"));
  EXPECT_EQ(*sys::read_file(root + "/etc/ssh/sshd_config.d/banger.conf"), sshd_dropin());
  EXPECT_THAT(sshd_dropin(), HasSubstr("PermitRootLogin prohibit-password\n"));
  EXPECT_THAT(sshd_dropin(), HasSubstr("PasswordAuthentication no\n"));
  EXPECT_EQ(*sys::read_file(root + "/etc/systemd/system/banger-ssh-keygen.service"),
            ssh_keygen_unit());
  EXPECT_THAT(ssh_keygen_unit(), HasSubstr("Before=ssh.service"));
  EXPECT_THAT(ssh_keygen_unit(),
              HasSubstr("ssh-keygen -q -t ed25519 -N \"\" -f /etc/ssh/ssh_host_ed25519_key"));
  EXPECT_THAT(sshd_dropin(), HasSubstr("HostKey /etc/ssh/ssh_host_ed25519_key\n"));
  EXPECT_EQ(*sys::read_file(root + "/etc/systemd/system/banger-init.service"), banger_init_unit());
  EXPECT_THAT(banger_init_unit(), HasSubstr("ExecStart=/usr/local/lib/banger/banger-init"));
  const std::string wants = root + "/etc/systemd/system/multi-user.target.wants/";
  EXPECT_EQ(link_of(wants + "banger-ssh-keygen.service"),
            "/etc/systemd/system/banger-ssh-keygen.service");
  EXPECT_EQ(link_of(wants + "banger-init.service"), "/etc/systemd/system/banger-init.service");
  // sshd waits for the work disk that carries authorized_keys.
  EXPECT_EQ(*sys::read_file(root + "/etc/systemd/system/ssh.service.d/banger.conf"),
            "[Unit]\nWants=banger-init.service\nAfter=banger-init.service\n");
  // The boot hook applies the per-VM files from the work disk (docs/guest-config.md).
  EXPECT_NE(sys::read_file(root + "/usr/local/lib/banger/banger-init")
                ->find("cp \"/root/.banger/etc/$f\" \"/etc/$f\""),
            std::string::npos);
  EXPECT_EQ(link_of(wants + "ssh.service"), "/lib/systemd/system/ssh.service");
  EXPECT_EQ(*sys::read_file(root + "/etc/machine-id"), "");
  EXPECT_FALSE(fs::exists(root + "/var/lib/dbus/machine-id"));
  EXPECT_EQ(*sys::read_file(root + "/etc/fstab"), debian_fstab());
  EXPECT_THAT(debian_fstab(), ::testing::Not(HasSubstr("/dev/vdb /root")));
  EXPECT_FALSE(fs::exists(root + "/var/cache/apt/archives/x.deb"));
  EXPECT_TRUE(fs::exists(root + "/var/cache/apt/archives/partial"));
  EXPECT_FALSE(fs::exists(root + "/var/lib/apt/lists/y_Packages"));
  EXPECT_TRUE(fs::is_directory(root + "/etc/banger"));
  EXPECT_TRUE(fs::is_directory(root + "/usr/local/lib/banger"));
  EXPECT_FALSE(fs::exists(root + "/etc/banger/init.d"));  // systemd images use the unit
}

TEST(RootfsLayout, TreeSizeCountsFilesAndEntries) {
  testkit::TempDir dir;
  ASSERT_TRUE(sys::make_dirs(dir.path() + "/a"));
  ASSERT_TRUE(sys::write_file_atomic(dir.path() + "/a/f", std::string(10000, 'x')));
  auto size = tree_size_bytes(dir.path());
  ASSERT_TRUE(size) << size.error().message;
  EXPECT_EQ(*size, 10000u + 2 * 4096u);
}

TEST(RootfsLayout, AgentGoesIntoBusyboxImagesWithAnInitHook) {
  testkit::TempDir dir;
  std::string agent = dir.path() + "/banger-agent";
  ASSERT_TRUE(sys::write_file_atomic(agent,
                                     "\x7f"
                                     "ELF agent",
                                     0755));
  std::string root = dir.path() + "/root";
  ASSERT_TRUE(sys::make_dirs(root, 0755));
  auto busybox_tree = GuestTree::open(root);
  ASSERT_TRUE(busybox_tree);
  ASSERT_TRUE(install_agent(*busybox_tree, model::InitFlavour::busybox, agent));
  EXPECT_EQ(*sys::read_file(root + "/usr/local/bin/banger-agent"),
            "\x7f"
            "ELF agent");
  EXPECT_EQ(mode_of(root + "/usr/local/bin/banger-agent"), 0755u);
  EXPECT_EQ(*sys::read_file(root + "/etc/banger/init.d/10-banger-agent"), agent_init_hook());
  EXPECT_EQ(mode_of(root + "/etc/banger/init.d/10-banger-agent"), 0755u);
  EXPECT_THAT(agent_init_hook(), HasSubstr("/usr/local/bin/banger-agent"));
}

TEST(RootfsLayout, AgentGoesIntoSystemdImagesAsAnEarlyEnabledUnit) {
  testkit::TempDir dir;
  std::string agent = dir.path() + "/banger-agent";
  ASSERT_TRUE(sys::write_file_atomic(agent, "agent", 0755));
  std::string root = dir.path() + "/root";
  ASSERT_TRUE(sys::make_dirs(root, 0755));
  auto systemd_tree = GuestTree::open(root);
  ASSERT_TRUE(systemd_tree);
  ASSERT_TRUE(install_agent(*systemd_tree, model::InitFlavour::systemd, agent));
  EXPECT_EQ(*sys::read_file(root + "/etc/systemd/system/banger-agent.service"), agent_unit());
  EXPECT_EQ(link_of(root + "/etc/systemd/system/sysinit.target.wants/banger-agent.service"),
            "/etc/systemd/system/banger-agent.service");
  EXPECT_THAT(agent_unit(), HasSubstr("Before=ssh.service"));
  EXPECT_THAT(agent_unit(), HasSubstr("Restart=always"));
}

TEST(RootfsLayout, AMissingAgentBinaryIsNotFoundNamingThePath) {
  testkit::TempDir dir;
  auto tree = GuestTree::open(dir.path());
  ASSERT_TRUE(tree);
  auto installed = install_agent(*tree, model::InitFlavour::busybox, "/nowhere/banger-agent");
  ASSERT_FALSE(installed);
  EXPECT_EQ(installed.error().code, Errc::not_found);
  EXPECT_THAT(installed.error().message,
              HasSubstr("banger-agent not found at /nowhere/banger-agent"));
}

TEST(RootfsLayout, AgentBinaryIsFoundBesideTheExecutableElseInLibexec) {
  testkit::TempDir dir;
  EXPECT_EQ(locate_agent_binary(dir.path() + "/bin"),
            dir.path() + "/bin/../libexec/banger/banger-agent");
  ASSERT_TRUE(sys::make_dirs(dir.path() + "/bin"));
  ASSERT_TRUE(sys::write_file_atomic(dir.path() + "/bin/banger-agent", "a", 0755));
  EXPECT_EQ(locate_agent_binary(dir.path() + "/bin"), dir.path() + "/bin/banger-agent");
}

}  // namespace
}  // namespace banger::imagecat
