// Durations for config keys such as auto_stop_stale_after: "90s", "30m", "2h", "1h30m", "0".
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "banger/base/error.hpp"

namespace banger::config {

// Parses one or more <number><unit> parts (units s, m, h, d; "1h30m"), or a bare "0".
// Errc::invalid_argument for empty text, a number without a unit (other than "0"), unknown
// units, garbage or overflow; the message quotes the text and lists the units.
Expected<std::chrono::seconds> parse_duration(std::string_view text);

// Renders seconds as parse_duration reads them: 0 -> "0s", 90 -> "1m30s", 7200 -> "2h",
// 86400 -> "1d".
std::string format_duration(std::chrono::seconds duration);

}  // namespace banger::config
