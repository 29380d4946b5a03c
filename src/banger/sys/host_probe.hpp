// Read-only facts about the host (CPU, /dev/kvm, /dev/net/tun). Decisions based on them
// are pure functions in policy/; this file only gathers.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "banger/base/error.hpp"

namespace banger::sys {

struct KvmFacts {
  bool device_exists = false;       // /dev/kvm is there
  int open_errno = 0;               // errno of open(/dev/kvm, O_RDWR); 0 = opened
  bool cpu_has_vmx_or_svm = false;  // "vmx" or "svm" in /proc/cpuinfo flags
  bool pvm_loaded = false;          // /sys/module/kvm_pvm exists (KVM-PVM cannot boot stock guests)
};

struct TunFacts {
  bool device_exists = false;
  int open_errno = 0;
};

// uname -m ("x86_64").
std::string machine_arch();
KvmFacts probe_kvm();
TunFacts probe_tun();
// "cpu MHz" of the first CPU in /proc/cpuinfo, in kHz; 0 when unknown.
std::int64_t host_cpu_khz();

// True when this process shares the network namespace of PID 1 (the host's main one). When
// PID 1's namespace cannot be read (sandboxes), a namespace with a default route counts as
// the main one; anything unreadable counts as true, so a guard built on it fails closed.
bool in_initial_netns();

// Safety interlock for tests: when BANGER_REQUIRE_NETNS is set (non-empty), creating host
// network links is refused in the initial network namespace. failed_precondition then.
Status check_netns_interlock(std::string_view doing);

}  // namespace banger::sys
