#include "banger/config/duration.hpp"

#include <gtest/gtest.h>

namespace banger::config {
namespace {

using std::chrono::seconds;

TEST(ParseDuration, AcceptsUnitsAndCombinations) {
  const std::pair<const char*, int64_t> cases[] = {
      {"0", 0},       {"0s", 0},       {"90s", 90},   {"30m", 1800},       {"2h", 7200},
      {"1d", 86400},  {"1h30m", 5400}, {"1m30s", 90}, {"1d2h3m4s", 93784}, {"10s", 10},
      {"120m", 7200},
  };
  for (const auto& [text, secs] : cases) {
    auto parsed = parse_duration(text);
    ASSERT_TRUE(parsed) << text << ": " << parsed.error().message;
    EXPECT_EQ(*parsed, seconds(secs)) << text;
  }
}

TEST(ParseDuration, RejectsGarbageWithTheAllowedUnits) {
  const std::string units = ": use numbers with a unit s, m, h or d, like 90s, 30m, 2h or 1h30m";
  for (const char* text :
       {"", "30", "5x", "m", "1h30", "-5m", "1.5h", " 5m", "5m ", "5 m", "5M", "5ms", "h1"}) {
    auto parsed = parse_duration(text);
    ASSERT_FALSE(parsed) << text;
    EXPECT_EQ(parsed.error().code, Errc::invalid_argument);
    EXPECT_EQ(parsed.error().message, std::string("invalid duration \"") + text + "\"" + units);
  }
}

TEST(ParseDuration, RejectsOverflow) {
  auto parsed = parse_duration("999999999999999999d");
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().message, "invalid duration \"999999999999999999d\": too large");
}

TEST(FormatDuration, RendersWhatParseReads) {
  EXPECT_EQ(format_duration(seconds(0)), "0s");
  EXPECT_EQ(format_duration(seconds(10)), "10s");
  EXPECT_EQ(format_duration(seconds(90)), "1m30s");
  EXPECT_EQ(format_duration(seconds(7200)), "2h");
  EXPECT_EQ(format_duration(seconds(93784)), "1d2h3m4s");
  for (int64_t s : {0, 1, 59, 60, 3600, 5400, 86400, 90061}) {
    auto parsed = parse_duration(format_duration(seconds(s)));
    ASSERT_TRUE(parsed) << s;
    EXPECT_EQ(*parsed, seconds(s));
  }
}

}  // namespace
}  // namespace banger::config
