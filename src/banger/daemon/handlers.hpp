// RPC handlers: translate between api/ structs and service calls. No business logic here.
#pragma once

#include <functional>

#include "banger/config/config.hpp"
#include "banger/imagecat/image_service.hpp"
#include "banger/kernelcat/kernel_service.hpp"
#include "banger/paths/paths.hpp"
#include "banger/policy/vmm.hpp"
#include "banger/rpc/registry.hpp"
#include "banger/sys/command_runner.hpp"
#include "banger/vm/vm_service.hpp"

namespace banger::daemon {

struct DaemonHandlerDeps {
  const paths::Paths& paths;
  const config::Config& config;
  uid_t owner_uid;
  sys::CommandRunner& runner;          // ssh-keygen for ssh_config
  std::function<void()> request_stop;  // called after the `shutdown` reply is queued
};

// ping, version, shutdown, doctor, ssh_config.
void register_daemon_handlers(rpc::Registry& registry, DaemonHandlerDeps deps);

struct VmHandlerDeps {
  vm::VmService& vms;
  const config::Config& config;
  const paths::Paths& paths;
  policy::VmmHost vmm_host;  // what `vm create --vmm` is decided with
};

// vm.create, vm.list, vm.show, vm.delete, vm.start, vm.stop, vm.restart, vm.kill, vm.prune,
// vm.set, vm.logs, vm.ssh_info.
void register_vm_handlers(rpc::Registry& registry, VmHandlerDeps deps);

struct ImageHandlerDeps {
  imagecat::ImageService& images;
};

// image.build, image.pull, image.register, image.promote, image.list, image.show, image.delete.
void register_image_handlers(rpc::Registry& registry, ImageHandlerDeps deps);

struct KernelHandlerDeps {
  kernelcat::KernelService& kernels;
};

// kernel.list, kernel.catalog, kernel.show, kernel.pull, kernel.build, kernel.import,
// kernel.delete.
void register_kernel_handlers(rpc::Registry& registry, KernelHandlerDeps deps);

}  // namespace banger::daemon
