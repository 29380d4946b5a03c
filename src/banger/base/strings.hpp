// Small string helpers with no banger-specific knowledge.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace banger::base {

std::vector<std::string> split(std::string_view text, char sep);
std::string join(const std::vector<std::string>& parts, std::string_view sep);
std::string_view trim(std::string_view text);
// The last `lines` lines of text (all of it when shorter).
std::string tail_lines(std::string_view text, std::size_t lines);
std::string to_lower(std::string_view text);

}  // namespace banger::base
