// The composition root: the only place that knows every concrete type. It wires the services
// with their Deps, registers the RPC handlers and serves the socket. No business logic.
#pragma once

#include <fmt/format.h>
#include <sys/types.h>

#include <memory>

#include "banger/base/clock.hpp"
#include "banger/base/random.hpp"
#include "banger/config/config.hpp"
#include "banger/dns/dns_service.hpp"
#include "banger/guest/known_hosts.hpp"
#include "banger/hostnat/nat_ip_forward.hpp"
#include "banger/hostnat/nat_service.hpp"
#include "banger/hostnat/netlink_link_ops.hpp"
#include "banger/hostnat/network_service.hpp"
#include "banger/imagecat/image_service.hpp"
#include "banger/imagecat/rootfs_layout.hpp"
#include "banger/kernelcat/kernel_service.hpp"
#include "banger/paths/paths.hpp"
#include "banger/rpc/registry.hpp"
#include "banger/rpc/server.hpp"
#include "banger/store/database.hpp"
#include "banger/store/image_repository.hpp"
#include "banger/store/kernel_repository.hpp"
#include "banger/store/vm_repository.hpp"
#include "banger/sys/command_runner.hpp"
#include "banger/sys/file_lock.hpp"
#include "banger/sys/fs.hpp"
#include "banger/sys/process_launcher.hpp"
#include "banger/vm/microvm_host.hpp"
#include "banger/vm/stale_reaper.hpp"
#include "banger/vm/vm_service.hpp"
#include "banger/vmm/qemu/qemu_vmm.hpp"

namespace banger::daemon {

struct DaemonOptions {
  paths::Paths paths;
  config::Config config;
  uid_t owner_uid = 0;  // may use the socket (root always may)
};

// Owns: the instance lock, the store, every service, the RPC registry and server.
// Thread-safety: start() and run() from one thread; stop() from any thread.
class Daemon {
 public:
  // Prepares the directories, takes the single-instance lock (failed_precondition "another
  // bangerd is running (pid N)" when it is held), opens and migrates the store, wires the
  // services, registers every method and binds the socket.
  static Expected<std::unique_ptr<Daemon>> start(DaemonOptions options);

  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;
  ~Daemon();

  // Serves until stop() (or the `shutdown` method). Returns the server's error, if any.
  Status run();
  // Makes run() return; callable from any thread, including signal-watching threads.
  void stop();

  // The registered method names (docs/rpc.md must list each).
  std::vector<std::string> methods() const { return registry_.methods(); }

 private:
  Daemon(DaemonOptions options, sys::FileLock lock, store::Database db);
  void register_handlers();
  // QEMU host capabilities, probed once (a missing qemu leaves defaults: launch then fails
  // with a clear error and doctor says why).
  static vmm::qemu::QemuVmmOptions qemu_options(const config::Config& config);
  // Accelerator (policy::decide_kvm unless forced by the config) and rootfs strategy.
  static vm::MicrovmHostOptions host_options(const DaemonOptions& options,
                                             const vmm::qemu::QemuHostCaps& caps);
  // Names of the VMs whose image is `image` (ImageService refuses to delete it while any).
  std::vector<std::string> vms_using_image(const std::string& image);
  // "vm <name>" / "image <name>" for each VM and image that uses kernel `kernel`
  // (KernelService refuses to remove it while any).
  std::vector<std::string> kernel_users(const std::string& kernel);
  // `image register --kernel`: imports the files as kernel `name` and returns its name.
  Expected<std::string> register_image_kernel(const std::string& name, const std::string& vmlinux,
                                              const std::string& initrd);

  // Declared in dependency order: destroyed in reverse.
  DaemonOptions options_;
  sys::FileLock instance_lock_;
  base::SystemClock clock_;
  base::Mt19937Random random_;
  sys::PosixCommandRunner runner_;
  store::Database db_;
  store::VmRepository vm_repo_{db_};
  store::ImageRepository image_repo_{db_};
  store::KernelRepository kernel_repo_{db_};
  kernelcat::KernelService kernels_{
      {.kernels = kernel_repo_,
       .runner = runner_,
       .paths = options_.paths,
       .clock = clock_,
       .users_of = [this](const std::string& kernel) { return kernel_users(kernel); },
       .find_tool = sys::find_executable}};
  imagecat::ImageService images_{
      {.images = image_repo_,
       .runner = runner_,
       .paths = options_.paths,
       .clock = clock_,
       .users_of = [this](const std::string& image) { return vms_using_image(image); },
       .register_kernel =
           [this](const std::string& name, const std::string& vmlinux, const std::string& initrd) {
             return register_image_kernel(name, vmlinux, initrd);
           },
       .find_tool = sys::find_executable,
       .agent_binary = imagecat::locate_agent_binary(sys::self_executable_dir())}};
  sys::PosixProcessLauncher launcher_;
  vmm::qemu::QemuVmm vmm_{{.launcher = launcher_}, qemu_options(options_.config)};
  vmm::VmmRegistry vmms_{vmm_};  // firecracker joins when its backend exists
  hostnat::NetlinkLinkOps link_ops_;
  hostnat::NetworkService network_{{.links = link_ops_,
                                    .bridge_name = options_.config.bridge_name,
                                    .bridge_ip = options_.config.bridge_ip,
                                    .cidr = options_.config.cidr,
                                    .tap_pool_size = options_.config.tap_pool_size}};
  guest::KnownHosts known_hosts_{options_.paths.known_hosts};
  dns::DnsService dns_{{.runner = runner_,
                        .listen = options_.config.dns_listen,
                        .bridge_name = options_.config.bridge_name,
                        .bridge_ip = options_.config.bridge_ip}};
  hostnat::ProcSysIpForwarding ip_forwarding_;
  hostnat::NatService nat_{
      {.runner = runner_,
       .ip_forwarding = ip_forwarding_,
       .bridge_name = options_.config.bridge_name,
       .bridge_cidr = fmt::format("{}/{}", options_.config.bridge_ip, options_.config.cidr)}};
  vm::MicrovmHost host_{{.runner = runner_,
                         .clock = clock_,
                         .paths = options_.paths,
                         .config = options_.config,
                         .network = network_,
                         .images = images_,
                         .kernels = kernels_,
                         .vmms = vmms_,
                         .known_hosts = known_hosts_,
                         .dns = dns_,
                         .nat = nat_},
                        host_options(options_, vmm_.options().caps)};
  vm::VmService vms_{{.vms = vm_repo_, .clock = clock_, .random = random_, .host = host_}};
  // After vms_: destroyed (thread joined) before the service it sweeps.
  std::unique_ptr<vm::StaleReaper> reaper_;
  rpc::Registry registry_{random_};
  rpc::Server server_;
};

}  // namespace banger::daemon
