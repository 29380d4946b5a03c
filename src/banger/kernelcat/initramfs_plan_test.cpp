#include "banger/kernelcat/initramfs_plan.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace banger::kernelcat {
namespace {

// "<type> <path> <mode octal> <content or source>" per entry, for whole-list comparisons.
std::vector<std::string> describe(const std::vector<CpioEntry>& entries) {
  std::vector<std::string> out;
  for (const auto& e : entries) {
    const char* type = e.type == CpioEntry::Type::directory     ? "d"
                       : e.type == CpioEntry::Type::char_device ? "c"
                       : e.type == CpioEntry::Type::symlink     ? "l"
                                                                : "f";
    std::string payload = !e.source_path.empty() ? "<" + e.source_path
                          : e.path == "init"     ? std::string("<script>")
                                                 : e.content;
    char mode[8];
    std::snprintf(mode, sizeof mode, "%o", static_cast<unsigned>(e.mode));
    out.push_back(std::string(type) + " " + e.path + " " + mode + " " + payload);
  }
  return out;
}

const std::vector<std::string> kSkeleton = {
    "d bin 755 ",          "d dev 755 ",         "d proc 755 ",        "d sys 755 ",
    "d newroot 755 ",      "d lib 755 ",         "d lib/modules 755 ", "f bin/busybox 755 </bb",
    "f init 755 <script>", "c dev/console 600 ",
};

struct Case {
  std::vector<InitramfsModule> modules;
  std::vector<std::string> tail;  // entries after the skeleton
};

TEST(PlanInitramfsEntries, SkeletonThenModulesInLoadOrderThenTheOrderFile) {
  const std::vector<Case> cases = {
      {{}, {"f lib/modules/load.order 644 "}},
      {{{"kernel/drivers/block/virtio_blk.ko.xz", "BLK"}},
       {"f lib/modules/virtio_blk.ko 644 BLK", "f lib/modules/load.order 644 virtio_blk.ko\n"}},
      {{{"kernel/lib/crc32c_generic.ko", "CRC"}, {"kernel/fs/ext4/ext4.ko.zst", "EXT4"}},
       {"f lib/modules/crc32c_generic.ko 644 CRC", "f lib/modules/ext4.ko 644 EXT4",
        "f lib/modules/load.order 644 crc32c_generic.ko\next4.ko\n"}},
  };
  for (const auto& c : cases) {
    auto expected = kSkeleton;
    expected.insert(expected.end(), c.tail.begin(), c.tail.end());
    EXPECT_EQ(describe(plan_initramfs_entries("/bb", c.modules)), expected);
  }
}

TEST(PlanInitramfsEntries, GuestModuleTreeFollowsWithParentsFirstAndTheStampLast) {
  GuestModuleTree guest{.release = "6.1.0-28-cloud-amd64",
                        .source = "linux-image-6.1.0-28-cloud-amd64 6.1.119-1",
                        .files = {{"kernel/fs/overlayfs/overlay.ko", "/w/overlay.ko"},
                                  {"kernel/fs/fuse/fuse.ko", "/w/fuse.ko"},
                                  {"modules.dep", "/w/modules.dep"}}};
  auto expected = kSkeleton;
  const std::string base = "lib/modules/6.1.0-28-cloud-amd64";
  expected.insert(
      expected.end(),
      {"f lib/modules/load.order 644 ", "d " + base + " 755 ", "d " + base + "/kernel 755 ",
       "d " + base + "/kernel/fs 755 ", "d " + base + "/kernel/fs/overlayfs 755 ",
       "f " + base + "/kernel/fs/overlayfs/overlay.ko 644 </w/overlay.ko",
       "d " + base + "/kernel/fs/fuse 755 ",
       "f " + base + "/kernel/fs/fuse/fuse.ko 644 </w/fuse.ko",
       "f " + base + "/modules.dep 644 </w/modules.dep",
       "f " + base + "/banger-guest-modules 644 " + guest_modules_stamp(guest)});
  EXPECT_EQ(describe(plan_initramfs_entries("/bb", {}, guest)), expected);
  EXPECT_EQ(guest_modules_stamp(guest),
            "banger guest modules\nrelease 6.1.0-28-cloud-amd64\n"
            "source linux-image-6.1.0-28-cloud-amd64 6.1.119-1\n"
            "kernel/fs/overlayfs/overlay.ko\nkernel/fs/fuse/fuse.ko\nmodules.dep\n");
}

}  // namespace
}  // namespace banger::kernelcat
