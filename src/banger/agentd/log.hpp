// One-line logging to stderr for the agent ("banger-agent: ..."); the agent runs with stderr
// on the guest console, and the static binary carries no spdlog.
#pragma once

#include <string_view>

namespace banger::agentd {

// Writes "banger-agent: <message>\n" to stderr in one write() (lines from threads never mix).
void log_line(std::string_view message);

}  // namespace banger::agentd
