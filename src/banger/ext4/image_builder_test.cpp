#include "banger/ext4/image_builder.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "banger/ext4/editor.hpp"
#include "banger/sys/fs.hpp"
#include "banger/testkit/fake_command_runner.hpp"
#include "banger/testkit/temp_dir.hpp"

namespace banger::ext4 {
namespace {

bool have_e2fsprogs() {
  return !sys::find_executable("mkfs.ext4").empty() && !sys::find_executable("debugfs").empty();
}

TEST(PlanMkfs, RootfsFromDirectoryWithLabel) {
  auto cmd = plan_mkfs(
      {.image = "/s/rootfs.ext4", .size_mib = 64, .source_dir = "/s/tree", .label = "tinyroot"});
  EXPECT_EQ(sys::to_display(cmd.argv),
            "mkfs.ext4 -q -F -d /s/tree -E "
            "root_owner=0:0,lazy_itable_init=1,lazy_journal_init=1 -L tinyroot "
            "/s/rootfs.ext4 64M");
}

TEST(PlanMkfs, AnInodeCountBecomesDashN) {
  auto cmd = plan_mkfs({.image = "/s/r.ext4", .size_mib = 1024, .inodes = 100000});
  EXPECT_EQ(sys::to_display(cmd.argv),
            "mkfs.ext4 -q -F -E root_owner=0:0,lazy_itable_init=1,lazy_journal_init=1 -N 100000 "
            "/s/r.ext4 1024M");
}

TEST(PlanMkfs, EmptyWorkDiskHasNoDirectoryOrLabel) {
  auto cmd = plan_mkfs({.image = "/s/work.ext4", .size_mib = 8192});
  std::vector<std::string> want = {
      "mkfs.ext4",    "-q",   "-F", "-E", "root_owner=0:0,lazy_itable_init=1,lazy_journal_init=1",
      "/s/work.ext4", "8192M"};
  EXPECT_EQ(cmd.argv, want);
}

TEST(MakeExt4, RejectsZeroSize) {
  testkit::FakeCommandRunner runner;
  auto r = make_ext4(runner, {.image = "/s/x.ext4", .size_mib = 0});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::invalid_argument);
  EXPECT_EQ(r.error().message, "ext4 image /s/x.ext4: size must be at least 1 MiB");
  EXPECT_TRUE(runner.ran().empty());
}

TEST(MakeExt4, RejectsLongLabel) {
  testkit::FakeCommandRunner runner;
  auto r = make_ext4(runner, {.image = "/s/x.ext4", .size_mib = 8, .label = "abcdefghijklmnopq"});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::invalid_argument);
  EXPECT_EQ(r.error().message,
            "ext4 image /s/x.ext4: label \"abcdefghijklmnopq\" is longer than 16 bytes");
}

TEST(MakeExt4, MissingSourceDirIsNotFound) {
  testkit::TempDir dir;
  testkit::FakeCommandRunner runner;
  std::string image = dir.path() + "/x.ext4";
  auto r = make_ext4(runner, {.image = image, .size_mib = 8, .source_dir = dir.path() + "/nope"});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::not_found);
  EXPECT_EQ(r.error().message,
            "ext4 image " + image + ": source directory " + dir.path() + "/nope does not exist");
}

TEST(MakeExt4, CreatesSparseFileOfRequestedSizeBeforeMkfs) {
  testkit::TempDir dir;
  testkit::FakeCommandRunner runner;
  std::string image = dir.path() + "/x.ext4";
  ASSERT_TRUE(make_ext4(runner, {.image = image, .size_mib = 16}));
  struct stat st{};
  ASSERT_EQ(::stat(image.c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 16 * 1024 * 1024);
  EXPECT_LT(st.st_blocks * 512, 1024 * 1024);  // sparse
  ASSERT_EQ(runner.ran().size(), 1u);
  EXPECT_EQ(runner.ran()[0], sys::to_display(plan_mkfs({.image = image, .size_mib = 16}).argv));
}

TEST(MakeExt4, MkfsFailureNamesImageAndRemovesIt) {
  testkit::TempDir dir;
  testkit::FakeCommandRunner runner;
  runner.on("mkfs.ext4",
            {.exit_code = 1, .out = "", .err = "mkfs.ext4: Device size reported to be zero\n"});
  std::string image = dir.path() + "/x.ext4";
  auto r = make_ext4(runner, {.image = image, .size_mib = 8});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::command_failed);
  EXPECT_EQ(r.error().message, "formatting ext4 image " + image +
                                   ": mkfs.ext4 exited 1: mkfs.ext4: Device size reported to be "
                                   "zero");
  EXPECT_FALSE(sys::path_exists(image));
}

TEST(MakeExt4, BuildsImageFromTreeReadableWithDebugfs) {
  if (!have_e2fsprogs()) {
    GTEST_SKIP() << "mkfs.ext4/debugfs not installed";
  }
  testkit::TempDir dir;
  std::string tree = dir.path() + "/tree";
  ASSERT_TRUE(sys::make_dirs(tree + "/etc"));
  ASSERT_TRUE(sys::write_file_atomic(tree + "/etc/hostname", "tiny\n", 0644));
  ASSERT_TRUE(sys::write_file_atomic(tree + "/etc/shadow", "root::1:0:::::\n", 0600));
  std::string image = dir.path() + "/root.ext4";
  sys::PosixCommandRunner runner;
  ASSERT_TRUE(
      make_ext4(runner, {.image = image, .size_mib = 8, .source_dir = tree, .label = "tinyroot"}));

  EXPECT_EQ(*read_file(runner, image, "/etc/hostname"), "tiny\n");
  auto shadow = stat(runner, image, "/etc/shadow");
  ASSERT_TRUE(shadow) << shadow.error().message;
  EXPECT_EQ(shadow->mode, mode_t{0100600});
  EXPECT_EQ(shadow->uid, 0u);
  auto root = stat(runner, image, "/");
  ASSERT_TRUE(root);
  EXPECT_EQ(root->type, FileType::directory);
  EXPECT_EQ(root->uid, 0u);  // root_owner=0:0

  auto label = sys::run_checked(runner, {.argv = {"e2label", image}});
  if (label) {
    EXPECT_EQ(*label, "tinyroot\n");
  }
}

TEST(MakeExt4, EmptyWorkDiskPassesFsck) {
  if (!have_e2fsprogs() || sys::find_executable("e2fsck").empty()) {
    GTEST_SKIP() << "e2fsprogs not installed";
  }
  testkit::TempDir dir;
  std::string image = dir.path() + "/work.ext4";
  sys::PosixCommandRunner runner;
  ASSERT_TRUE(make_ext4(runner, {.image = image, .size_mib = 32}));
  auto fsck = runner.run({.argv = {"e2fsck", "-fn", image}});
  ASSERT_TRUE(fsck);
  EXPECT_EQ(fsck->exit_code, 0) << fsck->out << fsck->err;
  EXPECT_EQ(*exists(runner, image, "/lost+found"), true);
}

}  // namespace
}  // namespace banger::ext4
