// Small file helpers for the agent (no banger::base in the static binary): whole-file reads
// that work for /proc files (which report size 0) and trimming.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace banger::agentd {

// The whole content of path, or nullopt when it cannot be opened or read (errno is kept).
std::optional<std::string> read_text_file(const std::string& path);
// text without leading and trailing ASCII whitespace.
std::string trim_copy(std::string_view text);
// strerror() of an errno value as a std::string (thread safe).
std::string errno_text(int err);

}  // namespace banger::agentd
