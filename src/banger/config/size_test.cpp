#include "banger/config/size.hpp"

#include <gtest/gtest.h>

namespace banger::config {
namespace {

TEST(ParseSizeMib, AcceptsEveryUnitSpelling) {
  const std::pair<const char*, int64_t> cases[] = {
      {"512", 512},
      {"512M", 512},
      {"512m", 512},
      {"512MiB", 512},
      {"512mib", 512},
      {"8G", 8192},
      {"8g", 8192},
      {"4GiB", 4096},
      {"4gib", 4096},
      {"1T", 1048576},
      {"2TiB", 2097152},
      {"1t", 1048576},
      {"1024K", 1},
      {"2048KiB", 2},
      {"3072k", 3},
      {"0010", 10},
      {"1048576G", int64_t{1} << 30},
  };
  for (const auto& [text, mib] : cases) {
    auto parsed = parse_size_mib(text);
    ASSERT_TRUE(parsed) << text << ": " << parsed.error().message;
    EXPECT_EQ(*parsed, mib) << text;
  }
}

TEST(ParseSizeMib, RejectsGarbageWithTheAllowedUnits) {
  const std::string units =
      ": use a number with an optional unit M, MiB, G, GiB, T or TiB (a bare number is MiB)";
  for (const char* text :
       {"", "12X", "G", "-1G", "1.5G", " 8G", "8G ", "8 G", "8GB", "lots", "0x10", "+5"}) {
    auto parsed = parse_size_mib(text);
    ASSERT_FALSE(parsed) << text;
    EXPECT_EQ(parsed.error().code, Errc::invalid_argument);
    EXPECT_EQ(parsed.error().message, std::string("invalid size \"") + text + "\"" + units);
  }
}

TEST(ParseSizeMib, RejectsZero) {
  auto parsed = parse_size_mib("0G");
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().message, "invalid size \"0G\": must be greater than 0");
  EXPECT_FALSE(parse_size_mib("0"));
}

TEST(ParseSizeMib, RejectsFractionOfAMib) {
  auto parsed = parse_size_mib("1000K");
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().code, Errc::invalid_argument);
  EXPECT_EQ(parsed.error().message,
            "invalid size \"1000K\": not a whole number of MiB (1M = 1024K)");
}

TEST(ParseSizeMib, RejectsOverflow) {
  auto digits = parse_size_mib("99999999999999999999");
  ASSERT_FALSE(digits);
  EXPECT_EQ(digits.error().message, "invalid size \"99999999999999999999\": too large");
  auto unit = parse_size_mib("9999999999999T");
  ASSERT_FALSE(unit);
  EXPECT_EQ(unit.error().message, "invalid size \"9999999999999T\": too large");
}

TEST(FormatSizeMib, UsesTheLargestWholeUnit) {
  EXPECT_EQ(format_size_mib(0), "0M");
  EXPECT_EQ(format_size_mib(512), "512M");
  EXPECT_EQ(format_size_mib(1536), "1536M");
  EXPECT_EQ(format_size_mib(4096), "4G");
  EXPECT_EQ(format_size_mib(1048576), "1T");
  EXPECT_EQ(format_size_mib(1048576 + 1024), "1025G");
}

TEST(FormatSizeMib, RoundTripsThroughParse) {
  for (int64_t mib : {1, 128, 512, 1000, 1024, 4096, 12288, 1048576, 3145728}) {
    auto parsed = parse_size_mib(format_size_mib(mib));
    ASSERT_TRUE(parsed) << mib;
    EXPECT_EQ(*parsed, mib);
  }
}

}  // namespace
}  // namespace banger::config
