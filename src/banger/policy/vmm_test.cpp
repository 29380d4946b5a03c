#include "banger/policy/vmm.hpp"

#include <gtest/gtest.h>

namespace banger::policy {
namespace {

TEST(DecideVmm, AutoAndQemuRunQemuFirecrackerIsRefused) {
  using model::VmmBackend;
  using model::VmmChoice;
  struct Row {
    VmmChoice choice;
    VmmBackend backend;
    bool automatic;
    std::string refusal;
  };
  const Row rows[] = {
      {VmmChoice::auto_detect, VmmBackend::qemu, true, ""},
      {VmmChoice::qemu, VmmBackend::qemu, false, ""},
      {VmmChoice::firecracker, VmmBackend::firecracker, false,
       "the firecracker backend is not supported yet; set vmm = \"qemu\" or \"auto\""},
  };
  for (const auto& row : rows) {
    auto verdict = decide_vmm(row.choice);
    EXPECT_EQ(verdict.backend, row.backend) << model::to_string(row.choice);
    EXPECT_EQ(verdict.automatic, row.automatic) << model::to_string(row.choice);
    EXPECT_EQ(verdict.refusal, row.refusal);
  }
}

}  // namespace
}  // namespace banger::policy
