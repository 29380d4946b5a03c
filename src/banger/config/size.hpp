// Human sizes for config and CLI flags: "8G", "512MiB", "1T"; a bare number is MiB (SPEC S3).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "banger/base/error.hpp"

namespace banger::config {

// Parses a positive size into MiB. Units (case-insensitive): K/KiB, M/MiB, G/GiB, T/TiB, all
// binary (G = 1024 MiB); no unit means MiB. K sizes must come to a whole number of MiB.
// Errc::invalid_argument for empty text, garbage, unknown units, zero, a fraction of a MiB
// or a value that does not fit in int64 MiB; the message quotes the text and lists the units.
Expected<int64_t> parse_size_mib(std::string_view text);

// The shortest exact rendering in the largest whole unit: 512 -> "512M", 4096 -> "4G",
// 1048576 -> "1T", 0 -> "0M".
std::string format_size_mib(int64_t mib);

}  // namespace banger::config
