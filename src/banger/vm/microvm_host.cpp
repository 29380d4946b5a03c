#include "banger/vm/microvm_host.hpp"

#include <fmt/format.h>
#include <sys/stat.h>

#include "banger/base/defer.hpp"
#include "banger/base/expected.hpp"
#include "banger/base/log.hpp"
#include "banger/base/strings.hpp"
#include "banger/guest/ssh_keys.hpp"
#include "banger/guest/ssh_probe.hpp"
#include "banger/guestconfig/guestconfig.hpp"
#include "banger/imagecat/recipes.hpp"
#include "banger/kernelcat/kernel_catalog.hpp"
#include "banger/sys/fs.hpp"
#include "banger/sys/process_launcher.hpp"
#include "banger/sys/ssh_command.hpp"
#include "banger/vmm/qemu/argv.hpp"
#include "banger/vmstorage/vm_disks.hpp"

namespace banger::vm {
namespace {

constexpr std::string_view kDefaultKernel = "debian-cloud";

std::string vm_dir_of(const paths::Paths& paths, const model::Vm& vm) {
  return paths.vm_dir(vm.id);
}

}  // namespace

MicrovmHost::MicrovmHost(MicrovmHostDeps deps, MicrovmHostOptions options)
    : deps_(deps), options_(options) {}

vmm::VmmHandle MicrovmHost::handle_of(const model::Vm& vm) const {
  vmm::VmmHandle handle;
  handle.backend = deps_.vmm.name();
  handle.pid = vm.vmm_pid;
  handle.start_time = vm.vmm_start_time;
  handle.control_socket = deps_.paths.runtime_dir + "/" + vm.id + ".qmp";
  handle.agent_socket = deps_.paths.runtime_dir + "/" + vm.id + ".agent";
  handle.console_log = vm_dir_of(deps_.paths, vm) + "/console.log";
  return handle;
}

std::string MicrovmHost::console_log_path(const model::Vm& vm) { return handle_of(vm).console_log; }

Expected<model::Image> MicrovmHost::obtain_image(const std::string& name,
                                                 const base::ProgressFn& progress,
                                                 const base::CancelFn& cancel) {
  std::lock_guard lock(obtain_mutex_);
  auto image = deps_.images.show(name);
  if (image || image.error().code != Errc::not_found || !imagecat::find_recipe(name)) {
    return image;
  }
  base::report(progress, {"image", "building image " + name + " (first use)", 0, 0});
  return deps_.images.build({.recipe = name, .name = name}, progress, cancel);
}

Expected<model::Kernel> MicrovmHost::obtain_kernel(const std::string& name,
                                                   const base::ProgressFn& progress,
                                                   const base::CancelFn& cancel) {
  std::lock_guard lock(obtain_mutex_);
  auto kernel = deps_.kernels.show(name);
  if (kernel || kernel.error().code != Errc::not_found || !kernelcat::find_catalog_kernel(name)) {
    return kernel;
  }
  base::report(progress, {"kernel", "pulling kernel " + name + " (first use)", 0, 0});
  BANGER_TRY_ASSIGN(auto pulled, deps_.kernels.pull(name, false, progress, cancel));
  return pulled.kernel;
}

Expected<Prepared> MicrovmHost::prepare(const model::Vm& vm, const base::ProgressFn& progress,
                                        const base::CancelFn& cancel) {
  BANGER_TRY_ASSIGN(auto image, obtain_image(vm.image, progress, cancel));
  std::string kernel_name = vm.kernel;
  if (kernel_name.empty()) {
    kernel_name = !image.kernel_ref.empty()              ? image.kernel_ref
                  : !deps_.config.default_kernel.empty() ? deps_.config.default_kernel
                                                         : std::string(kDefaultKernel);
  }
  BANGER_TRY_ASSIGN(auto kernel, obtain_kernel(kernel_name, progress, cancel));
  if (base::is_cancelled(cancel)) {
    return fail(Errc::cancelled, "cancelled");
  }
  BANGER_TRY_ASSIGN(auto key, guest::ensure_key(deps_.runner, deps_.config.ssh_key_path));

  std::string dir = vm_dir_of(deps_.paths, vm);
  BANGER_TRY(sys::make_dirs(dir, 0700));
  base::report(progress, {"network", "attaching to " + deps_.config.bridge_name, 0, 0});
  std::optional<std::string> preferred;
  if (!vm.guest_ip.empty()) {
    preferred = vm.guest_ip;
  }
  BANGER_TRY_ASSIGN(auto attachment, deps_.network.attach(vm.id, preferred));
  base::Defer detach([&] {
    if (auto undone = deps_.network.detach(attachment); !undone) {
      BANGER_LOG_WARN("releasing {} after a failed prepare: {}", attachment.tap,
                      undone.error().message);
    }
  });

  // A VM that never booted may reuse an IP or name whose old host key is still pinned.
  bool first_boot = vm.rootfs_strategy.empty();
  if (first_boot) {
    (void)deps_.known_hosts.remove({attachment.ip, vm.name + ".vm"});
  }

  base::report(progress, {"disks", "preparing disks", 0, 0});
  auto strategy = options_.rootfs_strategy;
  if (!vm.rootfs_strategy.empty()) {
    if (auto recorded = vmstorage::parse_rootfs_strategy(vm.rootfs_strategy)) {
      strategy = *recorded;
    }
  }
  std::string root_path = vmstorage::root_disk_path(dir, strategy);
  if (!sys::path_exists(root_path)) {
    std::optional<std::uint64_t> grow;
    if (vm.rootfs_overlay_size_mib > 0) {
      grow = static_cast<std::uint64_t>(vm.rootfs_overlay_size_mib);
    }
    BANGER_TRY(vmstorage::create_root_disk(deps_.runner, strategy, image.rootfs_path, dir, grow));
  }
  guestconfig::GuestConfigSpec spec{.vm_name = vm.name,
                                    .vm_id = vm.id,
                                    .guest_ip = attachment.ip,
                                    .gateway = attachment.gateway,
                                    .prefix = attachment.prefix,
                                    .dns_servers = {},
                                    .authorized_keys = key.public_key};
  if (!deps_.config.default_dns.empty()) {
    spec.dns_servers.push_back(deps_.config.default_dns);
  }
  std::string work = vmstorage::work_disk_path(dir);
  if (!sys::path_exists(work)) {
    BANGER_TRY(vmstorage::create_work_disk(deps_.runner, dir,
                                           static_cast<std::uint64_t>(vm.disk_size_mib), spec));
  } else {
    BANGER_TRY(vmstorage::refresh_work_disk(deps_.runner, work, spec));
  }
  detach.dismiss();
  BANGER_LOG_INFO("vm {}: prepared ({} root, tap {}, ip {})", vm.name,
                  vmstorage::to_string(strategy), attachment.tap, attachment.ip);
  return Prepared{.kernel = kernel.name,
                  .tap = attachment.tap,
                  .guest_ip = attachment.ip,
                  .mac = attachment.mac,
                  .rootfs_strategy = std::string(vmstorage::to_string(strategy)),
                  .overlay_path = root_path};
}

Expected<Launched> MicrovmHost::launch(const model::Vm& vm) {
  BANGER_TRY_ASSIGN(auto image, deps_.images.show(vm.image));
  BANGER_TRY_ASSIGN(auto kernel, deps_.kernels.show(vm.kernel));
  auto subnet_mask = [&]() -> std::string {
    std::uint32_t mask = deps_.config.cidr == 0 ? 0 : ~std::uint32_t{0} << (32 - deps_.config.cidr);
    return fmt::format("{}.{}.{}.{}", mask >> 24, (mask >> 16) & 0xff, (mask >> 8) & 0xff,
                       mask & 0xff);
  };
  vmm::qemu::CmdlineSpec cmdline{.guest_ip = vm.guest_ip,
                                 .gateway_ip = deps_.config.bridge_ip,
                                 .netmask = subnet_mask(),
                                 .hostname = vm.name,
                                 .extra_args = {},
                                 .init = ""};
  for (auto& arg : base::split(image.extra_kernel_args, ' ')) {
    if (!arg.empty()) {
      cmdline.extra_args.push_back(arg);
    }
  }
  auto handle = handle_of(vm);
  vmm::VmConfig config;
  config.vm_id = vm.id;
  config.name = vm.name;
  config.vcpu = vm.vcpu;
  config.memory_mib = vm.memory_mib;
  config.kernel_path = kernel.vmlinux_path;
  if (!kernel.initrd_path.empty()) {
    config.initrd_path = kernel.initrd_path;
  }
  config.kernel_cmdline = vmm::qemu::kernel_cmdline(cmdline);
  config.root_disk = {.path = vm.overlay_path,
                      .format = vm.rootfs_strategy == "qcow2_overlay" ? vmm::DiskFormat::qcow2
                                                                      : vmm::DiskFormat::raw,
                      .read_only = false};
  config.work_disk = vmm::DiskConfig{.path = vmstorage::work_disk_path(vm_dir_of(deps_.paths, vm)),
                                     .format = vmm::DiskFormat::raw,
                                     .read_only = false};
  config.tap_name = vm.tap_name;
  config.mac = vm.mac;
  config.agent_socket_path = handle.agent_socket;
  config.control_socket_path = handle.control_socket;
  config.console_log_path = handle.console_log;
  config.run_dir = vm_dir_of(deps_.paths, vm);
  config.accel = options_.accel;
  BANGER_TRY_ASSIGN(auto launched, deps_.vmm.launch(config));
  // handles.json: the transient handles, for humans and for crash recovery tooling.
  (void)sys::write_file_atomic(config.run_dir + "/handles.json",
                               vmm::vmm_handle_to_json(launched).dump(2) + "\n", 0600);
  return Launched{.pid = launched.pid, .start_time = launched.start_time};
}

Status MicrovmHost::wait_ready(const model::Vm& vm, const base::CancelFn& cancel) {
  guest::WaitForSshOptions options;
  options.ip = vm.guest_ip;
  options.host_names = {vm.guest_ip, vm.name + ".vm"};
  options.deadline = deps_.clock.steady_now() + options_.boot_timeout;
  bool vmm_exited = false;
  options.cancel = [&] {
    if (base::is_cancelled(cancel)) {
      return true;
    }
    vmm_exited = !alive(vm);
    return vmm_exited;
  };
  auto ready = guest::wait_for_ssh(deps_.runner, deps_.clock, deps_.known_hosts, options);
  if (ready) {
    return {};
  }
  if (vmm_exited) {
    return fail(Errc::failed_precondition,
                "the VM exited during boot; console:\n" + console_tail(vm, 20));
  }
  if (ready.error().code == Errc::timeout) {
    return fail(Errc::timeout,
                fmt::format("vm {} did not answer ssh within {} s; console:\n{}", vm.name,
                            options_.boot_timeout.count(), console_tail(vm, 20)));
  }
  return ready;
}

Status MicrovmHost::shutdown(const model::Vm& vm, std::chrono::seconds grace) {
  auto handle = handle_of(vm);
  if (!alive(vm)) {
    return {};
  }
  // Guest sync + poweroff over SSH (the agent takes this over later). The connection drops
  // when the guest powers off, so ssh's exit status says nothing; the VMM's exit does.
  sys::SshCommandSpec ssh{
      .ssh_program = "ssh",
      .key_path = deps_.config.ssh_key_path,
      .known_hosts_path = deps_.paths.known_hosts,
      .ip = vm.guest_ip,
      .command = {"sync; (systemctl poweroff || poweroff -f) >/dev/null 2>&1 &"}};
  auto argv = sys::ssh_argv(ssh);
  argv.insert(argv.begin() + 1, {"-o", "BatchMode=yes", "-o", "ConnectTimeout=5"});
  (void)deps_.runner.run({.argv = argv, .timeout = std::chrono::seconds(15)});
  return deps_.vmm.stop(handle, grace);
}

Status MicrovmHost::kill(const model::Vm& vm) {
  if (!alive(vm)) {
    return {};
  }
  return deps_.vmm.kill(handle_of(vm));
}

Status MicrovmHost::release(const model::Vm& vm) {
  if (vm.tap_name.empty()) {
    return {};
  }
  hostnat::Attachment attachment;
  attachment.vm_id = vm.id;
  attachment.tap = vm.tap_name;
  attachment.ip = vm.guest_ip;
  return deps_.network.detach(attachment);
}

Status MicrovmHost::destroy(const model::Vm& vm) {
  std::string dir = vm_dir_of(deps_.paths, vm);
  BANGER_TRY(vmstorage::remove_vm_disks(dir));
  BANGER_TRY(sys::remove_all(dir));
  auto handle = handle_of(vm);
  (void)sys::remove_all(handle.control_socket);
  (void)sys::remove_all(handle.agent_socket);
  std::vector<std::string> names = {vm.name + ".vm"};
  if (!vm.guest_ip.empty()) {
    names.push_back(vm.guest_ip);
    BANGER_TRY(deps_.network.release_ip(vm.guest_ip));
  }
  return deps_.known_hosts.remove(names);
}

Status MicrovmHost::verify_host_key(const model::Vm& vm) {
  BANGER_TRY_ASSIGN(auto key,
                    guest::scan_host_key(deps_.runner, vm.guest_ip, 22, std::chrono::seconds(3)));
  return deps_.known_hosts.pin({vm.guest_ip, vm.name + ".vm"}, key.type, key.base64);
}

bool MicrovmHost::alive(const model::Vm& vm) {
  return vm.vmm_pid > 0 && sys::process_matches(vm.vmm_pid, vm.vmm_start_time);
}

std::string MicrovmHost::console_tail(const model::Vm& vm, std::size_t lines) {
  auto text = sys::read_file(console_log_path(vm));
  return text ? base::tail_lines(*text, lines) : std::string();
}

Status MicrovmHost::reconcile(const std::vector<model::Vm>& vms) {
  std::vector<hostnat::Lease> leases;
  for (const auto& vm : vms) {
    if (vm.guest_ip.empty()) {
      continue;
    }
    bool running = vm.state == model::VmState::running && alive(vm);
    leases.push_back({.vm_id = vm.id, .ip = vm.guest_ip, .tap = running ? vm.tap_name : ""});
  }
  if (leases.empty() && deps_.network.idle_taps().empty()) {
    // No VM has ever been networked: leave the host alone (the bridge and the warm TAP pool
    // are created on the first start, not at every daemon start).
    return {};
  }
  return deps_.network.reconcile(leases);
}

}  // namespace banger::vm
