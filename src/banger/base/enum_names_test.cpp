#include "banger/base/enum_names.hpp"

#include <gtest/gtest.h>

namespace banger::base {
namespace {

enum class Colour { red, green, blue, unnamed };

constexpr auto kColourNames = make_enum_names<Colour>(
    {{Colour::red, "red"}, {Colour::green, "green"}, {Colour::blue, "blue"}});

// Usable in constant expressions: the tables are built and read at compile time.
static_assert(kColourNames.name(Colour::green) == "green");
static_assert(kColourNames.parse("blue") == Colour::blue);

TEST(EnumNames, NamesAndParsesEveryEntry) {
  for (const auto& [value, name] : kColourNames.entries()) {
    EXPECT_EQ(kColourNames.name(value), name);
    EXPECT_EQ(kColourNames.parse(name), value);
  }
}

TEST(EnumNames, UnknownTextAndUnlistedValues) {
  EXPECT_EQ(kColourNames.parse("Red"), std::nullopt);  // exact match only
  EXPECT_EQ(kColourNames.parse(""), std::nullopt);
  EXPECT_EQ(kColourNames.name(Colour::unnamed), "unknown");
  EXPECT_EQ(kColourNames.name(Colour::unnamed, "red"), "red");
}

TEST(EnumNames, AllowedListsTheNamesInTableOrder) {
  EXPECT_EQ(kColourNames.allowed(), "red, green or blue");
  EXPECT_EQ(make_enum_names<Colour>({{Colour::red, "red"}}).allowed(), "red");
  EXPECT_EQ(make_enum_names<Colour>({{Colour::red, "red"}, {Colour::blue, "blue"}}).allowed(),
            "red or blue");
}

TEST(EnumNames, ManyValuesMayShareANameAndParseGivesTheFirst) {
  constexpr auto kCodes = make_enum_names<Colour>(
      {{Colour::red, "warm"}, {Colour::green, "cold"}, {Colour::blue, "cold"}});
  EXPECT_EQ(kCodes.name(Colour::blue), "cold");
  EXPECT_EQ(kCodes.parse("cold"), Colour::green);
}

}  // namespace
}  // namespace banger::base
