#include "banger/base/random.hpp"

#include <gtest/gtest.h>

namespace banger::base {
namespace {

TEST(Random, SeededGeneratorIsDeterministic) {
  Mt19937Random a(42);
  Mt19937Random b(42);
  EXPECT_EQ(random_hex(a, 16), random_hex(b, 16));
}

TEST(Random, BelowStaysInRange) {
  Mt19937Random r(1);
  for (int i = 0; i < 1000; ++i) {
    EXPECT_LT(r.below(7), 7u);
  }
  std::string hex = random_hex(r, 32);
  EXPECT_EQ(hex.size(), 32u);
  EXPECT_EQ(hex.find_first_not_of("0123456789abcdef"), std::string::npos);
}

}  // namespace
}  // namespace banger::base
