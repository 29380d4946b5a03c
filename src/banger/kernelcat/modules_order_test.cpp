#include "banger/kernelcat/modules_order.hpp"

#include <gtest/gtest.h>

namespace banger::kernelcat {
namespace {

std::vector<std::string> default_wanted() {
  return {kInitramfsModules.begin(), kInitramfsModules.end()};
}

// Excerpt of a Debian 6.1 cloud-amd64 modules.dep (virtio_pci and ext4 are built in there).
constexpr std::string_view kDebian61Cloud =
    "kernel/arch/x86/crypto/crc32c-intel.ko:\n"
    "kernel/crypto/crc32c_generic.ko:\n"
    "kernel/drivers/block/virtio_blk.ko:\n"
    "kernel/drivers/char/hw_random/virtio-rng.ko:\n"
    "kernel/drivers/char/virtio_console.ko:\n"
    "kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko "
    "kernel/net/core/failover.ko\n"
    "kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko\n"
    "kernel/net/core/failover.ko:\n"
    "kernel/drivers/virtio/virtio_mmio.ko:\n"
    "kernel/net/vmw_vsock/vsock.ko:\n"
    "kernel/net/vmw_vsock/vmw_vsock_virtio_transport_common.ko: kernel/net/vmw_vsock/vsock.ko\n"
    "kernel/net/vmw_vsock/vmw_vsock_virtio_transport.ko: "
    "kernel/net/vmw_vsock/vmw_vsock_virtio_transport_common.ko kernel/net/vmw_vsock/vsock.ko\n"
    "kernel/net/vmw_vsock/vsock_loopback.ko: "
    "kernel/net/vmw_vsock/vmw_vsock_virtio_transport_common.ko kernel/net/vmw_vsock/vsock.ko\n";

// Excerpt in the 6.12 style: xz-compressed modules, ext4 as a module, virtio core modular.
constexpr std::string_view kDebian612 =
    "kernel/fs/ext4/ext4.ko.xz: kernel/lib/crc16.ko.xz kernel/fs/mbcache.ko.xz "
    "kernel/fs/jbd2/jbd2.ko.xz\n"
    "kernel/lib/crc16.ko.xz:\n"
    "kernel/fs/mbcache.ko.xz:\n"
    "kernel/fs/jbd2/jbd2.ko.xz:\n"
    "kernel/crypto/crc32c_generic.ko.xz:\n"
    "kernel/drivers/virtio/virtio_mmio.ko.xz: kernel/drivers/virtio/virtio_ring.ko.xz "
    "kernel/drivers/virtio/virtio.ko.xz\n"
    "kernel/drivers/virtio/virtio_pci.ko.xz: kernel/drivers/virtio/virtio_pci_legacy_dev.ko.xz "
    "kernel/drivers/virtio/virtio_pci_modern_dev.ko.xz kernel/drivers/virtio/virtio_ring.ko.xz "
    "kernel/drivers/virtio/virtio.ko.xz\n"
    "kernel/drivers/virtio/virtio_pci_legacy_dev.ko.xz:\n"
    "kernel/drivers/virtio/virtio_pci_modern_dev.ko.xz:\n"
    "kernel/drivers/virtio/virtio_ring.ko.xz: kernel/drivers/virtio/virtio.ko.xz\n"
    "kernel/drivers/virtio/virtio.ko.xz:\n"
    "kernel/drivers/block/virtio_blk.ko.xz: kernel/drivers/virtio/virtio_ring.ko.xz "
    "kernel/drivers/virtio/virtio.ko.xz\n"
    "kernel/drivers/char/hw_random/virtio-rng.ko.zst: "
    "kernel/drivers/char/hw_random/rng-core.ko.zst\n"
    "kernel/drivers/char/hw_random/rng-core.ko.zst:\n";

TEST(ModulesLoadOrder, Debian61CloudSkipsBuiltinsAndOrdersDeps) {
  std::vector<std::string> want = {
      "kernel/drivers/virtio/virtio_mmio.ko",
      "kernel/drivers/block/virtio_blk.ko",
      "kernel/net/core/failover.ko",
      "kernel/drivers/net/net_failover.ko",
      "kernel/drivers/net/virtio_net.ko",
      "kernel/net/vmw_vsock/vsock.ko",
      "kernel/net/vmw_vsock/vmw_vsock_virtio_transport_common.ko",
      "kernel/net/vmw_vsock/vmw_vsock_virtio_transport.ko",
      "kernel/drivers/char/virtio_console.ko",
      "kernel/drivers/char/hw_random/virtio-rng.ko",
      "kernel/crypto/crc32c_generic.ko",
  };
  EXPECT_EQ(modules_load_order(kDebian61Cloud, default_wanted()), want);
}

TEST(ModulesLoadOrder, Debian612CompressedModulesAndSharedDepsOnce) {
  std::vector<std::string> want = {
      "kernel/drivers/virtio/virtio.ko.xz",
      "kernel/drivers/virtio/virtio_ring.ko.xz",
      "kernel/drivers/virtio/virtio_mmio.ko.xz",
      "kernel/drivers/virtio/virtio_pci_modern_dev.ko.xz",
      "kernel/drivers/virtio/virtio_pci_legacy_dev.ko.xz",
      "kernel/drivers/virtio/virtio_pci.ko.xz",
      "kernel/drivers/block/virtio_blk.ko.xz",
      "kernel/drivers/char/hw_random/rng-core.ko.zst",
      "kernel/drivers/char/hw_random/virtio-rng.ko.zst",
      "kernel/crypto/crc32c_generic.ko.xz",
      "kernel/fs/jbd2/jbd2.ko.xz",
      "kernel/fs/mbcache.ko.xz",
      "kernel/lib/crc16.ko.xz",
      "kernel/fs/ext4/ext4.ko.xz",
  };
  EXPECT_EQ(modules_load_order(kDebian612, default_wanted()), want);
}

TEST(ModulesLoadOrder, DependenciesComeFirstEvenWhenListedOutOfOrder) {
  // c depends on b, b on a; c's own line lists a before b.
  constexpr std::string_view dep = "c.ko: a.ko b.ko\nb.ko: a.ko\na.ko:\n";
  std::vector<std::string> want = {"a.ko", "b.ko", "c.ko"};
  EXPECT_EQ(modules_load_order(dep, {"c"}), want);
}

TEST(ModulesLoadOrder, DashAndUnderscoreAreEquivalent) {
  constexpr std::string_view dep = "kernel/x/virtio_rng.ko:\nkernel/x/foo-bar.ko:\n";
  std::vector<std::string> want = {"kernel/x/virtio_rng.ko", "kernel/x/foo-bar.ko"};
  EXPECT_EQ(modules_load_order(dep, {"virtio-rng", "foo_bar", "virtio_rng"}), want);
}

TEST(ModulesLoadOrder, EmptyAndMalformedInput) {
  EXPECT_TRUE(modules_load_order("", default_wanted()).empty());
  constexpr std::string_view dep = "garbage line\n: nothing\n# comment\na.ko: a.ko\n";
  std::vector<std::string> want = {"a.ko"};  // a self-cycle does not loop
  EXPECT_EQ(modules_load_order(dep, {"a"}), want);
}

TEST(ModuleNames, NameCompressionAndFileName) {
  struct Case {
    std::string_view path;
    std::string name;
    ModuleCompression compression;
    std::string file;
  };
  const Case cases[] = {
      {"kernel/drivers/block/virtio_blk.ko", "virtio_blk", ModuleCompression::none,
       "virtio_blk.ko"},
      {"kernel/drivers/char/hw_random/virtio-rng.ko.xz", "virtio_rng", ModuleCompression::xz,
       "virtio-rng.ko"},
      {"kernel/fs/ext4/ext4.ko.zst", "ext4", ModuleCompression::zstd, "ext4.ko"},
      {"crc32c_generic.ko.gz", "crc32c_generic", ModuleCompression::gzip, "crc32c_generic.ko"},
      {"virtio-rng", "virtio_rng", ModuleCompression::none, "virtio-rng"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(module_name(c.path), c.name) << c.path;
    EXPECT_EQ(module_compression(c.path), c.compression) << c.path;
    EXPECT_EQ(module_file_name(c.path), c.file) << c.path;
  }
}

}  // namespace
}  // namespace banger::kernelcat
