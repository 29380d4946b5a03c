#include "banger/vmstorage/file_sync.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "banger/ext4/editor.hpp"
#include "banger/sys/command_runner.hpp"
#include "banger/sys/fs.hpp"
#include "banger/testkit/temp_dir.hpp"
#include "banger/vmstorage/vm_disks.hpp"

namespace banger::vmstorage {
namespace {

using Kind = HostNode::Kind;
using Op = ext4::EditOp::Kind;

bool have_e2fsprogs() {
  return !sys::find_executable("mkfs.ext4").empty() && !sys::find_executable("debugfs").empty() &&
         !sys::find_executable("e2fsck").empty();
}

// "<kind> <path> <mode>" per op, for comparing plans.
std::vector<std::string> describe(const ext4::Ext4Edit& edit) {
  std::vector<std::string> out;
  for (const auto& op : edit.ops()) {
    std::string line = std::string(ext4::op_name(op.kind)) + " " + op.path;
    if (op.kind == Op::symlink) {
      line += " -> " + op.target;
    } else {
      line += fmt::format(" {:04o}", op.mode);
    }
    if (op.kind == Op::mkdir_p && op.keep_existing) {
      line += " keep";
    }
    out.push_back(line);
  }
  return out;
}

HostTree tree(std::size_t index, std::string guest, std::optional<mode_t> mode,
              std::vector<HostNode> nodes) {
  return {.entry = {.index = index,
                    .host_path = "/home/u/src" + std::to_string(index),
                    .guest_path = std::move(guest),
                    .mode = mode},
          .nodes = std::move(nodes)};
}

TEST(PlanFileSync, FileEntryGetsItsModeAndParentsAreOnlyEnsured) {
  auto plan = plan_file_sync(
      {tree(0, "/root/.config/gh/hosts.yml", 0600,
            {{.rel = "", .kind = Kind::file, .mode = 0644, .content = "token: x\n"}})});
  EXPECT_EQ(describe(plan.edit), (std::vector<std::string>{
                                     "mkdir_p /.config 0755 keep",
                                     "mkdir_p /.config/gh 0755 keep",
                                     "write_file /.config/gh/hosts.yml 0600",
                                 }));
  EXPECT_EQ(plan.edit.ops()[2].content, "token: x\n");
  EXPECT_EQ(plan.edit.ops()[2].uid, 0u);
  EXPECT_EQ(plan.bytes, 9u);
  EXPECT_TRUE(plan.warnings.empty());
}

TEST(PlanFileSync, DirectoryModeAppliesToFilesAndAddsSearchBitsToDirectories) {
  std::vector<HostNode> nodes = {
      {.rel = "", .kind = Kind::directory, .mode = 0775},
      {.rel = "config", .kind = Kind::file, .mode = 0664, .content = "a"},
      {.rel = "link", .kind = Kind::symlink, .mode = 0777, .target = "../../etc/passwd"},
      {.rel = "sub", .kind = Kind::directory, .mode = 0700},
      {.rel = "sub/key", .kind = Kind::file, .mode = 04755, .content = "bb"},
  };
  auto with_mode = plan_file_sync({tree(1, "/root/.aws", 0600, nodes)});
  EXPECT_EQ(describe(with_mode.edit), (std::vector<std::string>{
                                          "mkdir_p /.aws 0700",
                                          "write_file /.aws/config 0600",
                                          "symlink /.aws/link -> ../../etc/passwd",
                                          "mkdir_p /.aws/sub 0700",
                                          "write_file /.aws/sub/key 0600",
                                      }));
  // Without mode each node keeps its host bits, but never setuid/setgid/sticky.
  auto host_modes = plan_file_sync({tree(1, "/root/.aws", std::nullopt, nodes)});
  EXPECT_EQ(describe(host_modes.edit), (std::vector<std::string>{
                                           "mkdir_p /.aws 0775",
                                           "write_file /.aws/config 0664",
                                           "symlink /.aws/link -> ../../etc/passwd",
                                           "mkdir_p /.aws/sub 0700",
                                           "write_file /.aws/sub/key 0755",
                                       }));
  EXPECT_EQ(host_modes.bytes, 3u);
  EXPECT_EQ(directory_mode(0644), mode_t{0755});
  EXPECT_EQ(directory_mode(0640), mode_t{0750});
  EXPECT_EQ(directory_mode(0200), mode_t{0200});
}

TEST(PlanFileSync, MissingSpecialAndUnrepresentableNodesAreWarningsNotErrors) {
  HostTree missing = tree(0, "/root/.gone", std::nullopt, {});
  missing.missing = true;
  std::vector<HostNode> nodes = {
      {.rel = "", .kind = Kind::directory, .mode = 0755},
      {.rel = "fifo", .kind = Kind::other, .why = "a fifo"},
      {.rel = "bad\nname", .kind = Kind::file, .mode = 0644, .content = "x"},
      {.rel = "dir\rx", .kind = Kind::directory, .mode = 0755},
      {.rel = "dir\rx/inner", .kind = Kind::file, .mode = 0644, .content = "y"},
      {.rel = "evil", .kind = Kind::symlink, .target = "a\nrm -rf /"},
      {.rel = "ok", .kind = Kind::file, .mode = 0644, .content = "z"},
  };
  auto plan = plan_file_sync({missing, tree(1, "/root/d", std::nullopt, nodes)});
  EXPECT_EQ(plan.warnings,
            (std::vector<std::string>{
                "file_sync[0]: /home/u/src0 does not exist; skipped",
                "file_sync[1]: /home/u/src1/fifo is a fifo; skipped",
                "file_sync[1]: /home/u/src1/bad\\x0aname has a newline or carriage return in its "
                "name; skipped",
                "file_sync[1]: /home/u/src1/dir\\x0dx has a newline or carriage return in its "
                "name; skipped",
                "file_sync[1]: /home/u/src1/evil is a symlink whose target has a newline or "
                "carriage return; skipped",
            }));
  EXPECT_EQ(describe(plan.edit),
            (std::vector<std::string>{"mkdir_p /d 0755", "write_file /d/ok 0644"}));
}

TEST(ScanFileSync, ReadsTreesWithoutFollowingLinksAndFlagsSpecialFiles) {
  testkit::TempDir dir;
  std::string src = dir.path() + "/src";
  ASSERT_TRUE(sys::make_dirs(src + "/sub"));
  ASSERT_TRUE(sys::write_file_atomic(src + "/a b\"c", "quoted", 0640));
  ASSERT_TRUE(sys::write_file_atomic(src + "/sub/x", "x", 0600));
  ASSERT_TRUE(sys::write_file_atomic(dir.path() + "/outside", "secret", 0600));
  ASSERT_EQ(::symlink("../outside", (src + "/out").c_str()), 0);
  ASSERT_EQ(::symlink(src.c_str(), (src + "/loop").c_str()), 0);
  ASSERT_EQ(::mkfifo((src + "/pipe").c_str(), 0600), 0);
  ASSERT_EQ(::symlink("src/sub/x", (dir.path() + "/dotfile").c_str()), 0);

  auto trees = scan_file_sync(
      {{.index = 0, .host_path = src, .guest_path = "/root/s"},
       {.index = 1, .host_path = dir.path() + "/dotfile", .guest_path = "/root/.dot"},
       {.index = 2, .host_path = dir.path() + "/nope", .guest_path = "/root/n"}});
  ASSERT_TRUE(trees) << trees.error().message;
  ASSERT_EQ(trees->size(), 3u);
  std::vector<std::string> seen;
  for (const auto& n : (*trees)[0].nodes) {
    seen.push_back(n.rel + ":" + std::to_string(static_cast<int>(n.kind)) + ":" + n.content +
                   n.target + n.why);
  }
  EXPECT_EQ(seen, (std::vector<std::string>{
                      ":1:",
                      "a b\"c:0:quoted",
                      "loop:2:" + src,
                      "out:2:../outside",
                      "pipe:3:a fifo",
                      "sub:1:",
                      "sub/x:0:x",
                  }));
  EXPECT_EQ((*trees)[0].nodes[1].mode, mode_t{0640});
  // The entry's own symlink is followed: a dotfile manager's link syncs the file.
  ASSERT_EQ((*trees)[1].nodes.size(), 1u);
  EXPECT_EQ((*trees)[1].nodes[0].kind, Kind::file);
  EXPECT_EQ((*trees)[1].nodes[0].content, "x");
  EXPECT_TRUE((*trees)[2].missing);
}

TEST(ScanFileSync, LimitsAreErrorsNamingTheEntry) {
  testkit::TempDir dir;
  ASSERT_TRUE(sys::write_file_atomic(dir.path() + "/a", std::string(1000, 'a')));
  ASSERT_TRUE(sys::write_file_atomic(dir.path() + "/b", std::string(1000, 'b')));
  std::vector<FileSyncEntry> entries = {
      {.index = 0, .host_path = dir.path() + "/a", .guest_path = "/root/a"},
      {.index = 1, .host_path = dir.path() + "/b", .guest_path = "/root/b"}};
  auto bytes = scan_file_sync(entries, {.max_bytes = 1500});
  ASSERT_FALSE(bytes);
  EXPECT_EQ(bytes.error().code, Errc::invalid_argument);
  EXPECT_EQ(bytes.error().message,
            "file_sync[1]: " + dir.path() +
                "/b holds more than 0 MiB of files (all entries together); sync less, or copy "
                "large data into the VM another way (vm run <path>, scp)");
  auto nodes = scan_file_sync({{.index = 3, .host_path = dir.path(), .guest_path = "/root/d"}},
                              {.max_nodes = 2});
  ASSERT_FALSE(nodes);
  EXPECT_NE(nodes.error().message.find("file_sync[3]: " + dir.path() + " holds more than 2 files"),
            std::string::npos)
      << nodes.error().message;
  std::string deep = dir.path() + "/deep";
  ASSERT_TRUE(sys::make_dirs(deep + "/1/2/3"));
  auto depth =
      scan_file_sync({{.index = 0, .host_path = deep, .guest_path = "/root/d"}}, {.max_depth = 2});
  ASSERT_FALSE(depth);
  EXPECT_NE(depth.error().message.find("directories deeper than 2 levels"), std::string::npos);
}

guestconfig::GuestConfigSpec spec() {
  return {.vm_name = "calm-otter",
          .vm_id = "0123456789abcdef",
          .guest_ip = "172.16.0.5",
          .gateway = "172.16.0.1",
          .prefix = 24,
          .dns_servers = {},
          .authorized_keys = "ssh-ed25519 AAAAbanger banger\n"};
}

// End to end on a real work disk: hostile names arrive intact, modes and owners are right,
// links are links, banger's own files win, and a second start over the same tree is clean.
TEST(FileSyncOnWorkDisk, CopiesTreesWithTheirModesAtEveryRefresh) {
  if (!have_e2fsprogs()) {
    GTEST_SKIP() << "e2fsprogs not installed";
  }
  testkit::TempDir dir;
  sys::PosixCommandRunner runner;
  std::string src = dir.path() + "/gh";
  ASSERT_TRUE(sys::make_dirs(src + "/sub dir"));
  const std::string canary = "banger-file-sync-canary";
  (void)::unlink(canary.c_str());
  ASSERT_TRUE(sys::write_file_atomic(src + "/hosts \"q\" 'x'.yml", "h", 0644));
  ASSERT_TRUE(sys::write_file_atomic(src + "/sub dir/!touch " + canary, "c", 0644));
  ASSERT_TRUE(sys::write_file_atomic(src + "/new\nline", "n", 0644));
  ASSERT_TRUE(sys::write_file_atomic(src + "/$(touch " + canary + ")", "d", 0644));
  ASSERT_EQ(::symlink("/etc/shadow", (src + "/abs link").c_str()), 0);
  ASSERT_EQ(::mkfifo((src + "/fifo").c_str(), 0600), 0);
  ASSERT_TRUE(sys::write_file_atomic(dir.path() + "/gitconfig", "[user]\n", 0644));
  ASSERT_TRUE(sys::write_file_atomic(dir.path() + "/keys", "ssh-rsa EVIL\n", 0644));

  auto image = create_work_disk(runner, dir.path() + "/vm", 16, spec());
  ASSERT_TRUE(image) << image.error().message;
  std::vector<FileSyncEntry> entries = {
      {.index = 0, .host_path = src, .guest_path = "/root/.config/gh", .mode = 0600},
      {.index = 1, .host_path = dir.path() + "/gitconfig", .guest_path = "/root/.gitconfig"},
      {.index = 2, .host_path = dir.path() + "/keys", .guest_path = "/root/.ssh/authorized_keys"}};
  for (int start = 0; start < 2; ++start) {
    auto trees = scan_file_sync(entries);
    ASSERT_TRUE(trees) << trees.error().message;
    auto plan = plan_file_sync(*trees);
    EXPECT_EQ(plan.warnings.size(), 2u);  // the fifo and the newline name
    auto r = refresh_work_disk(runner, *image, spec(), std::nullopt, &plan);
    ASSERT_TRUE(r) << r.error().message;
  }
  auto st = [&](const std::string& p) { return ext4::stat(runner, *image, p); };
  EXPECT_EQ(st("/.config")->mode, mode_t{040755});
  EXPECT_EQ(st("/.config/gh")->mode, mode_t{040700});
  EXPECT_EQ(st("/.config/gh/sub dir")->mode, mode_t{040700});
  EXPECT_EQ(st("/.config/gh/hosts \"q\" 'x'.yml")->mode, mode_t{0100600});
  EXPECT_EQ(st("/.config/gh/hosts \"q\" 'x'.yml")->uid, 0u);
  EXPECT_EQ(*ext4::read_file(runner, *image, "/.config/gh/sub dir/!touch " + canary), "c");
  EXPECT_EQ(*ext4::read_file(runner, *image, "/.config/gh/$(touch " + canary + ")"), "d");
  EXPECT_EQ(*ext4::read_link(runner, *image, "/.config/gh/abs link"), "/etc/shadow");
  EXPECT_FALSE(*ext4::exists(runner, *image, "/.config/gh/fifo"));
  EXPECT_EQ(*ext4::read_file(runner, *image, "/.gitconfig"), "[user]\n");
  EXPECT_EQ(st("/.gitconfig")->mode, mode_t{0100644});
  // banger's authorized_keys and .ssh mode win over a synced one.
  EXPECT_EQ(*ext4::read_file(runner, *image, "/.ssh/authorized_keys"),
            "ssh-ed25519 AAAAbanger banger\n");
  EXPECT_EQ(st("/.ssh")->mode, mode_t{040700});
  EXPECT_FALSE(sys::path_exists(canary));
  auto fsck = runner.run({.argv = {"e2fsck", "-fn", *image}});
  ASSERT_TRUE(fsck);
  EXPECT_EQ(fsck->exit_code, 0) << fsck->out << fsck->err;
}

// Regression: a guest stopped without unmounting leaves its journal to replay (needs_recovery);
// the kernel replayed it at the next mount over debugfs's edits, so a synced file rewritten at
// start came back with its old inode ("second\n" read as "second"). Needs root for a loop mount.
TEST(FileSyncOnWorkDisk, EditsSurviveAJournalTheGuestLeftBehind) {
  if (!have_e2fsprogs() || ::geteuid() != 0 || sys::find_executable("mount").empty()) {
    GTEST_SKIP() << "needs root, mount and e2fsprogs";
  }
  testkit::TempDir dir;
  sys::PosixCommandRunner runner;
  auto image = create_work_disk(runner, dir.path() + "/vm", 16, spec());
  ASSERT_TRUE(image) << image.error().message;
  ASSERT_TRUE(sys::write_file_atomic(dir.path() + "/token", "first\n"));
  std::vector<FileSyncEntry> entries = {
      {.index = 0, .host_path = dir.path() + "/token", .guest_path = "/root/token"}};
  auto sync = [&] {
    auto plan = plan_file_sync(*scan_file_sync(entries));
    auto r = refresh_work_disk(runner, *image, spec(), std::nullopt, &plan);
    ASSERT_TRUE(r) << r.error().message;
  };
  sync();
  // The "guest": mount, read the file (an atime update goes to the journal), sync, and copy the
  // image while it is still mounted, as a VM killed after sync leaves it.
  const std::string mnt = dir.path() + "/mnt";
  ASSERT_TRUE(sys::make_dirs(mnt));
  ASSERT_EQ(runner.run({.argv = {"mount", "-o", "loop,strictatime", *image, mnt}})->exit_code, 0);
  EXPECT_EQ(*sys::read_file(mnt + "/token"), "first\n");
  ASSERT_TRUE(sys::write_file_atomic(mnt + "/guest-file", "g"));
  (void)runner.run({.argv = {"sync"}});
  const std::string left = dir.path() + "/left.ext4";
  ASSERT_EQ(runner.run({.argv = {"cp", "--sparse=always", *image, left}})->exit_code, 0);
  ASSERT_EQ(runner.run({.argv = {"umount", mnt}})->exit_code, 0);
  auto features = runner.run({.argv = {"dumpe2fs", "-h", left}});
  ASSERT_TRUE(features);
  if (features->out.find("needs_recovery") == std::string::npos) {
    GTEST_SKIP() << "the kernel checkpointed the journal before the copy";
  }
  ASSERT_EQ(::rename(left.c_str(), image->c_str()), 0);

  ASSERT_TRUE(sys::write_file_atomic(dir.path() + "/token", "second\n"));
  sync();
  ASSERT_EQ(runner.run({.argv = {"mount", "-o", "loop", *image, mnt}})->exit_code, 0);
  auto token = sys::read_file(mnt + "/token");
  auto guest = sys::read_file(mnt + "/guest-file");
  (void)runner.run({.argv = {"umount", mnt}});
  EXPECT_EQ(*token, "second\n");
  EXPECT_EQ(*guest, "g");
}

TEST(FileSyncOnWorkDisk, MoreThanTheFreeSpaceIsAClearError) {
  if (!have_e2fsprogs()) {
    GTEST_SKIP() << "e2fsprogs not installed";
  }
  testkit::TempDir dir;
  sys::PosixCommandRunner runner;
  ASSERT_TRUE(sys::write_file_atomic(dir.path() + "/big", std::string(12 << 20, 'x')));
  auto image = create_work_disk(runner, dir.path() + "/vm", 8, spec());
  ASSERT_TRUE(image) << image.error().message;
  auto trees =
      scan_file_sync({{.index = 0, .host_path = dir.path() + "/big", .guest_path = "/root/big"}});
  ASSERT_TRUE(trees);
  auto plan = plan_file_sync(*trees);
  auto r = refresh_work_disk(runner, *image, spec(), std::nullopt, &plan);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::invalid_argument);
  EXPECT_NE(r.error().message.find("file_sync: the synced files need 12 MiB but the work disk " +
                                   *image + " has "),
            std::string::npos)
      << r.error().message;
}

}  // namespace
}  // namespace banger::vmstorage
