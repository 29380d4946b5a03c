#include "banger/kernelcat/guest_modules.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "banger/sys/fs.hpp"
#include "banger/testkit/fake_command_runner.hpp"
#include "banger/testkit/temp_dir.hpp"

namespace banger::kernelcat {
namespace {

constexpr const char* kRelease = "6.1.0-28-cloud-amd64";

class GuestModulesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const auto& [path, content] : std::vector<std::pair<std::string, std::string>>{
             {"kernel/fs/overlayfs/overlay.ko", "OVL"},
             {"kernel/net/bridge/br_netfilter.ko", "BRNF"},
             {"kernel/net/bridge/bridge.ko", "BR"},
             {"kernel/net/802/stp.ko", "STP"},
             {"kernel/drivers/misc/unrelated.ko", "NO"},
             {"modules.builtin", "kernel/fs/ext4/ext4.ko\n"},
             {"modules.order", "kernel/fs/overlayfs/overlay.ko\n"}}) {
      ASSERT_TRUE(sys::make_dirs(modules_dir() + "/" + parent(path), 0755));
      ASSERT_TRUE(sys::write_file_atomic(modules_dir() + "/" + path, content, 0644));
    }
  }
  static std::string parent(const std::string& path) {
    auto slash = path.rfind('/');
    return slash == std::string::npos ? "" : path.substr(0, slash);
  }
  std::string modules_dir() const { return package_.path() + "/lib/modules/" + kRelease; }
  GuestModuleInputs inputs() const {
    return {.depmod = "/sbin/depmod",
            .modules_dir = modules_dir(),
            .release = kRelease,
            .source = "linux-image-6.1.0-28-cloud-amd64 6.1.119-1",
            .work_root = work_.path() + "/guest"};
  }

  testkit::TempDir package_;
  testkit::TempDir work_;
  testkit::FakeCommandRunner runner_;
};

constexpr const char* kDep =
    "kernel/fs/overlayfs/overlay.ko:\n"
    "kernel/net/bridge/br_netfilter.ko: kernel/net/bridge/bridge.ko kernel/net/802/stp.ko\n"
    "kernel/net/bridge/bridge.ko: kernel/net/802/stp.ko\n"
    "kernel/net/802/stp.ko:\n"
    "kernel/drivers/misc/unrelated.ko:\n";

TEST_F(GuestModulesTest, CopiesTheWantedModulesWithTheirDependenciesAndIndexesThem) {
  auto tree = stage_guest_modules(runner_, inputs(), kDep);
  ASSERT_TRUE(tree) << tree.error().message;
  EXPECT_EQ(runner_.ran(),
            std::vector<std::string>{"/sbin/depmod -b " + work_.path() + "/guest " + kRelease});
  EXPECT_EQ(tree->release, kRelease);
  EXPECT_EQ(tree->source, "linux-image-6.1.0-28-cloud-amd64 6.1.119-1");
  std::vector<std::string> relative;
  for (const auto& file : tree->files) {
    relative.push_back(file.relative);
    EXPECT_EQ(file.source_path,
              work_.path() + "/guest/lib/modules/" + kRelease + "/" + file.relative);
  }
  // Sorted; the unrelated module stays behind; the package's index inputs come along.
  EXPECT_EQ(relative, (std::vector<std::string>{
                          "kernel/fs/overlayfs/overlay.ko", "kernel/net/802/stp.ko",
                          "kernel/net/bridge/br_netfilter.ko", "kernel/net/bridge/bridge.ko",
                          "modules.builtin", "modules.order"}));
  EXPECT_EQ(sys::read_file(tree->files[0].source_path), "OVL");
  EXPECT_THAT(guest_modules_stamp(*tree),
              ::testing::StartsWith(std::string("banger guest modules\nrelease ") + kRelease +
                                    "\nsource linux-image-6.1.0-28-cloud-amd64 6.1.119-1\n"
                                    "kernel/fs/overlayfs/overlay.ko\n"));
}

TEST_F(GuestModulesTest, RefusesModulePathsThatLeaveTheTree) {
  for (const char* dep : {"kernel/fs/overlayfs/../../../../../../etc/overlay.ko:\n",
                          "/etc/overlay.ko:\n", "./overlay.ko:\n"}) {
    auto tree = stage_guest_modules(runner_, inputs(), dep);
    ASSERT_FALSE(tree) << dep;
    EXPECT_EQ(tree.error().code, Errc::invalid_argument);
    EXPECT_THAT(tree.error().message, ::testing::HasSubstr("unsafe module path"));
  }
  EXPECT_TRUE(runner_.ran().empty());
}

TEST_F(GuestModulesTest, AMissingModuleFileOrAFailingDepmodIsAnError) {
  auto missing = stage_guest_modules(runner_, inputs(), "kernel/fs/overlayfs/gone/overlay.ko:\n");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::io);
  EXPECT_THAT(missing.error().message, ::testing::HasSubstr("gone/overlay.ko"));

  runner_.on("/sbin/depmod", {1, "", "depmod: ERROR: bad\n"});
  auto failed = stage_guest_modules(runner_, inputs(), kDep);
  ASSERT_FALSE(failed);
  EXPECT_THAT(failed.error().message, ::testing::HasSubstr("depmod: ERROR: bad"));
}

}  // namespace
}  // namespace banger::kernelcat
