#include "banger/vmstorage/strategy.hpp"

#include <gtest/gtest.h>

#include "banger/sys/fs.hpp"
#include "banger/testkit/fake_command_runner.hpp"
#include "banger/testkit/temp_dir.hpp"

namespace banger::vmstorage {
namespace {

struct ChoiceRow {
  bool qemu_img;
  bool device_mapper;
  bool reflink;
  model::VmmBackend vmm;
  RootfsStrategy want;
};

TEST(ChooseStrategy, FollowsThePreferenceTable) {
  using S = RootfsStrategy;
  const ChoiceRow rows[] = {
      {true, false, false, model::VmmBackend::qemu, S::qcow2_overlay},
      {true, true, true, model::VmmBackend::qemu, S::qcow2_overlay},
      {false, false, true, model::VmmBackend::qemu, S::reflink},
      {false, false, false, model::VmmBackend::qemu, S::sparse_copy},
      {true, false, true, model::VmmBackend::firecracker, S::reflink},
      {true, false, false, model::VmmBackend::firecracker, S::sparse_copy},
      // device-mapper alone never selects dm_snapshot while it is not implemented
      {true, true, false, model::VmmBackend::firecracker, S::sparse_copy},
      {false, true, true, model::VmmBackend::firecracker, S::reflink},
  };
  static_assert(!kDmSnapshotImplemented);
  for (const auto& row : rows) {
    StorageProbe probe{
        .reflink = row.reflink, .device_mapper = row.device_mapper, .qemu_img = row.qemu_img};
    EXPECT_EQ(choose_strategy(probe, row.vmm), row.want)
        << "qemu_img=" << row.qemu_img << " dm=" << row.device_mapper << " reflink=" << row.reflink
        << " vmm=" << static_cast<int>(row.vmm);
  }
}

TEST(RootfsStrategyName, RoundTrips) {
  for (auto s : {RootfsStrategy::qcow2_overlay, RootfsStrategy::dm_snapshot,
                 RootfsStrategy::reflink, RootfsStrategy::sparse_copy}) {
    auto parsed = parse_rootfs_strategy(to_string(s));
    ASSERT_TRUE(parsed);
    EXPECT_EQ(*parsed, s);
  }
  EXPECT_EQ(to_string(RootfsStrategy::qcow2_overlay), "qcow2_overlay");
}

TEST(RootfsStrategyName, RejectsUnknownName) {
  auto r = parse_rootfs_strategy("overlay");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::invalid_argument);
  EXPECT_EQ(r.error().message,
            "unknown rootfs strategy \"overlay\": use qcow2_overlay, dm_snapshot, reflink or "
            "sparse_copy");
}

TEST(ExplainStrategy, NamesEveryBetterStrategyNotTaken) {
  StorageProbe probe{.reflink = false,
                     .device_mapper = false,
                     .qemu_img = true,
                     .reflink_detail = "FICLONE in /v: Operation not supported",
                     .device_mapper_detail = "/dev/mapper/control does not exist"};
  EXPECT_EQ(explain_strategy(probe, model::VmmBackend::qemu), "qcow2_overlay");
  EXPECT_EQ(explain_strategy(probe, model::VmmBackend::firecracker),
            "sparse_copy (no qcow2: firecracker needs a raw disk; no device-mapper: "
            "/dev/mapper/control does not exist; no reflink: FICLONE in /v: Operation not "
            "supported)");
  probe.reflink = true;
  probe.device_mapper = true;
  EXPECT_EQ(explain_strategy(probe, model::VmmBackend::firecracker),
            "reflink (no qcow2: firecracker needs a raw disk; device-mapper present but "
            "dm_snapshot is not implemented yet)");
}

TEST(ProbeStorage, NoReflinkOnExt4SoChooserFallsBack) {
  testkit::TempDir dir;
  testkit::FakeCommandRunner runner;
  runner.on("dmsetup version", {.exit_code = 1, .err = "Device mapper driver missing\n"});
  StorageProbe probe = probe_storage(runner, dir.path() + "/vms/not-yet");
  if (probe.reflink) {
    GTEST_SKIP() << "the temp directory's filesystem supports reflink; this test wants ext4";
  }
  EXPECT_EQ(probe.reflink_detail, "FICLONE in " + dir.path() + ": Operation not supported");
  EXPECT_EQ(choose_strategy(probe, model::VmmBackend::firecracker), RootfsStrategy::sparse_copy);
  // nothing left behind by the probe
  EXPECT_TRUE(sys::path_exists(dir.path()));
  EXPECT_FALSE(sys::path_exists(dir.path() + "/vms"));
}

TEST(ProbeStorage, DeviceMapperNeedsControlNodeAndDmsetup) {
  testkit::TempDir dir;
  testkit::FakeCommandRunner runner;
  runner.on("dmsetup version", {.exit_code = 1, .err = "Device mapper driver missing\n"});
  StorageProbe probe = probe_storage(runner, dir.path());
  EXPECT_FALSE(probe.device_mapper);
  if (!sys::path_exists("/dev/mapper/control")) {
    EXPECT_EQ(probe.device_mapper_detail, "/dev/mapper/control does not exist");
    EXPECT_TRUE(runner.ran().empty());
  } else {
    EXPECT_EQ(probe.device_mapper_detail, "dmsetup version exited 1: Device mapper driver missing");
  }
}

TEST(ProbeStorage, ReportsQemuImgPresence) {
  testkit::TempDir dir;
  testkit::FakeCommandRunner runner;
  StorageProbe probe = probe_storage(runner, dir.path());
  EXPECT_EQ(probe.qemu_img, !sys::find_executable("qemu-img").empty());
  EXPECT_EQ(probe.qemu_img_detail.empty(), probe.qemu_img);
}

}  // namespace
}  // namespace banger::vmstorage
