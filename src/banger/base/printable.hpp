// Text from untrusted sources (a guest's agent replies and console) made safe to log: no control
// characters (no forged log lines, no terminal escapes) and a bounded length.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace banger::base {

// text with every ASCII control character and DEL written as an escape (\n, \r, \t, \xNN) and a
// backslash as "\\", cut after max_bytes input bytes with "...(<N> more bytes)". Bytes >= 0x80
// are kept (UTF-8 text stays readable).
std::string printable(std::string_view text, std::size_t max_bytes);

// The last `lines` lines of text, each made printable() with max_line_bytes and prefixed with
// "  | ", joined with '\n': a quoted block that cannot pass for log records of its own.
std::string printable_lines(std::string_view text, std::size_t lines, std::size_t max_line_bytes);

}  // namespace banger::base
