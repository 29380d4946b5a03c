#include "banger/doctor/doctor.hpp"

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "banger/base/enum_names.hpp"
#include "banger/base/strings.hpp"
#include "banger/dns/client.hpp"
#include "banger/dns/resolved_routing.hpp"
#include "banger/hostnat/netlink_link_ops.hpp"
#include "banger/imagecat/rootfs_layout.hpp"
#include "banger/policy/accel.hpp"
#include "banger/policy/firecracker.hpp"
#include "banger/policy/vmm.hpp"
#include "banger/store/database.hpp"
#include "banger/store/migrations.hpp"
#include "banger/sys/command_runner.hpp"
#include "banger/sys/fs.hpp"

namespace banger::doctor {
namespace {

// What the VMM decision depends on, from the facts (the daemon probes the same).
policy::VmmHost vmm_host(const Facts& f) {
  return {.firecracker_found = !f.firecracker_path.empty(),
          .kvm_usable = policy::decide_kvm(f.kvm).usable};
}

Check pass(std::string name, std::string detail) {
  return {std::move(name), CheckStatus::pass, std::move(detail), ""};
}
Check warn(std::string name, std::string detail, std::string hint) {
  return {std::move(name), CheckStatus::warn, std::move(detail), std::move(hint)};
}
Check failed(std::string name, std::string detail, std::string hint) {
  return {std::move(name), CheckStatus::fail, std::move(detail), std::move(hint)};
}

Check check_arch(const Facts& f) {
  if (f.arch == "x86_64") {
    return pass("architecture", "x86_64");
  }
  return failed("architecture", f.arch, "banger supports x86_64 hosts only");
}

Check check_kvm(const Facts& f) {
  auto verdict = policy::decide_kvm(f.kvm);
  if (verdict.usable) {
    if (f.config.accel == config::AccelChoice::tcg) {
      return pass("kvm",
                  "usable, but accel = \"tcg\" in the config: guests use software emulation");
    }
    return pass("kvm", "usable: guests run with hardware virtualization");
  }
  if (f.config.accel == config::AccelChoice::kvm) {
    return failed("kvm", verdict.reason + ", but the config sets accel = \"kvm\"",
                  verdict.hint.empty() ? "set accel = \"auto\"" : verdict.hint);
  }
  return warn("kvm", verdict.reason + ": guests run under TCG (software emulation, slower)",
              verdict.hint);
}

Check check_vmm(const Facts& f) {
  // The daemon decides with the same call, so this row names the backend new VMs get.
  auto verdict = policy::decide_vmm(f.config.vmm, vmm_host(f));
  if (!verdict.refusal.empty()) {
    return failed("vmm", verdict.refusal, "");
  }
  const bool firecracker = verdict.backend == model::VmmBackend::firecracker;
  if (!firecracker && f.qemu_path.empty()) {
    return failed("vmm",
                  verdict.automatic ? "qemu-system-x86_64 was not found"
                                    : "vmm = \"qemu\" but qemu-system-x86_64 was not found",
                  "apt-get install qemu-system-x86");
  }
  return pass("vmm", fmt::format("{} ({}){}", model::to_string(verdict.backend),
                                 firecracker ? f.firecracker_path : f.qemu_path,
                                 verdict.automatic ? ", chosen automatically" : ""));
}

// Whether a binary may be run by banger: owned by root or the daemon's user and writable by no
// one else (anyone who could replace it would run code as banger). The one rule both the probe
// (run --version or not) and the row (FAIL or not) apply.
bool owned_safely(const FirecrackerFacts& fc, uid_t uid) {
  return (fc.owner == 0 || fc.owner == uid) && (fc.mode & (S_IWGRP | S_IWOTH)) == 0;
}

// The Firecracker binary (issue 13 item 3): found or not, safe to run, inside the version
// window. Not needed while VMs run under QEMU, so a missing one fails only when the config asks
// for Firecracker.
Check check_firecracker(const Facts& f) {
  const std::string& configured = f.config.firecracker_bin;
  const bool wanted = f.config.vmm == config::VmmChoice::firecracker;
  const std::string install = policy::firecracker_install_hint(f.distro_ids);
  if (f.firecracker_path.empty()) {
    if (!configured.empty()) {
      return warn("firecracker",
                  fmt::format("firecracker_bin = \"{}\" is not an executable", configured),
                  "fix or remove firecracker_bin; to install Firecracker: " + install);
    }
    if (wanted) {
      return failed("firecracker", "not found, but the config sets vmm = \"firecracker\"", install);
    }
    return pass("firecracker", "not found (not needed: VMs run under QEMU)");
  }
  const std::string& path = f.firecracker_path;
  const FirecrackerFacts& fc = f.firecracker;
  if (!fc.regular_file) {
    return failed("firecracker", path + " is not a regular file",
                  "install the firecracker binary itself there");
  }
  if (!owned_safely(fc, f.uid)) {
    return failed(
        "firecracker",
        fmt::format("{} is owned by uid {} with mode {:04o}: whoever can write it runs code as "
                    "banger",
                    path, fc.owner, fc.mode),
        fmt::format("chown root:root {0} && chmod 0755 {0}", path));
  }
  const auto version = policy::parse_firecracker_version(fc.version_output);
  if (!version) {
    return warn(
        "firecracker",
        fmt::format("{}: could not read its version ({})", path,
                    fc.version_error.empty() ? "no vX.Y.Z in `--version`" : fc.version_error),
        "check that it is Firecracker: " + path + " --version");
  }
  const std::string window = fmt::format("{} to {}", to_string(policy::kOldestFirecracker),
                                         to_string(policy::kNewestTestedFirecracker));
  const std::string found = fmt::format("{} {} ({})", path, to_string(*version),
                                        configured.empty() ? "PATH" : "firecracker_bin");
  switch (policy::fit_firecracker_version(*version)) {
    case policy::VersionFit::too_old:
      return failed("firecracker",
                    fmt::format("{}: older than banger supports ({})", found, window),
                    "install a release from " + window + ": " + install);
    case policy::VersionFit::newer_than_tested:
      return warn(
          "firecracker", fmt::format("{}: newer than banger is tested with ({})", found, window),
          "it may work; " + to_string(policy::kNewestTestedFirecracker) + " is the tested release");
    case policy::VersionFit::supported:
      break;
  }
  const bool used =
      policy::decide_vmm(f.config.vmm, vmm_host(f)).backend == model::VmmBackend::firecracker;
  return pass("firecracker", found + (used ? "; new VMs run under it"
                                           : "; VMs run under it with --vmm firecracker"));
}

// Firecracker's jailer (config jailer_enabled): off is fine, except that a root daemon then runs
// Firecracker as root; on needs a root daemon and a safe jailer of Firecracker's release.
Check check_jailer(const Facts& f) {
  if (!f.config.jailer_enabled) {
    const bool fc_as_root =
        f.uid == 0 && !f.firecracker_path.empty() &&
        policy::decide_vmm(f.config.vmm, vmm_host(f)).backend == model::VmmBackend::firecracker;
    if (fc_as_root) {
      return warn("jailer", "off: firecracker VMs run as root, unjailed",
                  "set jailer_enabled = true (docs/firecracker.md, \"The jailer\")");
    }
    return pass("jailer", "off (jailer_enabled = false)");
  }
  if (f.uid != 0) {
    return failed("jailer",
                  fmt::format("jailer_enabled needs a root daemon (this one runs as uid {}): "
                              "firecracker VMs fail to start",
                              f.uid),
                  "run bangerd as root, or set jailer_enabled = false");
  }
  const std::string install =
      "install the jailer of the same Firecracker release next to firecracker (its release "
      "tarball has both), or point jailer_bin at it";
  if (f.jailer_path.empty()) {
    return failed(
        "jailer",
        f.config.jailer_bin.empty()
            ? std::string("jailer_enabled is set but no jailer is in PATH")
            : fmt::format("jailer_bin = \"{}\" is not an executable", f.config.jailer_bin),
        install);
  }
  const std::string& path = f.jailer_path;
  if (!f.jailer.regular_file || !owned_safely(f.jailer, f.uid)) {
    return failed("jailer",
                  fmt::format("{} is not a regular file owned by root and writable by it alone "
                              "(uid {}, mode {:04o})",
                              path, f.jailer.owner, f.jailer.mode),
                  fmt::format("chown root:root {0} && chmod 0755 {0}", path));
  }
  auto jailer = policy::parse_firecracker_version(f.jailer.version_output);
  auto firecracker = policy::parse_firecracker_version(f.firecracker.version_output);
  if (!jailer) {
    return warn("jailer", fmt::format("{}: could not read its version", path),
                "check that it is Firecracker's jailer: " + path + " --version");
  }
  if (firecracker && !(*firecracker == *jailer)) {
    return warn("jailer",
                fmt::format("{} {} is not firecracker's release ({})", path, to_string(*jailer),
                            to_string(*firecracker)),
                "use the jailer and firecracker of one release");
  }
  return pass("jailer", fmt::format("{} {}; firecracker VMs start jailed, as their vm's own uid",
                                    path, to_string(*jailer)));
}

Check check_tools(const Facts& f) {
  std::vector<std::string> missing_required;
  std::vector<std::string> missing_optional;
  std::vector<std::string> packages;
  for (const auto& tool : f.tools) {
    if (!tool.path.empty()) {
      continue;
    }
    auto& list = tool.requirement.required ? missing_required : missing_optional;
    list.push_back(tool.requirement.tool + " (" + tool.requirement.purpose + ")");
    if (std::find(packages.begin(), packages.end(), tool.requirement.package) == packages.end()) {
      packages.push_back(tool.requirement.package);
    }
  }
  std::string hint = packages.empty() ? "" : "apt-get install " + base::join(packages, " ");
  if (!missing_required.empty()) {
    return failed("host tools", "missing: " + base::join(missing_required, ", "), hint);
  }
  if (!missing_optional.empty()) {
    return warn("host tools",
                "missing (some features need them): " + base::join(missing_optional, ", "), hint);
  }
  return pass("host tools", fmt::format("all {} found", f.tools.size()));
}

Check check_tun(const Facts& f) {
  if (!f.tun.device_exists) {
    return failed("/dev/net/tun", "missing: VMs need TAP devices",
                  "load the tun module or create the device (mknod /dev/net/tun c 10 200)");
  }
  if (f.tun.open_errno != 0) {
    return failed("/dev/net/tun", fmt::format("cannot open: {}", std::strerror(f.tun.open_errno)),
                  "check the device permissions (crw-rw-rw-)");
  }
  return pass("/dev/net/tun", "usable");
}

Check check_runtime_dir(const Facts& f) {
  const auto& r = f.runtime;
  if (!r.exists) {
    return pass("runtime dir", f.runtime_dir + " (created with mode 0700 on first use)");
  }
  if (r.is_symlink || !r.is_dir) {
    return failed("runtime dir", f.runtime_dir + " is not a plain directory",
                  "remove it: rm -rf " + f.runtime_dir);
  }
  if (r.owner != f.uid) {
    return failed("runtime dir", fmt::format("{} is owned by uid {}", f.runtime_dir, r.owner),
                  "remove it: rm -rf " + f.runtime_dir);
  }
  if ((r.mode & 077) != 0) {
    return failed("runtime dir", fmt::format("{} has mode {:04o}", f.runtime_dir, r.mode),
                  "chmod 0700 " + f.runtime_dir);
  }
  return pass("runtime dir", f.runtime_dir + " (0700)");
}

Check check_store(const Facts& f) {
  const auto& s = f.store;
  if (!s.exists) {
    return pass("store", f.db_path + " (created on first use)");
  }
  if (!s.schema_version) {
    return failed("store", f.db_path + ": " + s.error,
                  "check the file's permissions; move it aside to start afresh");
  }
  if (*s.schema_version > s.known_version) {
    return failed("store",
                  fmt::format("{} has schema version {}, this banger knows up to {}", f.db_path,
                              *s.schema_version, s.known_version),
                  "upgrade banger");
  }
  return pass("store", fmt::format("{} (schema version {})", f.db_path, *s.schema_version));
}

Check check_vm_defaults(const Facts& f) {
  const auto& d = f.vm_defaults;
  return pass("vm defaults",
              fmt::format("vcpu {} ({}), memory {} MiB ({}), disk {} MiB ({})", d.vcpu.value,
                          d.vcpu.source, d.memory_mib.value, d.memory_mib.source,
                          d.disk_size_mib.value, d.disk_size_mib.source));
}

// Each backend's strategy (QEMU can layer qcow2 over the image; Firecracker takes raw files
// only), the configured backend first.
Check check_rootfs(const Facts& f) {
  auto configured = policy::decide_vmm(f.config.vmm, vmm_host(f)).backend;
  std::vector<std::string> parts;
  for (auto backend :
       {configured, configured == model::VmmBackend::qemu ? model::VmmBackend::firecracker
                                                          : model::VmmBackend::qemu}) {
    parts.push_back(fmt::format("{}: {}", model::to_string(backend),
                                vmstorage::explain_strategy(f.storage, backend)));
  }
  return pass("rootfs strategy", base::join(parts, "; "));
}

Check check_vhost(const Facts& f) {
  if (f.vhost_net) {
    return pass("vhost", std::string("vhost-net available") +
                             (f.vhost_vsock ? ", vhost-vsock available" : ", no vhost-vsock"));
  }
  return warn("vhost",
              "no /dev/vhost-net: QEMU networking runs in userspace (vhost=off), and the guest "
              "agent uses a virtio-serial channel instead of vsock",
              "load vhost_net and vhost_vsock for faster networking");
}

Check check_bridge(const Facts& f) {
  const std::string& name = f.config.bridge_name;
  if (!f.bridge) {
    return pass("bridge", name + " not created yet (created when the first VM starts)");
  }
  std::string want = f.config.bridge_ip + "/" + std::to_string(f.config.cidr);
  if (f.bridge->kind != "bridge") {
    return failed("bridge", name + " exists but is a " + f.bridge->kind + ", not a bridge",
                  "set bridge_name to a free name or remove the link");
  }
  if (std::find(f.bridge->ipv4.begin(), f.bridge->ipv4.end(), want) == f.bridge->ipv4.end()) {
    return warn(
        "bridge",
        fmt::format("{} has address {} instead of {}", name,
                    f.bridge->ipv4.empty() ? "none" : base::join(f.bridge->ipv4, ", "), want),
        "banger adds its address on the next VM start");
  }
  return pass("bridge", fmt::format("{} {} {}", name, want, f.bridge->up ? "up" : "down"));
}

Check check_agent(const Facts& f) {
  if (f.agent_present) {
    return pass("guest agent", f.agent_binary);
  }
  return failed("guest agent",
                "banger-agent not found at " + f.agent_binary +
                    ": images cannot be built with it and VMs would not become ready",
                "reinstall banger (the agent is built with it: ninja -C build banger-agent)");
}

Check check_dns_listener(const Facts& f) {
  const std::string& listen = f.config.dns_listen;
  if (f.dns_listener.like_banger) {
    return pass("dns listener", listen + " answers <name>.vm");
  }
  if (!f.daemon_error.empty() && !f.dns_listener.answered) {
    // The daemon serves it: silence is expected while it does not run.
    return warn("dns listener", "not checked: bangerd, which serves " + listen + ", is not running",
                "");
  }
  if (f.dns_listener.answered) {
    return failed("dns listener", listen + " answers, but not like banger (another DNS server?)",
                  "free the port or set dns_listen to a free address in config.toml");
  }
  return failed("dns listener", listen + " does not answer: " + f.dns_listener.error,
                "see the daemon log (banger daemon status) for why it could not listen; set "
                "dns_listen to a free address");
}

Check check_dns_routing(const Facts& f) {
  if (!f.dns_routing.resolved_running) {
    return warn("dns routing",
                "systemd-resolved does not run: <name>.vm resolves on this host only where you "
                "route .vm to " +
                    f.config.dns_listen,
                "follow docs/dns-routing.md (dnsmasq or NetworkManager recipe), or use dig @" +
                    f.config.dns_listen);
  }
  if (f.dns_routing.routed) {
    return pass("dns routing", "systemd-resolved sends .vm to " + f.config.bridge_ip + " on " +
                                   f.config.bridge_name);
  }
  return warn("dns routing", "systemd-resolved does not route .vm yet: " + f.dns_routing.detail,
              "banger routes ~vm when the first VM starts; see docs/dns-routing.md");
}

Check check_nat(const Facts& f) {
  if (f.nat_error.empty()) {
    return pass("nat", "nft works (VMs created with --nat get outbound access)");
  }
  return warn("nat", f.nat_error, "install nftables and run bangerd as root for --nat");
}

Check check_ssh_include(const Facts& f) {
  if (f.ssh_included) {
    return pass("ssh-config", "~/.ssh/config includes " + f.ssh_config + " (ssh <name>.vm works)");
  }
  return warn("ssh-config", "~/.ssh/config does not include banger's ssh config",
              "run `banger ssh-config --install` to use `ssh <name>.vm` directly");
}

// Stats path (following links) and, only when it is safe to run, runs `path --version`.
FirecrackerFacts probe_firecracker(const std::string& path, uid_t uid) {
  FirecrackerFacts fc;
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) {
    fc.version_error = fmt::format("stat: {}", std::strerror(errno));
    return fc;
  }
  fc.regular_file = S_ISREG(st.st_mode);
  fc.owner = st.st_uid;
  fc.mode = static_cast<mode_t>(st.st_mode & 07777);
  if (!fc.regular_file || !owned_safely(fc, uid)) {
    fc.version_error = "not run: unsafe file";
    return fc;
  }
  sys::PosixCommandRunner runner;
  auto ran = runner.run({.argv = {path, "--version"}, .timeout = std::chrono::seconds(5)});
  if (!ran) {
    fc.version_error = ran.error().message;
  } else if (ran->exit_code != 0) {
    fc.version_error = fmt::format("--version exited {}", ran->exit_code);
  } else {
    fc.version_output = ran->out;
  }
  return fc;
}

std::string resolve_binary(const std::string& configured, const std::string& fallback) {
  return sys::find_executable(configured.empty() ? fallback : configured);
}

Check check_config(const Facts& f) {
  if (!f.config_error.empty()) {
    return failed("config", f.config_error,
                  "fix that line of " + f.config_file +
                      " (docs/config.md lists every key); the other checks used the defaults");
  }
  if (!f.config.notes.empty()) {
    return warn("config", base::join(f.config.notes, "; "),
                "rename the keys as the notes say (docs/config.md, \"Deprecated names\")");
  }
  return pass("config", f.config_file_exists ? f.config_file + " loaded, no deprecated keys"
                                             : "no " + f.config_file + ": every default");
}

}  // namespace

std::string os_release_ids(std::string_view os_release) {
  std::string id;
  std::string id_like;
  for (const auto& line : base::split(os_release, '\n')) {
    const auto eq = line.find('=');
    if (eq == std::string::npos) {
      continue;
    }
    std::string value = line.substr(eq + 1);
    if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') &&
        value.back() == value.front()) {
      value = value.substr(1, value.size() - 2);
    }
    std::transform(value.begin(), value.end(), value.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    const std::string key = line.substr(0, eq);
    if (key == "ID") {
      id = value;
    } else if (key == "ID_LIKE") {
      id_like = value;
    }
  }
  return std::string(base::trim(id + " " + id_like));
}

std::string_view to_string(CheckStatus status) {
  static constexpr auto kNames = base::make_enum_names<CheckStatus>(
      {{CheckStatus::pass, "pass"}, {CheckStatus::warn, "warn"}, {CheckStatus::fail, "fail"}});
  return kNames.name(status, "fail");
}

Facts gather_facts(const paths::Paths& paths, const config::Config& config, uid_t uid,
                   const std::string& home) {
  Facts f;
  f.arch = sys::machine_arch();
  f.kvm = sys::probe_kvm();
  f.tun = sys::probe_tun();
  f.tools = hosttools::check_tools([](const std::string& t) { return sys::find_executable(t); });
  f.qemu_path = resolve_binary(config.qemu_bin, "qemu-system-x86_64");
  f.firecracker_path = resolve_binary(config.firecracker_bin, "firecracker");
  if (!f.firecracker_path.empty()) {
    f.firecracker = probe_firecracker(f.firecracker_path, uid);
  }
  if (config.jailer_enabled) {
    f.jailer_path = resolve_binary(config.jailer_bin, "jailer");
    if (!f.jailer_path.empty()) {
      f.jailer = probe_firecracker(f.jailer_path, uid);  // the same safety check and --version
    }
  }
  f.distro_ids = os_release_ids(sys::read_file("/etc/os-release").value_or(""));
  f.config = config;
  f.uid = uid;
  f.runtime_dir = paths.runtime_dir;
  struct stat st{};
  if (::lstat(paths.runtime_dir.c_str(), &st) == 0) {
    f.runtime = {true, S_ISLNK(st.st_mode), S_ISDIR(st.st_mode), st.st_uid,
                 static_cast<mode_t>(st.st_mode & 07777)};
  }
  f.db_path = paths.db;
  f.store.known_version = store::latest_schema_version(store::all_migrations());
  f.store.exists = sys::path_exists(paths.db);
  if (f.store.exists) {
    auto db = store::Database::open_read_only(paths.db);
    if (db) {
      f.store.schema_version = db->schema_version();
    } else {
      f.store.error = db.error().message;
    }
  }
  f.vm_defaults = config::resolve_vm_defaults(config, config::probe_host());
  sys::PosixCommandRunner runner;
  f.storage = vmstorage::probe_storage(runner, paths.vms_dir);
  f.vhost_net = sys::path_exists("/dev/vhost-net");
  f.vhost_vsock = sys::path_exists("/dev/vhost-vsock");
  hostnat::NetlinkLinkOps links;
  if (auto bridge = links.get_link(config.bridge_name)) {
    f.bridge = *bridge;
  }
  f.agent_binary = imagecat::locate_agent_binary(sys::self_executable_dir());
  f.agent_present = ::access(f.agent_binary.c_str(), X_OK) == 0;
  // A random name no VM has: banger answers NXDOMAIN with AA.
  auto reply = dns::query_udp(config.dns_listen, "banger-doctor-probe-7f3a.vm",
                              {.timeout = std::chrono::milliseconds(500)});
  if (reply) {
    f.dns_listener.answered = true;
    f.dns_listener.like_banger = reply->aa && reply->rcode == dns::Rcode::nxdomain;
  } else {
    f.dns_listener.error = reply.error().message;
  }
  f.dns_routing.resolved_running = dns::resolved_running();
  if (f.dns_routing.resolved_running) {
    auto routing = dns::query_vm_routing(runner, config.bridge_name, config.bridge_ip);
    f.dns_routing.routed = routing && routing->ok();
    f.dns_routing.detail =
        routing ? "the " + config.bridge_name + " link has no ~vm route" : routing.error().message;
  }
  auto nft = runner.run({.argv = {"nft", "list", "tables"}, .timeout = std::chrono::seconds(5)});
  if (!nft) {
    f.nat_error = nft.error().code == Errc::not_found
                      ? "nft not found: install the nftables package"
                      : "running nft: " + nft.error().message;
  } else if (nft->exit_code != 0) {
    f.nat_error = "nft list tables failed: " + std::string(base::trim(nft->err));
  }
  f.config_file = paths.config_file;
  f.config_file_exists = sys::path_exists(paths.config_file);
  f.ssh_config = paths.ssh_config;
  if (!home.empty()) {
    if (auto user_config = sys::read_file(home + "/.ssh/config")) {
      f.ssh_included =
          user_config->find("Include \"" + paths.ssh_config + "\"") != std::string::npos;
    }
  }
  return f;
}

std::vector<Check> evaluate(const Facts& facts) {
  std::vector<Check> checks;
  if (!facts.daemon_error.empty()) {
    // A config error is the config row's to show; repeating it here would only add noise.
    std::string why = facts.config_error.empty()
                          ? facts.daemon_error
                          : "it cannot start with this config (see the config row)";
    checks.push_back(failed("daemon", "bangerd is not running: " + why,
                            "these checks ran in the CLI: fix the FAIL rows below, then run "
                            "`banger daemon start` (its log: " +
                                facts.daemon_log + ")"));
  }
  for (auto* check : {check_config, check_arch, check_kvm, check_vmm, check_firecracker,
                      check_jailer, check_tools, check_tun, check_runtime_dir, check_store,
                      check_vm_defaults, check_rootfs, check_vhost, check_bridge, check_agent,
                      check_dns_listener, check_dns_routing, check_nat, check_ssh_include}) {
    checks.push_back(check(facts));
  }
  return checks;
}

std::vector<Check> run_without_daemon(const paths::Paths& paths, const paths::Environment& env,
                                      const std::string& daemon_error) {
  auto loaded = config::load_config(paths, env);
  Facts facts =
      gather_facts(paths, loaded ? *loaded : config::default_config(paths), env.uid, env.home);
  if (!loaded) {
    facts.config_error = loaded.error().message;
  }
  facts.daemon_error = daemon_error.empty() ? "it did not answer" : daemon_error;
  facts.daemon_log = paths.log_file;
  return evaluate(facts);
}

bool has_failure(const std::vector<Check>& checks) {
  return std::any_of(checks.begin(), checks.end(),
                     [](const Check& c) { return c.status == CheckStatus::fail; });
}

}  // namespace banger::doctor
