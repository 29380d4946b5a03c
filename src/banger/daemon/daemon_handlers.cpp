#include <unistd.h>

#include "banger/api/daemon.hpp"
#include "banger/api/protocol.hpp"
#include "banger/base/expected.hpp"
#include "banger/buildinfo/buildinfo.hpp"
#include "banger/daemon/handlers.hpp"
#include "banger/doctor/doctor.hpp"
#include "banger/guest/ssh_command.hpp"
#include "banger/guest/ssh_keys.hpp"
#include "banger/sys/fs.hpp"

namespace banger::daemon {

void register_daemon_handlers(rpc::Registry& registry, DaemonHandlerDeps deps) {
  registry.add<api::Ping>(
      [](const api::Ping::Request&, rpc::CallContext&) -> Expected<api::Ping::Response> {
        return api::Ping::Response{.pong = true, .pid = static_cast<std::int64_t>(::getpid())};
      });
  registry.add<api::Version>(
      [](const api::Version::Request&, rpc::CallContext&) -> Expected<api::Version::Response> {
        return api::Version::Response{.version = std::string(buildinfo::version()),
                                      .commit = std::string(buildinfo::commit()),
                                      .protocol = api::kProtocolVersion};
      });
  registry.add<api::Shutdown>(
      [stop = deps.request_stop](const api::Shutdown::Request&,
                                 rpc::CallContext&) -> Expected<api::Shutdown::Response> {
        // The server sends this reply before run() returns (rpc::Server::stop contract).
        stop();
        return api::Shutdown::Response{};
      });
  registry.add<api::Doctor>(
      [deps](const api::Doctor::Request&, rpc::CallContext&) -> Expected<api::Doctor::Response> {
        auto facts = doctor::gather_facts(deps.paths, deps.config, deps.owner_uid,
                                          paths::Environment::current().home);
        api::Doctor::Response response;
        for (auto& check : doctor::evaluate(facts)) {
          response.checks.push_back({.name = std::move(check.name),
                                     .status = std::string(doctor::to_string(check.status)),
                                     .detail = std::move(check.detail),
                                     .hint = std::move(check.hint)});
        }
        return response;
      });
  registry.add<api::SshConfig>([deps](const api::SshConfig::Request&,
                                      rpc::CallContext&) -> Expected<api::SshConfig::Response> {
    BANGER_TRY(guest::ensure_key(deps.runner, deps.config.ssh_key_path));
    std::string text = guest::render_ssh_config(
        {.key_path = deps.config.ssh_key_path, .known_hosts_path = deps.paths.known_hosts});
    BANGER_TRY(sys::write_file_atomic(deps.paths.ssh_config, text, 0644));
    return api::SshConfig::Response{.path = deps.paths.ssh_config,
                                    .key_path = deps.config.ssh_key_path,
                                    .known_hosts_path = deps.paths.known_hosts};
  });
}

}  // namespace banger::daemon
