// Internal: the character rule shared by image and kernel names (they are directory names).
#pragma once

#include <cstddef>
#include <string_view>

namespace banger::model::detail {

// True for 1..max_length characters of [A-Za-z0-9._-], other than "." and "..".
inline bool is_safe_file_name(std::string_view name, std::size_t max_length) {
  if (name.empty() || name.size() > max_length || name == "." || name == "..") {
    return false;
  }
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) {
      return false;
    }
  }
  return true;
}

}  // namespace banger::model::detail
