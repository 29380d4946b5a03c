#include "banger/config/size.hpp"

#include <fmt/format.h>

#include <array>
#include <limits>
#include <utility>

#include "banger/base/strings.hpp"

namespace banger::config {
namespace {

constexpr int64_t kMibPerGib = 1024;
constexpr int64_t kMibPerTib = 1024 * 1024;

tl::unexpected<Error> bad_size(std::string_view text) {
  return fail(Errc::invalid_argument,
              fmt::format("invalid size \"{}\": use a number with an optional unit M, MiB, G, GiB, "
                          "T or TiB (a bare number is MiB)",
                          text));
}

}  // namespace

Expected<int64_t> parse_size_mib(std::string_view text) {
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') {
    ++digits;
  }
  if (digits == 0) {
    return bad_size(text);
  }
  int64_t number = 0;
  for (std::size_t i = 0; i < digits; ++i) {
    if (__builtin_mul_overflow(number, 10, &number) ||
        __builtin_add_overflow(number, text[i] - '0', &number)) {
      return fail(Errc::invalid_argument, fmt::format("invalid size \"{}\": too large", text));
    }
  }

  // Multiplier and divisor to MiB per unit spelling.
  static constexpr std::array<std::pair<std::string_view, std::pair<int64_t, int64_t>>, 9> kUnits{
      {{"", {1, 1}},
       {"k", {1, 1024}},
       {"kib", {1, 1024}},
       {"m", {1, 1}},
       {"mib", {1, 1}},
       {"g", {kMibPerGib, 1}},
       {"gib", {kMibPerGib, 1}},
       {"t", {kMibPerTib, 1}},
       {"tib", {kMibPerTib, 1}}}};
  std::string unit = base::to_lower(text.substr(digits));
  for (const auto& [name, factor] : kUnits) {
    if (unit != name) {
      continue;
    }
    const auto [multiplier, divisor] = factor;
    if (number == 0) {
      return fail(Errc::invalid_argument,
                  fmt::format("invalid size \"{}\": must be greater than 0", text));
    }
    if (number % divisor != 0) {
      return fail(Errc::invalid_argument,
                  fmt::format("invalid size \"{}\": not a whole number of MiB (1M = 1024K)", text));
    }
    int64_t mib = 0;
    if (__builtin_mul_overflow(number / divisor, multiplier, &mib)) {
      return fail(Errc::invalid_argument, fmt::format("invalid size \"{}\": too large", text));
    }
    return mib;
  }
  return bad_size(text);
}

std::string format_size_mib(int64_t mib) {
  if (mib != 0 && mib % kMibPerTib == 0) {
    return fmt::format("{}T", mib / kMibPerTib);
  }
  if (mib != 0 && mib % kMibPerGib == 0) {
    return fmt::format("{}G", mib / kMibPerGib);
  }
  return fmt::format("{}M", mib);
}

}  // namespace banger::config
