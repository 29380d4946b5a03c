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

}  // namespace
}  // namespace banger::kernelcat
