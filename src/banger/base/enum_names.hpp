// EnumNames: the one table that maps an enum's values to their stable lower-case names, with
// name() and parse() and the "a, b or c" list for error messages. Every enum <-> string mapping
// (store columns, wire codes, config values) is one constexpr table of this type.
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace banger::base {

// --- Interface ---

template <class E, std::size_t N>
class EnumNames {
 public:
  using Entry = std::pair<E, std::string_view>;

  constexpr explicit EnumNames(const std::array<Entry, N>& entries) : entries_(entries) {}

  // The name of value; `fallback` when the table does not list it (a table that misses a
  // value is a bug its table test catches).
  constexpr std::string_view name(E value, std::string_view fallback = "unknown") const;
  // The value named text (exact match); nullopt otherwise.
  constexpr std::optional<E> parse(std::string_view text) const;
  // "a, b or c": every name in table order, for "use a, b or c" messages.
  std::string allowed() const;
  // Every entry, in table order.
  constexpr const std::array<Entry, N>& entries() const { return entries_; }

 private:
  std::array<Entry, N> entries_;
};

// Builds a table from a braced list, deducing its size:
//   constexpr auto kStateNames = base::make_enum_names<State>({{State::on, "on"}, ...});
template <class E, std::size_t N>
constexpr EnumNames<E, N> make_enum_names(const std::pair<E, std::string_view> (&entries)[N]);

// --- Inline implementations ---

template <class E, std::size_t N>
constexpr std::string_view EnumNames<E, N>::name(E value, std::string_view fallback) const {
  for (const auto& [v, text] : entries_) {
    if (v == value) {
      return text;
    }
  }
  return fallback;
}

template <class E, std::size_t N>
constexpr std::optional<E> EnumNames<E, N>::parse(std::string_view text) const {
  for (const auto& [v, name] : entries_) {
    if (name == text) {
      return v;
    }
  }
  return std::nullopt;
}

template <class E, std::size_t N>
std::string EnumNames<E, N>::allowed() const {
  std::string out;
  for (std::size_t i = 0; i < N; ++i) {
    if (i > 0) {
      out += i + 1 == N ? " or " : ", ";
    }
    out += entries_[i].second;
  }
  return out;
}

template <class E, std::size_t N>
constexpr EnumNames<E, N> make_enum_names(const std::pair<E, std::string_view> (&entries)[N]) {
  std::array<std::pair<E, std::string_view>, N> table{};
  for (std::size_t i = 0; i < N; ++i) {
    table[i] = entries[i];
  }
  return EnumNames<E, N>(table);
}

}  // namespace banger::base
