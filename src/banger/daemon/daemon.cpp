#include "banger/daemon/daemon.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "banger/base/expected.hpp"
#include "banger/base/log.hpp"
#include "banger/base/strings.hpp"
#include "banger/buildinfo/buildinfo.hpp"
#include "banger/daemon/handlers.hpp"
#include "banger/policy/accel.hpp"
#include "banger/policy/vmm.hpp"
#include "banger/sys/fs.hpp"
#include "banger/sys/host_probe.hpp"
#include "banger/vmm/host_caps.hpp"
#include "banger/vmstorage/strategy.hpp"

namespace banger::daemon {
namespace {

// The lock file holds the owner's pid so a second instance can name it.
Status record_pid(const sys::FileLock& lock) {
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(lock.fd(), 0) != 0 || ::pwrite(lock.fd(), pid.data(), pid.size(), 0) < 0) {
    return fail_errno("writing the pid to the daemon lock file", errno);
  }
  return {};
}

Expected<sys::FileLock> take_instance_lock(const std::string& path) {
  auto lock = sys::FileLock::try_acquire(path);
  if (lock || lock.error().code != Errc::unavailable) {
    return lock;
  }
  std::string holder = "unknown pid";
  if (auto text = sys::read_file(path); text && !base::trim(*text).empty()) {
    holder = "pid " + std::string(base::trim(*text));
  }
  return fail(
      Errc::failed_precondition,
      fmt::format("another bangerd is running ({}); stop it with `banger daemon stop`", holder));
}

}  // namespace

Expected<std::unique_ptr<Daemon>> Daemon::start(DaemonOptions options) {
  BANGER_TRY(paths::prepare_runtime_dir(options.paths, options.owner_uid));
  BANGER_TRY(paths::prepare_state_dirs(options.paths));
  BANGER_TRY_ASSIGN(auto lock, take_instance_lock(options.paths.daemon_lock));
  BANGER_TRY(record_pid(lock));
  auto db = store::Database::open(options.paths.db);
  if (!db) {
    return tl::unexpected(with_context(db.error(), "opening the store " + options.paths.db));
  }
  std::unique_ptr<Daemon> daemon(new Daemon(std::move(options), std::move(lock), std::move(*db)));
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
  daemon->register_handlers();
  BANGER_TRY(daemon->server_.listen());
  return daemon;
}

Daemon::Daemon(DaemonOptions options, sys::FileLock lock, store::Database db)
    : options_(std::move(options)),
      instance_lock_(std::move(lock)),
      db_(std::move(db)),
      server_(rpc::ServerOptions{.socket_path = options_.paths.socket,
                                 .allowed_uid = options_.owner_uid},
              registry_, random_) {}

Daemon::~Daemon() = default;

vmm::qemu::QemuVmmOptions Daemon::qemu_options(const config::Config& config) {
  vmm::qemu::QemuVmmOptions options;
  if (auto caps = vmm::probe_qemu_host_caps(config.qemu_bin)) {
    options.caps = *caps;
  } else {
    BANGER_LOG_WARN("qemu: {}", caps.error().message);
    options.caps.binary = config.qemu_bin.empty() ? "qemu-system-x86_64" : config.qemu_bin;
    options.caps.host_khz = sys::host_cpu_khz();
  }
  return options;
}

vm::MicrovmHostOptions Daemon::host_options(const DaemonOptions& options,
                                            const vmm::qemu::QemuHostCaps& caps) {
  vm::MicrovmHostOptions host;
  host.vhost_vsock = caps.vhost_vsock;
  bool kvm = policy::decide_kvm(sys::probe_kvm()).usable;
  if (options.config.accel == config::AccelChoice::kvm) {
    kvm = true;
  } else if (options.config.accel == config::AccelChoice::tcg) {
    kvm = false;
  }
  host.accel = kvm ? vmm::Accel::kvm : vmm::Accel::tcg;
  sys::PosixCommandRunner runner;
  auto probe = vmstorage::probe_storage(runner, options.paths.vms_dir);
  // The backend doctor reports too; its disks decide the strategy (qcow2 is QEMU-only).
  auto backend = policy::decide_vmm(options.config.vmm).backend;
  host.rootfs_strategy = vmstorage::choose_strategy(probe, backend);
  BANGER_LOG_INFO("vms: accel {}, rootfs {}", kvm ? "kvm" : "tcg",
                  vmstorage::explain_strategy(probe, backend));
  return host;
}

void Daemon::register_handlers() {
  register_daemon_handlers(registry_, {.paths = options_.paths,
                                       .config = options_.config,
                                       .owner_uid = options_.owner_uid,
                                       .runner = runner_,
                                       .request_stop = [this] { stop(); }});
  register_vm_handlers(registry_,
                       {.vms = vms_, .config = options_.config, .paths = options_.paths});
  register_image_handlers(registry_, {.images = images_});
  register_kernel_handlers(registry_, {.kernels = kernels_});
}

std::vector<std::string> Daemon::kernel_users(const std::string& kernel) {
  std::vector<std::string> users;
  auto vms = vm_repo_.list();
  auto images = image_repo_.list();
  if (!vms || !images) {
    // Refuse rather than risk deleting a kernel in use.
    const auto& error = !vms ? vms.error() : images.error();
    BANGER_LOG_WARN("listing users of kernel {}: {}", kernel, error.message);
    return {"(unknown: " + error.message + ")"};
  }
  for (const auto& image : *images) {
    if (image.kernel_ref == kernel) {
      users.push_back("image " + image.name);
    }
  }
  for (const auto& vm : *vms) {
    if (vm.kernel == kernel) {
      users.push_back("vm " + vm.name);
    }
  }
  return users;
}

Expected<std::string> Daemon::register_image_kernel(const std::string& name,
                                                    const std::string& vmlinux,
                                                    const std::string& initrd) {
  BANGER_TRY_ASSIGN(auto kernel, kernels_.import_files(name, vmlinux, initrd));
  return kernel.name;
}

std::vector<std::string> Daemon::vms_using_image(const std::string& image) {
  std::vector<std::string> names;
  auto vms = vm_repo_.list();
  if (!vms) {
    // Refuse rather than risk deleting an image in use.
    BANGER_LOG_WARN("listing vms for image {}: {}", image, vms.error().message);
    return {"(unknown: " + vms.error().message + ")"};
  }
  for (const auto& vm : *vms) {
    if (vm.image == image) {
      names.push_back(vm.name);
    }
  }
  return names;
}

Status Daemon::run() {
  BANGER_LOG_INFO("bangerd {} serving {} (store {}, pid {})", buildinfo::version(),
                  options_.paths.socket, options_.paths.db, ::getpid());
  return server_.run();
}

void Daemon::stop() { server_.stop(); }

}  // namespace banger::daemon
