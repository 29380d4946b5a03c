#include "banger/vmm/kernel_cmdline.hpp"

#include <gtest/gtest.h>

namespace banger::vmm {
namespace {

TEST(KernelCmdline, NetworkedGuestWithExtraArgsAndInit) {
  EXPECT_EQ(kernel_cmdline({.guest_ip = "172.16.0.2",
                            .gateway_ip = "172.16.0.1",
                            .netmask = "255.255.255.0",
                            .hostname = "calm-otter",
                            .extra_args = {"quiet", "", "systemd.show_status=0"},
                            .init = "/sbin/banger-init"}),
            "console=ttyS0 reboot=k panic=1 root=/dev/vda rw rootfstype=ext4 "
            "ip=172.16.0.2::172.16.0.1:255.255.255.0:calm-otter:eth0:off quiet "
            "systemd.show_status=0 init=/sbin/banger-init");
}

TEST(KernelCmdline, WithoutNetworkOrInit) {
  EXPECT_EQ(kernel_cmdline({}), "console=ttyS0 reboot=k panic=1 root=/dev/vda rw rootfstype=ext4");
}

TEST(KernelCmdline, BackendArgumentsComeBeforeTheImageArguments) {
  const std::vector<std::string> backend = {"pci=off"};
  EXPECT_EQ(kernel_cmdline({.guest_ip = "",
                            .gateway_ip = "",
                            .netmask = "",
                            .hostname = "",
                            .extra_args = {"quiet"},
                            .init = ""},
                           backend),
            "console=ttyS0 reboot=k panic=1 root=/dev/vda rw rootfstype=ext4 pci=off quiet");
}

}  // namespace
}  // namespace banger::vmm
