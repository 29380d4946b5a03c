#include "banger/vmm/qemu/qemu_vmm.hpp"

#include <fmt/format.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <thread>

#include "banger/agentproto/constants.hpp"
#include "banger/agentproto/stream.hpp"
#include "banger/base/expected.hpp"
#include "banger/base/log.hpp"
#include "banger/base/strings.hpp"
#include "banger/sys/capped_log.hpp"
#include "banger/sys/fs.hpp"
#include "banger/vmm/process_tracker.hpp"
#include "banger/vmm/qemu/qmp_client.hpp"

namespace banger::vmm::qemu {
namespace {

constexpr std::chrono::milliseconds kPollInterval{20};

}  // namespace

QemuVmm::QemuVmm(QemuVmmDeps deps, QemuVmmOptions options)
    : deps_(deps), options_(std::move(options)) {}

VmmPaths QemuVmm::layout(const std::string& vm_id, const std::string& runtime_dir,
                         const std::string& vm_dir) const {
  return VmmPaths{.control_socket = runtime_dir + "/" + vm_id + ".qmp",
                  .agent_socket = runtime_dir + "/" + vm_id + ".agent",
                  .stream_sockets = stream_socket_paths(runtime_dir, vm_id),
                  .console_log = vm_dir + "/console.log"};
}

std::string QemuVmm::kernel_cmdline(const CmdlineSpec& spec) const {
  return vmm::kernel_cmdline(spec);
}

Expected<VmmHandle> QemuVmm::launch(const VmConfig& config) {
  BANGER_TRY(require_vmm_paths(config));
  BANGER_TRY(remove_stale_socket(config.control_socket_path));
  BANGER_TRY(remove_stale_socket(config.agent_socket_path));
  for (const auto& path : config.stream_socket_paths) {
    BANGER_TRY(remove_stale_socket(path));
  }
  std::int64_t log_offset = file_size(config.console_log_path);

  auto spec = vmm_launch_spec(qemu_argv(config, options_.caps), config, options_.console_writer,
                              options_.console_max_bytes);
  auto launched = deps_.launcher.launch(spec);
  if (!launched) {
    return tl::unexpected(with_context(launched.error(), "starting qemu"));
  }
  std::shared_ptr<sys::Process> process = std::move(*launched);
  VmmHandle handle{.backend = Backend::qemu,
                   .pid = process->pid(),
                   .start_time = process->start_time(),
                   .control_socket = config.control_socket_path,
                   .console_log = config.console_log_path,
                   .agent_socket = config.agent_socket_path,
                   .vsock_cid = options_.caps.vhost_vsock ? config.vsock_cid : 0};

  auto kill_and_reap = [&] {
    (void)process->signal(SIGKILL);
    (void)process->wait_for(options_.kill_timeout);
    remove_vmm_sockets(handle, config.stream_socket_paths);
  };
  if (config.on_spawned) {
    // Before any wait: the caller records pid + start time now (security review M2).
    if (auto recorded = config.on_spawned(handle); !recorded) {
      kill_and_reap();
      return tl::unexpected(with_context(recorded.error(), "recording the qemu process"));
    }
  }
  auto deadline = std::chrono::steady_clock::now() + options_.ready_timeout;
  Error last_error{Errc::timeout, "qemu never created its qmp socket", 0, {}};
  while (true) {
    // Doubles as the poll interval: returns early when QEMU exits.
    auto exited = process->wait_for(std::chrono::milliseconds(0));
    if (exited && exited->has_value()) {
      std::string tail = log_tail(config.console_log_path, log_offset, options_.log_tail_lines);
      return fail(Errc::command_failed,
                  tail.empty() ? fmt::format("qemu exited during start-up{} with no output in {}",
                                             describe_exit(**exited), config.console_log_path)
                               : fmt::format("qemu exited during start-up{}: {}",
                                             describe_exit(**exited), tail));
    }
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) {
      break;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
    auto qmp = QmpClient::connect(config.control_socket_path, std::min(left, options_.qmp_timeout));
    if (qmp) {
      qmp->set_timeout(options_.qmp_timeout);
      auto state = qmp->query_status();
      if (state) {
        BANGER_LOG_INFO("vm {}: qemu pid {} up (qmp status {})", config.name, handle.pid, *state);
        processes_.adopt(handle, process);
        return handle;
      }
      last_error = state.error();
    } else {
      last_error = qmp.error();
    }
    (void)process->wait_for(std::min(kPollInterval, left));
  }
  kill_and_reap();
  std::string tail = log_tail(config.console_log_path, log_offset, options_.log_tail_lines);
  return fail(Errc::timeout,
              fmt::format("qemu did not answer on {} within {} ms ({}); killed it{}{}",
                          config.control_socket_path, options_.ready_timeout.count(),
                          last_error.message, tail.empty() ? "" : ": ", tail));
}

Status QemuVmm::request_shutdown(const VmmHandle& handle) {
  if (!alive(handle)) {
    return fail(Errc::not_running, fmt::format("qemu pid {} is not running", handle.pid));
  }
  auto qmp = QmpClient::connect(handle.control_socket, options_.qmp_timeout);
  if (!qmp) {
    return tl::unexpected(
        with_context(qmp.error(), fmt::format("asking qemu pid {} to power off", handle.pid)));
  }
  if (auto down = qmp->system_powerdown(); !down) {
    return tl::unexpected(
        with_context(down.error(), fmt::format("asking qemu pid {} to power off", handle.pid)));
  }
  return {};
}

Status QemuVmm::stop(const VmmHandle& handle, std::chrono::milliseconds grace) {
  if (!alive(handle)) {
    remove_vmm_sockets(handle);
    return {};
  }
  if (auto asked = request_shutdown(handle); !asked) {
    // Handled here: the fallback is the kill below.
    BANGER_LOG_WARN("{}; killing it", asked.error().message);
  } else if (processes_.wait_exit(handle, grace)) {
    remove_vmm_sockets(handle);
    return {};
  } else {
    BANGER_LOG_INFO("qemu pid {} still running {} ms after power-off; killing it", handle.pid,
                    grace.count());
  }
  return kill(handle);
}

Expected<bool> QemuVmm::signal(const VmmHandle& handle, int signal) {
  return processes_.signal(handle, signal, options_.kill_timeout, options_.signal_wait);
}

Status QemuVmm::kill(const VmmHandle& handle) {
  BANGER_TRY(processes_.kill(handle, options_.kill_timeout));
  remove_vmm_sockets(handle);
  return {};
}

Expected<VmmStatus> QemuVmm::status(const VmmHandle& handle) {
  if (auto exited = processes_.exit_state(handle); exited.exited) {
    return VmmStatus{.state = VmmState::exited, .exit_code = exited.code, .detail = "exited"};
  }
  auto qmp = QmpClient::connect(handle.control_socket, options_.qmp_timeout);
  Expected<std::string> state = qmp ? qmp->query_status() : tl::unexpected(qmp.error());
  if (!state) {
    if (auto exited = processes_.exit_state(handle); exited.exited) {  // it died while we asked
      return VmmStatus{.state = VmmState::exited, .exit_code = exited.code, .detail = "exited"};
    }
    Error e = with_context(state.error(), fmt::format("querying qemu pid {}", handle.pid));
    e.code = Errc::unavailable;
    return tl::unexpected(std::move(e));
  }
  return VmmStatus{.state = *state == "running" ? VmmState::running : VmmState::paused,
                   .exit_code = std::nullopt,
                   .detail = *state};
}

bool QemuVmm::launched_with(const std::vector<std::string>& argv, const VmmPaths& paths) const {
  return is_qemu_argv_for(argv, options_.caps.binary, paths.control_socket);
}

AgentEndpoint QemuVmm::agent_endpoint(const VmmHandle& handle) {
  // The guest agent listens on both; vsock needs no serial-port juggling, so prefer it.
  if (handle.vsock_cid >= 3) {
    return AgentEndpoint{.kind = AgentEndpoint::Kind::af_vsock,
                         .path = "",
                         .cid = handle.vsock_cid,
                         .port = agentproto::kAgentVsockPort};
  }
  return AgentEndpoint{.kind = AgentEndpoint::Kind::virtio_serial_unix,
                       .path = handle.agent_socket,
                       .cid = 0,
                       .port = 0};
}

std::vector<AgentEndpoint> QemuVmm::stream_endpoints(const VmmHandle& handle,
                                                     const VmmPaths& paths) {
  std::vector<AgentEndpoint> endpoints;
  if (handle.vsock_cid >= 3) {
    // The agent accepts kStreamChannels sessions at once on port 1025.
    for (std::size_t n = 0; n < agentproto::kStreamChannels; ++n) {
      endpoints.push_back(AgentEndpoint{.kind = AgentEndpoint::Kind::af_vsock,
                                        .path = "",
                                        .cid = handle.vsock_cid,
                                        .port = agentproto::kStreamVsockPort});
    }
    return endpoints;
  }
  for (const auto& path : paths.stream_sockets) {
    endpoints.push_back(AgentEndpoint{
        .kind = AgentEndpoint::Kind::virtio_serial_unix, .path = path, .cid = 0, .port = 0});
  }
  return endpoints;
}

}  // namespace banger::vmm::qemu
