#include "banger/api/signal.hpp"

#include <gtest/gtest.h>

#include <csignal>

namespace banger::api {
namespace {

TEST(SignalNames, KillIsFirstAndTheDefault) {
  ASSERT_FALSE(signal_names().empty());
  EXPECT_EQ(signal_names().front().name, "SIGKILL");
}

TEST(SignalNames, ParsesNamesWithOrWithoutPrefixAnyCaseAndNumbers) {
  for (const char* text : {"SIGTERM", "TERM", "term", "sigterm", "15"}) {
    auto parsed = parse_signal(text);
    ASSERT_TRUE(parsed) << text;
    EXPECT_EQ(parsed->number, SIGTERM) << text;
    EXPECT_EQ(parsed->name, "SIGTERM") << text;
  }
}

TEST(SignalNames, RefusesUnknownAndUnsupportedSignals) {
  for (const char* text : {"", "SIG", "SIGSTOP", "STOP", "19", "0", "-9", "9x", "SIGKILLX", " 9"}) {
    auto parsed = parse_signal(text);
    ASSERT_FALSE(parsed) << text;
    EXPECT_EQ(parsed.error().code, Errc::invalid_argument) << text;
    EXPECT_NE(parsed.error().message.find("SIGKILL"), std::string::npos) << text;
  }
}

}  // namespace
}  // namespace banger::api
