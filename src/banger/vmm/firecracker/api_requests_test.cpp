#include "banger/vmm/firecracker/api_requests.hpp"

#include <gtest/gtest.h>

namespace banger::vmm::firecracker {
namespace {

VmConfig full_vm() {
  VmConfig config;
  config.vcpu = 2;
  config.memory_mib = 512;
  config.kernel_path = "/k/vmlinux";
  config.initrd_path = "/k/initrd.img";
  config.kernel_cmdline = "console=ttyS0 root=/dev/vda";
  config.root_disk = {.path = "/vm/root.ext4", .format = DiskFormat::raw, .read_only = false};
  config.work_disk = DiskConfig{.path = "/vm/work.ext4", .format = DiskFormat::raw};
  config.tap_name = "tap-fc-0";
  config.mac = "52:54:00:12:34:56";
  config.vsock_cid = 7;
  config.agent_socket_path = "/run/b/vm.vsock";
  return config;
}

TEST(FirecrackerRequests, AFullVmIsConfiguredInFirecrackersOrder) {
  auto requests = configuration_requests(
      full_vm(), {.log_path = "/vm/fc.log", .log_level = "Info", .metrics_path = "/vm/fc.metrics"});
  ASSERT_TRUE(requests) << requests.error().message;
  std::vector<std::string> paths;
  for (const auto& request : *requests) {
    EXPECT_EQ(request.method, "PUT");
    paths.push_back(request.path);
  }
  EXPECT_EQ(paths, (std::vector<std::string>{"/logger", "/metrics", "/boot-source",
                                             "/machine-config", "/drives/root", "/drives/work",
                                             "/network-interfaces/eth0", "/vsock"}));
  EXPECT_EQ((*requests)[2].body, (nlohmann::json{{"kernel_image_path", "/k/vmlinux"},
                                                 {"boot_args", "console=ttyS0 root=/dev/vda"},
                                                 {"initrd_path", "/k/initrd.img"}}));
  EXPECT_EQ((*requests)[3].body, (nlohmann::json{{"vcpu_count", 2}, {"mem_size_mib", 512}}));
  EXPECT_EQ((*requests)[4].body, (nlohmann::json{{"drive_id", "root"},
                                                 {"path_on_host", "/vm/root.ext4"},
                                                 {"is_root_device", true},
                                                 {"is_read_only", false}}));
  EXPECT_EQ((*requests)[6].body, (nlohmann::json{{"iface_id", "eth0"},
                                                 {"host_dev_name", "tap-fc-0"},
                                                 {"guest_mac", "52:54:00:12:34:56"}}));
  EXPECT_EQ((*requests)[7].body,
            (nlohmann::json{{"guest_cid", 7}, {"uds_path", "/run/b/vm.vsock"}}));
}

TEST(FirecrackerRequests, OptionalPiecesAreLeftOutNotSentEmpty) {
  VmConfig config = full_vm();
  config.initrd_path.reset();
  config.work_disk.reset();
  config.tap_name.clear();
  config.vsock_cid = 0;
  auto requests = configuration_requests(config, {});
  ASSERT_TRUE(requests) << requests.error().message;
  ASSERT_EQ(requests->size(), 3u);  // boot-source, machine-config, root drive
  EXPECT_FALSE((*requests)[0].body.contains("initrd_path"));
}

TEST(FirecrackerRequests, WhatFirecrackerCannotTakeIsRefusedBeforeAnyRequest) {
  auto refused = [](VmConfig config, FirecrackerOptions options = {}) {
    auto requests = configuration_requests(config, options);
    EXPECT_FALSE(requests);
    return requests ? std::string() : requests.error().message;
  };
  VmConfig qcow2 = full_vm();
  qcow2.root_disk.format = DiskFormat::qcow2;
  EXPECT_EQ(refused(qcow2),
            "firecracker takes raw disk images only: the root disk "
            "/vm/root.ext4 is qcow2");
  VmConfig many = full_vm();
  many.vcpu = 33;
  EXPECT_EQ(refused(many), "firecracker runs 1 to 32 vCPUs, not 33");
  VmConfig reserved = full_vm();
  reserved.vsock_cid = 2;
  EXPECT_EQ(refused(reserved), "vsock guest CID 2 is reserved: use 3 or more");
  VmConfig no_mac = full_vm();
  no_mac.mac.clear();
  EXPECT_EQ(refused(no_mac), "a network interface needs a guest MAC address");
  EXPECT_NE(refused(full_vm(), {.log_path = "/l", .log_level = "Loud"}).find("log level"),
            std::string::npos);
}

TEST(FirecrackerRequests, ActionsAreInstanceStartAndCtrlAltDel) {
  EXPECT_EQ(instance_start(), (ApiRequest{"PUT", "/actions", {{"action_type", "InstanceStart"}}}));
  EXPECT_EQ(send_ctrl_alt_del(),
            (ApiRequest{"PUT", "/actions", {{"action_type", "SendCtrlAltDel"}}}));
}

}  // namespace
}  // namespace banger::vmm::firecracker
