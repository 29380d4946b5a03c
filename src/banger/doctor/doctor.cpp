#include "banger/doctor/doctor.hpp"

#include <fmt/format.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>

#include "banger/base/strings.hpp"
#include "banger/hostnat/netlink_link_ops.hpp"
#include "banger/policy/accel.hpp"
#include "banger/store/database.hpp"
#include "banger/store/migrations.hpp"
#include "banger/sys/command_runner.hpp"
#include "banger/sys/fs.hpp"

namespace banger::doctor {
namespace {

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
  using config::VmmChoice;
  bool has_fc = !f.firecracker_path.empty();
  bool has_qemu = !f.qemu_path.empty();
  switch (f.config.vmm) {
    case VmmChoice::firecracker:
      if (!has_fc) {
        return failed("vmm", "vmm = \"firecracker\" but no firecracker binary was found",
                      "install firecracker (set firecracker_bin) or set vmm = \"qemu\"");
      }
      return pass("vmm", "firecracker (" + f.firecracker_path + ")");
    case VmmChoice::qemu:
      if (!has_qemu) {
        return failed("vmm", "vmm = \"qemu\" but qemu-system-x86_64 was not found",
                      "apt-get install qemu-system-x86");
      }
      return pass("vmm", "qemu (" + f.qemu_path + ")");
    case VmmChoice::auto_detect:
      if (has_fc) {
        return pass("vmm", "firecracker (" + f.firecracker_path + "), chosen automatically");
      }
      if (has_qemu) {
        return pass("vmm",
                    "qemu (" + f.qemu_path + "), chosen automatically; firecracker not found");
      }
      return failed("vmm", "neither firecracker nor qemu-system-x86_64 was found",
                    "apt-get install qemu-system-x86");
  }
  return failed("vmm", "unknown vmm choice", "");
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

Check check_rootfs(const Facts& f) {
  return pass("rootfs strategy", vmstorage::explain_strategy(f.storage, vmstorage::VmmKind::qemu));
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

std::string resolve_binary(const std::string& configured, const std::string& fallback) {
  return sys::find_executable(configured.empty() ? fallback : configured);
}

}  // namespace

std::string_view to_string(CheckStatus status) {
  switch (status) {
    case CheckStatus::pass:
      return "pass";
    case CheckStatus::warn:
      return "warn";
    case CheckStatus::fail:
      return "fail";
  }
  return "fail";
}

Facts gather_facts(const paths::Paths& paths, const config::Config& config, uid_t uid) {
  Facts f;
  f.arch = sys::machine_arch();
  f.kvm = sys::probe_kvm();
  f.tun = sys::probe_tun();
  f.tools = toolingplan::check_tools([](const std::string& t) { return sys::find_executable(t); });
  f.qemu_path = resolve_binary(config.qemu_bin, "qemu-system-x86_64");
  f.firecracker_path = resolve_binary(config.firecracker_bin, "firecracker");
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
  return f;
}

std::vector<Check> evaluate(const Facts& facts) {
  return {check_arch(facts),  check_kvm(facts),         check_vmm(facts),
          check_tools(facts), check_tun(facts),         check_runtime_dir(facts),
          check_store(facts), check_vm_defaults(facts), check_rootfs(facts),
          check_vhost(facts), check_bridge(facts)};
}

bool has_failure(const std::vector<Check>& checks) {
  return std::any_of(checks.begin(), checks.end(),
                     [](const Check& c) { return c.status == CheckStatus::fail; });
}

}  // namespace banger::doctor
