#include "banger/imagecat/rootfs_builder.hpp"

#include <gtest/gtest.h>

#include "banger/sys/fs.hpp"
#include "banger/testkit/fake_command_runner.hpp"
#include "banger/testkit/temp_dir.hpp"

namespace banger::imagecat {
namespace {

TEST(MakeBuilder, PicksTheBuilderOfTheRecipeKind) {
  auto tiny = make_builder(*find_recipe("tiny"), {});
  ASSERT_TRUE(tiny);
  EXPECT_EQ((*tiny)->required_tools(), std::vector<std::string>{"apt-get"});
  EXPECT_EQ((*tiny)->init_flavour(), model::InitFlavour::busybox);
  EXPECT_EQ((*tiny)->image_size_mib(0), 64u);
  EXPECT_EQ((*tiny)->image_size_mib(100ull << 20), 150u + 16u);

  auto debian = make_builder(*find_recipe("debian-bookworm"), {"htop"});
  ASSERT_TRUE(debian);
  EXPECT_EQ((*debian)->required_tools(), std::vector<std::string>{"mmdebstrap"});
  EXPECT_EQ((*debian)->init_flavour(), model::InitFlavour::systemd);
  EXPECT_EQ((*debian)->image_size_mib(0), 1024u);
  EXPECT_EQ((*debian)->image_size_mib(1000ull << 20), 1500u);
}

TEST(MakeBuilder, TinyTakesNoPackages) {
  auto tiny = make_builder(*find_recipe("tiny"), {"htop"});
  ASSERT_FALSE(tiny);
  EXPECT_EQ(tiny.error().code, Errc::invalid_argument);
  EXPECT_EQ(tiny.error().message,
            "the tiny recipe takes no --packages (it has no package manager): use "
            "debian-bookworm");
}

TEST(TinyBuilder, StopsWithTheFailingStepAndLeavesTheTreeToTheCaller) {
  testkit::TempDir dir;
  testkit::FakeCommandRunner runner;
  runner.on("apt-cache depends", {.exit_code = 100, .err = "E: No packages found"});
  TinyBuilder builder(*find_recipe("tiny"));
  auto built = builder.build(dir.path() + "/tree", dir.path() + "/debs",
                             {.runner = runner, .progress = {}, .cancel = {}});
  ASSERT_FALSE(built);
  EXPECT_EQ(built.error().message.rfind("resolving the libraries of dropbear-bin: ", 0), 0u)
      << built.error().message;
  EXPECT_TRUE(sys::path_exists(dir.path() + "/tree"));
}

TEST(TinyBuilder, HonoursCancellationBeforeDownloading) {
  testkit::TempDir dir;
  testkit::FakeCommandRunner runner;
  TinyBuilder builder(*find_recipe("tiny"));
  base::CancelFn cancel = [] { return true; };
  auto built = builder.build(dir.path() + "/tree", dir.path() + "/debs",
                             {.runner = runner, .progress = {}, .cancel = cancel});
  ASSERT_FALSE(built);
  EXPECT_EQ(built.error().code, Errc::cancelled);
  for (const auto& command : runner.ran()) {
    EXPECT_EQ(command.find("apt-get download"), std::string::npos) << command;
  }
}

}  // namespace
}  // namespace banger::imagecat
