// The signals `vm kill --signal` may send to a VM's VMM process, by wire name. One table for
// the CLI's parsing and completion and the daemon's validation, so a name the CLI offers is
// always one the daemon accepts.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "banger/base/error.hpp"

namespace banger::api {

struct SignalName {
  std::string_view name;  // canonical wire spelling: "SIGTERM"
  int number;             // the Linux signal number
};

// Every signal vm.kill accepts, SIGKILL first (the default).
std::span<const SignalName> signal_names();

// Parses a signal as a user writes it: "SIGTERM", "TERM", "term" or "15". Only the signals of
// signal_names() are accepted; anything else is Errc::invalid_argument naming the value and
// listing the accepted names. Returns the canonical entry.
Expected<SignalName> parse_signal(std::string_view text);

}  // namespace banger::api
