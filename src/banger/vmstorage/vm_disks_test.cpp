#include "banger/vmstorage/vm_disks.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "banger/ext4/editor.hpp"
#include "banger/ext4/image_builder.hpp"
#include "banger/sys/fs.hpp"
#include "banger/testkit/fake_command_runner.hpp"
#include "banger/testkit/temp_dir.hpp"

namespace banger::vmstorage {
namespace {

constexpr std::uint64_t kMiB = 1024 * 1024;

bool have_e2fsprogs() {
  return !sys::find_executable("mkfs.ext4").empty() && !sys::find_executable("debugfs").empty() &&
         !sys::find_executable("e2fsck").empty();
}

guestconfig::GuestConfigSpec spec_with_key(std::string key) {
  return {.vm_name = "calm-otter",
          .vm_id = "0123456789abcdef",
          .guest_ip = "172.16.0.5",
          .gateway = "172.16.0.1",
          .prefix = 24,
          .dns_servers = {},
          .authorized_keys = std::move(key)};
}

guestconfig::GuestConfigSpec test_spec() { return spec_with_key("ssh-ed25519 AAAAfirst banger\n"); }

// A small base rootfs with /etc/os-release, like an image's rootfs.ext4.
std::string make_base(sys::CommandRunner& runner, const std::string& dir) {
  std::string tree = dir + "/tree";
  EXPECT_TRUE(sys::make_dirs(tree + "/etc"));
  EXPECT_TRUE(sys::write_file_atomic(tree + "/etc/os-release", "ID=tiny\n"));
  std::string image = dir + "/rootfs.ext4";
  auto r = ext4::make_ext4(runner, {.image = image, .size_mib = 16, .source_dir = tree});
  EXPECT_TRUE(r) << (r ? "" : r.error().message);
  return image;
}

struct stat stat_of(const std::string& path) {
  struct stat st{};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st;
}

void expect_fsck_clean(sys::CommandRunner& runner, const std::string& image) {
  auto r = runner.run({.argv = {"e2fsck", "-fn", image}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->exit_code, 0) << r->out << r->err;
}

void write_at(int fd, off_t offset, std::size_t len, char byte) {
  std::string data(len, byte);
  ASSERT_EQ(::pwrite(fd, data.data(), data.size(), offset), static_cast<ssize_t>(len));
}

TEST(RootDiskPaths, DependOnStrategy) {
  EXPECT_EQ(root_disk_path("/s/vms/ab", RootfsStrategy::qcow2_overlay), "/s/vms/ab/root.qcow2");
  EXPECT_EQ(root_disk_path("/s/vms/ab/", RootfsStrategy::sparse_copy), "/s/vms/ab/root.ext4");
  EXPECT_EQ(root_disk_path("/s/vms/ab", RootfsStrategy::reflink), "/s/vms/ab/root.ext4");
  EXPECT_EQ(work_disk_path("/s/vms/ab"), "/s/vms/ab/work.ext4");
}

TEST(CreateRootDisk, Qcow2CommandLine) {
  testkit::TempDir dir;
  testkit::FakeCommandRunner runner;
  std::string base = dir.path() + "/rootfs.ext4";
  ASSERT_TRUE(sys::write_file_atomic(base, std::string(4096, 'x')));
  auto disk = create_root_disk(runner, RootfsStrategy::qcow2_overlay, base, dir.path() + "/vm", 64);
  ASSERT_TRUE(disk) << disk.error().message;
  EXPECT_EQ(*disk, (RootDisk{.path = dir.path() + "/vm/root.qcow2",
                             .format = DiskFormat::qcow2,
                             .strategy = RootfsStrategy::qcow2_overlay}));
  EXPECT_EQ(runner.ran(),
            (std::vector<std::string>{"qemu-img create -q -f qcow2 -b " + base + " -F raw " +
                                      dir.path() + "/vm/root.qcow2 64M"}));
  EXPECT_EQ(stat_of(dir.path() + "/vm").st_mode & 07777, 0700u);
}

TEST(CreateRootDisk, Qcow2FailureNamesDiskAndRemovesIt) {
  testkit::TempDir dir;
  testkit::FakeCommandRunner runner;
  std::string base = dir.path() + "/rootfs.ext4";
  ASSERT_TRUE(sys::write_file_atomic(base, "x"));
  runner.on("qemu-img", {.exit_code = 1, .err = "qemu-img: disk full\n"});
  auto disk =
      create_root_disk(runner, RootfsStrategy::qcow2_overlay, base, dir.path(), std::nullopt);
  ASSERT_FALSE(disk);
  EXPECT_EQ(disk.error().code, Errc::command_failed);
  EXPECT_NE(disk.error().message.find("creating root disk " + dir.path() + "/root.qcow2: "),
            std::string::npos)
      << disk.error().message;
  EXPECT_NE(disk.error().message.find("qemu-img: disk full"), std::string::npos);
  EXPECT_FALSE(sys::path_exists(dir.path() + "/root.qcow2"));
}

TEST(CreateRootDisk, RealQcow2OverlayPointsAtBase) {
  if (sys::find_executable("qemu-img").empty() || !have_e2fsprogs()) {
    GTEST_SKIP() << "needs qemu-img and e2fsprogs";
  }
  testkit::TempDir dir;
  sys::PosixCommandRunner runner;
  std::string base = make_base(runner, dir.path());
  auto disk =
      create_root_disk(runner, RootfsStrategy::qcow2_overlay, base, dir.path() + "/vms/0123", 32);
  ASSERT_TRUE(disk) << disk.error().message;
  auto info = runner.run({.argv = {"qemu-img", "info", "--output=json", disk->path}});
  ASSERT_TRUE(info);
  ASSERT_EQ(info->exit_code, 0) << info->err;
  auto json = nlohmann::json::parse(info->out, nullptr, false);
  ASSERT_FALSE(json.is_discarded());
  EXPECT_EQ(json.value("format", ""), "qcow2");
  EXPECT_EQ(json.value("backing-filename", ""), base);
  EXPECT_EQ(json.value("backing-filename-format", ""), "raw");
  EXPECT_EQ(json.value("virtual-size", 0ULL), 32 * kMiB);
}

TEST(CreateRootDisk, SparseCopyPreservesContentAndHoles) {
  testkit::TempDir dir;
  testkit::FakeCommandRunner runner;
  std::string base = dir.path() + "/rootfs.ext4";
  {
    int fd = ::open(base.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ASSERT_GE(fd, 0);
    write_at(fd, 0, 4096, 'a');
    write_at(fd, 4096, kMiB, '\0');  // allocated zeros: must not be written to the copy
    write_at(fd, 2 * kMiB, 8192, 'b');
    ASSERT_EQ(::ftruncate(fd, 4 * kMiB), 0);
    ::close(fd);
  }
  auto disk =
      create_root_disk(runner, RootfsStrategy::sparse_copy, base, dir.path() + "/vm", std::nullopt);
  ASSERT_TRUE(disk) << disk.error().message;
  EXPECT_EQ(disk->format, DiskFormat::raw);
  EXPECT_EQ(disk->path, dir.path() + "/vm/root.ext4");
  auto want = sys::read_file(base);
  auto got = sys::read_file(disk->path);
  ASSERT_TRUE(want && got);
  EXPECT_TRUE(*want == *got);
  struct stat st = stat_of(disk->path);
  EXPECT_EQ(st.st_size, static_cast<off_t>(4 * kMiB));
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_GE(stat_of(base).st_blocks * 512, static_cast<blkcnt_t>(kMiB));
  EXPECT_LE(st.st_blocks * 512, 64 * 1024) << "copy is not sparse";
  EXPECT_TRUE(runner.ran().empty());
}

TEST(CreateRootDisk, SparseCopyOfExt4IsCleanAndGrows) {
  if (!have_e2fsprogs()) {
    GTEST_SKIP() << "needs e2fsprogs";
  }
  testkit::TempDir dir;
  sys::PosixCommandRunner runner;
  std::string base = make_base(runner, dir.path());
  auto disk = create_root_disk(runner, RootfsStrategy::sparse_copy, base, dir.path() + "/vm", 48);
  ASSERT_TRUE(disk) << disk.error().message;
  EXPECT_EQ(stat_of(disk->path).st_size, static_cast<off_t>(48 * kMiB));
  EXPECT_LE(stat_of(disk->path).st_blocks, stat_of(base).st_blocks);
  auto os = ext4::read_file(runner, disk->path, "/etc/os-release");
  ASSERT_TRUE(os) << os.error().message;
  EXPECT_EQ(*os, "ID=tiny\n");
  expect_fsck_clean(runner, disk->path);
}

TEST(CreateRootDisk, ReflinkFailsOnExt4AndLeavesNothing) {
  testkit::TempDir dir;
  testkit::FakeCommandRunner runner;
  if (probe_storage(runner, dir.path()).reflink) {
    GTEST_SKIP() << "the temp directory's filesystem supports reflink";
  }
  std::string base = dir.path() + "/rootfs.ext4";
  ASSERT_TRUE(sys::write_file_atomic(base, std::string(4096, 'x')));
  auto disk = create_root_disk(runner, RootfsStrategy::reflink, base, dir.path(), std::nullopt);
  ASSERT_FALSE(disk);
  EXPECT_EQ(disk.error().code, Errc::io);
  EXPECT_EQ(disk.error().message, "cloning " + base + " to " + dir.path() +
                                      "/root.ext4 (reflink): Operation not supported");
  EXPECT_FALSE(sys::path_exists(dir.path() + "/root.ext4"));
}

TEST(CreateRootDisk, DmSnapshotIsUnavailable) {
  testkit::TempDir dir;
  testkit::FakeCommandRunner runner;
  auto disk = create_root_disk(runner, RootfsStrategy::dm_snapshot, dir.path() + "/base",
                               dir.path(), std::nullopt);
  ASSERT_FALSE(disk);
  EXPECT_EQ(disk.error().code, Errc::unavailable);
  EXPECT_EQ(disk.error().message,
            "rootfs strategy dm_snapshot is not supported yet: use qcow2_overlay, reflink or "
            "sparse_copy");
}

TEST(CreateRootDisk, MissingBaseIsNotFound) {
  testkit::TempDir dir;
  testkit::FakeCommandRunner runner;
  auto disk = create_root_disk(runner, RootfsStrategy::sparse_copy, dir.path() + "/nope.ext4",
                               dir.path(), std::nullopt);
  ASSERT_FALSE(disk);
  EXPECT_EQ(disk.error().code, Errc::not_found);
  EXPECT_EQ(disk.error().message, "image rootfs " + dir.path() + "/nope.ext4 does not exist");
}

TEST(CreateRootDisk, SizeSmallerThanBaseIsInvalid) {
  testkit::TempDir dir;
  testkit::FakeCommandRunner runner;
  std::string base = dir.path() + "/rootfs.ext4";
  ASSERT_TRUE(sys::write_file_atomic(base, std::string(3 * kMiB, 'x')));
  auto disk = create_root_disk(runner, RootfsStrategy::qcow2_overlay, base, dir.path(), 2);
  ASSERT_FALSE(disk);
  EXPECT_EQ(disk.error().code, Errc::invalid_argument);
  EXPECT_EQ(disk.error().message,
            "root disk size 2 MiB is smaller than the image rootfs " + base + " (3 MiB)");
  EXPECT_TRUE(runner.ran().empty());
}

TEST(CreateRootDisk, ExistingDiskIsLeftAlone) {
  testkit::TempDir dir;
  testkit::FakeCommandRunner runner;
  std::string base = dir.path() + "/rootfs.ext4";
  ASSERT_TRUE(sys::write_file_atomic(base, "base"));
  ASSERT_TRUE(sys::write_file_atomic(dir.path() + "/root.ext4", "mine"));
  auto disk = create_root_disk(runner, RootfsStrategy::sparse_copy, base, dir.path(), std::nullopt);
  ASSERT_FALSE(disk);
  EXPECT_EQ(disk.error().code, Errc::already_exists);
  EXPECT_EQ(disk.error().message, "root disk " + dir.path() + "/root.ext4 already exists");
  EXPECT_EQ(*sys::read_file(dir.path() + "/root.ext4"), "mine");
}

TEST(WorkDisk, CreatedWithConfigOwnedByRoot) {
  if (!have_e2fsprogs()) {
    GTEST_SKIP() << "needs e2fsprogs";
  }
  testkit::TempDir dir;
  sys::PosixCommandRunner runner;
  auto image = create_work_disk(runner, dir.path() + "/vm", 16, test_spec());
  ASSERT_TRUE(image) << image.error().message;
  EXPECT_EQ(*image, dir.path() + "/vm/work.ext4");
  EXPECT_EQ(stat_of(*image).st_size, static_cast<off_t>(16 * kMiB));

  struct Want {
    std::string path;
    ext4::FileType type;
    mode_t perm;
  };
  for (const auto& w :
       std::vector<Want>{{"/", ext4::FileType::directory, 0755},
                         {"/.ssh", ext4::FileType::directory, 0700},
                         {"/.ssh/authorized_keys", ext4::FileType::regular, 0600},
                         {"/.hushlogin", ext4::FileType::regular, 0644},
                         {"/.banger/etc", ext4::FileType::directory, 0755},
                         {"/.banger/etc/hosts", ext4::FileType::regular, 0644},
                         {"/.banger/etc/banger.env", ext4::FileType::regular, 0644}}) {
    auto info = ext4::stat(runner, *image, w.path);
    ASSERT_TRUE(info) << w.path << ": " << info.error().message;
    EXPECT_EQ(info->type, w.type) << w.path;
    EXPECT_EQ(info->mode & 07777, w.perm) << w.path;
    EXPECT_EQ(info->uid, 0u) << w.path;
    EXPECT_EQ(info->gid, 0u) << w.path;
  }
  EXPECT_EQ(*ext4::read_file(runner, *image, "/.ssh/authorized_keys"),
            "ssh-ed25519 AAAAfirst banger\n");
  EXPECT_EQ(*ext4::read_file(runner, *image, "/.banger/etc/hostname"), "calm-otter\n");
  EXPECT_EQ(*ext4::read_file(runner, *image, "/.banger/etc/resolv.conf"),
            guestconfig::render_resolv_conf(test_spec()));
  EXPECT_EQ(*ext4::read_file(runner, *image, "/.hushlogin"), "");
  expect_fsck_clean(runner, *image);
  // the staging tree is gone
  EXPECT_EQ(std::vector<std::string>{}, [&] {
    std::vector<std::string> left;
    for (const auto& e : std::filesystem::directory_iterator(dir.path() + "/vm")) {
      if (e.path().filename() != "work.ext4") {
        left.push_back(e.path().filename().string());
      }
    }
    return left;
  }());
}

TEST(WorkDisk, RefreshRewritesAuthorizedKeysAndConfig) {
  if (!have_e2fsprogs()) {
    GTEST_SKIP() << "needs e2fsprogs";
  }
  testkit::TempDir dir;
  sys::PosixCommandRunner runner;
  auto image = create_work_disk(runner, dir.path(), 16, test_spec());
  ASSERT_TRUE(image) << image.error().message;
  // the guest changed things while it ran
  ASSERT_TRUE(ext4::apply(runner, *image,
                          ext4::Ext4Edit()
                              .write_file("/.ssh/authorized_keys", "ssh-rsa EVIL x\n", 0666)
                              .chmod("/.ssh", 0777, ext4::FileType::directory)
                              .write_file("/notes.txt", "keep me\n")));

  auto spec = spec_with_key("ssh-ed25519 AAAAsecond banger\n");
  spec.vm_name = "brave-fox";
  ASSERT_TRUE(refresh_work_disk(runner, *image, spec));
  EXPECT_EQ(*ext4::read_file(runner, *image, "/.ssh/authorized_keys"),
            "ssh-ed25519 AAAAsecond banger\n");
  EXPECT_EQ(ext4::stat(runner, *image, "/.ssh/authorized_keys")->mode & 07777, 0600u);
  EXPECT_EQ(ext4::stat(runner, *image, "/.ssh")->mode & 07777, 0700u);
  EXPECT_EQ(*ext4::read_file(runner, *image, "/.banger/etc/hostname"), "brave-fox\n");
  EXPECT_EQ(*ext4::read_file(runner, *image, "/notes.txt"), "keep me\n");
  expect_fsck_clean(runner, *image);
}

TEST(WorkDisk, RefreshRecreatesMissingAndMisplacedDirectories) {
  if (!have_e2fsprogs()) {
    GTEST_SKIP() << "needs e2fsprogs";
  }
  testkit::TempDir dir;
  sys::PosixCommandRunner runner;
  // a work disk made without banger's layout, with a file where .banger/ belongs
  std::string tree = dir.path() + "/tree";
  ASSERT_TRUE(sys::make_dirs(tree));
  ASSERT_TRUE(sys::write_file_atomic(tree + "/.banger", "not a directory\n"));
  std::string image = dir.path() + "/work.ext4";
  ASSERT_TRUE(ext4::make_ext4(runner, {.image = image, .size_mib = 16, .source_dir = tree}));

  auto r = refresh_work_disk(runner, image, test_spec());
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(ext4::stat(runner, image, "/.ssh")->mode, mode_t{040700});
  EXPECT_EQ(ext4::stat(runner, image, "/.banger")->mode, mode_t{040755});
  EXPECT_EQ(ext4::stat(runner, image, "/.banger/etc")->mode, mode_t{040755});
  EXPECT_EQ(*ext4::read_file(runner, image, "/.banger/etc/banger.env"),
            guestconfig::render_env(test_spec()));
  expect_fsck_clean(runner, image);
  // and again, with everything in place
  ASSERT_TRUE(refresh_work_disk(runner, image, test_spec()));
  expect_fsck_clean(runner, image);
}

TEST(WorkDisk, RefreshOfMissingDiskIsNotFound) {
  testkit::TempDir dir;
  testkit::FakeCommandRunner runner;
  auto r = refresh_work_disk(runner, dir.path() + "/work.ext4", test_spec());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::not_found);
  EXPECT_EQ(r.error().message, "work disk " + dir.path() + "/work.ext4 does not exist");
  EXPECT_TRUE(runner.ran().empty());
}

TEST(WorkDisk, InvalidSpecCreatesNothing) {
  testkit::TempDir dir;
  testkit::FakeCommandRunner runner;
  auto spec = test_spec();
  spec.guest_ip = "172.16.9.9";
  auto r = create_work_disk(runner, dir.path() + "/vm", 16, spec);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::invalid_argument);
  EXPECT_EQ(r.error().message, "guest ip 172.16.9.9 is not in the gateway's network 172.16.0.1/24");
  EXPECT_FALSE(sys::path_exists(dir.path() + "/vm"));
}

TEST(WorkDisk, ZeroSizeIsInvalid) {
  testkit::TempDir dir;
  testkit::FakeCommandRunner runner;
  auto r = create_work_disk(runner, dir.path(), 0, test_spec());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::invalid_argument);
  EXPECT_EQ(r.error().message,
            "work disk " + dir.path() + "/work.ext4: size must be at least 1 MiB");
}

TEST(WorkDisk, ExistingDiskIsLeftAlone) {
  testkit::TempDir dir;
  testkit::FakeCommandRunner runner;
  ASSERT_TRUE(sys::write_file_atomic(dir.path() + "/work.ext4", "mine"));
  auto r = create_work_disk(runner, dir.path(), 16, test_spec());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::already_exists);
  EXPECT_EQ(r.error().message, "work disk " + dir.path() + "/work.ext4 already exists");
  EXPECT_EQ(*sys::read_file(dir.path() + "/work.ext4"), "mine");
}

TEST(WorkDisk, MkfsFailureRemovesDiskAndStaging) {
  testkit::TempDir dir;
  testkit::FakeCommandRunner runner;
  runner.on("mkfs.ext4", {.exit_code = 1, .err = "mkfs.ext4: no space\n"});
  auto r = create_work_disk(runner, dir.path(), 16, test_spec());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::command_failed);
  EXPECT_NE(r.error().message.find(dir.path() + "/work.ext4"), std::string::npos)
      << r.error().message;
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

TEST(WriteRootEtc, WritesIntoRawRoot) {
  if (!have_e2fsprogs()) {
    GTEST_SKIP() << "needs e2fsprogs";
  }
  testkit::TempDir dir;
  sys::PosixCommandRunner runner;
  std::string base = make_base(runner, dir.path());
  auto disk =
      create_root_disk(runner, RootfsStrategy::sparse_copy, base, dir.path() + "/vm", std::nullopt);
  ASSERT_TRUE(disk) << disk.error().message;
  ASSERT_TRUE(write_root_etc(runner, *disk, test_spec()));
  EXPECT_EQ(*ext4::read_file(runner, disk->path, "/etc/hostname"), "calm-otter\n");
  EXPECT_EQ(*ext4::read_file(runner, disk->path, "/etc/hosts"),
            guestconfig::render_hosts(test_spec()));
  EXPECT_EQ(*ext4::read_file(runner, disk->path, "/etc/resolv.conf"),
            guestconfig::render_resolv_conf(test_spec()));
  EXPECT_FALSE(*ext4::exists(runner, base, "/etc/hostname"));  // the image is untouched
  expect_fsck_clean(runner, disk->path);
}

TEST(WriteRootEtc, RefusesQcow2) {
  testkit::FakeCommandRunner runner;
  auto r = write_root_etc(runner,
                          {.path = "/s/root.qcow2",
                           .format = DiskFormat::qcow2,
                           .strategy = RootfsStrategy::qcow2_overlay},
                          test_spec());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::failed_precondition);
  EXPECT_EQ(r.error().message,
            "root disk /s/root.qcow2 is a qcow2 overlay and cannot be edited offline: the guest "
            "config goes on the work disk");
}

TEST(RemoveVmDisks, RemovesOnlyDisks) {
  testkit::TempDir dir;
  for (const char* name : {"root.qcow2", "root.ext4", "work.ext4", "console.log"}) {
    ASSERT_TRUE(sys::write_file_atomic(dir.path() + "/" + name, "x"));
  }
  ASSERT_TRUE(sys::make_dirs(dir.path() + "/.work-staging-abc123/.ssh"));
  ASSERT_TRUE(remove_vm_disks(dir.path()));
  std::vector<std::string> left;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    left.push_back(e.path().filename().string());
  }
  EXPECT_EQ(left, std::vector<std::string>{"console.log"});
  EXPECT_TRUE(remove_vm_disks(dir.path()));               // again: nothing to do
  EXPECT_TRUE(remove_vm_disks(dir.path() + "/missing"));  // missing dir is fine
}

}  // namespace
}  // namespace banger::vmstorage
