// `banger doctor` (SPEC S14): host facts are gathered once (gather_facts, I/O only), then
// turned into PASS/WARN/FAIL rows with fix hints by evaluate(), a pure function.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "banger/config/config.hpp"
#include "banger/config/vm_defaults.hpp"
#include "banger/hostnat/link_ops.hpp"
#include "banger/hosttools/hosttools.hpp"
#include "banger/paths/paths.hpp"
#include "banger/sys/host_probe.hpp"
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

// The DNS listener on dns_listen, asked for a name no VM has (S14: a busy port is fine when
// it answers like banger: NXDOMAIN with the AA bit).
struct DnsListenerFacts {
  bool answered = false;
  bool like_banger = false;  // NXDOMAIN + AA for an unknown .vm name
  std::string error;         // why there was no answer
};

// How `.vm` names reach banger from the host.
struct DnsRoutingFacts {
  bool resolved_running = false;  // systemd-resolved runs
  bool routed = false;            // the bridge link routes ~vm to the bridge address
  std::string detail;             // what resolvectl said, or why it could not be asked
};

// Everything evaluate() looks at.
// What doctor learned about the Firecracker binary it found. --version is run only when the
// file is safe to run (a regular file, owned by root or the daemon's user, not writable by
// group or others): doctor never executes a binary someone else could have replaced.
struct FirecrackerFacts {
  bool regular_file = false;
  uid_t owner = 0;
  mode_t mode = 0;             // permission bits
  std::string version_output;  // `<path> --version` (stdout), "" when not run or it failed
  std::string version_error;   // why it did not run or failed, "" otherwise
};

// ID and ID_LIKE of /etc/os-release text, lower case, space separated ("ubuntu debian"); ""
// when neither is there. Pure.
std::string os_release_ids(std::string_view os_release);

struct Facts {
  std::string arch;
  sys::KvmFacts kvm;
  sys::TunFacts tun;
  std::vector<hosttools::ToolStatus> tools;
  std::string qemu_path;         // "" when not found
  std::string firecracker_path;  // "" when not found
  FirecrackerFacts firecracker;  // of firecracker_path, when found
  std::string jailer_path;       // "" when not found (looked for only with jailer_enabled)
  FirecrackerFacts jailer;       // of jailer_path, when found ("Jailer vX.Y.Z")
  std::string distro_ids;        // os_release_ids of /etc/os-release (install hints)
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
  std::string agent_binary;                 // where images get banger-agent from
  bool agent_present = false;               // it exists and is executable
  DnsListenerFacts dns_listener;
  DnsRoutingFacts dns_routing;
  std::string nat_error;      // "" when nft can list the ruleset (NAT works), else why not
  std::string ssh_config;     // banger's ssh config file
  bool ssh_included = false;  // ~/.ssh/config includes it (`banger ssh-config --install`)
  std::string config_file;    // the config.toml path
  bool config_file_exists = false;
  // Why the config could not be loaded ("" when it was): the loader's message, which names
  // the file, line and key. The other facts were then gathered with the built-in defaults.
  std::string config_error;
  // Why no daemon answers ("" when the report comes from the daemon): doctor ran in the CLI.
  std::string daemon_error;
  std::string daemon_log;  // where bangerd writes why it stopped
};

// Reads the host: CPU, devices, PATH, runtime dir, the store opened read-only (never
// migrated), the agent binary, the DNS listener (one query), resolved's routing and nft (read
// only), and ~/.ssh/config of home. Never fails: what cannot be read is recorded in the facts.
Facts gather_facts(const paths::Paths& paths, const config::Config& config, uid_t uid,
                   const std::string& home = "");

// One row per check, in a stable order. Pure.
std::vector<Check> evaluate(const Facts& facts);

// `banger doctor` when the daemon cannot be reached or started (a broken config keeps it from
// starting): the same checks, run in the calling process. Loads the config itself; when that
// fails, the "config" row fails with the loader's message and the other checks use the
// built-in defaults. A first "daemon" row fails with daemon_error (why no daemon answered).
std::vector<Check> run_without_daemon(const paths::Paths& paths, const paths::Environment& env,
                                      const std::string& daemon_error);

// True when any row is a FAIL (banger doctor then exits 1).
bool has_failure(const std::vector<Check>& checks);

}  // namespace banger::doctor
