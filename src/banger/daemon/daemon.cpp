#include "banger/daemon/daemon.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "banger/api/protocol.hpp"
#include "banger/base/expected.hpp"
#include "banger/base/log.hpp"
#include "banger/base/strings.hpp"
#include "banger/buildinfo/buildinfo.hpp"
#include "banger/config/vm_defaults.hpp"
#include "banger/daemon/handlers.hpp"
#include "banger/policy/vmm.hpp"
#include "banger/sys/fs.hpp"

namespace banger::daemon {
namespace {

// Room an exec reply keeps for everything but its two base64 streams.
constexpr std::size_t kExecReplyHeadroom = 64 * 1024;

// The lock file holds the owner's pid so a second instance can name it.
Status record_pid(const sys::FileLock& lock) {
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(lock.fd(), 0) != 0 || ::pwrite(lock.fd(), pid.data(), pid.size(), 0) < 0) {
    return fail_errno("writing the pid to the daemon lock file", errno);
  }
  return {};
}

std::string lock_holder(const std::string& path) {
  if (auto text = sys::read_file(path); text && !base::trim(*text).empty()) {
    return "pid " + std::string(base::trim(*text));
  }
  return "unknown pid";
}

// One daemon per store (security review M6): the lock lives in the state dir it protects, so
// two daemons with different runtime dirs (XDG_RUNTIME_DIR set in one shell, not in another)
// can never share state.db, the VM directories and the host resources recorded there.
Expected<sys::FileLock> take_state_lock(const std::string& path, const std::string& state_dir) {
  auto lock = sys::FileLock::try_acquire(path);
  if (lock || lock.error().code != Errc::unavailable) {
    return lock;
  }
  return fail(Errc::failed_precondition,
              fmt::format("another bangerd ({}) is using the state dir {}; stop it with `banger "
                          "daemon stop` (run with the same XDG_RUNTIME_DIR / BANGER_SOCKET as "
                          "the one that started it)",
                          lock_holder(path), state_dir));
}

// One daemon per socket: the runtime dir's lock (its pid is what `daemon stop` and the tests
// read).
Expected<sys::FileLock> take_instance_lock(const std::string& path) {
  auto lock = sys::FileLock::try_acquire(path);
  if (lock || lock.error().code != Errc::unavailable) {
    return lock;
  }
  return fail(Errc::failed_precondition,
              fmt::format("another bangerd is running ({}); stop it with `banger daemon stop`",
                          lock_holder(path)));
}

}  // namespace

Expected<std::unique_ptr<Daemon>> Daemon::start(DaemonOptions options, Platform platform) {
  if (!platform.vmms.get(vmm::Backend::qemu)) {
    return fail(Errc::internal, "the platform has no qemu backend");
  }
  BANGER_TRY(paths::prepare_runtime_dir(options.paths, options.owner_uid));
  BANGER_TRY(
      paths::check_trusted_ancestors(options.paths.state_dir, options.owner_uid, "state dir"));
  BANGER_TRY(paths::prepare_state_dirs(options.paths));
  BANGER_TRY_ASSIGN(auto state_lock,
                    take_state_lock(options.paths.state_lock, options.paths.state_dir));
  BANGER_TRY(record_pid(state_lock));
  BANGER_TRY_ASSIGN(auto socket_lock, take_instance_lock(options.paths.daemon_lock));
  BANGER_TRY(record_pid(socket_lock));
  InstanceLocks lock{std::move(state_lock), std::move(socket_lock)};
  auto db = store::Database::open(options.paths.db);
  if (!db) {
    return tl::unexpected(with_context(db.error(), "opening the store " + options.paths.db));
  }
  std::unique_ptr<Daemon> daemon(
      new Daemon(std::move(options), std::move(platform), std::move(lock), std::move(*db)));
  if (auto reconciled = daemon->kernels_.reconcile(); !reconciled) {
    return tl::unexpected(with_context(reconciled.error(), "reconciling kernels"));
  }
  if (auto reconciled = daemon->images_.reconcile(); !reconciled) {
    return tl::unexpected(with_context(reconciled.error(), "reconciling images"));
  }
  if (auto reconciled = daemon->vms_.reconcile(); !reconciled) {
    // Not fatal: the daemon must come up to let the user look and repair.
    BANGER_LOG_WARN("reconciling vms: {}", reconciled.error().message);
  }
  // A busy or bad dns_listen must not keep the daemon (and every VM command) down: VMs work
  // without host-side name resolution, and doctor reports the listener.
  if (auto dns = daemon->dns_.start_listener(); !dns) {
    BANGER_LOG_WARN("dns: {}; <name>.vm does not resolve on this host (see banger doctor)",
                    dns.error().message);
  }
  daemon->reaper_ = std::make_unique<vm::StaleReaper>(
      daemon->vms_, daemon->options_.config.auto_stop_stale_after);
  Daemon* self = daemon.get();
  daemon->usage_poller_ = std::make_unique<vm::UsagePoller>(
      [self] { self->vms_.poll_usage(); }, daemon->options_.config.stats_poll_interval);
  daemon->vmm_watcher_ = std::make_unique<vm::VmmWatcher>(daemon->vms_, daemon->host_);
  daemon->vmm_watcher_->start();
  daemon->register_handlers();
  BANGER_TRY(daemon->server_.listen());
  return daemon;
}

Daemon::Daemon(DaemonOptions options, Platform platform, InstanceLocks lock, store::Database db)
    : options_(std::move(options)),
      platform_(std::move(platform)),
      instance_lock_(std::move(lock)),
      db_(std::move(db)),
      server_(rpc::ServerOptions{.socket_path = options_.paths.socket,
                                 .allowed_uid = options_.owner_uid},
              registry_, platform_.random) {}

Daemon::~Daemon() = default;

vm::VmServiceOptions Daemon::vm_options() const {
  auto sizes = config::resolve_vm_defaults(options_.config, platform_.facts.host);
  // The same decision doctor reports; a VM records the backend it is created under.
  auto backend = policy::decide_vmm(options_.config.vmm, platform_.facts.vmm_host);
  return {.default_image = options_.config.default_image,
          .default_kernel = options_.config.default_kernel,
          .default_vcpu = static_cast<int>(sizes.vcpu.value),
          .default_memory_mib = sizes.memory_mib.value,
          .default_disk_size_mib = sizes.disk_size_mib.value,
          .default_rootfs_overlay_size_mib =
              options_.config.vm_defaults.rootfs_overlay_size_mib.value_or(0),
          // An exec reply must fit one RPC line: both streams travel base64-encoded.
          .max_exec_output_bytes = (api::kMaxFrameBytes - kExecReplyHeadroom) * 3 / 4,
          .default_vmm = backend.backend,
          .vmm_refusal = backend.refusal,
          // One boot per CPU under TCG (BootGate); an unknown CPU count sets no limit.
          .emulated_boot_slots = static_cast<std::size_t>(std::max(0, platform_.facts.host.cpus))};
}

void Daemon::register_handlers() {
  register_daemon_handlers(registry_, {.paths = options_.paths,
                                       .config = options_.config,
                                       .owner_uid = options_.owner_uid,
                                       .runner = platform_.runner,
                                       .request_stop = [this] { stop(); }});
  register_vm_handlers(registry_, {.vms = vms_,
                                   .config = options_.config,
                                   .paths = options_.paths,
                                   .vmm_host = platform_.facts.vmm_host});
  register_image_handlers(registry_, {.images = images_});
  register_kernel_handlers(registry_, {.kernels = kernels_});
}

Expected<std::string> Daemon::register_image_kernel(const std::string& name,
                                                    const std::string& vmlinux,
                                                    const std::string& initrd) {
  BANGER_TRY_ASSIGN(auto kernel, kernels_.import_files(name, vmlinux, initrd));
  return kernel.name;
}

Status Daemon::run() {
  BANGER_LOG_INFO("bangerd {} serving {} (store {}, pid {})", buildinfo::version(),
                  options_.paths.socket, options_.paths.db, ::getpid());
  return server_.run();
}

void Daemon::stop() { server_.stop(); }

}  // namespace banger::daemon
