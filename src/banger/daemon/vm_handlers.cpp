#include <fmt/format.h>

#include <csignal>
#include <functional>
#include <memory>
#include <mutex>

#include "banger/api/bytes.hpp"
#include "banger/api/protocol.hpp"
#include "banger/api/signal.hpp"
#include "banger/api/vm.hpp"
#include "banger/base/clock.hpp"
#include "banger/base/expected.hpp"
#include "banger/base/printable.hpp"
#include "banger/base/strings.hpp"
#include "banger/daemon/handlers.hpp"
#include "banger/policy/vmm.hpp"
#include "banger/vm/fan_out.hpp"

namespace banger::daemon {
namespace {

std::string rfc3339(std::int64_t unix_seconds) {
  return base::format_rfc3339(
      std::chrono::system_clock::time_point(std::chrono::seconds(unix_seconds)));
}

api::PortForwardSpec to_spec(const model::PortForward& forward) {
  return {.host_address = forward.host_address,
          .host_port = forward.host_port,
          .guest_port = forward.guest_port};
}

// Wire forwards -> model ones ("" = the loopback default); validated by the service.
std::vector<model::PortForward> to_forwards(const std::vector<api::PortForwardSpec>& specs) {
  std::vector<model::PortForward> out;
  for (const auto& spec : specs) {
    out.push_back({.host_address = spec.host_address.empty()
                                       ? std::string(model::kDefaultForwardAddress)
                                       : spec.host_address,
                   .host_port = spec.host_port,
                   .guest_port = spec.guest_port});
  }
  return out;
}

api::ForwardInfo to_forward_info(const model::PortForward& forward, bool published) {
  return {.host_address = forward.host_address,
          .host_port = forward.host_port,
          .guest_port = forward.guest_port,
          .published = published};
}

std::vector<api::ForwardInfo> to_forward_infos(const std::vector<vm::VmForward>& forwards) {
  std::vector<api::ForwardInfo> out;
  for (const auto& f : forwards) {
    out.push_back(to_forward_info(f.forward, f.published));
  }
  return out;
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
                     .rootfs_size_mib = vm.rootfs_overlay_size_mib,
                     .nat = vm.nat,
                     .guest_ip = vm.guest_ip,
                     .mac = vm.mac,
                     .last_error = vm.last_error,
                     .created_at = rfc3339(vm.created_at),
                     .touched_at = rfc3339(vm.touched_at),
                     .tap = vm.tap_name,
                     .pid = vm.vmm_pid,
                     .rootfs_strategy = vm.rootfs_strategy,
                     .vmm = std::string(model::to_string(vm.vmm)),
                     .workspace = {.path = vm.workspace_path,
                                   .repo = vm.workspace_repo,
                                   .head = vm.workspace_head,
                                   .branch = vm.workspace_branch,
                                   .prepared_at = vm.workspace_prepared_at == 0
                                                      ? std::string()
                                                      : rfc3339(vm.workspace_prepared_at)}};
}

// to_info() with the VM's publish list and its forwards as bound now.
Expected<api::VmInfo> to_full_info(vm::VmService& vms, const model::Vm& vm) {
  auto info = to_info(vm);
  for (const auto& forward : vm.publish) {
    info.publish.push_back(to_spec(forward));
  }
  BANGER_TRY_ASSIGN(auto forwards, vms.forwards(vm));
  info.forwards = to_forward_infos(forwards);
  return info;
}

// "2 vcpu | 1024 MiB | 8G disk": what the VM gets (the kSpecStage event).
std::string spec_line(const model::Vm& vm) {
  std::string disk = vm.disk_size_mib % 1024 == 0 ? fmt::format("{}G", vm.disk_size_mib / 1024)
                                                  : fmt::format("{}M", vm.disk_size_mib);
  return fmt::format("{} vcpu | {} MiB | {} disk", vm.vcpu, vm.memory_mib, disk);
}

// Connects a service's progress/cancel callables to the request (events may come from
// several threads when VMs start in parallel).
struct CallBridge {
  explicit CallBridge(rpc::CallContext& call) : call_(call) {}
  // Events carry task (the VM a multi-VM request is starting) when the service left it unset.
  base::ProgressFn progress(std::string task = {}) {
    return [this, task = std::move(task)](const base::ProgressEvent& e) {
      api::Event event = api::to_event(e);
      if (!event.task && !task.empty()) {
        event.task = task;
      }
      std::lock_guard lock(mutex_);
      call_.emit(event);
    };
  }
  base::CancelFn cancel() {
    return [this] { return call_.cancelled(); };
  }

 private:
  rpc::CallContext& call_;
  std::mutex mutex_;
};

// The task key of one VM's events in a request naming several ("" when it names one).
std::string task_of(const api::VmNames& request, const std::string& name) {
  return request.names.size() > 1 ? name : std::string();
}

api::VmInfos to_infos(const std::vector<model::Vm>& vms) {
  api::VmInfos infos;
  for (const auto& vm : vms) {
    infos.vms.push_back(to_info(vm));
  }
  return infos;
}

api::GuestPortInfo to_port_info(const std::string& vm_name, const vm::GuestPort& port) {
  api::GuestPortInfo info{.proto = port.proto,
                          .family = port.family,
                          .address = port.address,
                          .port = port.port,
                          .pid = port.pid,
                          .process = port.process};
  if (port.reachable) {
    info.endpoint = fmt::format("{}.vm:{}", vm_name, port.port);
    if (!port.scheme.empty()) {
      info.url = fmt::format("{}://{}", port.scheme, info.endpoint);
    }
  }
  return info;
}

api::VmPortsEntry to_ports_entry(const vm::VmPorts& vm) {
  api::VmPortsEntry entry{.name = vm.name, .ports = {}, .error = {}};
  if (!vm.ports) {
    entry.error = vm.ports.error().message;
    return entry;
  }
  for (const auto& port : *vm.ports) {
    entry.ports.push_back(to_port_info(vm.name, port));
  }
  return entry;
}

api::VmStatsEntry to_stats_entry(const vm::VmStats& stats) {
  return {
      .name = stats.vm.name,
      .cpu_percent = stats.usage.cpu_percent,
      .cpu_seconds = stats.usage.cpu_seconds,
      .rss_bytes = stats.usage.rss_bytes,
      .memory_mib = stats.vm.memory_mib,
      .disk_allocated_bytes = stats.usage.disk_allocated_bytes,
      .disk_apparent_bytes = stats.usage.disk_apparent_bytes,
      .guest_uptime_s = stats.guest ? std::optional<double>(stats.guest->uptime_s) : std::nullopt};
}

api::VmExec::Response to_exec_response(const vm::GuestExecResult& result) {
  return {.exit_code = result.exit_code,
          .signal = result.signal,
          .timed_out = result.timed_out,
          .stdout_b64 = api::base64_encode(result.stdout_data),
          .stderr_b64 = api::base64_encode(result.stderr_data),
          .stdout_truncated = result.stdout_truncated,
          .stderr_truncated = result.stderr_truncated};
}

// The backend a vm.create names (nullopt: the config's), decided as the config key is:
// invalid_argument for an unknown name, failed_precondition for a backend that cannot run.
Expected<std::optional<model::VmmBackend>> chosen_backend(const std::string& vmm,
                                                          const policy::VmmHost& host) {
  if (vmm.empty()) {
    return std::optional<model::VmmBackend>();
  }
  const auto choice = model::kVmmChoiceNames.parse(vmm);
  if (!choice) {
    return fail(Errc::invalid_argument,
                fmt::format("unknown vmm \"{}\": use {}", base::printable(vmm, 40),
                            model::kVmmChoiceNames.allowed()));
  }
  auto verdict = policy::decide_vmm(*choice, host);
  if (!verdict.refusal.empty()) {
    return fail(Errc::failed_precondition, verdict.refusal);
  }
  return std::optional(verdict.backend);
}

// The terminal of a vm.stream PTY session (nullopt without one); bad_request for a size out of
// range.
Expected<std::optional<agentproto::StreamPty>> stream_pty(const api::VmStream::Request& request) {
  if (!request.pty) {
    return std::optional<agentproto::StreamPty>();
  }
  constexpr std::int64_t kMaxSide = 65535;
  if (request.rows < 1 || request.rows > kMaxSide || request.cols < 1 || request.cols > kMaxSide) {
    return fail(Errc::invalid_argument,
                fmt::format("pty size {}x{} is out of range: rows and cols are 1 to {}",
                            request.rows, request.cols, kMaxSide));
  }
  return std::optional(agentproto::StreamPty{.rows = static_cast<std::uint16_t>(request.rows),
                                             .cols = static_cast<std::uint16_t>(request.cols)});
}

// op on every named VM at once (vm::for_each, S13: several VMs per command): the VMs in request
// order, or one error naming every VM that failed (code of the first failure).
using VmOp = std::function<Expected<model::Vm>(const std::string&)>;
Expected<api::VmInfos> for_each_vm(const std::vector<std::string>& names, const VmOp& op) {
  if (names.empty()) {
    return fail(Errc::invalid_argument, "name at least one vm");
  }
  BANGER_TRY_ASSIGN(auto vms, vm::all_or_joined_error(vm::for_each<model::Vm>(names, op)));
  return to_infos(vms);
}

// vm.create, vm.list, vm.show, vm.delete, vm.prune, vm.set.
void register_records(rpc::Registry& registry, const VmHandlerDeps& deps) {
  registry.add<api::VmCreate>([deps](const api::VmCreate::Request& request,
                                     rpc::CallContext& call) -> Expected<api::VmCreate::Response> {
    if (request.ready != api::kReadySsh && request.ready != api::kReadyAgent) {
      return fail(Errc::invalid_argument,
                  fmt::format("ready must be \"{}\" or \"{}\", not \"{}\"", api::kReadySsh,
                              api::kReadyAgent, base::printable(request.ready, 40)));
    }
    const auto readiness =
        request.ready == api::kReadyAgent ? vm::Readiness::agent : vm::Readiness::ssh;
    BANGER_TRY_ASSIGN(auto backend, chosen_backend(request.vmm, deps.vmm_host));
    BANGER_TRY_ASSIGN(auto vm, deps.vms.create({.name = request.name,
                                                .image = request.image,
                                                .kernel = request.kernel,
                                                .vcpu = request.vcpu,
                                                .memory_mib = request.memory_mib,
                                                .disk_size_mib = request.disk_size_mib,
                                                .nat = request.nat,
                                                .vmm = backend,
                                                .publish = to_forwards(request.publish)}));
    call.emit(api::Event{.stage = std::string(api::kSpecStage), .message = spec_line(vm)});
    if (!request.no_start) {
      // A VM that never became ready stays (in `error`) for `vm logs`; the error says why.
      CallBridge bridge(call);
      BANGER_TRY_ASSIGN(vm, deps.vms.start(vm.id, bridge.progress(), bridge.cancel(), readiness));
    }
    BANGER_TRY_ASSIGN(auto info, to_full_info(deps.vms, vm));
    return api::VmCreate::Response{.vm = std::move(info)};
  });
  registry.add<api::VmList>(
      [deps](const api::VmList::Request&, rpc::CallContext&) -> Expected<api::VmList::Response> {
        BANGER_TRY_ASSIGN(auto vms, deps.vms.list());
        return api::VmList::Response{.vms = to_infos(vms).vms};
      });
  registry.add<api::VmShow>([deps](const api::VmShow::Request& request,
                                   rpc::CallContext&) -> Expected<api::VmShow::Response> {
    BANGER_TRY_ASSIGN(auto vm, deps.vms.show(request.name));
    BANGER_TRY_ASSIGN(auto info, to_full_info(deps.vms, vm));
    return api::VmShow::Response{.vm = std::move(info)};
  });
  registry.add<api::VmDelete>([deps](const api::VmDelete::Request& request,
                                     rpc::CallContext&) -> Expected<api::VmDelete::Response> {
    BANGER_TRY_ASSIGN(auto deleted, deps.vms.remove(request.names));
    return api::VmDelete::Response{.deleted = std::move(deleted)};
  });
  registry.add<api::VmPrune>([deps](const api::VmPrune::Request& request,
                                    rpc::CallContext&) -> Expected<api::VmPrune::Response> {
    BANGER_TRY_ASSIGN(auto pruned, deps.vms.prune(request.dry_run, request.ids));
    api::VmPrune::Response response;
    for (const auto& vm : pruned.deleted) {
      response.deleted.push_back(vm.name);
      response.ids.push_back(vm.id);
    }
    for (auto& skipped : pruned.skipped) {
      response.skipped.push_back({.name = skipped.name, .reason = std::move(skipped.reason)});
    }
    return response;
  });
  registry.add<api::VmSet>([deps](const api::VmSet::Request& request,
                                  rpc::CallContext&) -> Expected<api::VmSet::Response> {
    BANGER_TRY_ASSIGN(auto vm,
                      deps.vms.set(request.name, request.vcpu, request.memory_mib, request.nat));
    return api::VmSet::Response{.vm = to_info(vm)};
  });
}

// vm.start, vm.stop, vm.restart, vm.kill: several VMs at once.
void register_lifecycle(rpc::Registry& registry, const VmHandlerDeps& deps) {
  registry.add<api::VmStart>(
      [deps](const api::VmNames& request, rpc::CallContext& call) -> Expected<api::VmInfos> {
        CallBridge bridge(call);
        return for_each_vm(request.names, [&](const std::string& name) {
          return deps.vms.start(name, bridge.progress(task_of(request, name)), bridge.cancel());
        });
      });
  registry.add<api::VmStop>([deps](const api::VmNames& request,
                                   rpc::CallContext&) -> Expected<api::VmInfos> {
    return for_each_vm(request.names, [&](const std::string& name) { return deps.vms.stop(name); });
  });
  registry.add<api::VmRestart>(
      [deps](const api::VmNames& request, rpc::CallContext& call) -> Expected<api::VmInfos> {
        CallBridge bridge(call);
        return for_each_vm(request.names, [&](const std::string& name) {
          return deps.vms.restart(name, bridge.progress(task_of(request, name)), bridge.cancel());
        });
      });
  registry.add<api::VmKill>(
      [deps](const api::VmKill::Request& request, rpc::CallContext&) -> Expected<api::VmInfos> {
        // Only the signals of the shared table, validated before any VM is touched: a client cannot
        // send SIGSTOP (a VMM that only looks hung), 0 or a number of its choosing.
        int signal = SIGKILL;
        if (request.signal) {
          BANGER_TRY_ASSIGN(auto parsed, api::parse_signal(*request.signal));
          signal = parsed.number;
        }
        return for_each_vm(request.names,
                           [&](const std::string& name) { return deps.vms.kill(name, signal); });
      });
}

// vm.logs, vm.health, vm.ports, vm.stats.
void register_observe(rpc::Registry& registry, const VmHandlerDeps& deps) {
  registry.add<api::VmLogs>([deps](const api::VmLogs::Request& request,
                                   rpc::CallContext&) -> Expected<api::VmLogs::Response> {
    BANGER_TRY_ASSIGN(auto logs, deps.vms.logs(request.name, request.offset, request.max_bytes));
    return api::VmLogs::Response{.text = std::move(logs.window.text),
                                 .next_offset = logs.window.next_offset,
                                 .state = std::string(model::to_string(logs.state))};
  });
  registry.add<api::VmHealth>([deps](const api::VmHealth::Request& request,
                                     rpc::CallContext&) -> Expected<api::VmHealth::Response> {
    BANGER_TRY_ASSIGN(auto vm, deps.vms.show(request.name));
    BANGER_TRY_ASSIGN(auto health, deps.vms.health(vm.id));
    return api::VmHealth::Response{.name = vm.name,
                                   .uptime_s = health.uptime_s,
                                   .boot_id = health.boot_id,
                                   .agent_version = health.agent_version,
                                   .hostname = health.hostname};
  });
  registry.add<api::VmPorts>(
      [deps](const api::VmNames& request, rpc::CallContext&) -> Expected<api::VmPorts::Response> {
        BANGER_TRY_ASSIGN(auto vms, deps.vms.ports(request.names));
        api::VmPorts::Response response;
        for (const auto& vm : vms) {
          auto entry = to_ports_entry(vm);
          if (auto found = deps.vms.show(vm.name); found) {
            if (auto forwards = deps.vms.forwards(*found); forwards) {
              entry.forwards = to_forward_infos(*forwards);
            }
          }
          response.vms.push_back(std::move(entry));
        }
        return response;
      });
  registry.add<api::VmStatsMethod>(
      [deps](const api::VmNames& request,
             rpc::CallContext&) -> Expected<api::VmStatsMethod::Response> {
        BANGER_TRY_ASSIGN(auto stats, deps.vms.stats(request.names));
        api::VmStatsMethod::Response response;
        for (const auto& one : stats) {
          response.vms.push_back(to_stats_entry(one));
        }
        return response;
      });
}

// vm.forward, vm.unforward (docs/forwarding.md).
void register_forwards(rpc::Registry& registry, const VmHandlerDeps& deps) {
  registry.add<api::VmForwardMethod>(
      [deps](const api::VmForwardMethod::Request& request,
             rpc::CallContext&) -> Expected<api::VmForwardMethod::Response> {
        BANGER_TRY_ASSIGN(auto bound, deps.vms.forward(request.name, to_forwards(request.ports)));
        BANGER_TRY_ASSIGN(auto vm, deps.vms.show(request.name));
        BANGER_TRY_ASSIGN(auto all, deps.vms.forwards(vm));
        api::VmForwardMethod::Response response{.name = vm.name, .bound = {}, .forwards = {}};
        for (const auto& forward : bound) {
          response.bound.push_back(to_forward_info(forward, false));
        }
        response.forwards = to_forward_infos(all);
        return response;
      });
  registry.add<api::VmUnforwardMethod>(
      [deps](const api::VmUnforwardMethod::Request& request,
             rpc::CallContext&) -> Expected<api::VmUnforwardMethod::Response> {
        BANGER_TRY(deps.vms.unforward(request.name, to_forwards(request.ports)));
        BANGER_TRY_ASSIGN(auto vm, deps.vms.show(request.name));
        BANGER_TRY_ASSIGN(auto all, deps.vms.forwards(vm));
        return api::VmUnforwardMethod::Response{.name = vm.name, .forwards = to_forward_infos(all)};
      });
}

// vm.exec, vm.stream, vm.workspace.record, vm.ssh_info.
void register_guest(rpc::Registry& registry, const VmHandlerDeps& deps) {
  registry.add<api::VmExec>([deps](const api::VmExec::Request& request,
                                   rpc::CallContext& call) -> Expected<api::VmExec::Response> {
    auto stdin_data = api::base64_decode(request.stdin_b64);
    if (!stdin_data) {
      return fail(Errc::invalid_argument, "stdin_b64 is not base64");
    }
    BANGER_TRY_ASSIGN(
        auto result, deps.vms.exec(request.name, {.argv = request.argv,
                                                  .env = request.env,
                                                  .cwd = request.cwd,
                                                  .stdin_data = *stdin_data,
                                                  .timeout_s = request.timeout_s,
                                                  .cancel = [&call] { return call.cancelled(); }}));
    return to_exec_response(result);
  });
  registry.add<api::VmStream>([deps](const api::VmStream::Request& request,
                                     rpc::CallContext& call) -> Expected<api::VmStream::Response> {
    CallBridge bridge(call);
    BANGER_TRY_ASSIGN(auto pty, stream_pty(request));
    BANGER_TRY_ASSIGN(auto session, deps.vms.open_stream(request.name,
                                                         {.argv = request.argv,
                                                          .env = request.env,
                                                          .cwd = request.cwd,
                                                          .timeout_s = request.timeout_s,
                                                          .pty = pty},
                                                         bridge.cancel()));
    // The client gets the channel itself: from here on the daemon is out of the data path. The
    // channel stays leased while the client's connection is open (it hangs up when its session
    // ends), so no other session is sent to a channel QEMU would not serve.
    call.attach_fd(std::move(session.channel));
    call.keep_until_hangup(std::make_shared<agentclient::StreamLease>(std::move(session.lease)));
    return api::VmStream::Response{.pid = session.pid};
  });
  registry.add<api::VmWorkspaceRecord>(
      [deps](const api::VmWorkspaceRecord::Request& request,
             rpc::CallContext&) -> Expected<api::VmWorkspaceRecord::Response> {
        BANGER_TRY_ASSIGN(auto vm,
                          deps.vms.record_workspace(request.name, {.path = request.path,
                                                                   .repo = request.repo,
                                                                   .head = request.head,
                                                                   .branch = request.branch}));
        return api::VmWorkspaceRecord::Response{.vm = to_info(vm)};
      });
  registry.add<api::VmSshInfo>([deps](const api::VmSshInfo::Request& request,
                                      rpc::CallContext&) -> Expected<api::VmSshInfo::Response> {
    BANGER_TRY_ASSIGN(auto vm, deps.vms.running(request.name));
    // A guest whose host key changed is refused here with a message saying what to do,
    // instead of ssh's generic verification failure.
    BANGER_TRY(deps.vms.verify_host_key(vm.id));
    (void)deps.vms.touch(vm.id);
    return api::VmSshInfo::Response{.name = vm.name,
                                    .ip = vm.guest_ip,
                                    .user = "root",
                                    .key_path = deps.config.ssh_key_path,
                                    .known_hosts_path = deps.paths.known_hosts};
  });
}

}  // namespace

void register_vm_handlers(rpc::Registry& registry, VmHandlerDeps deps) {
  register_records(registry, deps);
  register_lifecycle(registry, deps);
  register_observe(registry, deps);
  register_guest(registry, deps);
  register_forwards(registry, deps);
}

}  // namespace banger::daemon
