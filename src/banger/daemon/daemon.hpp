// The composition root: wires the services with their Deps over a Platform (the host's leaves,
// built by bangerd's main or by a test), registers the RPC handlers and serves the socket. No
// business logic, and no host probing (the Platform's facts were probed once before).
#pragma once

#include <fmt/format.h>
#include <sys/types.h>

#include <memory>

#include "banger/config/config.hpp"
#include "banger/daemon/platform.hpp"
#include "banger/dns/dns_service.hpp"
#include "banger/forward/tcp_forwarder.hpp"
#include "banger/guest/known_hosts.hpp"
#include "banger/hostnat/nat_service.hpp"
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
#include "banger/store/usage_queries.hpp"
#include "banger/store/vm_repository.hpp"
#include "banger/sys/file_lock.hpp"
#include "banger/vm/microvm_host.hpp"
#include "banger/vm/stale_reaper.hpp"
#include "banger/vm/usage_poller.hpp"
#include "banger/vm/vm_service.hpp"
#include "banger/vm/vmm_watcher.hpp"

namespace banger::daemon {

struct DaemonOptions {
  paths::Paths paths;
  config::Config config;
  uid_t owner_uid = 0;  // may use the socket (root always may)
};

// Owns: the instance lock, the store, every service, the RPC registry and server.
// Does not own: the Platform's leaves (runner, link ops, clock, random, VMMs).
// Thread-safety: start() and run() from one thread; stop() from any thread.
class Daemon {
 public:
  // Prepares the directories (the state dir's ancestors must be trusted, see
  // paths::check_trusted_ancestors), takes the store's lock (failed_precondition "another
  // bangerd (pid N) is using the state dir ..." when it is held) and the socket's
  // (failed_precondition "another bangerd is running (pid N)"), opens and migrates the store, wires
  // the services over platform, registers every method and binds the socket. internal when the
  // platform lacks the "qemu" backend.
  static Expected<std::unique_ptr<Daemon>> start(DaemonOptions options, Platform platform);

  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;
  ~Daemon();

  // Serves until stop() (or the `shutdown` method). Returns the server's error, if any.
  Status run();
  // Makes run() return; callable from any thread, including signal-watching threads.
  void stop();
  // After run(): RPC handlers that ignored cancellation and still run (rpc::Server::
  // abandoned_running). Destroying the Daemon while one runs would free what it uses.
  std::size_t abandoned_handlers() const { return server_.abandoned_running(); }

  // The registered method names (docs/rpc.md must list each).
  std::vector<std::string> methods() const { return registry_.methods(); }

 private:
  // The store's lock (<state>/bangerd.lock, M6), then the socket's (<runtime>/bangerd.lock).
  struct InstanceLocks {
    sys::FileLock state;
    sys::FileLock socket;
  };
  Daemon(DaemonOptions options, Platform platform, InstanceLocks lock, store::Database db);
  void register_handlers();
  // What vm create fills in for what a request leaves out (config + host facts, once).
  vm::VmServiceOptions vm_options() const;
  // `image register --kernel`: imports the files as kernel `name` and returns its name.
  Expected<std::string> register_image_kernel(const std::string& name, const std::string& vmlinux,
                                              const std::string& initrd);

  // Declared in dependency order: destroyed in reverse.
  DaemonOptions options_;
  Platform platform_;
  InstanceLocks instance_lock_;
  store::Database db_;
  store::VmRepository vm_repo_{db_};
  store::ImageRepository image_repo_{db_};
  store::KernelRepository kernel_repo_{db_};
  store::UsageQueries usage_{vm_repo_, image_repo_};
  kernelcat::KernelService kernels_{
      {.kernels = kernel_repo_,
       .runner = platform_.runner,
       .paths = options_.paths,
       .clock = platform_.clock,
       .users_of = [this](const std::string& kernel) { return usage_.kernel_users(kernel); },
       .find_tool = platform_.find_tool,
       .catalog_url = options_.config.catalog_url}};
  imagecat::ImageService images_{
      {.images = image_repo_,
       .runner = platform_.runner,
       .paths = options_.paths,
       .clock = platform_.clock,
       .users_of = [this](const std::string& image) { return usage_.image_users(image); },
       .register_kernel =
           [this](const std::string& name, const std::string& vmlinux, const std::string& initrd) {
             return register_image_kernel(name, vmlinux, initrd);
           },
       .find_tool = platform_.find_tool,
       .agent_binary = platform_.facts.agent_binary,
       .insecure_registries = options_.config.insecure_registries,
       .pull_size_headroom = options_.config.pull_size_headroom,
       .catalog_url = options_.config.catalog_url}};
  hostnat::NetworkService network_{{.links = platform_.links,
                                    .bridge_name = options_.config.bridge_name,
                                    .bridge_ip = options_.config.bridge_ip,
                                    .cidr = options_.config.cidr,
                                    .tap_pool_size = options_.config.tap_pool_size}};
  guest::KnownHosts known_hosts_{options_.paths.known_hosts};
  dns::DnsService dns_{{.runner = platform_.runner,
                        .listen = options_.config.dns_listen,
                        .bridge_name = options_.config.bridge_name,
                        .bridge_ip = options_.config.bridge_ip,
                        .cidr = options_.config.cidr}};
  hostnat::NatService nat_{
      {.runner = platform_.runner,
       .ip_forwarding = platform_.ip_forwarding,
       .bridge_name = options_.config.bridge_name,
       .bridge_cidr = fmt::format("{}/{}", options_.config.bridge_ip, options_.config.cidr)}};
  // Before host_ and vms_: its listeners and connections outlive every VM operation.
  forward::TcpForwarder forwarder_;
  vm::MicrovmHost host_{{.runner = platform_.runner,
                         .clock = platform_.clock,
                         .paths = options_.paths,
                         .config = options_.config,
                         .network = network_,
                         .images = images_,
                         .kernels = kernels_,
                         .vmms = platform_.vmms,
                         .known_hosts = known_hosts_,
                         .dns = dns_,
                         .nat = nat_,
                         .forwarder = forwarder_,
                         .sample_process = platform_.sample_process},
                        platform_.facts.vm_host};
  vm::VmService vms_{
      {.vms = vm_repo_, .clock = platform_.clock, .random = platform_.random, .host = host_},
      vm_options()};
  // After vms_: destroyed (thread joined) before the service it sweeps.
  std::unique_ptr<vm::StaleReaper> reaper_;
  // Samples running VMs' VMM CPU/RSS every stats_poll_interval (what `vm stats` reports).
  std::unique_ptr<vm::UsagePoller> usage_poller_;
  // After vms_ and host_: notices VMMs that exit on their own (crash, guest poweroff).
  std::unique_ptr<vm::VmmWatcher> vmm_watcher_;
  rpc::Registry registry_{platform_.random};
  rpc::Server server_;
};

}  // namespace banger::daemon
