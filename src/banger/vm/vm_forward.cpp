// VmService's port forwards (`vm forward`, `--publish`; docs/forwarding.md): runtime forwards
// of a running VM, the published ones re-made at every start and after a daemon restart. The
// sockets are the host's (VmHost::add_forwards, forward::TcpForwarder).
#include <fmt/format.h>

#include <algorithm>

#include "banger/base/expected.hpp"
#include "banger/base/log.hpp"
#include "banger/vm/vm_service.hpp"

namespace banger::vm {
namespace {

// Whether a bound forward is one of the published ones (host_port 0 there matches any port).
bool is_published(const model::Vm& vm, const model::PortForward& bound) {
  return std::any_of(vm.publish.begin(), vm.publish.end(), [&](const model::PortForward& p) {
    return p.host_address == bound.host_address && p.guest_port == bound.guest_port &&
           (p.host_port == 0 || p.host_port == bound.host_port);
  });
}

}  // namespace

Expected<std::vector<model::PortForward>> VmService::forward(
    const std::string& name_or_id, const std::vector<model::PortForward>& forwards) {
  if (forwards.empty()) {
    return fail(Errc::invalid_argument, "name at least one port to forward");
  }
  BANGER_TRY(model::validate_port_forwards(forwards));
  BANGER_TRY_ASSIGN(auto found, running(name_or_id));
  auto lock = locks_.acquire(found.id);
  BANGER_TRY_ASSIGN(auto vm, running(found.id));
  const auto existing = deps_.host.forwards(vm).size();
  if (existing + forwards.size() > model::kMaxForwardsPerVm) {
    return fail(Errc::invalid_argument,
                fmt::format("vm \"{}\" has {} port forwards: a vm may have at most {}", vm.name,
                            existing, model::kMaxForwardsPerVm));
  }
  return deps_.host.add_forwards(vm, forwards).map_error([&](Error e) {
    return with_context(std::move(e), fmt::format("forwarding ports to vm \"{}\"", vm.name));
  });
}

Status VmService::unforward(const std::string& name_or_id,
                            const std::vector<model::PortForward>& forwards) {
  if (forwards.empty()) {
    return fail(Errc::invalid_argument, "name at least one forwarded host port");
  }
  BANGER_TRY_ASSIGN(auto found, running(name_or_id));
  auto lock = locks_.acquire(found.id);
  BANGER_TRY_ASSIGN(auto vm, running(found.id));
  return deps_.host.remove_forwards(vm, forwards).map_error([&](Error e) {
    return with_context(std::move(e), fmt::format("removing port forwards of vm \"{}\"", vm.name));
  });
}

Expected<std::vector<VmForward>> VmService::forwards(const model::Vm& vm) {
  std::vector<VmForward> out;
  if (vm.state != model::VmState::running) {
    return out;
  }
  for (auto& bound : deps_.host.forwards(vm)) {
    const bool published = is_published(vm, bound);
    out.push_back({.forward = std::move(bound), .published = published});
  }
  return out;
}

void VmService::reforward_published(const std::vector<model::Vm>& vms) {
  for (const auto& vm : vms) {
    if (vm.state != model::VmState::running || vm.publish.empty()) {
      continue;
    }
    auto lock = locks_.acquire(vm.id);
    if (auto bound = deps_.host.add_forwards(vm, vm.publish); !bound) {
      BANGER_LOG_WARN("reconcile: vm {}: published ports not forwarded: {}", vm.name,
                      bound.error().message);
    }
  }
}

}  // namespace banger::vm
