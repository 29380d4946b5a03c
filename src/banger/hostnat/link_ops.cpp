#include "banger/hostnat/link_ops.hpp"

#include <fmt/format.h>

#include <cctype>

namespace banger::hostnat {

Status validate_link_name(std::string_view name) {
  bool ok = !name.empty() && name.size() <= kMaxLinkNameLength && name != "." && name != "..";
  for (char c : name) {
    if (c == '/' || c == ':' || std::isspace(static_cast<unsigned char>(c)) != 0 || c == '\0') {
      ok = false;
    }
  }
  if (!ok) {
    return fail(Errc::invalid_argument,
                fmt::format("invalid link name \"{}\": use 1-15 characters without '/', ':' or "
                            "whitespace, other than \".\" and \"..\"",
                            name));
  }
  return {};
}

}  // namespace banger::hostnat
