#include "banger/vmm/qemu/argv.hpp"

#include <fmt/format.h>

#include "banger/agentproto/constants.hpp"
#include "banger/agentproto/stream.hpp"

namespace banger::vmm::qemu {
namespace {

// QEMU option values use ',' as a separator; a literal comma is written ",,".
std::string escape(const std::string& value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    out += c;
    if (c == ',') {
      out += ',';
    }
  }
  return out;
}

// Disk caching: cache=writeback (QEMU's default, spelled out) for both the per-VM root overlay
// and the work disk. Writes land in the host page cache and a guest flush (sync, journal commit)
// becomes an fdatasync of the image, including the qcow2 metadata QEMU keeps in memory. So data
// the guest synced survives a SIGKILL of QEMU after a timed-out stop and a host crash; cache=unsafe
// would drop flushes and can leave a qcow2 overlay inconsistent when QEMU is killed.
void add_drive(std::vector<std::string>& argv, const char* id, const DiskConfig& disk) {
  argv.push_back("-drive");
  argv.push_back(fmt::format("id={},file={},format={},if=none,cache=writeback{}", id,
                             escape(disk.path), model::to_string(disk.format),
                             disk.read_only ? ",readonly=on" : ""));
  argv.push_back("-device");
  argv.push_back(fmt::format("virtio-blk-device,drive={}", id));
}

}  // namespace

std::string qmp_argument(const std::string& control_socket_path) {
  return fmt::format("unix:{},server=on,wait=off", escape(control_socket_path));
}

bool is_qemu_argv_for(const std::vector<std::string>& argv, const std::string& binary,
                      const std::string& control_socket_path) {
  if (argv.empty()) {
    return false;
  }
  auto slash = argv[0].rfind('/');
  std::string_view program = slash == std::string::npos
                                 ? std::string_view(argv[0])
                                 : std::string_view(argv[0]).substr(slash + 1);
  if (argv[0] != binary && !program.starts_with("qemu-system")) {
    return false;
  }
  const std::string wanted = qmp_argument(control_socket_path);
  for (std::size_t i = 1; i + 1 < argv.size(); ++i) {
    if (argv[i] == "-qmp" && argv[i + 1] == wanted) {
      return true;
    }
  }
  return false;
}

std::string sandbox_argument(bool drops_privileges) {
  // QEMU installs its seccomp filter before it switches uid (-runas), so a filter that denies
  // set*uid kills it with SIGSYS at the switch. When it drops, allowing them is harmless: after
  // the switch every uid and gid is unprivileged and no_new_privs is set.
  return fmt::format("on,obsolete=deny,elevateprivileges={},spawn=deny,resourcecontrol=deny",
                     drops_privileges ? "allow" : "deny");
}

std::vector<std::string> qemu_argv(const VmConfig& config, const QemuHostCaps& caps) {
  std::vector<std::string> argv{caps.binary, "-M", "microvm"};
  std::string cmdline = config.kernel_cmdline;
  if (config.accel == Accel::kvm) {
    argv.insert(argv.end(), {"-accel", "kvm", "-cpu", "host"});
  } else {
    argv.insert(argv.end(), {"-accel", "tcg,tb-size=32", "-cpu", "max"});
    if (caps.host_khz > 0) {
      // Under TCG several guests booting at once can hang in PIT calibration (ENVIRONMENT.md).
      cmdline +=
          fmt::format("{}tsc_early_khz={} tsc=reliable", cmdline.empty() ? "" : " ", caps.host_khz);
    }
  }
  argv.insert(argv.end(),
              {"-m", std::to_string(config.memory_mib), "-smp", std::to_string(config.vcpu),
               "-nodefaults", "-no-user-config", "-nographic", "-no-reboot"});
  // The serial console is QEMU's stdout, which the launcher connects to the VM's console log
  // (through the capped writer: QEMU's file chardev has no size limit, security review M10).
  argv.insert(argv.end(),
              {"-chardev", "stdio,id=console,signal=off", "-serial", "chardev:console"});
  argv.insert(argv.end(), {"-kernel", config.kernel_path});
  if (config.initrd_path) {
    argv.insert(argv.end(), {"-initrd", *config.initrd_path});
  }
  argv.insert(argv.end(), {"-append", cmdline});
  add_drive(argv, "root", config.root_disk);
  if (config.work_disk) {
    add_drive(argv, "work", *config.work_disk);
  }
  if (!config.tap_name.empty()) {
    argv.insert(argv.end(),
                {"-netdev",
                 fmt::format("tap,id=n0,ifname={},script=no,downscript=no,vhost={}",
                             config.tap_name, caps.vhost_net ? "on" : "off"),
                 "-device", fmt::format("virtio-net-device,netdev=n0,mac={}", config.mac)});
  }
  argv.insert(
      argv.end(),
      {"-device", "virtio-serial-device", "-chardev",
       fmt::format("socket,id=agent,path={},server=on,wait=off", escape(config.agent_socket_path)),
       "-device", fmt::format("virtserialport,chardev=agent,name={}", agentproto::kAgentPortName)});
  // The stream channels (ADR 0009): one port and socket each, on the same virtio-serial bus.
  for (std::size_t n = 0; n < config.stream_socket_paths.size(); ++n) {
    argv.insert(argv.end(), {"-chardev",
                             fmt::format("socket,id=st{},path={},server=on,wait=off", n,
                                         escape(config.stream_socket_paths[n])),
                             "-device",
                             fmt::format("virtserialport,chardev=st{},name={}{}", n,
                                         agentproto::kStreamPortPrefix, n)});
  }
  if (caps.vhost_vsock && config.vsock_cid >= 3) {
    argv.insert(argv.end(),
                {"-device", fmt::format("vhost-vsock-device,guest-cid={}", config.vsock_cid)});
  }
  argv.insert(argv.end(), {"-qmp", qmp_argument(config.control_socket_path)});
  argv.insert(argv.end(), {"-sandbox", sandbox_argument(config.run_as.has_value())});
  if (config.run_as) {
    // Numeric ids need no passwd entry; QEMU switches after opening every file and socket above.
    argv.insert(argv.end(),
                {"-runas", fmt::format("{}:{}", config.run_as->first, config.run_as->second)});
  }
  return argv;
}

}  // namespace banger::vmm::qemu
