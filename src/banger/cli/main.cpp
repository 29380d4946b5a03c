#include "banger/cli/main.hpp"

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <exception>

#include "banger/base/expected.hpp"
#include "banger/cli/command.hpp"
#include "banger/cli/daemon_launcher.hpp"
#include "banger/config/config.hpp"
#include "banger/doctor/doctor.hpp"
#include "banger/paths/paths.hpp"

namespace banger::cli {

int main(int argc, char** argv) {
  ::signal(SIGPIPE, SIG_IGN);
  StdPrinter printer;
  auto env = paths::Environment::current();
  // Paths are resolved lazily: `banger --help` must work even with a broken environment.
  auto connect = [&env](Connect mode) -> Expected<rpc::Client> {
    auto paths = paths::resolve_paths(env);
    if (!paths) {
      return tl::unexpected(paths.error());
    }
    if (mode == Connect::existing_only) {
      return connect_existing(*paths, env.uid);
    }
    return connect_or_start(*paths, env.uid);
  };
  auto doctor_without_daemon =
      [&env](const Error& daemon_error) -> Expected<std::vector<api::DoctorCheck>> {
    auto paths = paths::resolve_paths(env);
    if (!paths) {
      return tl::unexpected(paths.error());
    }
    std::vector<api::DoctorCheck> rows;
    for (auto& check : doctor::run_without_daemon(*paths, env, daemon_error.message)) {
      rows.push_back({.name = std::move(check.name),
                      .status = std::string(doctor::to_string(check.status)),
                      .detail = std::move(check.detail),
                      .hint = std::move(check.hint)});
    }
    return rows;
  };
  auto load_config = [&env]() -> Expected<config::Config> {
    BANGER_TRY_ASSIGN(auto paths, paths::resolve_paths(env));
    return config::load_config(paths, env);
  };
  Context ctx{.printer = printer,
              .connect = connect,
              .doctor_without_daemon = doctor_without_daemon,
              .load_config = load_config};
  try {
    return run_command_line(argc, argv, ctx);
  } catch (const std::exception& e) {  // last resort (STYLE §2.4): report, never crash
    std::fprintf(stderr, "banger: internal error: %s\n", e.what());
    return 1;
  }
}

}  // namespace banger::cli
