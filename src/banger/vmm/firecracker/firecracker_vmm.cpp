#include "banger/vmm/firecracker/firecracker_vmm.hpp"

#include <fmt/format.h>
#include <signal.h>

#include <algorithm>
#include <thread>

#include "banger/agentproto/constants.hpp"
#include "banger/agentproto/stream.hpp"
#include "banger/base/expected.hpp"
#include "banger/base/log.hpp"
#include "banger/vmm/firecracker/api_client.hpp"

namespace banger::vmm::firecracker {
namespace {

constexpr std::chrono::milliseconds kPollInterval{20};

}  // namespace

FirecrackerVmm::FirecrackerVmm(FirecrackerVmmDeps deps, FirecrackerVmmOptions options)
    : deps_(deps), options_(std::move(options)) {}

std::string FirecrackerVmm::exec_file_name() const {
  auto slash = options_.binary.rfind('/');
  return slash == std::string::npos ? options_.binary : options_.binary.substr(slash + 1);
}

VmmPaths FirecrackerVmm::layout(const std::string& vm_id, const std::string& runtime_dir,
                                const std::string& vm_dir) const {
  VmmPaths paths{.control_socket = runtime_dir + "/" + vm_id + ".fc",
                 .agent_socket = runtime_dir + "/" + vm_id + ".vsock",
                 .stream_sockets = {},
                 .console_log = vm_dir + "/console.log",
                 .jail_dir = ""};
  if (jailed()) {
    if (auto jail = jail_layout(options_.jailer.chroot_base, exec_file_name(), vm_id)) {
      paths.jail_dir = jail->dir;
    }  // else launch() reports why (VM ids are always valid jail ids)
  }
  return paths;
}

std::string FirecrackerVmm::kernel_cmdline(const CmdlineSpec& spec) const {
  return vmm::kernel_cmdline(spec) + " reboot=k panic=1 pci=off";
}

Status FirecrackerVmm::wait_for_api(sys::Process& process, const VmConfig& config,
                                    std::int64_t log_offset) {
  auto deadline = std::chrono::steady_clock::now() + options_.ready_timeout;
  std::string last = "it never created its API socket";
  while (true) {
    auto exited = process.wait_for(std::chrono::milliseconds(0));
    if (exited && exited->has_value()) {
      std::string tail = log_tail(config.console_log_path, log_offset, options_.log_tail_lines);
      return fail(Errc::command_failed,
                  tail.empty()
                      ? fmt::format("firecracker exited during start-up{} with no output in {}",
                                    describe_exit(**exited), config.console_log_path)
                      : fmt::format("firecracker exited during start-up{}: {}",
                                    describe_exit(**exited), tail));
    }
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) {
      return fail(Errc::timeout,
                  fmt::format("firecracker did not answer on {} within {} ms ({})",
                              config.control_socket_path, options_.ready_timeout.count(), last));
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
    ApiClient api(config.control_socket_path, std::min(left, options_.api_timeout));
    auto info = api.instance_info();
    if (info) {
      return {};
    }
    last = info.error().message;
    (void)process.wait_for(std::min(kPollInterval, left));
  }
}

Expected<VmmHandle> FirecrackerVmm::launch(const VmConfig& config) {
  BANGER_TRY(require_vmm_paths(config));
  if (config.vsock_cid < 3) {
    return fail(Errc::invalid_argument,
                "vm config: a firecracker VM needs a vsock CID (the agent is reached over vsock)");
  }
  // Under the jailer Firecracker is told the jail's paths (plan.jailed), reached through the
  // host-side symlinks at the usual socket paths.
  std::optional<JailPlan> jail;
  if (jailed()) {
    if (options_.jailer.binary.empty()) {
      return fail(Errc::failed_precondition,
                  "jailer_enabled is set but no jailer binary was found (jailer_bin or PATH): "
                  "install Firecracker's jailer (docs/firecracker.md) or set jailer_enabled = "
                  "false");
    }
    BANGER_TRY_ASSIGN(auto layout,
                      jail_layout(options_.jailer.chroot_base, exec_file_name(), config.vm_id));
    BANGER_TRY_ASSIGN(jail, plan_jail(config, layout));
  }
  // Everything Firecracker would refuse is refused before it starts.
  BANGER_TRY_ASSIGN(auto requests, configuration_requests(jail ? jail->jailed : config, {}));
  BANGER_TRY(remove_stale_socket(config.control_socket_path));
  BANGER_TRY(remove_stale_socket(config.agent_socket_path));
  std::int64_t log_offset = file_size(config.console_log_path);
  std::vector<std::string> argv;
  if (jail) {
    BANGER_TRY(deps_.jails.stage(*jail));
    argv = jailer_argv(options_.jailer.binary, options_.binary, options_.jailer.chroot_base, *jail);
  } else {
    if (config.run_as) {
      // No -runas in Firecracker: dropping to the VM's id is the jailer's job.
      BANGER_LOG_WARN(
          "vm {}: firecracker runs with the daemon's ids, not {}:{} (jailer_enabled is off; "
          "docs/security.md)",
          config.name, config.run_as->first, config.run_as->second);
    }
    argv = {options_.binary, "--api-sock", config.control_socket_path, "--id", config.vm_id};
  }
  VmmHandle handle{.backend = Backend::firecracker,
                   .pid = 0,
                   .start_time = 0,
                   .control_socket = config.control_socket_path,
                   .console_log = config.console_log_path,
                   .agent_socket = config.agent_socket_path,
                   .vsock_cid = config.vsock_cid,
                   .jail_dir = jail ? jail->layout.dir : std::string()};
  auto spec = vmm_launch_spec(argv, config, options_.console_writer, options_.console_max_bytes);
  auto launched = deps_.launcher.launch(spec);
  if (!launched) {
    discard(handle, {});
    return tl::unexpected(
        with_context(launched.error(),
                     jail ? "starting firecracker through the jailer" : "starting firecracker"));
  }
  std::shared_ptr<sys::Process> process = std::move(*launched);
  handle.pid = process->pid();
  handle.start_time = process->start_time();
  auto give_up = [&](const Error& error) -> tl::unexpected<Error> {
    (void)process->signal(SIGKILL);
    (void)process->wait_for(options_.kill_timeout);
    discard(handle, {});  // a killed Firecracker leaves its sockets (and jail) behind
    return tl::unexpected(error);
  };
  if (config.on_spawned) {
    // Before any wait: the caller records pid + start time now (security review M2).
    if (auto recorded = config.on_spawned(handle); !recorded) {
      return give_up(with_context(recorded.error(), "recording the firecracker process"));
    }
  }
  if (auto up = wait_for_api(*process, config, log_offset); !up) {
    return give_up(up.error());
  }
  ApiClient api(config.control_socket_path, options_.api_timeout);
  requests.push_back(instance_start());
  for (const auto& request : requests) {
    if (auto sent = api.send(request); !sent) {
      std::string tail = log_tail(config.console_log_path, log_offset, options_.log_tail_lines);
      Error error = sent.error();
      if (!tail.empty()) {
        error.message += "; its log: " + tail;
      }
      return give_up(with_context(error, "configuring firecracker"));
    }
  }
  BANGER_LOG_INFO("vm {}: firecracker pid {} started the guest{}", config.name, handle.pid,
                  jail ? fmt::format(" (jailed in {} as uid {})", jail->layout.root, jail->uid)
                       : std::string());
  processes_.adopt(handle, process);
  return handle;
}

Status FirecrackerVmm::request_shutdown(const VmmHandle& handle) {
  if (!alive(handle)) {
    return fail(Errc::not_running, fmt::format("firecracker pid {} is not running", handle.pid));
  }
  ApiClient api(handle.control_socket, options_.api_timeout);
  if (auto sent = api.send(send_ctrl_alt_del()); !sent) {
    Error e = with_context(sent.error(),
                           fmt::format("asking firecracker pid {} to power off", handle.pid));
    if (e.code != Errc::unavailable) {
      e.code = Errc::unavailable;
    }
    return tl::unexpected(std::move(e));
  }
  return {};
}

Status FirecrackerVmm::stop(const VmmHandle& handle, std::chrono::milliseconds grace) {
  if (!alive(handle)) {
    discard(handle, {});
    return {};
  }
  if (auto asked = request_shutdown(handle); !asked) {
    BANGER_LOG_WARN("{}; killing it", asked.error().message);
  } else if (processes_.wait_exit(handle, grace)) {
    discard(handle, {});
    return {};
  } else {
    BANGER_LOG_INFO("firecracker pid {} still running {} ms after Ctrl+Alt+Del; killing it",
                    handle.pid, grace.count());
  }
  return kill(handle);
}

Status FirecrackerVmm::kill(const VmmHandle& handle) {
  BANGER_TRY(processes_.kill(handle, options_.kill_timeout));
  discard(handle, {});
  return {};
}

void FirecrackerVmm::discard(const VmmHandle& handle, const VmmPaths& /*paths*/) {
  remove_vmm_sockets(handle);
  if (handle.jail_dir.empty()) {
    return;
  }
  JailLayout jail = jail_layout_of(handle.jail_dir);
  if (auto removed = deps_.jails.remove(jail); !removed) {
    BANGER_LOG_WARN("removing the jail {}: {}", jail.dir, removed.error().message);
  }
}

void FirecrackerVmm::remove_leftovers(const std::vector<std::string>& running_vm_ids) {
  if (!jailed()) {
    return;
  }
  auto ids = deps_.jails.list(options_.jailer.chroot_base, exec_file_name());
  if (!ids) {
    BANGER_LOG_WARN("{}", ids.error().message);
    return;
  }
  for (const auto& id : *ids) {
    if (std::find(running_vm_ids.begin(), running_vm_ids.end(), id) != running_vm_ids.end()) {
      continue;
    }
    auto jail = jail_layout(options_.jailer.chroot_base, exec_file_name(), id);
    if (!jail) {
      continue;
    }
    BANGER_LOG_INFO("reconcile: removing the jail {} (its vm does not run)", jail->dir);
    if (auto removed = deps_.jails.remove(*jail); !removed) {
      BANGER_LOG_WARN("reconcile: {}", removed.error().message);
    }
  }
}

Expected<bool> FirecrackerVmm::signal(const VmmHandle& handle, int signal) {
  return processes_.signal(handle, signal, options_.kill_timeout, options_.signal_wait);
}

Expected<VmmStatus> FirecrackerVmm::status(const VmmHandle& handle) {
  if (auto exited = processes_.exit_state(handle); exited.exited) {
    return VmmStatus{.state = VmmState::exited, .exit_code = exited.code, .detail = "exited"};
  }
  ApiClient api(handle.control_socket, options_.api_timeout);
  auto info = api.instance_info();
  if (!info) {
    if (auto exited = processes_.exit_state(handle); exited.exited) {  // died while we asked
      return VmmStatus{.state = VmmState::exited, .exit_code = exited.code, .detail = "exited"};
    }
    Error e = with_context(info.error(), fmt::format("querying firecracker pid {}", handle.pid));
    e.code = Errc::unavailable;
    return tl::unexpected(std::move(e));
  }
  std::string state = info->value("state", std::string("unknown"));
  return VmmStatus{.state = state == "Running" ? VmmState::running : VmmState::paused,
                   .exit_code = std::nullopt,
                   .detail = state};
}

AgentEndpoint FirecrackerVmm::agent_endpoint(const VmmHandle& handle) {
  return AgentEndpoint{.kind = AgentEndpoint::Kind::firecracker_vsock_uds,
                       .path = handle.agent_socket,
                       .cid = handle.vsock_cid,
                       .port = agentproto::kAgentVsockPort};
}

std::vector<AgentEndpoint> FirecrackerVmm::stream_endpoints(const VmmHandle& handle,
                                                            const VmmPaths& /*paths*/) {
  std::vector<AgentEndpoint> endpoints;
  for (std::size_t n = 0; n < agentproto::kStreamChannels; ++n) {
    endpoints.push_back(AgentEndpoint{.kind = AgentEndpoint::Kind::firecracker_vsock_uds,
                                      .path = handle.agent_socket,
                                      .cid = handle.vsock_cid,
                                      .port = agentproto::kStreamVsockPort});
  }
  return endpoints;
}

bool FirecrackerVmm::launched_with(const std::vector<std::string>& argv,
                                   const VmmPaths& paths) const {
  if (!paths.jail_dir.empty() && jailed_with(argv, jail_layout_of(paths.jail_dir))) {
    return true;
  }
  for (std::size_t i = 0; i + 1 < argv.size(); ++i) {
    if (argv[i] == "--api-sock" && argv[i + 1] == paths.control_socket) {
      return true;
    }
  }
  return false;
}

}  // namespace banger::vmm::firecracker
