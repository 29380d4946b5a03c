#include "banger/agentd/exec.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <fstream>
#include <map>
#include <optional>

#include "banger/agentd/proc_files.hpp"
#include "banger/agentproto/image_env.hpp"
#include "banger/posix/env.hpp"
#include "banger/posix/subprocess.hpp"

namespace banger::agentd {
namespace {

using agentproto::ErrorCode;
using agentproto::WireError;

constexpr std::string_view kBasePath =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
constexpr double kMaxTimeoutSeconds = 1e9;

constexpr std::size_t kMaxImageEnvBytes = 64 * 1024;

// The image's environment file, when the image has one (pulled images); {} otherwise.
std::map<std::string, std::string> read_image_env() {
  std::ifstream in{std::string(agentproto::kImageEnvFile)};
  if (!in) {
    return {};
  }
  std::string text(kMaxImageEnvBytes, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  return agentproto::parse_image_env(text);
}

// The base environment, the image's and the request's entries laid over it.
std::map<std::string, std::string> exec_env(const std::map<std::string, std::string>& request) {
  return layer_env(exec_base_env(), read_image_env(), request);
}

std::optional<WireError> check_cwd(const std::string& cwd) {
  struct stat st{};
  if (::stat(cwd.c_str(), &st) != 0) {
    return WireError{ErrorCode::not_found, "working directory \"" + cwd + "\" does not exist"};
  }
  if (!S_ISDIR(st.st_mode)) {
    return WireError{ErrorCode::not_found, "working directory \"" + cwd + "\" is not a directory"};
  }
  return std::nullopt;
}

posix::Deadline exec_deadline(double timeout_s) {
  if (timeout_s <= 0) {
    return posix::kNoDeadline;
  }
  return posix::Clock::now() +
         std::chrono::duration_cast<posix::Clock::duration>(
             std::chrono::duration<double>(std::min(timeout_s, kMaxTimeoutSeconds)));
}

agentproto::ExecResult to_exec_result(posix::PumpResult pumped) {
  agentproto::ExecResult result;
  result.exit_code = pumped.exit.code;
  result.signal = pumped.exit.signal;
  result.timed_out = pumped.timed_out;
  result.stdout_data = std::move(pumped.out);
  result.stderr_data = std::move(pumped.err);
  result.stdout_truncated = pumped.out_truncated;
  result.stderr_truncated = pumped.err_truncated;
  return result;
}

}  // namespace

std::vector<std::string> exec_base_env() {
  return {"PATH=" + std::string(kBasePath), "HOME=/root", "TERM=dumb", "LANG=C.UTF-8"};
}

std::map<std::string, std::string> layer_env(const std::vector<std::string>& base,
                                             const std::map<std::string, std::string>& image,
                                             const std::map<std::string, std::string>& request) {
  std::map<std::string, std::string> env;
  for (const auto& entry : base) {
    const auto eq = entry.find('=');
    env[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  for (const auto& [key, value] : image) {
    if (key != "HOME") {
      env[key] = value;
    }
  }
  for (const auto& [key, value] : request) {
    env[key] = value;
  }
  return env;
}

ProgramProbe real_program_probe() {
  return ProgramProbe{
      .exists =
          [](const std::string& path) {
            struct stat st{};
            return ::stat(path.c_str(), &st) == 0;
          },
      .is_executable =
          [](const std::string& path) {
            struct stat st{};
            return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
                   ::access(path.c_str(), X_OK) == 0;
          },
  };
}

std::variant<std::string, WireError> resolve_program(const std::string& name,
                                                     std::string_view path_var,
                                                     const std::string& cwd,
                                                     const ProgramProbe& probe) {
  if (name.find('/') != std::string::npos) {
    if (!probe.exists(name.front() == '/' ? name : cwd + "/" + name)) {
      return WireError{ErrorCode::not_found, "executable \"" + name + "\" not found"};
    }
    return name;
  }
  std::size_t pos = 0;
  while (pos <= path_var.size()) {
    const auto end = std::min(path_var.find(':', pos), path_var.size());
    std::string dir(path_var.substr(pos, end - pos));
    pos = end + 1;
    if (dir.empty()) {
      dir = ".";
    }
    if (dir.front() != '/') {
      dir = cwd + "/" + dir;
    }
    if (probe.is_executable(dir + "/" + name)) {
      return dir + "/" + name;
    }
  }
  return WireError{ErrorCode::not_found, "executable \"" + name + "\" not found in PATH"};
}

std::variant<PreparedCommand, WireError> prepare_command(
    const std::vector<std::string>& argv, const std::map<std::string, std::string>& request_env,
    const std::string& request_cwd, std::string_view extra_path) {
  if (argv.empty() || argv.front().empty()) {
    return WireError{ErrorCode::bad_request,
                     "field \"argv\": expected a non-empty array of strings"};
  }
  auto env = exec_env(request_env);
  if (!extra_path.empty()) {
    auto& path = env["PATH"];
    path += (path.empty() ? "" : ":") + std::string(extra_path);
  }
  const std::string cwd = request_cwd.empty() ? "/" : request_cwd;
  if (auto bad_cwd = check_cwd(cwd)) {
    return *bad_cwd;
  }
  auto program = resolve_program(argv.front(), env["PATH"], cwd, real_program_probe());
  if (auto* error = std::get_if<WireError>(&program)) {
    return *error;
  }
  return PreparedCommand{.program = std::move(std::get<std::string>(program)),
                         .cwd = cwd,
                         .env = posix::build_env({}, env)};
}

WireError spawn_error(const std::string& name, int sys_errno) {
  if (sys_errno == ENOENT) {
    return WireError{ErrorCode::not_found, "executable \"" + name + "\" not found"};
  }
  return WireError{ErrorCode::operation_failed,
                   "cannot run \"" + name + "\": " + errno_text(sys_errno)};
}

std::variant<agentproto::ExecResult, WireError> run_exec(const agentproto::ExecParams& params,
                                                         std::size_t max_output) {
  auto prepared = prepare_command(params.argv, params.env, params.cwd);
  if (auto* error = std::get_if<WireError>(&prepared)) {
    return *error;
  }
  auto& command = std::get<PreparedCommand>(prepared);
  const std::string& name = params.argv.front();
  auto child = posix::Subprocess::spawn({.argv = params.argv,
                                         .program = command.program,
                                         .env = std::move(command.env),
                                         .cwd = command.cwd,
                                         .new_session = true});
  if (!child) {
    return spawn_error(name, child.error().sys_errno);
  }
  auto pumped = child->pump({.stdin_data = params.stdin_data,
                             .deadline = exec_deadline(params.timeout_s),
                             .max_output = max_output,
                             .until_exit = true});
  if (!pumped) {
    return WireError{ErrorCode::operation_failed,
                     "running \"" + name + "\": " + pumped.error().message()};
  }
  return to_exec_result(std::move(*pumped));
}

}  // namespace banger::agentd
