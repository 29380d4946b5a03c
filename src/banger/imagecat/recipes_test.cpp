#include "banger/imagecat/recipes.hpp"

#include <gtest/gtest.h>

namespace banger::imagecat {
namespace {

TEST(Recipes, TableHoldsTinyThenDebianBookworm) {
  ASSERT_EQ(recipes().size(), 2u);
  const Recipe& tiny = recipes()[0];
  EXPECT_EQ(tiny.name, "tiny");
  EXPECT_EQ(tiny.kind, RecipeKind::tiny);
  EXPECT_EQ(tiny.init_flavour, model::InitFlavour::busybox);
  EXPECT_EQ(tiny.distro, "debian");
  EXPECT_EQ(tiny.kernel, "debian-cloud");
  EXPECT_EQ(tiny.packages, (std::vector<std::string>{"busybox-static", "dropbear-bin"}));
  const Recipe& debian = recipes()[1];
  EXPECT_EQ(debian.name, "debian-bookworm");
  EXPECT_EQ(debian.kind, RecipeKind::mmdebstrap);
  EXPECT_EQ(debian.suite, "bookworm");
  EXPECT_EQ(debian.init_flavour, model::InitFlavour::systemd);
  EXPECT_EQ(debian.kernel, "debian-cloud");
  EXPECT_EQ(debian.extra_kernel_args, "apparmor=0");  // Docker without apparmor_parser
}

TEST(Recipes, FindRecipeNamesTheAvailableOnesWhenUnknown) {
  ASSERT_TRUE(find_recipe("tiny"));
  auto missing = find_recipe("alpine");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::not_found);
  EXPECT_EQ(missing.error().message,
            "unknown recipe \"alpine\": available recipes: tiny, debian-bookworm");
}

TEST(Recipes, PackageNamesFollowDebianRules) {
  EXPECT_TRUE(validate_package_names({"htop", "g++", "python3.11", "libc6-dev"}));
  auto bad = validate_package_names({"htop", "Bad;rm"});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, Errc::invalid_argument);
  EXPECT_EQ(bad.error().message,
            "invalid package name \"Bad;rm\": use lower-case letters, digits, '+', '-' and '.'");
  EXPECT_FALSE(validate_package_names({"x"}));
  EXPECT_FALSE(validate_package_names({"-rf"}));
  EXPECT_FALSE(validate_package_names({""}));
}

TEST(Recipes, HostAptSourcesPrefersTheDeb822File) {
  auto both = host_apt_sources([](const std::string&) { return true; });
  ASSERT_TRUE(both);
  EXPECT_EQ(*both, "/etc/apt/sources.list.d/debian.sources");
  auto legacy =
      host_apt_sources([](const std::string& path) { return path == "/etc/apt/sources.list"; });
  ASSERT_TRUE(legacy);
  EXPECT_EQ(*legacy, "/etc/apt/sources.list");
  auto none = host_apt_sources([](const std::string&) { return false; });
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, Errc::failed_precondition);
  EXPECT_EQ(none.error().message,
            "no apt sources file found (looked for /etc/apt/sources.list.d/debian.sources and "
            "/etc/apt/sources.list)");
}

TEST(Recipes, MmdebstrapArgvUsesTheHostSourcesAndTheSpecPackageSet) {
  auto recipe = *find_recipe("debian-bookworm");
  auto command = plan_mmdebstrap(recipe, {"htop", "git", "ripgrep"}, "/s/images/d.staging/tree",
                                 "/etc/apt/sources.list.d/debian.sources");
  EXPECT_EQ(command.argv,
            (std::vector<std::string>{
                "mmdebstrap", "--mode=root", "--variant=apt", "--format=directory",
                "--include=systemd-sysv,openssh-server,iproute2,ca-certificates,curl,git,jq,less,"
                "vim-tiny,tmux,procps,make,build-essential,python3,sudo,dnsutils,udev,docker.io,"
                "kmod,xz-utils,htop,ripgrep",
                "--quiet", "bookworm", "/s/images/d.staging/tree",
                "/etc/apt/sources.list.d/debian.sources"}));
  EXPECT_EQ(command.timeout, std::chrono::minutes(30));
}

TEST(Recipes, LibraryDependsKeepsOnlySharedLibraryPackages) {
  // Given the output of `apt-cache depends --recurse ... dropbear-bin` on bookworm.
  const char* output = R"(dropbear-bin
  Depends: libc6
  Depends: libcrypt1
  Depends: libtomcrypt1
  Depends: libtommath1
  Depends: zlib1g
libc6
  Depends: libgcc-s1
libcrypt1
  Depends: libc6
libtomcrypt1
  Depends: libc6
  Depends: libgmp10
 |Depends: libtommath1
  Depends: <libfoo-virtual>
libgcc-s1
  Depends: gcc-12-base
  PreDepends: libzstd1
gcc-12-base
)";
  EXPECT_EQ(parse_library_depends(output),
            (std::vector<std::string>{"libc6", "libcrypt1", "libgcc-s1", "libgmp10", "libtomcrypt1",
                                      "libtommath1", "libzstd1", "zlib1g"}));
  EXPECT_EQ(plan_library_depends_query("dropbear-bin").argv,
            (std::vector<std::string>{"apt-cache", "depends", "--recurse", "--no-recommends",
                                      "--no-suggests", "--no-conflicts", "--no-breaks",
                                      "--no-replaces", "--no-enhances", "dropbear-bin"}));
}

TEST(Recipes, ImageSizeIsContentTimesOneAndAHalfWithAFloor) {
  constexpr std::uint64_t kMib = 1024 * 1024;
  EXPECT_EQ(image_size_mib(13 * kMib, 64, 16), 64u);
  EXPECT_EQ(image_size_mib(40 * kMib, 64, 16), 76u);
  EXPECT_EQ(image_size_mib(245 * kMib, 1024, 0), 1024u);
  EXPECT_EQ(image_size_mib(1000 * kMib, 1024, 0), 1500u);
  EXPECT_EQ(image_size_mib(1000 * kMib + 1, 1024, 0), 1501u);
}

}  // namespace
}  // namespace banger::imagecat
