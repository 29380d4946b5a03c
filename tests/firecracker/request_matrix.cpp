// Test tool: prints, one JSON object per line ({"method","path","body"}), every Firecracker API
// request banger builds (vmm/firecracker/api_requests.hpp) for a matrix of VMs: vCPUs and memory
// at the limits, with and without a TAP, an initrd, a work drive, vsock, a read-only root, the
// logger and metrics; then the actions. tests/firecracker/contract.py validates them.
#include <cstdio>
#include <initializer_list>

#include "banger/vmm/firecracker/api_requests.hpp"

namespace fc = banger::vmm::firecracker;
using banger::vmm::DiskConfig;
using banger::vmm::DiskFormat;
using banger::vmm::VmConfig;

namespace {

void print(const fc::ApiRequest& request) {
  const nlohmann::json line{
      {"method", request.method}, {"path", request.path}, {"body", request.body}};
  std::printf("%s\n", line.dump().c_str());
}

}  // namespace

int main() {
  int failures = 0;
  for (int vcpu : {1, 2, 32}) {
    for (std::int64_t memory : {128, 8192}) {
      for (int variant = 0; variant < 32; ++variant) {
        VmConfig config;
        config.vcpu = vcpu;
        config.memory_mib = memory;
        config.kernel_path = "/var/lib/banger/kernels/k/vmlinux";
        config.kernel_cmdline = "console=ttyS0 reboot=k panic=1 root=/dev/vda rw";
        config.root_disk = DiskConfig{.path = "/var/lib/banger/vms/a/root.ext4",
                                      .format = DiskFormat::raw,
                                      .read_only = (variant & 16) != 0};
        if ((variant & 1) != 0) {
          config.tap_name = "tap-fc-3";
          config.mac = "52:54:00:ab:cd:ef";
        }
        if ((variant & 2) != 0) {
          config.initrd_path = "/var/lib/banger/kernels/k/initrd.img";
        }
        if ((variant & 4) != 0) {
          config.work_disk = DiskConfig{.path = "/var/lib/banger/vms/a/work.ext4"};
        }
        if ((variant & 8) != 0) {
          config.vsock_cid = 42;
          config.agent_socket_path = "/run/banger/a.vsock";
        }
        fc::FirecrackerOptions options;
        if ((variant & 1) != 0) {
          options = {.log_path = "/run/banger/a.fc.log",
                     .log_level = "Info",
                     .metrics_path = "/run/banger/a.fc.metrics"};
        }
        auto requests = fc::configuration_requests(config, options);
        if (!requests) {
          std::fprintf(stderr, "variant %d: %s\n", variant, requests.error().message.c_str());
          ++failures;
          continue;
        }
        for (const auto& request : *requests) {
          print(request);
        }
      }
    }
  }
  print(fc::instance_start());
  print(fc::send_ctrl_alt_del());
  return failures == 0 ? 0 : 1;
}
