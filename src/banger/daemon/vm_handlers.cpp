#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>

#include "banger/api/bytes.hpp"
#include "banger/api/protocol.hpp"
#include "banger/api/vm.hpp"
#include "banger/base/clock.hpp"
#include "banger/base/expected.hpp"
#include "banger/base/strings.hpp"
#include "banger/config/vm_defaults.hpp"
#include "banger/daemon/handlers.hpp"
#include "banger/policy/vmm.hpp"

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
                     .touched_at = rfc3339(vm.touched_at),
                     .tap = vm.tap_name,
                     .pid = vm.vmm_pid,
                     .rootfs_strategy = vm.rootfs_strategy,
                     .vmm = std::string(model::to_string(vm.vmm))};
}

// Connects a service's progress/cancel callables to the request (events may come from
// several threads when VMs start in parallel).
struct CallBridge {
  explicit CallBridge(rpc::CallContext& call) : call_(call) {}
  base::ProgressFn progress() {
    return [this](const base::ProgressEvent& e) {
      std::lock_guard lock(mutex_);
      call_.emit(
          api::Event{.stage = e.stage, .message = e.message, .done = e.done, .total = e.total});
    };
  }
  base::CancelFn cancel() {
    return [this] { return call_.cancelled(); };
  }

 private:
  rpc::CallContext& call_;
  std::mutex mutex_;
};

// Runs fn(i) for i in [0, n) on one thread each and waits (VMs are asked concurrently).
void in_parallel(std::size_t n, const std::function<void(std::size_t)>& fn) {
  std::vector<std::thread> threads;
  threads.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    threads.emplace_back([&fn, i] { fn(i); });
  }
  for (auto& t : threads) {
    t.join();
  }
}

// Runs op for every name in parallel (S13: several VMs per command). Returns the VMs in
// request order, or one error naming every VM that failed (code of the first failure).
Expected<api::VmInfos> for_each_vm(
    const std::vector<std::string>& names,
    const std::function<Expected<model::Vm>(const std::string&)>& op) {
  if (names.empty()) {
    return fail(Errc::invalid_argument, "name at least one vm");
  }
  std::vector<std::optional<Expected<model::Vm>>> results(names.size());
  in_parallel(names.size(), [&](std::size_t i) { results[i] = op(names[i]); });
  api::VmInfos out;
  std::optional<Error> first;
  std::vector<std::string> messages;
  for (auto& result : results) {
    if (*result) {
      out.vms.push_back(to_info(**result));
    } else {
      if (!first) {
        first = result->error();
      }
      messages.push_back(result->error().message);
    }
  }
  if (first) {
    first->message = base::join(messages, "; ");
    return tl::unexpected(*first);
  }
  return out;
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

}  // namespace

void register_vm_handlers(rpc::Registry& registry, VmHandlerDeps deps) {
  registry.add<api::VmCreate>([deps](const api::VmCreate::Request& request,
                                     rpc::CallContext& call) -> Expected<api::VmCreate::Response> {
    // The same decision doctor reports; a VM records the backend it is created under.
    auto backend = policy::decide_vmm(deps.config.vmm);
    if (!backend.refusal.empty()) {
      return fail(Errc::failed_precondition, backend.refusal);
    }
    auto defaults = config::resolve_vm_defaults(deps.config, config::probe_host());
    vm::CreateSpec spec{
        .name = request.name,
        .image = request.image.empty() ? deps.config.default_image : request.image,
        .kernel = request.kernel.empty() ? deps.config.default_kernel : request.kernel,
        .vcpu = request.vcpu.value_or(static_cast<int>(defaults.vcpu.value)),
        .memory_mib = request.memory_mib.value_or(defaults.memory_mib.value),
        .disk_size_mib = request.disk_size_mib.value_or(defaults.disk_size_mib.value),
        .nat = request.nat,
        .vmm = backend.backend};
    BANGER_TRY_ASSIGN(auto vm, deps.vms.create(spec));
    if (!request.no_start) {
      // A VM that never became ready stays (in `error`) for `vm logs`; the error says why.
      CallBridge bridge(call);
      BANGER_TRY_ASSIGN(vm, deps.vms.start(vm.id, bridge.progress(), bridge.cancel()));
    }
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
  registry.add<api::VmStart>(
      [deps](const api::VmNames& request, rpc::CallContext& call) -> Expected<api::VmInfos> {
        CallBridge bridge(call);
        return for_each_vm(request.names, [&](const std::string& name) {
          return deps.vms.start(name, bridge.progress(), bridge.cancel());
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
          return deps.vms.restart(name, bridge.progress(), bridge.cancel());
        });
      });
  registry.add<api::VmKill>([deps](const api::VmNames& request,
                                   rpc::CallContext&) -> Expected<api::VmInfos> {
    return for_each_vm(request.names, [&](const std::string& name) { return deps.vms.kill(name); });
  });
  registry.add<api::VmPrune>([deps](const api::VmPrune::Request& request,
                                    rpc::CallContext&) -> Expected<api::VmPrune::Response> {
    BANGER_TRY_ASSIGN(auto names, deps.vms.prune(request.dry_run));
    return api::VmPrune::Response{.deleted = std::move(names)};
  });
  registry.add<api::VmSet>([deps](const api::VmSet::Request& request,
                                  rpc::CallContext&) -> Expected<api::VmSet::Response> {
    BANGER_TRY_ASSIGN(auto vm,
                      deps.vms.set(request.name, request.vcpu, request.memory_mib, request.nat));
    return api::VmSet::Response{.vm = to_info(vm)};
  });
  registry.add<api::VmLogs>([deps](const api::VmLogs::Request& request,
                                   rpc::CallContext&) -> Expected<api::VmLogs::Response> {
    BANGER_TRY_ASSIGN(auto vm, deps.vms.show(request.name));
    BANGER_TRY_ASSIGN(auto path, deps.vms.console_log_path(request.name));
    api::VmLogs::Response response;
    response.state = std::string(model::to_string(vm.state));
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      return response;  // never booted: no log yet
    }
    in.seekg(0, std::ios::end);
    std::int64_t size = in.tellg();
    std::int64_t offset = request.offset < 0 ? std::max<std::int64_t>(0, size + request.offset)
                                             : std::min(request.offset, size);
    std::int64_t want = std::clamp<std::int64_t>(request.max_bytes, 0, 16 << 20);
    std::int64_t n = std::min(want, size - offset);
    response.text.resize(static_cast<std::size_t>(n));
    in.seekg(offset);
    in.read(response.text.data(), n);
    response.next_offset = offset + n;
    return response;
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
        if (request.names.empty()) {
          return fail(Errc::invalid_argument, "name at least one vm");
        }
        api::VmPorts::Response response;
        response.vms.resize(request.names.size());
        in_parallel(request.names.size(), [&](std::size_t i) {
          auto& entry = response.vms[i];
          entry.name = request.names[i];
          auto vm = deps.vms.show(request.names[i]);
          auto ports = vm ? deps.vms.ports(vm->id) : tl::unexpected(vm.error());
          if (!ports) {
            entry.error = ports.error().message;
            return;
          }
          entry.name = vm->name;
          for (const auto& port : *ports) {
            entry.ports.push_back(to_port_info(vm->name, port));
          }
        });
        return response;
      });
  registry.add<api::VmStatsMethod>(
      [deps](const api::VmNames& request,
             rpc::CallContext&) -> Expected<api::VmStatsMethod::Response> {
        std::vector<std::string> names = request.names;
        if (names.empty()) {
          BANGER_TRY_ASSIGN(auto vms, deps.vms.list());
          for (const auto& vm : vms) {
            if (vm.state == model::VmState::running) {
              names.push_back(vm.name);
            }
          }
        }
        std::vector<std::optional<Expected<vm::VmStats>>> results(names.size());
        in_parallel(names.size(), [&](std::size_t i) { results[i] = deps.vms.stats(names[i]); });
        api::VmStatsMethod::Response response;
        for (auto& result : results) {
          if (!*result) {
            return tl::unexpected(result->error());
          }
          const auto& stats = **result;
          response.vms.push_back(
              {.name = stats.vm.name,
               .cpu_percent = stats.usage.cpu_percent,
               .cpu_seconds = stats.usage.cpu_seconds,
               .rss_bytes = stats.usage.rss_bytes,
               .memory_mib = stats.vm.memory_mib,
               .disk_allocated_bytes = stats.usage.disk_allocated_bytes,
               .disk_apparent_bytes = stats.usage.disk_apparent_bytes,
               .guest_uptime_s =
                   stats.guest ? std::optional<double>(stats.guest->uptime_s) : std::nullopt});
        }
        return response;
      });
  registry.add<api::VmExec>([deps](const api::VmExec::Request& request,
                                   rpc::CallContext&) -> Expected<api::VmExec::Response> {
    auto stdin_data = api::base64_decode(request.stdin_b64);
    if (!stdin_data) {
      return fail(Errc::invalid_argument, "stdin_b64 is not base64");
    }
    BANGER_TRY_ASSIGN(auto result, deps.vms.exec(request.name, {.argv = request.argv,
                                                                .env = request.env,
                                                                .cwd = request.cwd,
                                                                .stdin_data = *stdin_data,
                                                                .timeout_s = request.timeout_s}));
    api::VmExec::Response response{.exit_code = result.exit_code,
                                   .signal = result.signal,
                                   .timed_out = result.timed_out,
                                   .stdout_b64 = api::base64_encode(result.stdout_data),
                                   .stderr_b64 = api::base64_encode(result.stderr_data),
                                   .stdout_truncated = result.stdout_truncated,
                                   .stderr_truncated = result.stderr_truncated};
    // The reply must fit one RPC line; say so instead of a framing error on the client.
    constexpr std::size_t kReplyHeadroom = 64 * 1024;
    if (response.stdout_b64.size() + response.stderr_b64.size() + kReplyHeadroom >
        api::kMaxFrameBytes) {
      return fail(Errc::failed_precondition,
                  fmt::format("the command's output ({} bytes) is too large for one reply (about "
                              "{} MiB at most): write it to a file in the vm, or use banger vm ssh",
                              result.stdout_data.size() + result.stderr_data.size(),
                              (api::kMaxFrameBytes - kReplyHeadroom) * 3 / 4 / (1024 * 1024)));
    }
    return response;
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

}  // namespace banger::daemon
