#include "banger/base/random.hpp"

#include "banger/base/assert.hpp"

namespace banger::base {

Mt19937Random::Mt19937Random() : engine_(std::random_device{}()) {}
Mt19937Random::Mt19937Random(std::uint64_t seed) : engine_(seed) {}

std::uint64_t Mt19937Random::below(std::uint64_t bound) {
  BANGER_ASSERT(bound > 0, "below() needs a positive bound");
  std::lock_guard lock(mutex_);
  return std::uniform_int_distribution<std::uint64_t>(0, bound - 1)(engine_);
}

std::string random_hex(Random& random, std::size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    out.push_back(kDigits[random.below(16)]);
  }
  return out;
}

}  // namespace banger::base
