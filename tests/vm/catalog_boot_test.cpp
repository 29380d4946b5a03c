// Issue 12's catalog acceptance with a real boot: the suite's tiny image and debian-cloud kernel
// are bundled with `--catalog` into a directory that `python3 -m http.server` serves on loopback
// inside a namespace of this test; a fresh BANGER_HOME there, whose catalog_url points at it,
// runs `vm run --image tiny`: the image and the kernel come from the catalog's bundles (which
// win over the recipe and the built-in kernel of their names), the VM boots and the command's
// exit code comes back.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <optional>
#include <string>

#include "vm_suite.hpp"

#include "banger/base/defer.hpp"
#include "banger/posix/env.hpp"
#include "banger/posix/subprocess.hpp"

namespace banger::itest {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr int kPort = 8765;

TEST_F(VmSuite, ACatalogBundleServedOverHttpBootsOnAFreshHome) {
  std::string pub = home_->dir() + "/catalog-pub";
  std::filesystem::create_directories(pub);
  auto image = run({"image", "bundle", "tiny", "-o", pub, "--catalog", pub + "/catalog.json"});
  ASSERT_EQ(image.exit_code, 0) << image.err;
  auto kernel =
      run({"kernel", "bundle", "debian-cloud", "-o", pub, "--catalog", pub + "/catalog.json"});
  ASSERT_EQ(kernel.exit_code, 0) << kernel.err;

  std::string error;
  std::string ns = add_test_netns("bgt-cat", &error);
  ASSERT_FALSE(ns.empty()) << error;
  BangerHome* fresh = new BangerHome();
  // After the server below is gone (it lives in the namespace): the VMs, the daemon, the
  // namespace.
  base::Defer end([&] { end_vm_suite(fresh, ns); });
  {
    int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    base::Defer close_null([null_fd] { ::close(null_fd); });
    auto server = posix::Subprocess::spawn(
        {.argv = {"ip", "netns", "exec", ns, "python3", "-m", "http.server", std::to_string(kPort),
                  "--bind", "127.0.0.1", "--directory", pub},
         .env = posix::current_env(),
         .stdio = posix::Stdio::redirect,
         .redirect = {null_fd, null_fd, null_fd}});
    ASSERT_TRUE(server.has_value());
    sys::PosixCommandRunner runner;
    auto up = runner.run(
        {.argv = {"ip", "netns", "exec", ns, "python3", "-c",
                  "import socket,sys,time\n"
                  "for _ in range(200):\n"
                  "    try:\n"
                  "        socket.create_connection(('127.0.0.1', int(sys.argv[1]))).close(); "
                  "sys.exit(0)\n"
                  "    except OSError: time.sleep(0.05)\n"
                  "sys.exit(1)",
                  std::to_string(kPort)},
         .timeout = std::chrono::seconds(30)});
    ASSERT_TRUE(up && up->exit_code == 0) << "http.server did not start";

    std::string url = "http://127.0.0.1:" + std::to_string(kPort) + "/";
    // Top-level keys before kSizes' [vm_defaults] table.
    fresh->write_config("catalog_url = \"" + url + "catalog.json\"\n" + std::string(kSizes));
    auto listed = fresh->banger_in(ns, {"image", "list", "--available"});
    EXPECT_THAT(listed.out, HasSubstr("bundle")) << listed.err;
    auto ran = fresh->banger_in(
        ns, {"vm", "run", "--image", "tiny", "--rm", "--", "sh", "-c", "echo from-bundle; exit 5"});
    EXPECT_EQ(ran.exit_code, 5) << ran.out << ran.err;
    EXPECT_THAT(ran.out, HasSubstr("from-bundle"));
    auto shown = nlohmann::json::parse(
        fresh->banger_in(ns, {"image", "show", "tiny", "--json"}).out, nullptr, false);
    ASSERT_TRUE(shown.is_object());
    EXPECT_THAT(shown.value("source", ""), StartsWith("bundle " + url + "tiny-x86_64-"));
    auto kernel_shown = nlohmann::json::parse(
        fresh->banger_in(ns, {"kernel", "show", "debian-cloud", "--json"}).out, nullptr, false);
    ASSERT_TRUE(kernel_shown.is_object());
    EXPECT_THAT(kernel_shown.value("source", ""),
                StartsWith("bundle " + url + "debian-cloud-x86_64-"));
  }
}

}  // namespace
}  // namespace banger::itest
