#include "banger/cli/printer.hpp"

#include <gtest/gtest.h>

namespace banger::cli {
namespace {

TEST(EscapeControl, MakesControlCharactersVisible) {
  EXPECT_EQ(escape_control("plain text, ünïcode"), "plain text, ünïcode");
  EXPECT_EQ(escape_control("\x1b]52;c;eA==\a"), "\\x1b]52;c;eA==\\x07");
  EXPECT_EQ(escape_control("a\nb\tc\x7f"), "a\\x0ab\\x09c\\x7f");
  EXPECT_EQ(escape_control("a\nb\tc\r", true), "a\nb\tc\\x0d");
  EXPECT_EQ(escape_control("csi\xc2\x9b"
                           "2J"),
            "csi\\u009b2J");  // C1 CSI as UTF-8
}

TEST(RenderTable, AlignsColumnsAndTrimsTrailingSpace) {
  Table t{{"NAME", "STATE", "IP"},
          {{"web", "running", "172.16.0.2"}, {"calm-otter", "created", ""}}};
  EXPECT_EQ(render_table(t),
            "NAME        STATE    IP\n"
            "web         running  172.16.0.2\n"
            "calm-otter  created\n");
}

TEST(RenderTable, HeadersOnlyWhenEmpty) {
  EXPECT_EQ(render_table({{"NAME", "STATE"}, {}}), "NAME  STATE\n");
}

TEST(RenderTable, ColouredCellsAlignLikePlainOnes) {
  Style color{true};
  Table t{{"STATUS", "CHECK"}, {{green(color, "PASS"), "kvm"}}};
  EXPECT_EQ(render_table(t), "STATUS  CHECK\n" + green(color, "PASS") + "    kvm\n");
}

TEST(Style, NoColourMeansPlainText) {
  Style plain{false};
  Style color{true};
  EXPECT_EQ(red(plain, "x"), "x");
  EXPECT_EQ(red(color, "x"), "\033[31mx\033[0m");
}

}  // namespace
}  // namespace banger::cli
