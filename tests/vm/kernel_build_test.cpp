// `banger kernel build fc-6.1` for real (issue 13, SPEC S10; labels vm and slow): Debian's
// linux-source with Firecracker's guest config and banger's additions, compiled with make
// (minutes), then the tiny image booted on it — it is the default kernel once built — under
// QEMU and under the Firecracker backend (tests/firecracker/emulator.py standing in for the
// binary). The compiled vmlinux may be kept between runs: with BANGER_TEST_IMAGE_CACHE set, the
// home's build cache (<cache>/kernel-builds) is a link into it, so banger's own cache lookup
// (keyed by the source version and config) decides whether make runs; without it, it always
// does.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "../integration/harness.hpp"
#include <nlohmann/json.hpp>

#include "banger/base/defer.hpp"
#include "banger/sys/fs.hpp"
#include "banger/testkit/probes.hpp"

namespace banger::itest {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using namespace std::chrono_literals;

constexpr const char* kSizes = "[vm_defaults]\nvcpu = 1\nmemory_mib = 256\ndisk_size = \"256M\"\n";
const std::string kEmulator = std::string(BANGER_SOURCE_DIR) + "/tests/firecracker/emulator.py";

// `banger <args>` outside any namespace (the build downloads through the host's apt), with a
// timeout fit for a cold kernel compile on two cores.
sys::CommandResult banger_long(BangerHome& home, const std::vector<std::string>& args) {
  sys::PosixCommandRunner runner;
  sys::Command command{.argv = {bin("banger")},
                       .timeout = 60min,
                       .env_overrides = {{"BANGER_HOME", home.dir()}, {"NO_COLOR", "1"}}};
  command.argv.insert(command.argv.end(), args.begin(), args.end());
  auto result = runner.run(command);
  EXPECT_TRUE(result) << result.error().message;
  return result ? *result : sys::CommandResult{-1, "", result.error().message};
}

std::string missing_prerequisite() {
  std::string emulator_modules;
  for (const char* module : {"yaml", "jsonschema"}) {
    sys::PosixCommandRunner runner;
    auto found = runner.run({.argv = {"python3", "-c", std::string("import ") + module}});
    if (!found || found->exit_code != 0) {
      emulator_modules =
          std::string("python3-") + module + " is missing (scripts/install-deps.sh installs it)";
    }
  }
  return testkit::first_missing(
      {testkit::probe_root("create network namespaces and TAP devices"), testkit::probe_netns(),
       testkit::probe_tools({"qemu-system-x86_64", "qemu-img", "ssh", "ip", "make", "gcc", "flex",
                             "bison", "bc", "python3"}),
       testkit::probe_apt_archive(), emulator_modules});
}

// Links home's kernel build cache to BANGER_TEST_IMAGE_CACHE/kernel-builds when it is set.
void share_build_cache(BangerHome& home) {
  const char* cache = std::getenv("BANGER_TEST_IMAGE_CACHE");
  if (cache == nullptr || *cache == '\0') {
    return;
  }
  const std::string shared = std::string(cache) + "/kernel-builds";
  ASSERT_TRUE(sys::make_dirs(shared));
  ASSERT_TRUE(sys::make_dirs(home.dir() + "/cache"));
  std::error_code ec;
  std::filesystem::create_directory_symlink(shared, home.dir() + "/cache/kernel-builds", ec);
  ASSERT_FALSE(ec) << ec.message();
}

TEST(KernelBuildVm, BuiltKernelBootsTinyUnderQemuAndTheFirecrackerBackend) {
  if (auto why = missing_prerequisite(); !why.empty()) {
    GTEST_SKIP() << why;
  }
  auto* home = new BangerHome();
  std::string ns;
  base::Defer end([&] { end_vm_suite(home, ns); });
  home->write_config(kSizes);
  share_build_cache(*home);

  auto built = banger_long(*home, {"kernel", "build", "fc-6.1", "--json"});
  ASSERT_EQ(built.exit_code, 0) << built.out << built.err;
  auto kernel = nlohmann::json::parse(built.out, nullptr, false)["kernel"];
  ASSERT_TRUE(kernel.is_object()) << built.out;
  EXPECT_THAT(kernel.value("source", ""), StartsWith("build: linux-source-6.1 "));
  EXPECT_THAT(kernel.value("source", ""), HasSubstr(", config firecracker"));
  EXPECT_EQ(kernel.value("initrd_path", "?"), "");  // everything built in
  const std::string release = kernel.value("version", "");
  ASSERT_THAT(release, StartsWith("6.1."));
  // The same inputs again: nothing to do.
  auto again = banger_long(*home, {"kernel", "build", "fc-6.1"});
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_THAT(again.out, HasSubstr("kernel fc-6.1 is up to date"));
  auto tiny = banger_long(*home, {"image", "build", "tiny"});
  ASSERT_EQ(tiny.exit_code, 0) << tiny.err;
  home->banger({"daemon", "stop"});

  std::string error;
  ns = add_test_netns("bgt-kb", &error);
  ASSERT_FALSE(ns.empty()) << error;
  // QEMU: the built kernel is the default for the tiny image (which names debian-cloud).
  auto qemu = home->banger_in(ns, {"vm", "run", "--image", "tiny", "--rm", "--", "sh", "-c",
                                   "uname -r; cat /proc/cmdline; exit 3"});
  EXPECT_EQ(qemu.exit_code, 3) << qemu.out << qemu.err;
  EXPECT_THAT(qemu.out, HasSubstr(release + "\n"));
  EXPECT_THAT(qemu.out, HasSubstr("ip=")) << "the kernel applied ip= itself (no initramfs)";

  // Firecracker (the emulator as its binary): the same kernel, named explicitly.
  home->write_config("firecracker_bin = \"" + kEmulator + "\"\n" + std::string(kSizes));
  home->banger_in(ns, {"daemon", "stop"});  // the daemon looks for firecracker when it starts
  auto fc =
      home->banger_in(ns, {"vm", "run", "--vmm", "firecracker", "--kernel", "fc-6.1", "--image",
                           "tiny", "--rm", "--", "sh", "-c", "uname -r; cat /proc/cmdline"});
  EXPECT_EQ(fc.exit_code, 0) << fc.out << fc.err;
  EXPECT_THAT(fc.out, HasSubstr(release + "\n"));
  EXPECT_THAT(fc.out, HasSubstr("pci=off"));  // Firecracker's boot arguments
}

}  // namespace
}  // namespace banger::itest
