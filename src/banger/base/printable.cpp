#include "banger/base/printable.hpp"

#include <cstdio>

#include "banger/base/strings.hpp"

namespace banger::base {

std::string printable(std::string_view text, std::size_t max_bytes) {
  std::string out;
  const std::size_t kept = text.size() < max_bytes ? text.size() : max_bytes;
  out.reserve(kept + 16);
  for (std::size_t i = 0; i < kept; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    switch (c) {
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\\':
        out += "\\\\";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char escaped[5];
          std::snprintf(escaped, sizeof escaped, "\\x%02x", c);
          out += escaped;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  if (kept < text.size()) {
    out += "...(" + std::to_string(text.size() - kept) + " more bytes)";
  }
  return out;
}

std::string printable_lines(std::string_view text, std::size_t lines, std::size_t max_line_bytes) {
  std::string out;
  for (const auto& line : split(tail_lines(text, lines), '\n')) {
    if (!out.empty()) {
      out += '\n';
    }
    out += "  | " + printable(line, max_line_bytes);
  }
  return out;
}

}  // namespace banger::base
