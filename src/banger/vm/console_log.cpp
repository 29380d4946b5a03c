#include "banger/vm/console_log.hpp"

#include <algorithm>
#include <fstream>

namespace banger::vm {

ConsoleWindow read_console(const std::string& path, std::int64_t offset, std::int64_t max_bytes) {
  ConsoleWindow window;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return window;  // never booted: no log yet
  }
  in.seekg(0, std::ios::end);
  std::int64_t size = in.tellg();
  if (size < 0) {
    return window;
  }
  std::int64_t from =
      offset < 0 ? std::max<std::int64_t>(0, size + offset) : std::min(offset, size);
  std::int64_t n = std::min(std::clamp<std::int64_t>(max_bytes, 0, kMaxConsoleRead), size - from);
  window.text.resize(static_cast<std::size_t>(n));
  in.seekg(from);
  in.read(window.text.data(), n);
  window.next_offset = from + n;
  return window;
}

}  // namespace banger::vm
