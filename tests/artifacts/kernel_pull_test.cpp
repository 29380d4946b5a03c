// `banger kernel ...` against the real binaries and the host's Debian archive: pull
// debian-cloud, the no-op second pull, --force, list/show/verify, rm, and the clear errors.
#include <archive.h>
#include <archive_entry.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>

#include "../integration/harness.hpp"
#include <nlohmann/json.hpp>

#include "banger/kernelcat/vmlinux_extract.hpp"
#include "banger/sys/fs.hpp"
#include "banger/sys/sha256.hpp"

namespace banger::itest {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

// `banger <args>` with a timeout long enough for a real pull.
sys::CommandResult banger_slow(BangerHome& home, const std::vector<std::string>& args) {
  sys::PosixCommandRunner runner;
  sys::Command command{.argv = {bin("banger")},
                       .timeout = 10min,
                       .env_overrides = {{"BANGER_HOME", home.dir()}, {"NO_COLOR", "1"}}};
  command.argv.insert(command.argv.end(), args.begin(), args.end());
  auto result = runner.run(command);
  EXPECT_TRUE(result) << result.error().message;
  return result ? *result : sys::CommandResult{-1, "", ""};
}

// Why a real pull cannot run here ("" when it can).
std::string pull_prerequisite_missing() {
  for (const char* tool : {"apt-get", "apt-cache", "depmod"}) {
    if (sys::find_executable(tool).empty()) {
      return std::string(tool) + " not installed";
    }
  }
  sys::PosixCommandRunner runner;
  auto probe = runner.run(
      {.argv = {"apt-get", "download", "--print-uris", "linux-image-cloud-amd64", "busybox-static"},
       .timeout = 60s});
  if (!probe || probe->exit_code != 0) {
    return "the host's apt cannot download linux-image-cloud-amd64 (apt-get update?)";
  }
  return {};
}

// Text of one member of a gzip cpio ("" when absent).
std::string cpio_member(const std::string& path, const std::string& member) {
  archive* a = archive_read_new();
  archive_read_support_filter_all(a);
  archive_read_support_format_all(a);
  std::string content;
  if (archive_read_open_filename(a, path.c_str(), 1 << 16) == ARCHIVE_OK) {
    archive_entry* e = nullptr;
    while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
      if (member == archive_entry_pathname(e)) {
        char buf[4096];
        la_ssize_t n = 0;
        while ((n = archive_read_data(a, buf, sizeof buf)) > 0) {
          content.append(buf, static_cast<std::size_t>(n));
        }
        break;
      }
    }
  }
  archive_read_free(a);
  return content;
}

TEST(KernelPull, DebianCloudPullsCachesRebuildsAndRemoves) {
  if (auto missing = pull_prerequisite_missing(); !missing.empty()) {
    GTEST_SKIP() << missing;
  }
  BangerHome home;
  auto pulled = banger_slow(home, {"kernel", "pull", "debian-cloud", "--json"});
  ASSERT_EQ(pulled.exit_code, 0) << pulled.err;
  auto first = nlohmann::json::parse(pulled.out);
  EXPECT_EQ(first["up_to_date"], false);
  // Progress went to stderr, one plain line per event (not a TTY).
  EXPECT_THAT(pulled.err, HasSubstr("resolve: "));
  EXPECT_THAT(pulled.err, HasSubstr("download: "));
  EXPECT_THAT(pulled.err, HasSubstr("initramfs: "));

  auto listed = home.banger({"kernel", "list", "--json"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  auto kernels = nlohmann::json::parse(listed.out);
  ASSERT_EQ(kernels.size(), 1u);
  const auto& k = kernels[0];
  EXPECT_EQ(k["name"], "debian-cloud");
  EXPECT_EQ(k["distro"], "debian");
  EXPECT_EQ(k["vmlinux_path"], home.dir() + "/state/kernels/debian-cloud/vmlinux");
  EXPECT_EQ(k["initrd_path"], home.dir() + "/state/kernels/debian-cloud/initrd.img");
  EXPECT_THAT(k["source"].get<std::string>(), HasSubstr("debian-cloud: linux-image-"));
  EXPECT_EQ(k["sha256"], *sys::sha256_file(k["vmlinux_path"]));
  auto vmlinux = sys::read_file(k["vmlinux_path"]);
  ASSERT_TRUE(vmlinux);
  EXPECT_TRUE(kernelcat::is_x86_64_elf(*vmlinux));
  std::string order = cpio_member(k["initrd_path"], "lib/modules/load.order");
  EXPECT_THAT(order, HasSubstr("virtio_blk.ko\n"));
  EXPECT_THAT(order, HasSubstr("vmw_vsock_virtio_transport.ko\n"));
  EXPECT_EQ(cpio_member(k["initrd_path"], "init").rfind("#!/bin/busybox sh", 0), 0u);
  // The guest module tree (docs/kernels.md, "Guest modules") of the real package: Docker's
  // modules indexed by depmod, so the guest's modprobe resolves the kernel's autoload aliases.
  const std::string guest = "lib/modules/" + k["version"].get<std::string>() + "/";
  EXPECT_THAT(cpio_member(k["initrd_path"], guest + "modules.dep"),
              HasSubstr("overlayfs/overlay.ko"));
  EXPECT_THAT(cpio_member(k["initrd_path"], guest + "modules.alias"),
              HasSubstr("alias nft-chain-2-nat nft_chain_nat"));
  EXPECT_FALSE(cpio_member(k["initrd_path"], guest + "modules.dep.bin").empty());
  EXPECT_THAT(cpio_member(k["initrd_path"], guest + "banger-guest-modules"),
              HasSubstr("net/bridge/br_netfilter.ko"));

  // Same package version: a fast no-op.
  auto started = std::chrono::steady_clock::now();
  auto again = banger_slow(home, {"kernel", "pull", "debian-cloud"});
  auto took = std::chrono::steady_clock::now() - started;
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_THAT(again.out, HasSubstr("kernel debian-cloud is up to date"));
  EXPECT_LT(took, 20s);

  auto forced = banger_slow(home, {"kernel", "pull", "debian-cloud", "--force", "--json"});
  ASSERT_EQ(forced.exit_code, 0) << forced.err;
  auto rebuilt = nlohmann::json::parse(forced.out);
  EXPECT_EQ(rebuilt["up_to_date"], false);
  EXPECT_EQ(rebuilt["kernel"]["sha256"], k["sha256"]);  // same package, same vmlinux

  auto verified = home.banger({"kernel", "show", "debian-cloud", "--verify"});
  ASSERT_EQ(verified.exit_code, 0) << verified.err;
  EXPECT_THAT(verified.out, HasSubstr("verified: sha256 matches"));

  auto available = home.banger({"kernel", "list", "--available", "--json"});
  ASSERT_EQ(available.exit_code, 0) << available.err;
  auto entries = nlohmann::json::parse(available.out);
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0]["name"], "debian-cloud");
  EXPECT_EQ(entries[0]["pulled"], true);

  auto removed = home.banger({"kernel", "rm", "debian-cloud"});
  ASSERT_EQ(removed.exit_code, 0) << removed.err;
  EXPECT_EQ(removed.out, "deleted kernel debian-cloud\n");
  EXPECT_EQ(nlohmann::json::parse(home.banger({"kernel", "list", "--json"}).out).size(), 0u);
  EXPECT_FALSE(sys::path_exists(home.dir() + "/state/kernels/debian-cloud"));
}

TEST(KernelCli, BadInputGetsClearErrors) {
  BangerHome home;
  auto unknown = home.banger({"kernel", "pull", "fedora-latest"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_THAT(unknown.err, HasSubstr("banger: unknown kernel \"fedora-latest\" in the catalog: "
                                     "available: debian-cloud (not_found, op-"));

  auto bad_name = home.banger({"kernel", "pull", "../etc"});
  EXPECT_EQ(bad_name.exit_code, 1);
  EXPECT_THAT(bad_name.err, HasSubstr("banger: invalid kernel name \"../etc\""));

  // A "kernel" that is not an ELF vmlinux (here: a bzImage-looking blob).
  std::string src = home.dir() + "/src";
  ASSERT_TRUE(sys::make_dirs(src));
  ASSERT_TRUE(sys::write_file_atomic(src + "/vmlinux", "MZ not really a kernel"));
  auto imported = home.banger({"kernel", "import", "junk", "--from", src});
  EXPECT_EQ(imported.exit_code, 1);
  EXPECT_THAT(imported.err, HasSubstr("banger: " + src +
                                      "/vmlinux is not an x86_64 ELF vmlinux: import an "
                                      "uncompressed kernel"));
  EXPECT_EQ(nlohmann::json::parse(home.banger({"kernel", "list", "--json"}).out).size(), 0u);

  auto missing = home.banger({"kernel", "rm", "nope"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.err, HasSubstr("banger: kernel \"nope\" not found (not_found, op-"));

  // Without --from the argument is a bundle.
  auto no_bundle = home.banger({"kernel", "import", "x"});
  EXPECT_EQ(no_bundle.exit_code, 1);
  EXPECT_THAT(no_bundle.err, HasSubstr("/x: no such file (not_found"));
  auto usage = home.banger({"kernel", "import", "x", "--from", src, "--name", "y"});
  EXPECT_EQ(usage.exit_code, 2);
  EXPECT_THAT(usage.err, HasSubstr("kernel import NAME --from DIR takes no --name"));
}

}  // namespace
}  // namespace banger::itest
