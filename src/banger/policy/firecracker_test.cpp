#include "banger/policy/firecracker.hpp"

#include <gtest/gtest.h>

namespace banger::policy {
namespace {

TEST(FirecrackerVersion, IsReadFromTheFirstLineOfVersionOutput) {
  auto v = parse_firecracker_version(
      "Firecracker v1.14.1\n\nSupported snapshot data format versions: v1.0.0 v5.0.0\n");
  ASSERT_TRUE(v);
  EXPECT_EQ(to_string(*v), "v1.14.1");
  EXPECT_EQ(parse_firecracker_version("Firecracker v1.5.0-dev\n"), (FirecrackerVersion{1, 5, 0}));
  EXPECT_FALSE(parse_firecracker_version(""));
  EXPECT_FALSE(parse_firecracker_version("firecracker: command not found\n"));
  EXPECT_FALSE(parse_firecracker_version("something\nFirecracker v1.14.1\n"));
  EXPECT_FALSE(parse_firecracker_version("Firecracker v99999.1.1\n"));
}

TEST(FirecrackerVersion, TheWindowIsOnePointFiveToOnePointFourteenOne) {
  EXPECT_EQ(fit_firecracker_version({1, 4, 9}), VersionFit::too_old);
  EXPECT_EQ(fit_firecracker_version({0, 25, 0}), VersionFit::too_old);
  EXPECT_EQ(fit_firecracker_version({1, 5, 0}), VersionFit::supported);
  EXPECT_EQ(fit_firecracker_version({1, 14, 1}), VersionFit::supported);
  EXPECT_EQ(fit_firecracker_version({1, 14, 2}), VersionFit::newer_than_tested);
  EXPECT_EQ(fit_firecracker_version({2, 0, 0}), VersionFit::newer_than_tested);
}

TEST(FirecrackerInstallHint, NamesThePackageManagerOrTheReleaseDownload) {
  EXPECT_EQ(firecracker_install_hint("fedora"), "dnf install firecracker");
  EXPECT_EQ(firecracker_install_hint("arch"), "pacman -S firecracker");
  EXPECT_EQ(firecracker_install_hint("endeavouros arch"), "pacman -S firecracker");
  EXPECT_EQ(firecracker_install_hint("alpine"), "apk add firecracker");
  for (auto ids : {"debian", "ubuntu debian", ""}) {
    EXPECT_NE(firecracker_install_hint(ids).find("github.com/firecracker-microvm/firecracker/"
                                                 "releases"),
              std::string::npos)
        << ids;
  }
}

}  // namespace
}  // namespace banger::policy
