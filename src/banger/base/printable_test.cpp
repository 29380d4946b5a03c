#include "banger/base/printable.hpp"

#include <gtest/gtest.h>

#include <string>

namespace banger::base {
namespace {

// Regression for L10 (security review): a guest string cannot forge log lines or carry terminal
// escapes, and is cut to a bound. Fails on 8f38f5a: the agent version was logged raw (there was
// no such function; microvm_host.cpp:244-245 passed healthy->version to the log directly).
TEST(Printable, EscapesControlsAndCutsLength) {
  EXPECT_EQ(printable("1.0\n2026-12-02 [info] forged", 100), "1.0\\n2026-12-02 [info] forged");
  EXPECT_EQ(printable("\x1b[31mred\r\t\x7f\\", 100), "\\x1b[31mred\\r\\t\\x7f\\\\");
  EXPECT_EQ(printable(std::string(1000, 'a'), 10), "aaaaaaaaaa...(990 more bytes)");
  EXPECT_EQ(printable("héllo", 100), "héllo");
}

TEST(Printable, LinesAreQuotedAndBounded) {
  EXPECT_EQ(printable_lines("one\ntwo\x1b\nthree\n", 2, 100), "  | two\\x1b\n  | three");
  EXPECT_EQ(printable_lines("abcdef", 5, 3), "  | abc...(3 more bytes)");
}

}  // namespace
}  // namespace banger::base
