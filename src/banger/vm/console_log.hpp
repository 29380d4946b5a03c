// Reading a VM's console log in windows (`vm logs`, `vm logs -f` polls with next_offset).
#pragma once

#include <cstdint>
#include <string>

#include "banger/base/error.hpp"

namespace banger::vm {

// The most one read returns.
inline constexpr std::int64_t kMaxConsoleRead = std::int64_t{16} << 20;

struct ConsoleWindow {
  std::string text;
  std::int64_t next_offset = 0;  // where the next read continues
};

// Up to max_bytes (clamped to [0, kMaxConsoleRead]) of the file at path from offset. A
// negative offset counts back from the end (clamped to the start); an offset past the end
// reads nothing at the end. A missing or unreadable file (a VM that never booted) is an empty
// window at 0.
ConsoleWindow read_console(const std::string& path, std::int64_t offset, std::int64_t max_bytes);

}  // namespace banger::vm
