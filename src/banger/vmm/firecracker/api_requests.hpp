// Pure builders of the Firecracker API requests banger sends (SPEC S5, issue 13): the
// configuration sequence of one VM before `InstanceStart`, and the actions. No I/O. Every body
// must validate against the official specifications kept in ../shared/reference
// (firecracker-api-v1.14.1.yaml and v1.16.1): tests/firecracker/contract_test.cpp checks a
// matrix of VMs against both with a JSON-Schema validator, unknown properties refused.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "banger/base/error.hpp"
#include "banger/vmm/vmm.hpp"

namespace banger::vmm::firecracker {

// One request on the API socket: always a JSON body (every configuration call is a PUT).
struct ApiRequest {
  std::string method;  // "PUT"
  std::string path;    // "/drives/root"
  nlohmann::json body;
  bool operator==(const ApiRequest&) const = default;
};

struct FirecrackerOptions {
  std::string log_path;               // the logger's file or FIFO (must exist); "": no logger
  std::string log_level = "Warning";  // Error, Warning, Info, Debug or Trace
  std::string metrics_path;           // the metrics file or FIFO (must exist); "": no metrics
};

// The guest's network interface id and its drive ids.
inline constexpr const char* kNetworkInterfaceId = "eth0";
inline constexpr const char* kRootDriveId = "root";
inline constexpr const char* kWorkDriveId = "work";

// The requests that configure config, in the order Firecracker is sent them: logger and metrics
// (when their paths are set: they must come first to capture the rest), boot-source,
// machine-config, the root drive (then the work drive), the network interface (with a TAP),
// vsock (with a CID: uds_path is config.agent_socket_path). Errors (invalid_argument): a
// qcow2 disk (Firecracker takes raw files only), vcpu outside 1..32, memory below 1 MiB, a
// vsock CID below 3, a TAP without a MAC, an empty kernel path, an unknown log level.
Expected<std::vector<ApiRequest>> configuration_requests(const VmConfig& config,
                                                         const FirecrackerOptions& options);

// PUT /actions {"action_type":"InstanceStart"}: boots the configured machine.
ApiRequest instance_start();
// PUT /actions {"action_type":"SendCtrlAltDel"}: asks the guest to shut down (i8042 reset).
ApiRequest send_ctrl_alt_del();

}  // namespace banger::vmm::firecracker
