// What a CLI command needs from its surroundings: output, and a way to reach the daemon.
// Tests substitute both (a CapturePrinter and a connector to an in-process daemon).
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "banger/api/daemon.hpp"
#include "banger/base/error.hpp"
#include "banger/cli/printer.hpp"
#include "banger/cli/progress.hpp"
#include "banger/config/config.hpp"
#include "banger/rpc/client.hpp"

namespace banger::cli {

enum class Connect {
  existing_only,   // never start the daemon (status, stop, version)
  start_if_needed  // start bangerd on first need (every other command)
};

struct Context {
  Printer& printer;
  std::function<Expected<rpc::Client>(Connect)> connect;
  // `banger doctor`'s checks run in this process, for when no daemon answers (it could not
  // start: a broken config, a refused runtime dir). Gets why the daemon did not answer; the
  // rows are the daemon's plus a first "daemon" FAIL row. Unset: doctor needs the daemon.
  std::function<Expected<std::vector<api::DoctorCheck>>(const Error& daemon_error)>
      doctor_without_daemon;
  bool quiet = false;  // --quiet: no progress on stderr (warnings and errors still print)
  // The user's config, read-only, for the defaults --help shows (never starts the daemon).
  // Unset: the built-in defaults.
  std::function<Expected<config::Config>()> load_config = {};
};

// Prints `banger: <message>` on stderr, followed for daemon errors by the dimmed wire code
// and op id (`(not_found, op-3f9a1c)`), and returns the exit code
// for the error (api::exit_code_for).
int report_error(Context& ctx, const Error& error);

}  // namespace banger::cli
