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

TEST(MakeBuilder, TinyTakesPackages) {
  auto tiny = make_builder(*find_recipe("tiny"), {"git"});
  ASSERT_TRUE(tiny) << tiny.error().message;
  EXPECT_EQ((*tiny)->required_tools(), std::vector<std::string>{"apt-get"});
  EXPECT_EQ((*tiny)->init_flavour(), model::InitFlavour::busybox);
}

// Given --packages git: git's direct library dependencies are followed round by round through
// libraries only (perl, git-man and the Perl module liberror-perl are not), each package is
// downloaded once, in order.
TEST(TinyBuilder, ExtraPackagesBringTheirLibraryClosureOnly) {
  testkit::TempDir dir;
  testkit::FakeCommandRunner runner;
  const std::string direct =
      "apt-cache depends --no-recommends --no-suggests --no-conflicts --no-breaks "
      "--no-replaces --no-enhances ";
  runner.on("apt-cache depends --recurse",
            {.exit_code = 0, .out = "dropbear-bin\n  Depends: libc6\n  Depends: zlib1g\n"});
  runner.on(direct + "git",
            {.exit_code = 0,
             .out = "git\n  Depends: perl\n  Depends: liberror-perl\n  Depends: git-man\n"
                    "  Depends: libc6\n  Depends: libcurl3-gnutls\n  Depends: libpcre2-8-0\n"
                    "  Depends: zlib1g\n |Depends: <libexpat1-virtual>\n"});
  runner.on(direct + "libc6 libcurl3-gnutls libpcre2-8-0 zlib1g",
            {.exit_code = 0,
             .out = "libc6\n  Depends: libgcc-s1\nlibcurl3-gnutls\n  Depends: libc6\n"
                    "  Depends: libgnutls30\nlibpcre2-8-0\nzlib1g\n"});
  runner.on(direct + "libgcc-s1 libgnutls30",
            {.exit_code = 0, .out = "libgcc-s1\n  Depends: gcc-12-base\nlibgnutls30\n"});
  runner.on("apt-get download", {.exit_code = 100, .err = "E: Unable to locate package x\n"});
  TinyBuilder builder(*find_recipe("tiny"), {"git"});
  auto built = builder.build(dir.path() + "/tree", dir.path() + "/debs",
                             {.runner = runner, .progress = {}, .cancel = {}});
  ASSERT_FALSE(built);
  auto ran = runner.ran();
  ASSERT_EQ(ran.size(), 5u) << testing::PrintToString(ran);
  EXPECT_EQ(ran[1], direct + "git");
  EXPECT_EQ(ran[2], direct + "libc6 libcurl3-gnutls libpcre2-8-0 zlib1g");
  EXPECT_EQ(ran[3], direct + "libgcc-s1 libgnutls30");
  EXPECT_EQ(ran[4],
            "apt-get download busybox-static dropbear-bin libc6 zlib1g git "
            "libcurl3-gnutls libpcre2-8-0 libgcc-s1 libgnutls30");
}

TEST(TinyBuilder, AFailedLibraryQueryNamesThePackages) {
  testkit::TempDir dir;
  testkit::FakeCommandRunner runner;
  runner.on("apt-cache depends --recurse", {.exit_code = 0, .out = "dropbear-bin\n"});
  runner.on("apt-cache depends --no-recommends",
            {.exit_code = 100, .err = "E: No packages found\n"});
  TinyBuilder builder(*find_recipe("tiny"), {"nosuchpkg"});
  auto built = builder.build(dir.path() + "/tree", dir.path() + "/debs",
                             {.runner = runner, .progress = {}, .cancel = {}});
  ASSERT_FALSE(built);
  EXPECT_EQ(built.error().message.rfind("resolving the libraries of nosuchpkg: ", 0), 0u)
      << built.error().message;
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
