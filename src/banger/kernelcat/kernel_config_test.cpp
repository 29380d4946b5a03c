#include "banger/kernelcat/kernel_config.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace banger::kernelcat {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// The compiled-in Firecracker config with banger's additions, as `kernel build` starts from.
std::string firecracker_merged() { return merge_config(firecracker_guest_config()); }

TEST(KernelConfig, TheFirecrackerConfigIsCompiledIn) {
  const auto config = firecracker_guest_config();
  EXPECT_GT(config.size(), 50000U);
  EXPECT_EQ(config_value(config, "VIRTIO_MMIO"), "y");
  EXPECT_EQ(config_value(config, "MODULES"), "");  // everything built in
  EXPECT_TRUE(check_base_config(config, "firecracker"));
}

TEST(KernelConfig, MergeAppendsBangersAdditionsSoTheyWin) {
  const std::string base = "CONFIG_TUN=n\n# CONFIG_NF_TABLES_INET is not set";
  const auto merged = merge_config(base);
  EXPECT_TRUE(merged.starts_with(base + "\n# banger additions (kernel build)\n"));
  for (const auto& symbol : banger_config_additions()) {
    EXPECT_EQ(config_value(merged, symbol.name), "y") << symbol.name;
  }
}

TEST(KernelConfig, ConfigValueReadsTheLastAssignment) {
  const std::string config =
      "CONFIG_A=y\nCONFIG_AB=m\nCONFIG_C=\"text\"\nCONFIG_A=m\n# CONFIG_D is not set\n";
  EXPECT_EQ(config_value(config, "A"), "m");
  EXPECT_EQ(config_value(config, "AB"), "m");
  EXPECT_EQ(config_value(config, "C"), "\"text\"");
  EXPECT_EQ(config_value(config, "D"), "");
  EXPECT_EQ(config_value(config, "E"), "");
  EXPECT_EQ(config_value("CONFIG_D=y\n# CONFIG_D is not set\n", "D"), "");
}

TEST(KernelConfig, RequiredBuiltinsHoldForTheFirecrackerBase) {
  // olddefconfig keeps every explicit y whose dependencies hold; here the merged text itself
  // must already carry them all.
  EXPECT_TRUE(check_required_builtins(firecracker_merged()));
}

TEST(KernelConfig, MissingOrModularBuiltinsAreNamedWithTheirReason) {
  std::string config = firecracker_merged() + "CONFIG_VIRTIO_BLK=m\n# CONFIG_IP_PNP is not set\n";
  auto checked = check_required_builtins(config);
  ASSERT_FALSE(checked);
  EXPECT_EQ(checked.error().code, Errc::invalid_argument);
  EXPECT_THAT(checked.error().message, HasSubstr("CONFIG_VIRTIO_BLK (root and work disks)"));
  EXPECT_THAT(checked.error().message, HasSubstr("CONFIG_IP_PNP (ip= on the kernel command"));
  EXPECT_THAT(checked.error().message, Not(HasSubstr("CONFIG_VIRTIO_NET")));
}

TEST(KernelConfig, BaseConfigChecksRefuseWhatIsNotKconfig) {
  EXPECT_TRUE(check_base_config("# comment\n\nCONFIG_X=y\nCONFIG_Y=\"a b\"\n", "f"));
  struct Case {
    std::string text;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"", "kernel config /c sets no CONFIG_ symbol"},
      {"# only comments\n", "kernel config /c sets no CONFIG_ symbol"},
      {"CONFIG_X=y\nrm -rf /\n", "kernel config /c line 2: expected CONFIG_<NAME>=<value>"},
      {"CONFIG_=y\n", "kernel config /c line 1"},
      {"CONFIG_A-B=y\n", "kernel config /c line 1"},
      {std::string("CONFIG_X=y\n\0", 12), "kernel config /c contains NUL bytes"},
      {std::string(2 << 20, '#'), "kernel config /c is larger than 1 MiB"},
  };
  for (const auto& c : cases) {
    auto checked = check_base_config(c.text, "/c");
    ASSERT_FALSE(checked) << c.message;
    EXPECT_EQ(checked.error().code, Errc::invalid_argument);
    EXPECT_THAT(checked.error().message, HasSubstr(c.message));
  }
}

}  // namespace
}  // namespace banger::kernelcat
