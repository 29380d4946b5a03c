#include "banger/api/vm.hpp"
#include "banger/base/clock.hpp"
#include "banger/base/expected.hpp"
#include "banger/config/vm_defaults.hpp"
#include "banger/daemon/handlers.hpp"

namespace banger::daemon {
namespace {

std::string rfc3339(std::int64_t unix_seconds) {
  return base::format_rfc3339(
      std::chrono::system_clock::time_point(std::chrono::seconds(unix_seconds)));
}

api::VmInfo to_info(const model::Vm& vm) {
  return api::VmInfo{.id = vm.id,
                     .name = vm.name,
                     .state = std::string(model::to_string(vm.state)),
                     .image = vm.image,
                     .kernel = vm.kernel,
                     .vcpu = vm.vcpu,
                     .memory_mib = vm.memory_mib,
                     .disk_size_mib = vm.disk_size_mib,
                     .nat = vm.nat,
                     .guest_ip = vm.guest_ip,
                     .mac = vm.mac,
                     .last_error = vm.last_error,
                     .created_at = rfc3339(vm.created_at),
                     .touched_at = rfc3339(vm.touched_at)};
}

}  // namespace

void register_vm_handlers(rpc::Registry& registry, VmHandlerDeps deps) {
  registry.add<api::VmCreate>([deps](const api::VmCreate::Request& request,
                                     rpc::CallContext&) -> Expected<api::VmCreate::Response> {
    if (!request.no_start) {
      // Booting arrives with the VMM drivers (issue 4); refuse before recording anything.
      return fail(Errc::failed_precondition,
                  "starting VMs is not supported by this build yet: use --no-start");
    }
    auto defaults = config::resolve_vm_defaults(deps.config, config::probe_host());
    vm::CreateSpec spec{
        .name = request.name,
        .image = request.image.empty() ? deps.config.default_image : request.image,
        .kernel = request.kernel.empty() ? deps.config.default_kernel : request.kernel,
        .vcpu = request.vcpu.value_or(static_cast<int>(defaults.vcpu.value)),
        .memory_mib = request.memory_mib.value_or(defaults.memory_mib.value),
        .disk_size_mib = request.disk_size_mib.value_or(defaults.disk_size_mib.value),
        .nat = request.nat};
    BANGER_TRY_ASSIGN(auto vm, deps.vms.create(spec));
    return api::VmCreate::Response{.vm = to_info(vm)};
  });
  registry.add<api::VmList>(
      [deps](const api::VmList::Request&, rpc::CallContext&) -> Expected<api::VmList::Response> {
        BANGER_TRY_ASSIGN(auto vms, deps.vms.list());
        api::VmList::Response response;
        for (const auto& vm : vms) {
          response.vms.push_back(to_info(vm));
        }
        return response;
      });
  registry.add<api::VmShow>([deps](const api::VmShow::Request& request,
                                   rpc::CallContext&) -> Expected<api::VmShow::Response> {
    BANGER_TRY_ASSIGN(auto vm, deps.vms.show(request.name));
    return api::VmShow::Response{.vm = to_info(vm)};
  });
  registry.add<api::VmDelete>([deps](const api::VmDelete::Request& request,
                                     rpc::CallContext&) -> Expected<api::VmDelete::Response> {
    if (request.names.empty()) {
      return fail(Errc::invalid_argument, "vm.delete needs at least one vm name");
    }
    // Resolve every name first so a typo deletes nothing.
    std::vector<model::Vm> targets;
    for (const auto& name : request.names) {
      BANGER_TRY_ASSIGN(auto vm, deps.vms.show(name));
      targets.push_back(std::move(vm));
    }
    api::VmDelete::Response response;
    for (const auto& vm : targets) {
      BANGER_TRY(deps.vms.remove(vm.id));
      response.deleted.push_back(vm.name);
    }
    return response;
  });
}

}  // namespace banger::daemon
