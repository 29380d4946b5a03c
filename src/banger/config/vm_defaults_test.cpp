#include "banger/config/vm_defaults.hpp"

#include <gtest/gtest.h>

namespace banger::config {
namespace {

struct Case {
  const char* what;
  VmDefaultsConfig pinned;
  HostInfo host;
  VmDefaults expected;
};

ResolvedValue cfg(int64_t v) { return {v, "config"}; }
ResolvedValue heur(int64_t v) { return {v, "host heuristic"}; }
ResolvedValue built_in(int64_t v) { return {v, "built-in floor"}; }

TEST(ResolveVmDefaults, FollowsConfigThenHeuristicThenFloor) {
  const Case cases[] = {
      {"unknown host, nothing pinned", {}, {0, 0}, {built_in(1), built_in(512), built_in(4096)}},
      {"small host clamps up", {}, {2, 2048}, {heur(1), heur(512), built_in(4096)}},
      {"mid host", {}, {8, 16384}, {heur(2), heur(2048), built_in(4096)}},
      {"odd cpu count rounds down", {}, {7, 10000}, {heur(1), heur(1250), built_in(4096)}},
      {"big host clamps down", {}, {64, 262144}, {heur(4), heur(8192), built_in(4096)}},
      {"exact upper bounds", {}, {16, 65536}, {heur(4), heur(8192), built_in(4096)}},
      {"cpus known, memory unknown", {}, {12, 0}, {heur(3), built_in(512), built_in(4096)}},
      {"memory known, cpus unknown", {}, {0, 8192}, {built_in(1), heur(1024), built_in(4096)}},
      {"everything pinned", {6, 3072, 20480, 1024}, {64, 262144}, {cfg(6), cfg(3072), cfg(20480)}},
      {"config below the heuristic floor wins",
       {1, 128, 1, {}},
       {64, 262144},
       {cfg(1), cfg(128), cfg(1)}},
      {"only vcpu pinned", {12, {}, {}, {}}, {8, 16384}, {cfg(12), heur(2048), built_in(4096)}},
      {"only disk pinned", {{}, {}, 8192, {}}, {0, 0}, {built_in(1), built_in(512), cfg(8192)}},
  };
  for (const auto& c : cases) {
    Config config;
    config.vm_defaults = c.pinned;
    EXPECT_EQ(resolve_vm_defaults(config, c.host), c.expected) << c.what;
  }
}

TEST(ProbeHost, ReportsThisMachine) {
  HostInfo host = probe_host();
  EXPECT_GE(host.cpus, 1);
  EXPECT_GE(host.memory_mib, 64);
}

}  // namespace
}  // namespace banger::config
