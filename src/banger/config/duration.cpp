#include "banger/config/duration.hpp"

#include <fmt/format.h>

#include <cstdint>

namespace banger::config {
namespace {

tl::unexpected<Error> bad_duration(std::string_view text) {
  return fail(Errc::invalid_argument,
              fmt::format("invalid duration \"{}\": use numbers with a unit s, m, h or d, like "
                          "90s, 30m, 2h or 1h30m",
                          text));
}

int64_t unit_seconds(char unit) {
  switch (unit) {
    case 's':
      return 1;
    case 'm':
      return 60;
    case 'h':
      return 3600;
    case 'd':
      return 86400;
    default:
      return 0;
  }
}

}  // namespace

Expected<std::chrono::seconds> parse_duration(std::string_view text) {
  if (text == "0") {
    return std::chrono::seconds(0);
  }
  if (text.empty()) {
    return bad_duration(text);
  }
  int64_t total = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t start = pos;
    int64_t number = 0;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      if (__builtin_mul_overflow(number, 10, &number) ||
          __builtin_add_overflow(number, text[pos] - '0', &number)) {
        return fail(Errc::invalid_argument,
                    fmt::format("invalid duration \"{}\": too large", text));
      }
      ++pos;
    }
    if (pos == start || pos == text.size()) {
      return bad_duration(text);
    }
    int64_t factor = unit_seconds(text[pos]);
    if (factor == 0) {
      return bad_duration(text);
    }
    ++pos;
    int64_t part = 0;
    if (__builtin_mul_overflow(number, factor, &part) ||
        __builtin_add_overflow(total, part, &total)) {
      return fail(Errc::invalid_argument, fmt::format("invalid duration \"{}\": too large", text));
    }
  }
  return std::chrono::seconds(total);
}

std::string format_duration(std::chrono::seconds duration) {
  int64_t left = duration.count();
  if (left <= 0) {
    return fmt::format("{}s", left);
  }
  std::string out;
  for (char unit : {'d', 'h', 'm', 's'}) {
    int64_t size = unit_seconds(unit);
    if (left >= size) {
      out += fmt::format("{}{}", left / size, unit);
      left %= size;
    }
  }
  return out;
}

}  // namespace banger::config
