#include "banger/policy/accel.hpp"

#include <gtest/gtest.h>

#include <cerrno>

namespace banger::policy {
namespace {

TEST(DecideKvm, UsableOnlyWithDeviceVmxAndNoPvm) {
  struct Row {
    sys::KvmFacts facts;
    bool usable;
    std::string reason;
  };
  const Row rows[] = {
      {{true, 0, true, false}, true, ""},
      {{false, ENOENT, true, false}, false, "/dev/kvm does not exist"},
      {{true, EACCES, true, false}, false, "no permission to open /dev/kvm"},
      {{true, 0, false, true}, false, "/dev/kvm is KVM-PVM, which cannot boot stock guest kernels"},
      {{true, 0, true, true}, false, "/dev/kvm is KVM-PVM, which cannot boot stock guest kernels"},
      {{true, 0, false, false}, false, "the CPU does not advertise vmx or svm"},
  };
  for (const auto& row : rows) {
    auto verdict = decide_kvm(row.facts);
    EXPECT_EQ(verdict.usable, row.usable) << row.reason;
    EXPECT_EQ(verdict.reason, row.reason);
  }
}

}  // namespace
}  // namespace banger::policy
