#include "banger/imagecat/oci_builder.hpp"

#include <gtest/gtest.h>

namespace banger::imagecat {
namespace {

TEST(OciBuilder, ImageEnvKeepsValidEntriesOnly) {
  EXPECT_EQ(image_env_text({"PATH=/usr/local/bin:/usr/bin", "LANG=C.UTF-8", "GPG=a=b",
                            "EMPTY=", "no-equals", "1X=y", "BAD-KEY=z", "NL=a\nEVIL=1"}),
            "# The image config's Env, written by banger image pull: agent exec sessions start "
            "from it.\n"
            "PATH=/usr/local/bin:/usr/bin\nLANG=C.UTF-8\nGPG=a=b\nEMPTY=\n");
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
