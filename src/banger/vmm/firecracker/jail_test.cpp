#include "banger/vmm/firecracker/jail.hpp"

#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "banger/sys/fs.hpp"
#include "banger/testkit/temp_dir.hpp"

namespace banger::vmm::firecracker {
namespace {

constexpr std::uint32_t kVmId = 0x0BA00002;

VmConfig config_in(const std::string& dir) {
  return VmConfig{.vm_id = "3f2a-9c",
                  .name = "calm-otter",
                  .kernel_path = dir + "/kernels/vmlinux",
                  .initrd_path = std::nullopt,
                  .root_disk = {.path = dir + "/vms/3f2a-9c/rootfs.img"},
                  .work_disk = DiskConfig{.path = dir + "/vms/3f2a-9c/work.img"},
                  .agent_socket_path = dir + "/run/3f2a-9c.vsock",
                  .vsock_cid = kVmId,
                  .control_socket_path = dir + "/run/3f2a-9c.fc",
                  .run_as = std::pair{kVmId, kVmId}};
}

TEST(Jail, LayoutFollowsTheJailersChrootScheme) {
  auto layout = jail_layout("/var/lib/banger/jailer", "firecracker", "3f2a-9c");
  ASSERT_TRUE(layout) << layout.error().message;
  EXPECT_EQ(layout->dir, "/var/lib/banger/jailer/firecracker/3f2a-9c");
  EXPECT_EQ(layout->root, "/var/lib/banger/jailer/firecracker/3f2a-9c/root");
  EXPECT_FALSE(jail_layout("jailer", "firecracker", "3f2a"));
  EXPECT_FALSE(jail_layout("/j", "bin/firecracker", "3f2a"));
  EXPECT_FALSE(jail_layout("/j", "..", "3f2a"));
  for (const char* id : {"", "../etc", "a/b", "a b", "a_b"}) {
    auto refused = jail_layout("/j", "firecracker", id);
    ASSERT_FALSE(refused) << id;
    EXPECT_EQ(refused.error().code, Errc::invalid_argument);
  }
  EXPECT_TRUE(check_jail_id(std::string(64, 'a')));
  EXPECT_FALSE(check_jail_id(std::string(65, 'a')));
}

TEST(Jail, PlanLinksTheVmsFilesAndTellsFirecrackerTheirJailedNames) {
  auto config = config_in("/s");
  config.initrd_path = "/s/kernels/initrd.img";
  auto layout = *jail_layout("/s/jailer", "firecracker", config.vm_id);
  auto plan = plan_jail(config, layout);
  ASSERT_TRUE(plan) << plan.error().message;
  EXPECT_EQ(plan->uid, kVmId);
  EXPECT_EQ(plan->files,
            (std::vector<JailFile>{
                {.source = "/s/kernels/vmlinux", .name = "vmlinux", .vm_owned = false},
                {.source = "/s/kernels/initrd.img", .name = "initrd.img"},
                {.source = "/s/vms/3f2a-9c/rootfs.img", .name = "rootfs.img", .vm_owned = true},
                {.source = "/s/vms/3f2a-9c/work.img", .name = "work.img", .vm_owned = true}}));
  EXPECT_EQ(plan->links, (std::vector<JailLink>{
                             {.path = "/s/run/3f2a-9c.fc", .target = layout.root + "/api.sock"},
                             {.path = "/s/run/3f2a-9c.vsock", .target = layout.root + "/v.sock"}}));
  EXPECT_EQ(plan->jailed.kernel_path, "/vmlinux");
  EXPECT_EQ(plan->jailed.initrd_path, std::optional<std::string>("/initrd.img"));
  EXPECT_EQ(plan->jailed.root_disk.path, "/rootfs.img");
  EXPECT_EQ(plan->jailed.work_disk->path, "/work.img");
  EXPECT_EQ(plan->jailed.agent_socket_path, "/v.sock");
  EXPECT_EQ(plan->jailed.vsock_cid, kVmId);

  EXPECT_EQ(jailer_argv("/usr/bin/jailer", "/usr/bin/firecracker", "/s/jailer", *plan),
            (std::vector<std::string>{"/usr/bin/jailer", "--id", "3f2a-9c", "--exec-file",
                                      "/usr/bin/firecracker", "--uid", "195035138", "--gid",
                                      "195035138", "--chroot-base-dir", "/s/jailer", "--",
                                      "--api-sock", "/api.sock"}));
}

TEST(Jail, PlanRefusesWhatAJailCannotTake) {
  auto config = config_in("/s");
  auto layout = *jail_layout("/s/jailer", "firecracker", config.vm_id);
  config.run_as.reset();  // a daemon that is not root
  auto unprivileged = plan_jail(config, layout);
  ASSERT_FALSE(unprivileged);
  EXPECT_EQ(unprivileged.error().code, Errc::failed_precondition);
  EXPECT_NE(unprivileged.error().message.find("needs a root daemon"), std::string::npos);
  config = config_in("/s");
  config.work_disk->read_only = true;
  EXPECT_FALSE(plan_jail(config, layout));
}

TEST(Jail, AJailedFirecrackerIsRecognisedByItsIdAndJailedSocket) {
  auto layout = *jail_layout("/s/jailer", "firecracker", "3f2a-9c");
  std::vector<std::string> argv = {
      "/firecracker",        "--id", "3f2a-9c",    "--start-time-us", "1",
      "--start-time-cpu-us", "2",    "--api-sock", "/api.sock"};
  EXPECT_TRUE(jailed_with(argv, layout));
  argv[2] = "3f2a";
  EXPECT_FALSE(jailed_with(argv, layout));
  EXPECT_FALSE(jailed_with({"/firecracker", "--id", "3f2a-9c"}, layout));
}

// --- the real file system (root only) -------------------------------------------------------

void write(const std::string& path, const std::string& text, mode_t mode) {
  ASSERT_TRUE(sys::make_dirs(path.substr(0, path.rfind('/')), 0755));
  std::ofstream(path) << text;
  ASSERT_EQ(::chmod(path.c_str(), mode), 0);
}

struct stat stat_of(const std::string& path) {
  struct stat st{};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return st;
}

std::string read(const std::string& path) {
  auto text = sys::read_file(path);
  return text ? *text : "<" + text.error().message + ">";
}

class JailStaging : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) {
      GTEST_SKIP() << "staging a jail needs root (link, lchown, mount)";
    }
    config = config_in(dir.path());
    write(config.kernel_path, "kernel", 0644);
    write(config.root_disk.path, "root disk", 0600);
    write(config.work_disk->path, "work disk", 0600);
    ASSERT_TRUE(sys::make_dirs(dir.path() + "/run", 0700));
    layout = *jail_layout(dir.path() + "/jailer", "firecracker", config.vm_id);
  }

  testkit::TempDir dir;
  VmConfig config;
  JailLayout layout;
  PosixJailStager stager;
};

TEST_F(JailStaging, StagedFilesAreHardLinksAndTheDisksBelongToTheVmsId) {
  auto plan = *plan_jail(config, layout);
  ASSERT_TRUE(stager.stage(plan));
  auto root = stat_of(layout.root);
  EXPECT_TRUE(S_ISDIR(root.st_mode));
  EXPECT_EQ(root.st_mode & 07777, 0700u);
  EXPECT_EQ(root.st_uid, 0u);  // the jailer gives it to the VM's id itself
  EXPECT_EQ(stat_of(dir.path() + "/jailer").st_mode & 07777, 0700u);
  for (const auto& file : plan.files) {
    auto source = stat_of(file.source);
    auto jailed = stat_of(layout.root + "/" + file.name);
    EXPECT_EQ(jailed.st_ino, source.st_ino) << file.name;  // the same file, not a copy
    EXPECT_EQ(jailed.st_dev, source.st_dev) << file.name;
    EXPECT_EQ(jailed.st_nlink, 2u) << file.name;
  }
  auto kernel = stat_of(config.kernel_path);
  EXPECT_EQ(kernel.st_uid, 0u);  // shared: never given away
  EXPECT_EQ(kernel.st_mode & 07777, 0644u);
  for (const auto& disk : {config.root_disk.path, config.work_disk->path}) {
    auto st = stat_of(disk);
    EXPECT_EQ(st.st_uid, kVmId) << disk;
    EXPECT_EQ(st.st_gid, kVmId) << disk;
    EXPECT_EQ(st.st_mode & 07777, 0600u) << disk;
  }
  char target[256] = {};
  ASSERT_GT(::readlink(config.control_socket_path.c_str(), target, sizeof target - 1), 0);
  EXPECT_EQ(std::string(target), layout.root + "/api.sock");
  EXPECT_EQ(*stager.list(dir.path() + "/jailer", "firecracker"),
            std::vector<std::string>{config.vm_id});

  ASSERT_TRUE(stager.remove(layout));
  EXPECT_FALSE(sys::path_exists(layout.dir));
  EXPECT_EQ(read(config.root_disk.path), "root disk");  // the VM's files stay
  EXPECT_EQ(stat_of(config.root_disk.path).st_nlink, 1u);
  EXPECT_TRUE(stager.list(dir.path() + "/jailer", "firecracker")->empty());
  EXPECT_TRUE(stager.remove(layout));  // absent: fine
}

// A jail a crash left behind (a hostile guest's Firecracker may have filled it with links out
// of it) is removed before the next one is staged, without following anything out of it.
TEST_F(JailStaging, ALeftoverJailIsReplacedWithoutFollowingItsLinks) {
  write(dir.path() + "/outside/keep", "keep", 0644);
  ASSERT_TRUE(sys::make_dirs(layout.root + "/dev/net", 0700));
  ASSERT_EQ(::symlink((dir.path() + "/outside").c_str(), (layout.root + "/escape").c_str()), 0);
  ASSERT_EQ(::symlink((dir.path() + "/outside/keep").c_str(), (layout.root + "/vmlinux").c_str()),
            0);
  write(layout.root + "/firecracker", "old binary", 0755);
  ASSERT_TRUE(stager.stage(*plan_jail(config, layout)));
  EXPECT_EQ(read(dir.path() + "/outside/keep"), "keep");
  EXPECT_FALSE(sys::path_exists(layout.root + "/escape"));
  EXPECT_FALSE(sys::path_exists(layout.root + "/firecracker"));
  EXPECT_EQ(stat_of(layout.root + "/vmlinux").st_ino, stat_of(config.kernel_path).st_ino);
  ASSERT_TRUE(stager.remove(layout));
  EXPECT_EQ(read(dir.path() + "/outside/keep"), "keep");
}

TEST_F(JailStaging, AKernelOthersCannotReadIsRefusedBeforeAnythingIsMade) {
  ASSERT_EQ(::chmod(config.kernel_path.c_str(), 0600), 0);
  auto refused = stager.stage(*plan_jail(config, layout));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, Errc::failed_precondition);
  EXPECT_NE(refused.error().message.find("not readable by others (mode 0600)"), std::string::npos)
      << refused.error().message;
  EXPECT_FALSE(sys::path_exists(layout.dir));
  EXPECT_EQ(stat_of(config.root_disk.path).st_uid, 0u);
}

TEST_F(JailStaging, AFailedStagingLeavesNoJailBehind) {
  ASSERT_EQ(::unlink(config.work_disk->path.c_str()), 0);  // vanished under us
  auto failed = stager.stage(*plan_jail(config, layout));
  ASSERT_FALSE(failed);
  EXPECT_NE(failed.error().message.find("work.img"), std::string::npos) << failed.error().message;
  EXPECT_FALSE(sys::path_exists(layout.dir));
}

// Sources on another filesystem than the jail are bind-mounted; removing the jail unmounts
// them and leaves the sources alone. Runs in a private mount namespace of its own.
TEST_F(JailStaging, SourcesOnAnotherFilesystemAreBindMountedAndUnmountedOnRemove) {
  if (::unshare(CLONE_NEWNS) != 0 ||
      ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    GTEST_SKIP() << "no private mount namespace here: " << std::strerror(errno);
  }
  std::string other = dir.path() + "/other";
  ASSERT_TRUE(sys::make_dirs(other, 0755));
  ASSERT_EQ(::mount("tmpfs", other.c_str(), "tmpfs", 0, "size=1m"), 0) << std::strerror(errno);
  config.kernel_path = other + "/vmlinux";
  write(config.kernel_path, "kernel on tmpfs", 0644);
  ASSERT_TRUE(stager.stage(*plan_jail(config, layout)));
  auto jailed = stat_of(layout.root + "/vmlinux");
  auto source = stat_of(config.kernel_path);
  EXPECT_EQ(jailed.st_dev, source.st_dev);
  EXPECT_EQ(jailed.st_ino, source.st_ino);
  EXPECT_EQ(read(layout.root + "/vmlinux"), "kernel on tmpfs");
  EXPECT_EQ(stat_of(layout.root + "/rootfs.img").st_ino, stat_of(config.root_disk.path).st_ino);

  ASSERT_TRUE(stager.remove(layout));
  EXPECT_FALSE(sys::path_exists(layout.dir));
  EXPECT_EQ(read(config.kernel_path), "kernel on tmpfs");
  std::ifstream mounts("/proc/self/mountinfo");
  std::string line;
  while (std::getline(mounts, line)) {
    EXPECT_EQ(line.find(layout.dir), std::string::npos) << line;
  }
  ASSERT_EQ(::umount2(other.c_str(), MNT_DETACH), 0);
}

}  // namespace
}  // namespace banger::vmm::firecracker
