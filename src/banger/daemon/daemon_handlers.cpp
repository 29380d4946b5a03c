#include <unistd.h>

#include "banger/api/daemon.hpp"
#include "banger/api/protocol.hpp"
#include "banger/buildinfo/buildinfo.hpp"
#include "banger/daemon/handlers.hpp"
#include "banger/doctor/doctor.hpp"

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
        auto facts = doctor::gather_facts(deps.paths, deps.config, deps.owner_uid);
        api::Doctor::Response response;
        for (auto& check : doctor::evaluate(facts)) {
          response.checks.push_back({.name = std::move(check.name),
                                     .status = std::string(doctor::to_string(check.status)),
                                     .detail = std::move(check.detail),
                                     .hint = std::move(check.hint)});
        }
        return response;
      });
}

}  // namespace banger::daemon
