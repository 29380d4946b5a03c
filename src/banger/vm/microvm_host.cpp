#include "banger/vm/microvm_host.hpp"

#include <fmt/format.h>
#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <thread>

#include "banger/agentclient/agent_token.hpp"
#include "banger/agentproto/constants.hpp"
#include "banger/base/defer.hpp"
#include "banger/base/expected.hpp"
#include "banger/base/log.hpp"
#include "banger/base/printable.hpp"
#include "banger/base/strings.hpp"
#include "banger/ext4/editor.hpp"
#include "banger/guest/port_probe.hpp"
#include "banger/guest/ssh_keys.hpp"
#include "banger/guest/ssh_probe.hpp"
#include "banger/guestconfig/guestconfig.hpp"
#include "banger/hostnat/ipv4.hpp"
#include "banger/imagecat/recipes.hpp"
#include "banger/imagecat/rootfs_layout.hpp"
#include "banger/kernelcat/kernel_catalog.hpp"
#include "banger/sys/capped_log.hpp"
#include "banger/sys/fs.hpp"
#include "banger/sys/proc_stats.hpp"
#include "banger/sys/process_launcher.hpp"
#include "banger/sys/process_watch.hpp"
#include "banger/sys/ssh_command.hpp"
#include "banger/vm/fan_out.hpp"
#include "banger/vmstorage/vm_disks.hpp"

namespace banger::vm {
namespace {

constexpr std::string_view kDefaultKernel = "debian-cloud";

std::string vm_dir_of(const paths::Paths& paths, const model::Vm& vm) {
  return paths.vm_dir(vm.id);
}

// Per-call agent timeouts: health and ports answer from /proc at once; a guest
// under TCG on a busy host can still take a while to schedule the agent.
constexpr auto kAgentQuickCall = std::chrono::seconds(5);
// The longest exec the host waits for: without timeout_s, and the cap of a huge timeout_s.
constexpr auto kMaxExecWait = std::chrono::hours(1);
// Threads probing a VM's TCP listeners for HTTP(S) at once (each probe takes up to ~1.4 s).
constexpr std::size_t kPortProbeThreads = 16;
// Guest-chosen text in bangerd.log: at most this many bytes per field, per console line.
constexpr std::size_t kMaxLoggedGuestText = 200;
// How long verify_host_key (before `vm ssh`) waits for the key and sshd of a running VM: one
// started with agent readiness may still be starting sshd.
constexpr std::chrono::seconds kSshdAnswerWait{30};
// Console tails are read from the end of the log with pread, at most this much: the log may be
// many MiB (security review M10).
constexpr std::int64_t kConsoleTailBytes = 64 * 1024;

// The agent token's host copy in the VM's state dir (docs/agent.md "Authentication").
std::string agent_token_path(const paths::Paths& paths, const model::Vm& vm) {
  return paths.vm_dir(vm.id) + "/agent.token";
}

std::unique_ptr<agentclient::Dialer> dialer_for(const vmm::AgentEndpoint& endpoint) {
  using Kind = vmm::AgentEndpoint::Kind;
  switch (endpoint.kind) {
    case Kind::af_vsock:
      return std::make_unique<agentclient::AfVsockDialer>(endpoint.cid, endpoint.port);
    case Kind::firecracker_vsock_uds:
      return std::make_unique<agentclient::FirecrackerVsockDialer>(endpoint.path, endpoint.port);
    case Kind::virtio_serial_unix:
      break;
  }
  return std::make_unique<agentclient::UnixSocketDialer>(endpoint.path);
}

// Whether the host reaches a guest socket bound to address: wildcards and the
// guest's own IPv4 address, not loopback or other IPv6 addresses (<name>.vm is
// an A record only).
bool reachable_from_host(const std::string& address, const std::string& guest_ip) {
  return address == "0.0.0.0" || address == "::" || address == guest_ip;
}

// [[file_sync]]: the host files as they are now (every start), planned for the work disk; each
// warning (a missing host path, a skipped special file) is logged and sent as a "warning"
// progress event. Errors: scan_file_sync's (limits exceeded, unlistable directory).
Expected<vmstorage::FileSyncPlan> plan_file_sync(const config::Config& config, const model::Vm& vm,
                                                 const base::ProgressFn& progress) {
  std::vector<vmstorage::FileSyncEntry> entries;
  for (std::size_t i = 0; i < config.file_sync.size(); ++i) {
    const auto& e = config.file_sync[i];
    entries.push_back(
        {.index = i, .host_path = e.host_path, .guest_path = e.guest_path, .mode = e.mode});
  }
  BANGER_TRY_ASSIGN(auto trees, vmstorage::scan_file_sync(entries));
  auto plan = vmstorage::plan_file_sync(trees);
  for (const auto& warning : plan.warnings) {
    BANGER_LOG_WARN("vm {}: {}", vm.name, warning);
    base::report(progress, {"warning", warning, 0, 0});  // api::kWarningStage on the wire
  }
  return plan;
}

}  // namespace

MicrovmHost::MicrovmHost(MicrovmHostDeps deps, MicrovmHostOptions options)
    : deps_(deps), options_(options) {}

Expected<MicrovmHost::Driver> MicrovmHost::driver_of(const model::Vm& vm) const {
  BANGER_TRY_ASSIGN(vmm::Vmm * vmm, deps_.vmms.get(vm.vmm));
  auto paths = vmm->layout(vm.id, deps_.paths.runtime_dir, vm_dir_of(deps_.paths, vm));
  vmm::VmmHandle handle{
      .backend = vm.vmm,
      .pid = vm.vmm_pid,
      .start_time = vm.vmm_start_time,
      .control_socket = paths.control_socket,
      .console_log = paths.console_log,
      .agent_socket = paths.agent_socket,
      .vsock_cid = options_.vhost_vsock || vm.vmm == model::VmmBackend::firecracker
                       ? vmm::vsock_cid_for_ip(vm.guest_ip)
                       : 0,
      .jail_dir = paths.jail_dir};
  return Driver{.vmm = *vmm, .handle = std::move(handle), .paths = std::move(paths)};
}

std::string MicrovmHost::console_log_path(const model::Vm& vm) {
  auto driver = driver_of(vm);
  return driver ? driver->handle.console_log : std::string();
}

std::string MicrovmHost::kernel_name_for(const model::Vm& vm,
                                         const std::string& image_kernel_ref) const {
  if (!vm.kernel.empty()) {
    return vm.kernel;
  }
  if (!image_kernel_ref.empty() && image_kernel_ref != kDefaultKernel) {
    return image_kernel_ref;
  }
  if (image_kernel_ref.empty() && !deps_.config.default_kernel.empty()) {
    return deps_.config.default_kernel;
  }
  // Where banger's default applies (recipes and OCI pulls name kDefaultKernel), a kernel the
  // user built takes its place (docs/kernels.md "kernel build").
  auto built = deps_.kernels.newest_built_kernel();
  if (!built) {
    BANGER_LOG_WARN("looking for a built kernel: {}", built.error().message);
  } else if (*built) {
    return **built;
  }
  return std::string(kDefaultKernel);
}

Expected<std::optional<model::Image>> MicrovmHost::find_image(const std::string& name) {
  auto image = deps_.images.show(name);
  if (image) {
    return std::optional<model::Image>(std::move(*image));
  }
  if (image.error().code != Errc::not_found) {
    return tl::unexpected(image.error());
  }
  if (deps_.images.in_catalog(name)) {  // a recipe or a bundle of catalog_url
    return std::optional<model::Image>();
  }
  return fail(Errc::not_found,
              fmt::format("image \"{}\" not found: `banger image list` shows the images, `banger "
                          "image list --available` what `banger image pull` can make",
                          base::printable(name, 80)));
}

Expected<std::optional<model::Kernel>> MicrovmHost::find_kernel(const std::string& name) {
  auto kernel = deps_.kernels.show(name);
  if (kernel) {
    return std::optional<model::Kernel>(std::move(*kernel));
  }
  if (kernel.error().code != Errc::not_found) {
    return tl::unexpected(kernel.error());
  }
  if (deps_.kernels.in_catalog(name)) {  // built in, or a bundle of catalog_url
    return std::optional<model::Kernel>();
  }
  return fail(Errc::not_found, fmt::format("kernel \"{}\" not found: `banger kernel list` shows "
                                           "the kernels, `banger kernel pull` gets one from the "
                                           "catalog",
                                           base::printable(name, 80)));
}

Status MicrovmHost::check_sources(const model::Vm& vm) {
  BANGER_TRY_ASSIGN(auto image, find_image(vm.image));
  BANGER_TRY(find_kernel(kernel_name_for(vm, image ? image->kernel_ref : std::string())));
  return {};
}

Expected<model::Image> MicrovmHost::obtain_image(const std::string& name,
                                                 const base::ProgressFn& progress,
                                                 const base::CancelFn& cancel) {
  std::lock_guard lock(obtain_mutex_);
  BANGER_TRY_ASSIGN(auto image, find_image(name));
  if (image) {
    return std::move(*image);
  }
  base::report(progress, {"image", "pulling image " + name + " (first use)", 0, 0});
  BANGER_TRY_ASSIGN(auto pulled, deps_.images.pull({.reference = name}, progress, cancel));
  return std::move(pulled.image);
}

Expected<model::Kernel> MicrovmHost::obtain_kernel(const std::string& name,
                                                   const base::ProgressFn& progress,
                                                   const base::CancelFn& cancel) {
  std::lock_guard lock(obtain_mutex_);
  BANGER_TRY_ASSIGN(auto kernel, find_kernel(name));
  if (kernel) {
    return std::move(*kernel);
  }
  base::report(progress, {"kernel", "pulling kernel " + name + " (first use)", 0, 0});
  BANGER_TRY_ASSIGN(auto pulled, deps_.kernels.pull(name, false, progress, cancel));
  return pulled.kernel;
}

Expected<vmstorage::RootfsStrategy> MicrovmHost::prepare_disks(
    const model::Vm& vm, const std::string& base_rootfs, const hostnat::Attachment& attachment,
    const std::string& public_key, const std::string& agent_token,
    const vmstorage::FileSyncPlan& sync) {
  std::string dir = vm_dir_of(deps_.paths, vm);
  auto strategy = vm.vmm == model::VmmBackend::firecracker ? options_.raw_rootfs_strategy
                                                           : options_.rootfs_strategy;
  if (!vm.rootfs_strategy.empty()) {
    if (auto recorded = vmstorage::parse_rootfs_strategy(vm.rootfs_strategy)) {
      strategy = *recorded;
    }
  }
  if (!sys::path_exists(vmstorage::root_disk_path(dir, strategy))) {
    std::optional<std::uint64_t> grow;
    if (vm.rootfs_overlay_size_mib > 0) {
      grow = static_cast<std::uint64_t>(vm.rootfs_overlay_size_mib);
    }
    BANGER_TRY(vmstorage::create_root_disk(deps_.runner, strategy, base_rootfs, dir, grow));
  }
  guestconfig::GuestConfigSpec spec{.vm_name = vm.name,
                                    .vm_id = vm.id,
                                    .guest_ip = attachment.ip,
                                    .gateway = attachment.gateway,
                                    .prefix = attachment.prefix,
                                    .dns_servers = {},
                                    .authorized_keys = public_key,
                                    .agent_token = agent_token};
  if (!deps_.config.default_dns.empty()) {
    spec.dns_servers.push_back(deps_.config.default_dns);
  }
  std::string work = vmstorage::work_disk_path(dir);
  if (!sys::path_exists(work)) {
    BANGER_TRY(vmstorage::create_work_disk(deps_.runner, dir,
                                           static_cast<std::uint64_t>(vm.disk_size_mib), spec));
  } else {
    // The guest wrote this disk: a root daemon edits it as the VM's unprivileged id (M11).
    std::optional<vmstorage::EditIdentity> editor;
    if (options_.drop_vmm_privileges) {
      BANGER_TRY_ASSIGN(auto ids, unprivileged_ids(vm.name, attachment.ip));
      editor = vmstorage::EditIdentity{.uid = ids.first, .gid = ids.second};
    }
    BANGER_TRY(vmstorage::refresh_work_disk(deps_.runner, work, spec, editor, &sync));
    return strategy;
  }
  if (!sync.edit.empty()) {  // a new disk: only file_sync is missing from it
    BANGER_TRY(vmstorage::refresh_work_disk(deps_.runner, work, spec, std::nullopt, &sync));
  }
  return strategy;
}

Expected<Prepared> MicrovmHost::prepare(const model::Vm& vm, const base::ProgressFn& progress,
                                        const base::CancelFn& cancel) {
  BANGER_TRY(driver_of(vm));  // a backend this daemon does not run: refuse before any work
  BANGER_TRY_ASSIGN(auto image, obtain_image(vm.image, progress, cancel));
  BANGER_TRY_ASSIGN(auto kernel,
                    obtain_kernel(kernel_name_for(vm, image.kernel_ref), progress, cancel));
  if (base::is_cancelled(cancel)) {
    return fail(Errc::cancelled, "cancelled");
  }
  BANGER_TRY_ASSIGN(auto key, guest::ensure_key(deps_.runner, deps_.config.ssh_key_path));
  BANGER_TRY_ASSIGN(auto sync, plan_file_sync(deps_.config, vm, progress));

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

  BANGER_TRY(publish(vm, attachment.ip, attachment.tap));
  base::Defer unpublish_on_error([&] { unpublish(vm); });

  // A VM that never booted may reuse an IP or name whose old host key is still
  // pinned.
  bool first_boot = vm.rootfs_strategy.empty();
  if (first_boot) {
    (void)deps_.known_hosts.remove({attachment.ip, vm.name + ".vm"});
  }

  // H1: a new agent token at every start, kept in the 0600 file in the 0700 VM dir and given
  // to the guest on the work disk (never on the kernel command line, which `ps` shows).
  BANGER_TRY_ASSIGN(auto token, agentclient::new_agent_token());
  BANGER_TRY(agentclient::write_agent_token(agent_token_path(deps_.paths, vm), token));
  forget_agent(vm);  // a cached client holds the previous token
  base::report(progress, {"disks", "preparing disks", 0, 0});
  BANGER_TRY_ASSIGN(auto strategy,
                    prepare_disks(vm, image.rootfs_path, attachment, key.public_key, token, sync));
  std::string root_path = vmstorage::root_disk_path(dir, strategy);
  unpublish_on_error.dismiss();
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

Expected<vmm::VmConfig> MicrovmHost::vm_config(const model::Vm& vm, const Driver& driver) {
  BANGER_TRY_ASSIGN(auto image, deps_.images.show(vm.image));
  BANGER_TRY_ASSIGN(auto kernel, deps_.kernels.show(vm.kernel));
  BANGER_TRY_ASSIGN(auto netmask, hostnat::netmask_from_prefix(deps_.config.cidr));
  vmm::CmdlineSpec cmdline{.guest_ip = vm.guest_ip,
                           .gateway_ip = deps_.config.bridge_ip,
                           .netmask = hostnat::format_ipv4(netmask),
                           .hostname = vm.name,
                           .extra_args = base::split(image.extra_kernel_args, ' '),
                           .init = ""};
  BANGER_TRY_ASSIGN(auto strategy, vmstorage::parse_rootfs_strategy(vm.rootfs_strategy));
  std::string dir = vm_dir_of(deps_.paths, vm);
  const auto& handle = driver.handle;
  return vmm::VmConfig{.vm_id = vm.id,
                       .name = vm.name,
                       .vcpu = vm.vcpu,
                       .memory_mib = vm.memory_mib,
                       .kernel_path = kernel.vmlinux_path,
                       .initrd_path = kernel.initrd_path.empty()
                                          ? std::nullopt
                                          : std::optional<std::string>(kernel.initrd_path),
                       .kernel_cmdline = driver.vmm.kernel_cmdline(cmdline),
                       .root_disk = {.path = vm.overlay_path,
                                     .format = vmstorage::root_disk_format(strategy),
                                     .read_only = false},
                       .work_disk = vmm::DiskConfig{.path = vmstorage::work_disk_path(dir),
                                                    .format = vmm::DiskFormat::raw,
                                                    .read_only = false},
                       .tap_name = vm.tap_name,
                       .mac = vm.mac,
                       .agent_socket_path = handle.agent_socket,
                       .stream_socket_paths = driver.paths.stream_sockets,
                       .vsock_cid = handle.vsock_cid,
                       .control_socket_path = handle.control_socket,
                       .console_log_path = handle.console_log,
                       .run_dir = dir,
                       .accel = options_.accel,
                       .run_as = std::nullopt,
                       .on_spawned = {}};
}

Expected<std::pair<std::uint32_t, std::uint32_t>> MicrovmHost::unprivileged_ids(
    const std::string& vm_name, const std::string& guest_ip) const {
  std::uint32_t id = vmm::vmm_id_for_ip(guest_ip);
  if (id == 0) {
    return fail(Errc::failed_precondition,
                fmt::format("vm {}: no unprivileged VMM id without a guest IPv4 address (got "
                            "\"{}\")",
                            vm_name, guest_ip));
  }
  if (auto unused = deps_.check_ids_unused(id, id); !unused) {
    return tl::unexpected(with_context(
        unused.error(), fmt::format("vm {}: choosing the VMM's unprivileged id", vm_name)));
  }
  return std::pair{id, id};
}

Expected<std::optional<std::pair<std::uint32_t, std::uint32_t>>> MicrovmHost::vmm_ids(
    const model::Vm& vm) const {
  if (!options_.drop_vmm_privileges) {
    return std::optional<std::pair<std::uint32_t, std::uint32_t>>{};
  }
  BANGER_TRY_ASSIGN(auto ids, unprivileged_ids(vm.name, vm.guest_ip));
  return std::optional<std::pair<std::uint32_t, std::uint32_t>>(ids);
}

Expected<Launched> MicrovmHost::launch(const model::Vm& vm, const SpawnedFn& on_spawned) {
  BANGER_TRY_ASSIGN(auto driver, driver_of(vm));
  BANGER_TRY_ASSIGN(auto config, vm_config(vm, driver));
  BANGER_TRY_ASSIGN(config.run_as, vmm_ids(vm));
  if (config.run_as && !vm.tap_name.empty()) {
    // The VMM opens its TAP as the VM's id: QEMU before -runas would not need it, Firecracker
    // under the jailer does (it opens the TAP after the jailer dropped its privileges).
    BANGER_TRY(deps_.network.give_tap(vm.tap_name, config.run_as->first));
  }
  config.on_spawned = [&](const vmm::VmmHandle& spawned) -> Status {
    if (options_.test_fault_after_vmm_spawn) {
      // Test-only (BANGER_TEST_FAULT=after-vmm-spawn, docs/decisions/0013): die
      // the way a SIGKILLed daemon does, after the spawn and before anything is
      // recorded.
      BANGER_LOG_WARN("vm {}: test fault after-vmm-spawn: SIGKILL to the daemon", vm.name);
      ::raise(SIGKILL);
    }
    return on_spawned ? on_spawned(Launched{.pid = spawned.pid, .start_time = spawned.start_time})
                      : Status{};
  };
  BANGER_TRY_ASSIGN(auto launched, driver.vmm.launch(config));
  // handles.json: the transient handles, for humans and for crash recovery
  // tooling.
  (void)sys::write_file_atomic(config.run_dir + "/handles.json",
                               vmm::vmm_handle_to_json(launched).dump(2) + "\n", 0600);
  return Launched{.pid = launched.pid, .start_time = launched.start_time};
}

Expected<agentproto::HealthResult> MicrovmHost::wait_for_agent(
    const model::Vm& vm, std::chrono::steady_clock::time_point deadline,
    const base::CancelFn& stop_waiting, const bool& vmm_exited) {
  BANGER_TRY_ASSIGN(auto agent, agent_for(vm));
  // The deadline is on the injected clock; the agent's attempts run on real
  // time.
  const auto budget =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - deps_.clock.steady_now());
  auto healthy = agent->wait_healthy(std::max(budget, std::chrono::milliseconds(0)), stop_waiting);
  if (healthy) {
    BANGER_LOG_INFO("vm {}: agent {} answered (guest up {:.1f} s)", vm.name,
                    base::printable(healthy->version, kMaxLoggedGuestText), healthy->uptime_s);
    return healthy;
  }
  if (vmm_exited) {
    return tl::unexpected(exited_during_boot(vm));
  }
  if (healthy.error().code == Errc::timeout) {
    return fail(
        Errc::timeout,
        fmt::format("vm {}: banger-agent did not answer within {} s ({}); console:\n{}", vm.name,
                    options_.boot_timeout.count(), agent->describe(), quoted_console_tail(vm)));
  }
  return tl::unexpected(healthy.error());
}

Error MicrovmHost::exited_during_boot(const model::Vm& vm) {
  return Error{Errc::failed_precondition,
               "the VM exited during boot; console:\n" + quoted_console_tail(vm)};
}

Status MicrovmHost::pin_reported_host_key(const model::Vm& vm, std::string reported,
                                          std::chrono::steady_clock::time_point deadline,
                                          const base::CancelFn& stop_waiting,
                                          const bool& vmm_exited) {
  // The guest makes its key at first boot, usually before its agent starts; poll health
  // until the key is there.
  constexpr std::chrono::milliseconds kPoll{50};
  while (reported.empty()) {
    if (base::is_cancelled(stop_waiting)) {
      return vmm_exited ? tl::unexpected(exited_during_boot(vm))
                        : fail(Errc::cancelled,
                               "waiting for vm " + vm.name + "'s ssh host key: cancelled");
    }
    if (deps_.clock.steady_now() >= deadline) {
      return fail(Errc::timeout,
                  fmt::format("vm {}: the guest reported no ssh host key within {} s (its sshd "
                              "makes one at first boot); console:\n{}",
                              vm.name, options_.boot_timeout.count(), quoted_console_tail(vm)));
    }
    deps_.clock.sleep_for(kPoll);
    BANGER_TRY_ASSIGN(auto agent, agent_for(vm));
    if (auto health = agent->health(std::chrono::seconds(2), stop_waiting);
        health && health->ssh_host_key) {
      reported = *health->ssh_host_key;
    }
  }
  // "ssh-ed25519 <base64>" (the agent's form); pin() refuses anything else, naming it.
  const auto space = reported.find(' ');
  const std::string type = reported.substr(0, space);
  const std::string key = space == std::string::npos ? "" : reported.substr(space + 1);
  if (type != guest::kHostKeyType || key.empty()) {
    return fail(Errc::invalid_argument,
                fmt::format("vm {}: the guest agent reported an ssh host key that is not "
                            "\"ssh-ed25519 <base64>\": \"{}\"",
                            vm.name, base::printable(reported, kMaxLoggedGuestText)));
  }
  return deps_.known_hosts.pin({vm.guest_ip, vm.name + ".vm"}, type, key);
}

Status MicrovmHost::wait_ready(const model::Vm& vm, Readiness readiness,
                               const base::CancelFn& cancel) {
  auto deadline = deps_.clock.steady_now() + options_.boot_timeout;
  bool vmm_exited = false;
  base::CancelFn stop_waiting = [&] {
    if (base::is_cancelled(cancel)) {
      return true;
    }
    vmm_exited = !alive(vm);
    return vmm_exited;
  };
  // The outcome of waiting for sshd, with the console when the VM died or never answered.
  auto sshd_outcome = [&](Status status) -> Status {
    if (status) {
      return status;
    }
    if (vmm_exited) {
      return tl::unexpected(exited_during_boot(vm));
    }
    if (status.error().code == Errc::timeout) {
      return fail(Errc::timeout,
                  fmt::format("vm {} did not answer ssh within {} s; console:\n{}", vm.name,
                              options_.boot_timeout.count(), quoted_console_tail(vm)));
    }
    return status;
  };
  // S8/S9: the agent answers health and reports the sshd's host key, pinned from that
  // authenticated channel (nothing on the guest network can substitute its own key); then,
  // for ssh readiness, sshd's identification line (no key exchange: cheap for a guest whose
  // CPU is emulated, and many VMs booting together do not queue on it).
  if (image_has_agent(vm)) {
    BANGER_TRY_ASSIGN(auto health, wait_for_agent(vm, deadline, stop_waiting, vmm_exited));
    if (!starts_ssh(vm)) {
      return {};  // an agent-only image (a pulled one): the agent is all there is to wait for
    }
    if (health.ssh_host_key) {
      BANGER_TRY(
          pin_reported_host_key(vm, *health.ssh_host_key, deadline, stop_waiting, vmm_exited));
      if (readiness == Readiness::agent) {
        return {};
      }
      auto answered = guest::wait_for_sshd(
          deps_.clock,
          {.ip = vm.guest_ip, .port = 22, .deadline = deadline, .cancel = stop_waiting});
      return sshd_outcome(answered);
    }
    BANGER_LOG_INFO(
        "vm {}: its agent does not report the ssh host key (an image built before "
        "agents did); pinning the key ssh-keyscan sees",
        vm.name);
  }
  guest::WaitForSshOptions options;
  options.ip = vm.guest_ip;
  options.host_names = {vm.guest_ip, vm.name + ".vm"};
  options.deadline = deadline;
  options.cancel = stop_waiting;
  return sshd_outcome(guest::wait_for_ssh(deps_.runner, deps_.clock, deps_.known_hosts, options));
}

Status MicrovmHost::shutdown(const model::Vm& vm, std::chrono::seconds grace) {
  BANGER_TRY_ASSIGN(auto driver, driver_of(vm));
  if (!driver.vmm.alive(driver.handle)) {
    return {};
  }
  // S13: the agent syncs and powers off; SSH is the fallback for a guest whose
  // agent is gone.
  auto agent = require_agent(vm);
  Status off =
      agent ? (*agent)->sync(std::chrono::seconds(10)) : Status(tl::unexpected(agent.error()));
  if (off) {
    off = (*agent)->poweroff(std::chrono::seconds(3));
  }
  if (!off) {
    BANGER_LOG_WARN("vm {}: agent sync/poweroff: {}; trying ssh", vm.name, off.error().message);
    ssh_poweroff(vm);
  }
  return driver.vmm.stop(driver.handle, grace);
}

void MicrovmHost::ssh_poweroff(const model::Vm& vm) {
  // The connection drops when the guest powers off, so ssh's exit status says
  // nothing; the VMM's exit does.
  sys::SshCommandSpec ssh{
      .ssh_program = "ssh",
      .key_path = deps_.config.ssh_key_path,
      .known_hosts_path = deps_.paths.known_hosts,
      .ip = vm.guest_ip,
      .command = {"sync; (systemctl poweroff || poweroff -f) >/dev/null 2>&1 &"}};
  auto argv = sys::ssh_argv(ssh);
  argv.insert(argv.begin() + 1, {"-o", "BatchMode=yes", "-o", "ConnectTimeout=5"});
  (void)deps_.runner.run({.argv = argv, .timeout = std::chrono::seconds(15)});
}

Status MicrovmHost::kill(const model::Vm& vm) {
  BANGER_TRY_ASSIGN(auto driver, driver_of(vm));
  if (!driver.vmm.alive(driver.handle)) {
    return {};
  }
  return driver.vmm.kill(driver.handle);
}

Expected<bool> MicrovmHost::signal(const model::Vm& vm, int signal) {
  BANGER_TRY_ASSIGN(auto driver, driver_of(vm));
  if (!driver.vmm.alive(driver.handle)) {
    return true;
  }
  return driver.vmm.signal(driver.handle, signal);
}

Status MicrovmHost::release(const model::Vm& vm) {
  deps_.forwarder.remove_all(vm.id);
  unpublish(vm);
  forget_agent(vm);
  if (auto driver = driver_of(vm); driver && !driver->vmm.alive(driver->handle)) {
    driver->vmm.discard(driver->handle, driver->paths);  // sockets, a jail
  }
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
  deps_.forwarder.remove_all(vm.id);
  unpublish(vm);
  forget_agent(vm);
  std::string dir = vm_dir_of(deps_.paths, vm);
  BANGER_TRY(vmstorage::remove_vm_disks(dir));
  BANGER_TRY(sys::remove_all(dir));
  if (auto driver = driver_of(vm); driver && !driver->vmm.alive(driver->handle)) {
    driver->vmm.discard(driver->handle, driver->paths);
  }
  std::vector<std::string> names = {vm.name + ".vm"};
  if (!vm.guest_ip.empty()) {
    names.push_back(vm.guest_ip);
    BANGER_TRY(deps_.network.release_ip(vm.guest_ip));
  }
  return deps_.known_hosts.remove(names);
}

Status MicrovmHost::verify_host_key(const model::Vm& vm) {
  if (!starts_ssh(vm)) {
    return fail(Errc::failed_precondition,
                fmt::format("vm {} runs image {}, which starts no ssh server: use banger vm exec "
                            "-it {} for a shell",
                            vm.name, vm.image, vm.name));
  }
  // The agent's report when it gives one (wait_ready's reasons); then sshd must answer, which
  // a VM started with agent readiness may not do yet.
  if (image_has_agent(vm)) {
    if (auto agent = agent_for(vm)) {
      auto health = (*agent)->health(std::chrono::seconds(3));
      if (health && health->ssh_host_key) {
        const auto deadline = deps_.clock.steady_now() + kSshdAnswerWait;
        const bool vmm_exited = false;
        BANGER_TRY(pin_reported_host_key(vm, *health->ssh_host_key, deadline, {}, vmm_exited));
        return guest::wait_for_sshd(deps_.clock,
                                    {.ip = vm.guest_ip, .port = 22, .deadline = deadline});
      }
    }
  }
  BANGER_TRY_ASSIGN(auto key,
                    guest::scan_host_key(deps_.runner, vm.guest_ip, 22, std::chrono::seconds(3)));
  return deps_.known_hosts.pin({vm.guest_ip, vm.name + ".vm"}, key.type, key.base64);
}

void MicrovmHost::poll_usage(const std::vector<model::Vm>& running) {
  std::map<std::string, PolledSample> taken;
  for (const auto& vm : running) {
    if (vm.state != model::VmState::running || vm.vmm_pid <= 0) {
      continue;
    }
    auto sample = deps_.sample_process(vm.vmm_pid);
    if (!sample) {
      BANGER_LOG_DEBUG("vm {}: no usage sample: {}", vm.name, sample.error().message);
      continue;
    }
    taken[vm.id] = {.pid = vm.vmm_pid,
                    .start_time = vm.vmm_start_time,
                    .at = deps_.clock.steady_now(),
                    .sample = *sample};
  }
  std::lock_guard lock(samples_mutex_);
  samples_ = std::move(taken);
}

Expected<VmUsage> MicrovmHost::usage(const model::Vm& vm) {
  // CPU% needs two samples: the poller's last one when it is recent enough to mean something,
  // else one taken now and kUsageWindow earlier.
  std::optional<PolledSample> polled;
  {
    std::lock_guard lock(samples_mutex_);
    if (auto it = samples_.find(vm.id); it != samples_.end() && it->second.pid == vm.vmm_pid &&
                                        it->second.start_time == vm.vmm_start_time) {
      polled = it->second;
    }
  }
  if (polled && deps_.clock.steady_now() - polled->at < kMinPolledWindow) {
    polled.reset();
  }
  sys::ProcessSample first;
  std::chrono::steady_clock::time_point started;
  if (polled) {
    first = polled->sample;
    started = polled->at;
  } else {
    BANGER_TRY_ASSIGN(first, deps_.sample_process(vm.vmm_pid));
    started = deps_.clock.steady_now();
    deps_.clock.sleep_for(kUsageWindow);
  }
  BANGER_TRY_ASSIGN(auto second, deps_.sample_process(vm.vmm_pid));
  double seconds = std::chrono::duration<double>(deps_.clock.steady_now() - started).count();
  double ticks = static_cast<double>(sys::clock_ticks_per_second());
  VmUsage usage;
  usage.cpu_seconds = static_cast<double>(second.cpu_ticks) / ticks;
  if (seconds > 0) {
    usage.cpu_percent =
        100.0 * static_cast<double>(second.cpu_ticks - first.cpu_ticks) / ticks / seconds;
  }
  usage.rss_bytes = second.rss_bytes;
  if (auto disk = sys::disk_usage(deps_.paths.vm_dir(vm.id))) {
    usage.disk_allocated_bytes = disk->allocated_bytes;
    usage.disk_apparent_bytes = disk->apparent_bytes;
  }
  return usage;
}

Expected<std::shared_ptr<agentclient::AgentClient>> MicrovmHost::agent_for(const model::Vm& vm) {
  BANGER_TRY_ASSIGN(auto driver, driver_of(vm));
  std::lock_guard lock(agents_mutex_);
  auto& client = agents_[vm.id];
  if (!client) {
    auto token = agentclient::read_agent_token(agent_token_path(deps_.paths, vm));
    if (!token) {
      agents_.erase(vm.id);
      return tl::unexpected(
          with_context(token.error(), fmt::format("talking to the agent of vm {}", vm.name)));
    }
    client = std::make_shared<agentclient::AgentClient>(
        dialer_for(driver.vmm.agent_endpoint(driver.handle)), std::move(*token));
  }
  return client;
}

void MicrovmHost::forget_agent(const model::Vm& vm) {
  std::lock_guard lock(agents_mutex_);
  agents_.erase(vm.id);
  streams_.erase(vm.id);
}

Expected<std::shared_ptr<agentclient::StreamChannels>> MicrovmHost::streams_for(
    const model::Vm& vm) {
  BANGER_TRY_ASSIGN(auto driver, driver_of(vm));
  std::lock_guard lock(agents_mutex_);
  auto& channels = streams_[vm.id];
  if (!channels) {
    auto token = agentclient::read_agent_token(agent_token_path(deps_.paths, vm));
    if (!token) {
      streams_.erase(vm.id);
      return tl::unexpected(
          with_context(token.error(), fmt::format("talking to the agent of vm {}", vm.name)));
    }
    std::vector<std::unique_ptr<agentclient::Dialer>> dialers;
    for (const auto& endpoint : driver.vmm.stream_endpoints(driver.handle, driver.paths)) {
      dialers.push_back(dialer_for(endpoint));
    }
    channels = std::make_shared<agentclient::StreamChannels>(vm.name, std::move(dialers),
                                                             std::move(*token));
  }
  return channels;
}

Expected<agentclient::StreamSession> MicrovmHost::open_stream(
    const model::Vm& vm, const agentproto::StreamExecParams& params,
    std::chrono::milliseconds timeout, const base::CancelFn& cancel) {
  BANGER_TRY(require_agent(vm));  // an image without the agent: failed_precondition
  BANGER_TRY_ASSIGN(auto channels, streams_for(vm));
  if (channels->channels() == 0) {
    return fail(Errc::failed_precondition, fmt::format("vm {} has no stream channels", vm.name));
  }
  return channels->open(params, timeout, cancel);
}

bool MicrovmHost::starts_ssh(const model::Vm& vm) {
  auto image = deps_.images.show(vm.image);
  return !image || image->ssh;  // cannot tell: expect sshd, the usual case
}

bool MicrovmHost::image_has_agent(const model::Vm& vm) {
  auto image = deps_.images.show(vm.image);
  if (!image) {
    return true;  // cannot tell: expect the agent (the usual case), fail with
                  // its errors
  }
  // A rebuild (`image build --force`) publishes a new file at the same path:
  // key on both.
  const std::string key = fmt::format("{}@{}", image->rootfs_path, image->created_at);
  {
    std::lock_guard lock(agents_mutex_);
    if (auto it = image_has_agent_.find(key); it != image_has_agent_.end()) {
      return it->second;
    }
  }
  auto found =
      ext4::exists(deps_.runner, image->rootfs_path, std::string(imagecat::kGuestAgentPath));
  if (!found) {
    return true;
  }
  std::lock_guard lock(agents_mutex_);
  image_has_agent_[key] = *found;
  if (!*found) {
    BANGER_LOG_WARN(
        "image {} has no banger-agent: its vms are ready when ssh "
        "answers and stop "
        "over ssh; health, ports and stats need the agent",
        vm.image);
  }
  return *found;
}

Expected<std::shared_ptr<agentclient::AgentClient>> MicrovmHost::require_agent(
    const model::Vm& vm) {
  if (!image_has_agent(vm)) {
    return fail(Errc::failed_precondition,
                fmt::format("image {} has no banger-agent (images registered from outside "
                            "banger do not get one): rebuild the vm on a banger-built image",
                            vm.image));
  }
  return agent_for(vm);
}

Status MicrovmHost::publish(const model::Vm& vm, const std::string& ip, const std::string& tap) {
  // The guest resolver needs the bridge address, which attach() has just made
  // sure of. A failure costs guests their name resolution, not their boot: log
  // it, doctor shows it.
  if (auto resolver = deps_.dns.ensure_guest_resolver(); !resolver) {
    BANGER_LOG_WARN("vm {}: guest dns resolver: {}", vm.name, resolver.error().message);
  }
  BANGER_TRY(deps_.dns.set(vm.name, ip));
  // Names outside .vm are resolved only for guests with NAT (S7: DNS is no way out).
  if (auto forwarding = deps_.dns.set_forwarding(ip, vm.nat); !forwarding) {
    deps_.dns.remove(vm.name);
    return forwarding;
  }
  // Admitted before it boots: the bridge table drops everything a TAP sends until its VM is
  // admitted, and pins the TAP to the VM's address and MAC. Without nft a VM without NAT still
  // runs, unfenced (its TAP is an isolated bridge port all the same); doctor's nat row says why.
  if (auto admitted = deps_.nat.admit({.vm_id = vm.id, .ip = ip, .tap = tap, .nat = vm.nat});
      !admitted) {
    if (vm.nat) {
      deps_.dns.remove(vm.name);
      (void)deps_.dns.set_forwarding(ip, false);
      return admitted;
    }
    BANGER_LOG_WARN("vm {}: {}", vm.name, admitted.error().message);
  }
  return {};
}

void MicrovmHost::unpublish(const model::Vm& vm) {
  deps_.dns.remove(vm.name);
  if (!vm.guest_ip.empty()) {
    (void)deps_.dns.set_forwarding(vm.guest_ip, false);
  }
  if (auto evicted = deps_.nat.evict(vm.id); !evicted) {
    BANGER_LOG_WARN("vm {}: {}", vm.name, evicted.error().message);
  }
}

Status MicrovmHost::set_nat(const model::Vm& vm, bool enabled) {
  BANGER_TRY(enabled ? deps_.nat.enable(vm.id, vm.guest_ip, vm.tap_name)
                     : deps_.nat.disable(vm.id));
  return deps_.dns.set_forwarding(vm.guest_ip, enabled);
}

Expected<GuestHealth> MicrovmHost::guest_health(const model::Vm& vm) {
  BANGER_TRY_ASSIGN(auto agent, require_agent(vm));
  BANGER_TRY_ASSIGN(auto health, agent->health(kAgentQuickCall));
  return GuestHealth{.uptime_s = health.uptime_s,
                     .boot_id = health.boot_id,
                     .agent_version = health.version,
                     .hostname = health.hostname};
}

Expected<GuestExecResult> MicrovmHost::guest_exec(const model::Vm& vm, const GuestExec& command) {
  BANGER_TRY_ASSIGN(auto agent, require_agent(vm));
  // The agent enforces timeout_s; the host waits a little longer for the reply (an hour when
  // the command has no timeout). timeout_s comes from the RPC as any double: clamp it before
  // converting (a huge value or NaN must not reach an integer conversion).
  const double seconds = command.timeout_s;
  const auto wait = std::isfinite(seconds) && seconds > 0 &&
                            seconds < std::chrono::duration<double>(kMaxExecWait).count()
                        ? std::chrono::milliseconds(static_cast<std::int64_t>(seconds * 1000)) +
                              std::chrono::seconds(30)
                        : std::chrono::milliseconds(kMaxExecWait);
  if (!std::isfinite(seconds) || seconds < 0) {
    return fail(Errc::invalid_argument,
                fmt::format("exec timeout {} is not a number of seconds >= 0", seconds));
  }
  BANGER_TRY_ASSIGN(auto result, agent->exec({.argv = command.argv,
                                              .env = command.env,
                                              .cwd = command.cwd.empty() ? "/root" : command.cwd,
                                              .stdin_data = command.stdin_data,
                                              .timeout_s = command.timeout_s},
                                             wait, command.cancel));
  return GuestExecResult{.exit_code = result.exit_code,
                         .signal = result.signal,
                         .timed_out = result.timed_out,
                         .stdout_data = std::move(result.stdout_data),
                         .stderr_data = std::move(result.stderr_data),
                         .stdout_truncated = result.stdout_truncated,
                         .stderr_truncated = result.stderr_truncated};
}

Expected<std::vector<GuestPort>> MicrovmHost::guest_ports(const model::Vm& vm) {
  BANGER_TRY_ASSIGN(auto agent, require_agent(vm));
  BANGER_TRY_ASSIGN(auto listed, agent->ports(kAgentQuickCall));
  std::vector<GuestPort> ports;
  for (const auto& entry : listed.ports) {
    ports.push_back({.proto = entry.proto,
                     .family = entry.family,
                     .address = entry.address,
                     .port = entry.port,
                     .pid = static_cast<int>(entry.pid),
                     .process = entry.process,
                     .scheme = "",
                     .reachable = reachable_from_host(entry.address, vm.guest_ip)});
  }
  if (listed.dropped > 0) {
    BANGER_LOG_WARN("vm {}: the agent listed {} more ports (duplicates or beyond {}); ignored",
                    vm.name, listed.dropped, agentproto::kMaxPortEntries);
  }
  // Probe the reachable TCP listeners for HTTP(S) on a fixed pool (H3: never a thread per
  // guest-listed port; a silent port costs its timeout, so several run at once).
  std::vector<GuestPort*> probed;
  for (auto& port : ports) {
    if (port.proto == "tcp" && port.reachable) {
      probed.push_back(&port);
    }
  }
  for_each_index(probed.size(), kPortProbeThreads, [&](std::size_t i) {
    probed[i]->scheme = guest::to_string(guest::probe_port_scheme(vm.guest_ip, probed[i]->port));
  });
  return ports;
}

bool MicrovmHost::alive(const model::Vm& vm) {
  if (vm.vmm_pid <= 0) {
    return false;
  }
  auto driver = driver_of(vm);
  return driver && driver->vmm.alive(driver->handle);
}

Expected<base::UniqueFd> MicrovmHost::vmm_exit_fd(const model::Vm& vm) {
  auto watch = sys::open_process_watch(vm.vmm_pid, vm.vmm_start_time);
  if (!watch && watch.error().code == Errc::not_found) {
    return fail(Errc::not_running,
                fmt::format("the VMM of vm {} (pid {}) is gone", vm.name, vm.vmm_pid));
  }
  return watch;
}

std::string MicrovmHost::quoted_console_tail(const model::Vm& vm) {
  return base::printable_lines(sys::read_tail(console_log_path(vm), kConsoleTailBytes), 20,
                               kMaxLoggedGuestText);
}

std::string MicrovmHost::console_tail(const model::Vm& vm, std::size_t lines) {
  return base::tail_lines(sys::read_tail(console_log_path(vm), kConsoleTailBytes), lines);
}

void MicrovmHost::kill_unrecorded_vmms(const std::vector<model::Vm>& vms) {
  auto processes = deps_.list_processes();
  for (const auto& vm : vms) {
    auto driver = driver_of(vm);
    if (!driver) {
      continue;
    }
    const vmm::VmmPaths& paths = driver->paths;
    const bool keeps_its_vmm = vm.state == model::VmState::running && vm.vmm_pid > 0;
    for (const auto& process : processes) {
      if (!driver->vmm.launched_with(process.argv, paths)) {
        continue;
      }
      if (keeps_its_vmm && process.pid == vm.vmm_pid && process.start_time == vm.vmm_start_time) {
        continue;
      }
      BANGER_LOG_WARN(
          "reconcile: vm {}: killing VMM pid {} that its record does not hold "
          "(a daemon died before recording it)",
          vm.name, process.pid);
      vmm::VmmHandle orphan = driver->handle;
      orphan.pid = process.pid;
      orphan.start_time = process.start_time;  // kill() never signals a reused pid
      if (auto killed = driver->vmm.kill(orphan); !killed) {
        BANGER_LOG_WARN("reconcile: vm {}: {}", vm.name, killed.error().message);
      }
    }
  }
}

Status MicrovmHost::reconcile(const std::vector<model::Vm>& vms) {
  // First: a VMM no record holds still has its TAP open; it must be gone before the TAP pool
  // hands that TAP out again (security review M2).
  kill_unrecorded_vmms(vms);
  // Then what the backends left for VMs that do not run (Firecracker's jails after a crash).
  std::vector<std::string> running_ids;  // the VMs whose VMM lives (asked once per VM)
  for (const auto& vm : vms) {
    if (vm.state == model::VmState::running && alive(vm)) {
      running_ids.push_back(vm.id);
    }
  }
  auto runs = [&](const model::Vm& vm) {
    return std::find(running_ids.begin(), running_ids.end(), vm.id) != running_ids.end();
  };
  for (auto backend : {model::VmmBackend::qemu, model::VmmBackend::firecracker}) {
    if (auto vmm = deps_.vmms.get(backend)) {
      (*vmm)->remove_leftovers(running_ids);
    }
  }
  // Leases for every addressed VM; TAPs, DNS records, forwarding and the nftables tables for
  // the running ones (S13: rebuilt from the live set, nothing left behind).
  std::vector<hostnat::Lease> leases;
  std::map<std::string, std::string> records;
  std::vector<std::string> forwarding;
  std::vector<hostnat::NatVm> guests;
  for (const auto& vm : vms) {
    if (vm.guest_ip.empty()) {
      continue;
    }
    bool running = runs(vm);
    leases.push_back({.vm_id = vm.id, .ip = vm.guest_ip, .tap = running ? vm.tap_name : ""});
    if (running) {
      records[vm.name] = vm.guest_ip;
      guests.push_back({.vm_id = vm.id, .ip = vm.guest_ip, .tap = vm.tap_name, .nat = vm.nat});
      if (vm.nat) {
        forwarding.push_back(vm.guest_ip);
      }
    }
  }
  BANGER_TRY(deps_.dns.replace_all(records));
  BANGER_TRY(deps_.dns.replace_forwarding(forwarding));
  // The TAP pool is reconciled whenever the bridge exists, not only when some VM has an
  // address: TAPs an earlier daemon left (its warm pool) are adopted or deleted, else they
  // pile up across restarts until no tap-fc-<n> name is free (security review M3). Without a
  // bridge and without leases no VM was ever networked: the host is left alone.
  BANGER_TRY_ASSIGN(bool bridge, deps_.network.bridge_exists());
  if (bridge || !leases.empty()) {
    BANGER_TRY(deps_.network.reconcile(leases));
  }
  if (!records.empty()) {
    if (auto resolver = deps_.dns.ensure_guest_resolver(); !resolver) {
      BANGER_LOG_WARN("guest dns resolver: {}", resolver.error().message);
    }
  }
  // The tables are always rebuilt once banger has networked VMs on this host, also with no VM
  // running: rules an earlier daemon left for VMs that are gone must not outlive them
  // (security review L6), and the drop rules fence the next guests in from the start.
  bool rebuild = bridge || !guests.empty();
  if (!rebuild) {
    BANGER_TRY_ASSIGN(rebuild, deps_.nat.tables_exist());
  }
  return rebuild ? deps_.nat.rebuild(guests) : Status{};
}

Expected<std::vector<model::PortForward>> MicrovmHost::add_forwards(
    const model::Vm& vm, const std::vector<model::PortForward>& forwards) {
  if (vm.guest_ip.empty()) {
    return fail(Errc::failed_precondition,
                fmt::format("vm \"{}\" has no address to forward to", vm.name));
  }
  return deps_.forwarder.add(vm.id, vm.guest_ip, forwards);
}

Status MicrovmHost::remove_forwards(const model::Vm& vm,
                                    const std::vector<model::PortForward>& forwards) {
  return deps_.forwarder.remove(vm.id, forwards);
}

std::vector<model::PortForward> MicrovmHost::forwards(const model::Vm& vm) {
  return deps_.forwarder.list(vm.id);
}

}  // namespace banger::vm
