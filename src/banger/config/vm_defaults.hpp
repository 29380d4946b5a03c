// VM sizing defaults resolved per field with provenance (SPEC S3, shown by doctor in S14):
// config [vm_defaults], else a host heuristic, else a built-in floor.
#pragma once

#include <cstdint>
#include <string>

#include "banger/config/config.hpp"

namespace banger::config {

// What the heuristics look at. Zero means "unknown" (the probe failed).
struct HostInfo {
  int cpus = 0;
  int64_t memory_mib = 0;
};

// Online CPUs and physical RAM from sysconf(); fields stay 0 when sysconf fails.
HostInfo probe_host();

inline constexpr std::string_view kSourceConfig = "config";
inline constexpr std::string_view kSourceHostHeuristic = "host heuristic";
inline constexpr std::string_view kSourceBuiltInFloor = "built-in floor";

inline constexpr int kFloorVcpu = 1;
inline constexpr int kMaxHeuristicVcpu = 4;
inline constexpr int64_t kFloorMemoryMib = 512;
inline constexpr int64_t kMaxHeuristicMemoryMib = 8192;
inline constexpr int64_t kFloorDiskSizeMib = 4096;

struct ResolvedValue {
  int64_t value = 0;
  std::string source;  // kSourceConfig, kSourceHostHeuristic or kSourceBuiltInFloor

  bool operator==(const ResolvedValue&) const = default;
};

struct VmDefaults {
  ResolvedValue vcpu;
  ResolvedValue memory_mib;
  ResolvedValue disk_size_mib;  // the work disk

  bool operator==(const VmDefaults&) const = default;
};

// Pure. vcpu: config, else host CPUs/4 clamped to [1,4], else 1. memory: config, else host
// RAM/8 clamped to [512 MiB, 8 GiB], else 512 MiB. disk: config, else 4096 MiB (no heuristic).
VmDefaults resolve_vm_defaults(const Config& config, const HostInfo& host);

}  // namespace banger::config
