#include "banger/vmm/firecracker/api_requests.hpp"

#include <fmt/format.h>

#include <array>
#include <string_view>

#include "banger/base/expected.hpp"

namespace banger::vmm::firecracker {
namespace {

using nlohmann::json;

// Firecracker's limits (MachineConfiguration.vcpu_count, Vsock.guest_cid).
constexpr int kMaxVcpus = 32;
constexpr std::uint32_t kMinGuestCid = 3;
constexpr std::array<std::string_view, 5> kLogLevels = {"Error", "Warning", "Info", "Debug",
                                                        "Trace"};

ApiRequest put(std::string path, json body) {
  return {.method = "PUT", .path = std::move(path), .body = std::move(body)};
}

Expected<ApiRequest> drive(const char* id, const DiskConfig& disk, bool root) {
  if (disk.format != DiskFormat::raw) {
    return fail(Errc::invalid_argument,
                fmt::format("firecracker takes raw disk images only: the {} disk {} is qcow2", id,
                            disk.path));
  }
  return put(fmt::format("/drives/{}", id), {{"drive_id", id},
                                             {"path_on_host", disk.path},
                                             {"is_root_device", root},
                                             {"is_read_only", disk.read_only}});
}

Status check(const VmConfig& config, const FirecrackerOptions& options) {
  if (config.kernel_path.empty()) {
    return fail(Errc::invalid_argument, "firecracker needs a kernel image path");
  }
  if (config.vcpu < 1 || config.vcpu > kMaxVcpus) {
    return fail(Errc::invalid_argument,
                fmt::format("firecracker runs 1 to {} vCPUs, not {}", kMaxVcpus, config.vcpu));
  }
  if (config.memory_mib < 1) {
    return fail(
        Errc::invalid_argument,
        fmt::format("firecracker needs at least 1 MiB of memory, not {}", config.memory_mib));
  }
  if (config.vsock_cid != 0 && config.vsock_cid < kMinGuestCid) {
    return fail(Errc::invalid_argument,
                fmt::format("vsock guest CID {} is reserved: use {} or more", config.vsock_cid,
                            kMinGuestCid));
  }
  if (!config.tap_name.empty() && config.mac.empty()) {
    return fail(Errc::invalid_argument, "a network interface needs a guest MAC address");
  }
  if (!options.log_path.empty()) {
    bool known = false;
    for (auto level : kLogLevels) {
      known = known || level == options.log_level;
    }
    if (!known) {
      return fail(Errc::invalid_argument,
                  fmt::format("unknown firecracker log level \"{}\": use Error, Warning, Info, "
                              "Debug or Trace",
                              options.log_level));
    }
  }
  return {};
}

}  // namespace

Expected<std::vector<ApiRequest>> configuration_requests(const VmConfig& config,
                                                         const FirecrackerOptions& options) {
  BANGER_TRY(check(config, options));
  std::vector<ApiRequest> requests;
  if (!options.log_path.empty()) {
    requests.push_back(put("/logger", {{"log_path", options.log_path},
                                       {"level", options.log_level},
                                       {"show_level", true},
                                       {"show_log_origin", false}}));
  }
  if (!options.metrics_path.empty()) {
    requests.push_back(put("/metrics", {{"metrics_path", options.metrics_path}}));
  }
  json boot{{"kernel_image_path", config.kernel_path}, {"boot_args", config.kernel_cmdline}};
  if (config.initrd_path) {
    boot["initrd_path"] = *config.initrd_path;
  }
  requests.push_back(put("/boot-source", std::move(boot)));
  requests.push_back(
      put("/machine-config", {{"vcpu_count", config.vcpu}, {"mem_size_mib", config.memory_mib}}));
  BANGER_TRY_ASSIGN(auto root, drive(kRootDriveId, config.root_disk, true));
  requests.push_back(std::move(root));
  if (config.work_disk) {
    BANGER_TRY_ASSIGN(auto work, drive(kWorkDriveId, *config.work_disk, false));
    requests.push_back(std::move(work));
  }
  if (!config.tap_name.empty()) {
    requests.push_back(put(fmt::format("/network-interfaces/{}", kNetworkInterfaceId),
                           {{"iface_id", kNetworkInterfaceId},
                            {"host_dev_name", config.tap_name},
                            {"guest_mac", config.mac}}));
  }
  if (config.vsock_cid != 0) {
    requests.push_back(
        put("/vsock", {{"guest_cid", config.vsock_cid}, {"uds_path", config.agent_socket_path}}));
  }
  return requests;
}

ApiRequest instance_start() { return put("/actions", {{"action_type", "InstanceStart"}}); }

ApiRequest send_ctrl_alt_del() { return put("/actions", {{"action_type", "SendCtrlAltDel"}}); }

}  // namespace banger::vmm::firecracker
