#include "banger/vmstorage/unprivileged_runner.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mutex>

#include "banger/ext4/editor.hpp"
#include "banger/ext4/image_builder.hpp"
#include "banger/guestconfig/guestconfig.hpp"
#include "banger/sys/fs.hpp"
#include "banger/testkit/temp_dir.hpp"
#include "banger/vmstorage/vm_disks.hpp"

namespace banger::vmstorage {
namespace {

// An id no account has (banger's VMM range), as the daemon would use.
constexpr EditIdentity kEditor{.uid = 0x0BAFFF01, .gid = 0x0BAFFF01};

TEST(UnprivilegedImageRunner, OpensTheImageAsRootThenDropsEveryPrivilegeBeforeTheTool) {
  auto argv = UnprivilegedImageRunner::wrap({"debugfs", "-w", "-f", "-", "/s/vms/a/work.ext4"},
                                            "/s/vms/a/work.ext4", kEditor);
  EXPECT_EQ(argv, (std::vector<std::string>{
                      "sh", "-c", "exec 3<>\"$1\" || exit 126; shift; exec \"$@\"", "sh",
                      "/s/vms/a/work.ext4", "setpriv", "--reuid=196083457", "--regid=196083457",
                      "--clear-groups", "--no-new-privs", "--inh-caps=-all", "--", "debugfs", "-w",
                      "-f", "-", "/dev/fd/3"}));
}

// Records every argv, then runs it for real.
class RecordingRunner final : public sys::CommandRunner {
 public:
  Expected<sys::CommandResult> run(const sys::Command& command) override {
    {
      std::lock_guard lock(mutex_);
      argvs_.push_back(command.argv);
    }
    return real_.run(command);
  }
  std::vector<std::vector<std::string>> argvs() const {
    std::lock_guard lock(mutex_);
    return argvs_;
  }

 private:
  sys::PosixCommandRunner real_;
  mutable std::mutex mutex_;
  std::vector<std::vector<std::string>> argvs_;
};

guestconfig::GuestConfigSpec spec() {
  return {.vm_name = "calm-otter",
          .vm_id = "0123456789abcdef",
          .guest_ip = "172.16.0.2",
          .gateway = "172.16.0.1",
          .prefix = 24,
          .dns_servers = {},
          .authorized_keys = "ssh-ed25519 AAAAunprivileged banger\n"};
}

// Regression for M11 (security review): a root daemon's per-start edit of the guest-writable
// work disk runs every debugfs as the VM's unprivileged id (the disk in a root-only 0700
// directory, reached through a descriptor a root shell opened), still writes the per-start
// files, and hands the disk back to root afterwards. Fails on 8f38f5a: refresh_work_disk ran
// `debugfs -w` directly as root (checked by calling refresh_work_disk without the identity, as
// at 8f38f5a: the EXPECT that every debugfs argv starts with the setpriv wrapper failed).
TEST(UnprivilegedImageRunner, RefreshWritesThePerStartFilesAsTheUnprivilegedId) {
  if (::geteuid() != 0 || sys::find_executable("setpriv").empty() ||
      sys::find_executable("debugfs").empty()) {
    GTEST_SKIP() << "needs root, setpriv and e2fsprogs";
  }
  testkit::TempDir dir;
  std::string vm_dir = dir.path() + "/vms/a";
  ASSERT_TRUE(sys::make_dirs(vm_dir, 0700));
  sys::PosixCommandRunner plain;
  auto made = create_work_disk(plain, vm_dir, 16, spec());
  ASSERT_TRUE(made) << made.error().message;
  auto next = spec();
  next.authorized_keys = "ssh-ed25519 AAAAnextstart banger\n";

  RecordingRunner recording;
  auto refreshed = refresh_work_disk(recording, *made, next, kEditor);
  ASSERT_TRUE(refreshed) << refreshed.error().message;
  auto argvs = recording.argvs();
  ASSERT_FALSE(argvs.empty());
  // The journal replay (e2fsck -E journal_only) comes first, then debugfs: both parse the disk.
  for (std::size_t i = 0; i < argvs.size(); ++i) {
    const auto& argv = argvs[i];
    ASSERT_GE(argv.size(), 13u);
    EXPECT_EQ(argv[5], "setpriv");
    EXPECT_EQ(argv[6], "--reuid=196083457");
    EXPECT_EQ(argv[12], i == 0 ? "e2fsck" : "debugfs");
  }
  EXPECT_EQ(*ext4::read_file(plain, *made, "/.ssh/authorized_keys"),
            "ssh-ed25519 AAAAnextstart banger\n");
  EXPECT_EQ(*ext4::read_file(plain, *made, "/.banger/etc/hostname"), "calm-otter\n");
  struct stat st{};
  ASSERT_EQ(::stat(made->c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 0u);
  EXPECT_EQ(st.st_gid, 0u);
}

// The unprivileged editor really has no access beyond the one image: without the descriptor
// the root shell opens, it cannot even reach the disk in the root-only VM directory.
TEST(UnprivilegedImageRunner, TheDroppedToolCannotOpenPathsOfTheVmDirectory) {
  if (::geteuid() != 0 || sys::find_executable("setpriv").empty()) {
    GTEST_SKIP() << "needs root and setpriv";
  }
  testkit::TempDir dir;
  std::string vm_dir = dir.path() + "/vm";
  ASSERT_TRUE(sys::make_dirs(vm_dir, 0700));
  std::string image = vm_dir + "/work.ext4";
  ASSERT_TRUE(sys::write_file_atomic(image, "disk bytes", 0600));
  ASSERT_EQ(::chown(image.c_str(), kEditor.uid, kEditor.gid), 0);
  sys::PosixCommandRunner plain;
  UnprivilegedImageRunner runner(plain, image, kEditor);
  auto through_fd = runner.run({.argv = {"cat", image}});
  ASSERT_TRUE(through_fd);
  EXPECT_EQ(through_fd->out, "disk bytes");
  auto by_path = runner.run({.argv = {"cat", vm_dir + "/./work.ext4"}});
  ASSERT_TRUE(by_path);
  EXPECT_NE(by_path->exit_code, 0);
  EXPECT_NE(by_path->err.find("Permission denied"), std::string::npos) << by_path->err;
  auto id = runner.run({.argv = {"id", "-u"}});
  ASSERT_TRUE(id);
  EXPECT_EQ(id->out, "196083457\n");
}

}  // namespace
}  // namespace banger::vmstorage
