// `banger doctor` (SPEC S14): host facts are gathered once (gather_facts, I/O only), then
// turned into PASS/WARN/FAIL rows with fix hints by evaluate(), a pure function.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "banger/config/config.hpp"
#include "banger/config/vm_defaults.hpp"
#include "banger/hostnat/link_ops.hpp"
#include "banger/paths/paths.hpp"
#include "banger/sys/host_probe.hpp"
#include "banger/toolingplan/toolingplan.hpp"
#include "banger/vmstorage/strategy.hpp"

namespace banger::doctor {

enum class CheckStatus { pass, warn, fail };

// "pass" | "warn" | "fail".
std::string_view to_string(CheckStatus status);

struct Check {
  std::string name;  // stable id of the check ("kvm", "runtime dir")
  CheckStatus status = CheckStatus::pass;
  std::string detail;  // what was found
  std::string hint;    // how to fix it (empty on pass)
};

struct RuntimeDirFacts {
  bool exists = false;
  bool is_symlink = false;
  bool is_dir = false;
  uid_t owner = 0;
  mode_t mode = 0;  // permission bits
};

struct StoreFacts {
  bool exists = false;
  std::optional<int> schema_version;  // set when the read-only open worked
  int known_version = 0;              // the newest schema this build knows
  std::string error;                  // why it could not be opened
};

// Everything evaluate() looks at.
struct Facts {
  std::string arch;
  sys::KvmFacts kvm;
  sys::TunFacts tun;
  std::vector<toolingplan::ToolStatus> tools;
  std::string qemu_path;         // "" when not found
  std::string firecracker_path;  // "" when not found
  config::Config config;
  uid_t uid = 0;
  std::string runtime_dir;
  RuntimeDirFacts runtime;
  std::string db_path;
  StoreFacts store;
  config::VmDefaults vm_defaults;
  vmstorage::StorageProbe storage;          // which rootfs strategy VMs get
  bool vhost_net = false;                   // /dev/vhost-net (QEMU can use vhost=on)
  bool vhost_vsock = false;                 // /dev/vhost-vsock (AF_VSOCK agent channel)
  std::optional<hostnat::LinkInfo> bridge;  // the configured bridge, when it exists
};

// Reads the host: CPU, devices, PATH, runtime dir, and the store opened read-only (never
// migrated). Never fails: what cannot be read is recorded in the facts.
Facts gather_facts(const paths::Paths& paths, const config::Config& config, uid_t uid);

// One row per check, in a stable order. Pure.
std::vector<Check> evaluate(const Facts& facts);

// True when any row is a FAIL (banger doctor then exits 1).
bool has_failure(const std::vector<Check>& checks);

}  // namespace banger::doctor
