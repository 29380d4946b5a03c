// What a CLI command needs from its surroundings: output, and a way to reach the daemon.
// Tests substitute both (a CapturePrinter and a connector to an in-process daemon).
#pragma once

#include <functional>
#include <string>
#include <utility>

#include "banger/base/error.hpp"
#include "banger/cli/printer.hpp"
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
  // The user's config, read-only, for the defaults --help shows (never starts the daemon).
  // Unset: the built-in defaults.
  std::function<Expected<config::Config>()> load_config = {};
};

// Prints `banger: <message>` on stderr, followed for daemon errors by the dimmed wire code
// and op id (`(not_found, op-3f9a1c)`), and returns the exit code
// for the error (api::exit_code_for).
int report_error(Context& ctx, const Error& error);

// Renders daemon progress events on stderr: one rewritten line on a TTY, plain lines
// otherwise. Call finish() before printing the result.
class ProgressRenderer {
 public:
  explicit ProgressRenderer(Printer& printer) : printer_(printer) {}
  // The `spec` event (stage api::kSpecStage: the sizes the VM gets) is printed as a line of its
  // own that stays, with spec_suffix appended (`vm run <path>` adds " | workspace ...");
  // the other events are transient progress.
  void on_event(const api::Event& event);
  void finish();
  void set_spec_suffix(std::string suffix) { spec_suffix_ = std::move(suffix); }

 private:
  Printer& printer_;
  bool line_open_ = false;
  std::string spec_suffix_;
};

}  // namespace banger::cli
