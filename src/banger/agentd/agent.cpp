#include "banger/agentd/agent.hpp"

#include <spawn.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <thread>
#include <utility>
#include <variant>

#include "banger/agentd/exec.hpp"
#include "banger/agentd/health.hpp"
#include "banger/agentd/log.hpp"
#include "banger/agentd/ports.hpp"
#include "banger/agentd/proc_files.hpp"
#include "banger/agentproto/auth.hpp"
#include "banger/agentproto/message.hpp"
#include "banger/agentproto/methods.hpp"

namespace banger::agentd {
namespace {

using agentproto::ErrorCode;

std::string error_line(std::int64_t id, const agentproto::WireError& error) {
  return agentproto::make_error_line(id, error.code, error.message);
}

}  // namespace

void LinuxSystemControl::sync() { ::sync(); }

void LinuxSystemControl::poweroff() {
  struct stat st{};
  if (::stat("/run/systemd/system", &st) == 0 && S_ISDIR(st.st_mode)) {
    for (const char* path : {"/usr/bin/systemctl", "/bin/systemctl"}) {
      if (::access(path, X_OK) != 0) {
        continue;
      }
      char* argv[] = {const_cast<char*>("systemctl"), const_cast<char*>("poweroff"), nullptr};
      char* envp[] = {const_cast<char*>("PATH=/usr/sbin:/usr/bin:/sbin:/bin"), nullptr};
      pid_t pid = -1;
      const int err = ::posix_spawn(&pid, path, nullptr, nullptr, argv, envp);
      if (err != 0) {
        log_line("poweroff: running " + std::string(path) + ": " + errno_text(err));
        break;
      }
      int status = 0;
      ::waitpid(pid, &status, 0);
      if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        return;
      }
      log_line("poweroff: systemctl poweroff failed; powering off directly");
      break;
    }
  }
  // Give the reply a moment to leave the guest before the machine stops.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  ::sync();
  if (::reboot(RB_POWER_OFF) != 0) {
    log_line("poweroff: reboot(RB_POWER_OFF): " + errno_text(errno));
  }
}

Agent::Agent(AgentDeps deps) : deps_(std::move(deps)) {}

std::string Agent::check_token(std::string_view presented) const {
  errno = 0;
  const auto text = read_text_file(deps_.token_path);
  if (!text) {
    return "agent has no token: " + deps_.token_path + ": " +
           (errno != 0 ? errno_text(errno) : std::string("cannot be read"));
  }
  const auto expected = agentproto::token_from_file_text(*text);
  if (!expected) {
    return "agent has no token: " + deps_.token_path + " does not hold " +
           std::to_string(agentproto::kAgentTokenHexChars) + " hex characters";
  }
  if (!agentproto::tokens_equal(presented, *expected)) {
    return "wrong token";
  }
  return "";
}

Reply Session::refuse(std::optional<std::int64_t> id, const std::string& why) {
  log_line("refused a connection: " + why);
  Reply reply{agentproto::make_error_line(id, ErrorCode::unauthorized, "unauthorized: " + why), {}};
  reply.hang_up = true;
  return reply;
}

std::optional<Reply> Session::refuse_partial(std::size_t buffered) {
  if (authenticated_ || buffered <= agentproto::kMaxHelloBytes) {
    return std::nullopt;
  }
  return refuse(std::nullopt,
                "first line longer than " + std::to_string(agentproto::kMaxHelloBytes) + " bytes");
}

bool Session::is_auth(const agentproto::Frame& frame) {
  if (frame.kind != agentproto::Frame::Kind::line ||
      frame.line.size() > agentproto::kMaxHelloBytes) {
    return false;
  }
  auto parsed = agentproto::parse_request(frame.line);
  const auto* request = std::get_if<agentproto::Request>(&parsed);
  return request != nullptr && request->method == agentproto::kMethodAuth;
}

Reply Session::handle(const agentproto::Frame& frame) {
  // An `auth` on an authenticated session is checked again: on the serial port a new host may
  // connect before the agent saw the previous one leave, and it must prove itself too (a wrong
  // token ends the session).
  if (authenticated_ && !is_auth(frame)) {
    return agent_.handle(frame);
  }
  authenticated_ = false;
  if (frame.kind != agentproto::Frame::Kind::line ||
      frame.line.size() > agentproto::kMaxHelloBytes) {
    return refuse(std::nullopt, "first line longer than " +
                                    std::to_string(agentproto::kMaxHelloBytes) + " bytes");
  }
  auto parsed = agentproto::parse_request(frame.line);
  if (auto* rejected = std::get_if<agentproto::RejectedRequest>(&parsed)) {
    return refuse(rejected->id,
                  "the first request must be \"auth\" (" + rejected->error.message + ")");
  }
  const auto& request = std::get<agentproto::Request>(parsed);
  if (request.method != agentproto::kMethodAuth) {
    return refuse(request.id, "the first request must be \"auth\", not \"" + request.method + "\"");
  }
  agentproto::AuthParams params;
  if (auto error = agentproto::decode(request.params, params); !error.empty()) {
    return refuse(request.id, error);
  }
  if (auto why = agent_.check_token(params.token); !why.empty()) {
    return refuse(request.id, why);
  }
  authenticated_ = true;
  return Reply{agentproto::make_result_line(request.id, nlohmann::json::object()), {}};
}

Reply Agent::handle(const agentproto::Frame& frame) {
  if (frame.kind == agentproto::Frame::Kind::oversize) {
    return Reply{
        agentproto::make_error_line(
            std::nullopt, ErrorCode::bad_request,
            "request line longer than " + std::to_string(agentproto::kMaxFrameBytes) + " bytes"),
        {}};
  }
  auto parsed = agentproto::parse_request(frame.line);
  if (auto* rejected = std::get_if<agentproto::RejectedRequest>(&parsed)) {
    return Reply{
        agentproto::make_error_line(rejected->id, rejected->error.code, rejected->error.message),
        {}};
  }
  const auto& request = std::get<agentproto::Request>(parsed);
  const auto id = request.id;
  const auto& method = request.method;
  if (method == agentproto::kMethodHealth) {
    auto health = read_health(deps_.proc_root, deps_.version, deps_.ssh_host_key_paths);
    if (auto* error = std::get_if<agentproto::WireError>(&health)) {
      return Reply{error_line(id, *error), {}};
    }
    if (!deps_.report_ssh_host_key) {
      std::get<agentproto::HealthResult>(health).ssh_host_key.reset();
    }
    return Reply{agentproto::make_result_line(
                     id, agentproto::encode(std::get<agentproto::HealthResult>(health))),
                 {}};
  }
  if (method == agentproto::kMethodPorts) {
    return Reply{agentproto::make_result_line(id, agentproto::encode(list_ports(deps_.proc_root))),
                 {}};
  }
  if (method == agentproto::kMethodSync) {
    deps_.system.sync();
    return Reply{agentproto::make_result_line(id, nlohmann::json::object()), {}};
  }
  if (method == agentproto::kMethodPoweroff) {
    SystemControl& system = deps_.system;
    return Reply{agentproto::make_result_line(id, nlohmann::json::object()), [&system] {
                   log_line("poweroff requested");
                   system.poweroff();
                 }};
  }
  if (method == agentproto::kMethodExec) {
    agentproto::ExecParams params;
    if (auto error = agentproto::decode(request.params, params); !error.empty()) {
      return Reply{agentproto::make_error_line(id, ErrorCode::bad_request, error), {}};
    }
    auto outcome = run_exec(params);
    if (auto* error = std::get_if<agentproto::WireError>(&outcome)) {
      return Reply{error_line(id, *error), {}};
    }
    return Reply{agentproto::make_result_line(
                     id, agentproto::encode(std::get<agentproto::ExecResult>(outcome))),
                 {}};
  }
  return Reply{agentproto::make_error_line(id, ErrorCode::unknown_method,
                                           "unknown method \"" + method +
                                               "\": known are health, ports, sync, poweroff, exec"),
               {}};
}

}  // namespace banger::agentd
