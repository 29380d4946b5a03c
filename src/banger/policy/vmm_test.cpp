#include "banger/policy/vmm.hpp"

#include <gtest/gtest.h>

namespace banger::policy {
namespace {

TEST(DecideVmm, AutoPrefersFirecrackerOnlyWithKvmAndFirecrackerNeedsItsBinary) {
  using model::VmmBackend;
  using model::VmmChoice;
  const std::string missing =
      "vmm firecracker: no firecracker binary was found (firecracker_bin or PATH): install it "
      "(docs/firecracker.md) or set vmm = \"qemu\"";
  struct Row {
    VmmChoice choice;
    VmmHost host;
    VmmBackend backend;
    bool automatic;
    std::string refusal;
  };
  const Row rows[] = {
      {VmmChoice::auto_detect, {false, false}, VmmBackend::qemu, true, ""},
      {VmmChoice::auto_detect, {true, false}, VmmBackend::qemu, true, ""},  // KVM-PVM hosts
      {VmmChoice::auto_detect, {false, true}, VmmBackend::qemu, true, ""},
      {VmmChoice::auto_detect, {true, true}, VmmBackend::firecracker, true, ""},
      {VmmChoice::qemu, {true, true}, VmmBackend::qemu, false, ""},
      {VmmChoice::firecracker, {true, false}, VmmBackend::firecracker, false, ""},
      {VmmChoice::firecracker, {false, true}, VmmBackend::firecracker, false, missing},
  };
  for (const auto& row : rows) {
    auto verdict = decide_vmm(row.choice, row.host);
    EXPECT_EQ(verdict.backend, row.backend) << model::to_string(row.choice);
    EXPECT_EQ(verdict.automatic, row.automatic) << model::to_string(row.choice);
    EXPECT_EQ(verdict.refusal, row.refusal);
  }
}

}  // namespace
}  // namespace banger::policy
