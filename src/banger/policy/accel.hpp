// Pure decision: can this host run guests under KVM, and if not, why.
#pragma once

#include <string>

#include "banger/sys/host_probe.hpp"

namespace banger::policy {

struct KvmVerdict {
  bool usable = false;
  std::string reason;  // why not (empty when usable)
  std::string hint;    // how to fix, when something can be done
};

// KVM is usable only when /dev/kvm opens, the CPU advertises vmx/svm, and KVM is not the
// PVM flavour (stock guest kernels hang on it; see ENVIRONMENT.md). Otherwise banger uses TCG.
KvmVerdict decide_kvm(const sys::KvmFacts& facts);

}  // namespace banger::policy
