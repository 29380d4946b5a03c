#include "banger/config/vm_defaults.hpp"

#include <unistd.h>

#include <algorithm>

namespace banger::config {

HostInfo probe_host() {
  HostInfo host;
  long cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
  if (cpus > 0) {
    host.cpus = static_cast<int>(cpus);
  }
  long pages = ::sysconf(_SC_PHYS_PAGES);
  long page_size = ::sysconf(_SC_PAGE_SIZE);
  if (pages > 0 && page_size > 0) {
    host.memory_mib = static_cast<int64_t>(pages) * page_size / (1024 * 1024);
  }
  return host;
}

VmDefaults resolve_vm_defaults(const Config& config, const HostInfo& host) {
  const VmDefaultsConfig& pinned = config.vm_defaults;
  VmDefaults out;

  if (pinned.vcpu) {
    out.vcpu = {*pinned.vcpu, std::string(kSourceConfig)};
  } else if (host.cpus > 0) {
    out.vcpu = {std::clamp(host.cpus / 4, kFloorVcpu, kMaxHeuristicVcpu),
                std::string(kSourceHostHeuristic)};
  } else {
    out.vcpu = {kFloorVcpu, std::string(kSourceBuiltInFloor)};
  }

  if (pinned.memory_mib) {
    out.memory_mib = {*pinned.memory_mib, std::string(kSourceConfig)};
  } else if (host.memory_mib > 0) {
    out.memory_mib = {std::clamp(host.memory_mib / 8, kFloorMemoryMib, kMaxHeuristicMemoryMib),
                      std::string(kSourceHostHeuristic)};
  } else {
    out.memory_mib = {kFloorMemoryMib, std::string(kSourceBuiltInFloor)};
  }

  if (pinned.disk_size_mib) {
    out.disk_size_mib = {*pinned.disk_size_mib, std::string(kSourceConfig)};
  } else {
    out.disk_size_mib = {kFloorDiskSizeMib, std::string(kSourceBuiltInFloor)};
  }
  return out;
}

}  // namespace banger::config
