#include "banger/imagecat/oci_builder.hpp"

#include <gtest/gtest.h>

#include "banger/sys/fs.hpp"
#include "banger/testkit/fake_command_runner.hpp"
#include "banger/testkit/temp_dir.hpp"

namespace banger::imagecat {
namespace {

TEST(OciBuilder, ImageSizeIsContentTimesHeadroomAtLeastOneGibUnlessGiven) {
  constexpr std::uint64_t kMib = 1024 * 1024;
  EXPECT_EQ(oci_image_size_mib(100 * kMib, std::nullopt, 1.5), 1024u);
  EXPECT_EQ(oci_image_size_mib(1000 * kMib, std::nullopt, 1.5), 1500u);
  EXPECT_EQ(oci_image_size_mib(1000 * kMib, std::nullopt, 2.0), 2000u);
  EXPECT_EQ(oci_image_size_mib(2000 * kMib + 1, std::nullopt, 1.0), 2001u);
  EXPECT_EQ(oci_image_size_mib(1000 * kMib, 300, 2.0), 300u);
}

TEST(OciBuilder, ImagesOfManySmallFilesGetEnoughInodes) {
  EXPECT_EQ(oci_inode_count(20000, 1024), 0u);  // 65,536 inodes by default are enough
  EXPECT_EQ(oci_inode_count(60000, 1024), 60000u + 15000u + 4096u);
  EXPECT_EQ(oci_inode_count(100, 64), 0u);  // small filesystems get one per 4 KiB
  EXPECT_EQ(oci_inode_count(20000, 64), 20000u + 5000u + 4096u);
}

TEST(OciBuilder, InitScriptMountsTheWorkDiskRunsTheHooksAndPowersOff) {
  std::string init = oci_init_script();
  EXPECT_EQ(init.rfind("#!/usr/local/lib/banger/bin/sh\n", 0), 0u);
  for (std::string_view part : {"mount -t proc proc /proc", "mount -t ext4 /dev/vdb /root",
                                "/etc/banger/init.d/*", "poweroff -f", "/root/.banger/etc/$f"}) {
    EXPECT_NE(init.find(part), std::string::npos) << part;
  }
}

TEST(OciBuilder, TheKitsBusyboxIsKeptPerPackageVersionAndTakenFromTheCacheWithoutApt) {
  testkit::TempDir dir;
  testkit::FakeCommandRunner runner;
  runner.on("apt-cache",
            {0, "busybox-static:\n  Installed: (none)\n  Candidate: 1:1.35.0-4+b3\n", ""});
  std::string kept = dir.path() + "/kit/busybox-static_1_1.35.0-4+b3/busybox";
  ASSERT_TRUE(sys::make_dirs(dir.path() + "/kit/busybox-static_1_1.35.0-4+b3"));
  ASSERT_TRUE(sys::write_file_atomic(kept,
                                     "\x7f"
                                     "ELF busybox",
                                     0755));
  auto busybox = kit_busybox(runner, dir.path() + "/scratch", dir.path() + "/kit");
  ASSERT_TRUE(busybox) << busybox.error().message;
  EXPECT_EQ(*busybox,
            "\x7f"
            "ELF busybox");
  for (const auto& line : runner.ran()) {
    EXPECT_EQ(line.find("apt-get"), std::string::npos) << "downloaded anyway: " << line;
  }
  // Another candidate version is not the kept one: it is downloaded (here the fake apt-get
  // produces no .deb, which is an error naming the package).
  runner.on("apt-cache", {0, "busybox-static:\n  Candidate: 1:1.36.1-1\n", ""});
  auto other = kit_busybox(runner, dir.path() + "/scratch", dir.path() + "/kit");
  EXPECT_FALSE(other);
  bool downloaded = false;
  for (const auto& line : runner.ran()) {
    downloaded = downloaded || line.find("apt-get") != std::string::npos;
  }
  EXPECT_TRUE(downloaded);
}

}  // namespace
}  // namespace banger::imagecat
