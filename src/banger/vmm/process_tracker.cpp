#include "banger/vmm/process_tracker.hpp"

#include <fmt/format.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <thread>

#include "banger/base/expected.hpp"
#include "banger/base/log.hpp"
#include "banger/base/strings.hpp"
#include "banger/sys/capped_log.hpp"

namespace banger::vmm {
namespace {

constexpr std::chrono::milliseconds kPollInterval{20};
// The most of the log read for a start-up error's tail (the file may be many MiB).
constexpr std::int64_t kLogTailBytes = 64 * 1024;

}  // namespace

void ProcessTracker::adopt(const VmmHandle& handle, std::shared_ptr<sys::Process> process) {
  std::lock_guard lock(mutex_);
  children_[Key{handle.pid, handle.start_time}] = std::move(process);
}

std::shared_ptr<sys::Process> ProcessTracker::child(const VmmHandle& handle) {
  std::lock_guard lock(mutex_);
  auto it = children_.find(Key{handle.pid, handle.start_time});
  return it == children_.end() ? nullptr : it->second;
}

ProcessTracker::ExitState ProcessTracker::exit_state(const VmmHandle& handle) {
  if (auto process = child(handle)) {
    auto status = process->wait_for(std::chrono::milliseconds(0));
    if (!status || !status->has_value()) {
      return {};
    }
    return ExitState{.exited = true, .code = **status};
  }
  return ExitState{.exited = !sys::process_matches(handle.pid, handle.start_time), .code = {}};
}

bool ProcessTracker::wait_exit(const VmmHandle& handle, std::chrono::milliseconds timeout) {
  if (auto process = child(handle)) {
    auto status = process->wait_for(timeout);
    return status && status->has_value();
  }
  // Not our child (the daemon restarted): poll until the pid stops matching.
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (sys::process_matches(handle.pid, handle.start_time)) {
    if (std::chrono::steady_clock::now() >= deadline) {
      return false;
    }
    std::this_thread::sleep_for(kPollInterval);
  }
  return true;
}

Status ProcessTracker::send_signal(const VmmHandle& handle, int sig) {
  if (auto process = child(handle)) {
    return process->signal(sig);
  }
  if (!sys::process_matches(handle.pid, handle.start_time)) {
    return {};  // gone, or the pid now names another process: never signal it
  }
  if (::kill(handle.pid, sig) != 0 && errno != ESRCH) {
    return fail_errno(fmt::format("sending signal {} to {} pid {}", sig, vmm_name_, handle.pid),
                      errno);
  }
  return {};
}

Status ProcessTracker::kill(const VmmHandle& handle, std::chrono::milliseconds timeout) {
  BANGER_TRY(send_signal(handle, SIGKILL));
  if (!wait_exit(handle, timeout)) {
    return fail(Errc::timeout, fmt::format("{} pid {} still running {} ms after SIGKILL", vmm_name_,
                                           handle.pid, timeout.count()));
  }
  return {};
}

Expected<bool> ProcessTracker::signal(const VmmHandle& handle, int signal,
                                      std::chrono::milliseconds kill_timeout,
                                      std::chrono::milliseconds wait) {
  if (signal == SIGKILL) {
    BANGER_TRY(kill(handle, kill_timeout));
    return true;
  }
  if (exit_state(handle).exited) {
    return true;
  }
  BANGER_TRY(send_signal(handle, signal));
  return wait_exit(handle, wait);
}

Status require_vmm_paths(const VmConfig& config) {
  for (const auto& [field, value] : {std::pair{"control_socket_path", &config.control_socket_path},
                                     std::pair{"agent_socket_path", &config.agent_socket_path},
                                     std::pair{"console_log_path", &config.console_log_path}}) {
    if (value->empty()) {
      return fail(Errc::invalid_argument, fmt::format("vm config: {} must be set", field));
    }
  }
  return {};
}

sys::LaunchSpec vmm_launch_spec(std::vector<std::string> argv, const VmConfig& config,
                                const std::vector<std::string>& console_writer,
                                std::int64_t console_max_bytes) {
  sys::LaunchSpec spec{.argv = std::move(argv),
                       .cwd = config.run_dir,
                       .umask = 077,
                       .env_overrides = {},
                       .log_path = config.console_log_path,
                       .log_writer = {}};
  if (!console_writer.empty()) {
    spec.log_writer = console_writer;
    spec.log_writer.push_back(config.console_log_path);
    spec.log_writer.push_back(std::to_string(console_max_bytes));
  }
  return spec;
}

std::int64_t file_size(const std::string& path) {
  struct stat st{};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<std::int64_t>(st.st_size) : 0;
}

std::string log_tail(const std::string& path, std::int64_t offset, std::size_t lines) {
  std::string text = sys::read_tail(path, kLogTailBytes, offset);
  return std::string(base::trim(base::tail_lines(text, lines)));
}

std::string describe_exit(std::optional<int> code) {
  if (!code || *code < 0) {
    return "";
  }
  if (*code > 128) {
    return fmt::format(" (killed by signal {})", *code - 128);
  }
  return fmt::format(" (status {})", *code);
}

Status remove_stale_socket(const std::string& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return fail_errno("removing stale socket " + path, errno);
  }
  return {};
}

void remove_vmm_sockets(const VmmHandle& handle, const std::vector<std::string>& more) {
  std::vector<std::string> paths = {handle.control_socket, handle.agent_socket};
  paths.insert(paths.end(), more.begin(), more.end());
  for (const auto& path : paths) {
    if (path.empty()) {
      continue;
    }
    if (auto removed = remove_stale_socket(path); !removed) {
      BANGER_LOG_WARN("{}", removed.error().message);
    }
  }
}

}  // namespace banger::vmm
