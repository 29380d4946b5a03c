#include "banger/cli/printer.hpp"

#include <gtest/gtest.h>

namespace banger::cli {
namespace {

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
