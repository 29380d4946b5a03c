// Internal to the workspace module: human-readable sizes for messages and listings.
#pragma once

#include <cstdint>
#include <string>

namespace banger::workspace {

// 1536 -> "1.5 KiB", 2 GiB -> "2 GiB", 17 -> "17 B".
std::string human_size(std::uint64_t bytes);

}  // namespace banger::workspace
