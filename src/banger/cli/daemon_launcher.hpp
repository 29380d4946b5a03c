// Connects the CLI to bangerd, starting the daemon on first need (SPEC S1, STYLE §2.7):
// connect; on "no daemon" take the spawn lock, connect again, spawn bangerd detached
// (setsid, stdio to the log file), then poll with a doubling backoff until it answers.
#pragma once

#include <chrono>
#include <string>

#include "banger/base/error.hpp"
#include "banger/paths/paths.hpp"
#include "banger/rpc/client.hpp"

namespace banger::cli {

struct LaunchOptions {
  std::chrono::milliseconds deadline{std::chrono::seconds(15)};
  std::string daemon_binary;  // empty: $BANGER_DAEMON_BIN, next to this executable, then PATH
};

// Connects without ever starting the daemon. Errc::unavailable when none runs. The runtime dir
// is checked before connecting (paths::check_runtime_dir) and the peer must run as uid or root
// (rpc::Client::connect); both refusals are failed_precondition / permission_denied (H2).
Expected<rpc::Client> connect_existing(const paths::Paths& paths, uid_t uid);

// Connects, starting bangerd when no daemon answers. The state dir's ancestors must be trusted
// (paths::check_trusted_ancestors) and the connection is checked as by connect_existing. Never
// spawns after EACCES (permission_denied is returned as is). When the spawned daemon exits before
// answering, returns failed_precondition with the daemon's own error line ("bangerd failed to
// start: config.toml: unknown key ..."); Errc::timeout when it neither answers nor exits in time.
Expected<rpc::Client> connect_or_start(const paths::Paths& paths, uid_t uid,
                                       const LaunchOptions& options = {});

// Where the bangerd binary is, per LaunchOptions::daemon_binary's rules; "" when not found.
std::string find_daemon_binary(const std::string& configured);

}  // namespace banger::cli
