#include "banger/imagecat/oci_builder.hpp"

#include <gtest/gtest.h>

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

TEST(OciBuilder, InitScriptMountsTheWorkDiskRunsTheHooksAndPowersOff) {
  std::string init = oci_init_script();
  EXPECT_EQ(init.rfind("#!/usr/local/lib/banger/bin/sh\n", 0), 0u);
  for (std::string_view part : {"mount -t proc proc /proc", "mount -t ext4 /dev/vdb /root",
                                "/etc/banger/init.d/*", "poweroff -f", "/root/.banger/etc/$f"}) {
    EXPECT_NE(init.find(part), std::string::npos) << part;
  }
}

}  // namespace
}  // namespace banger::imagecat
