#include "banger/agentproto/image_env.hpp"

#include <gtest/gtest.h>

namespace banger::agentproto {
namespace {

TEST(ImageEnv, ParsesKeyValueLinesAndSkipsTheRest) {
  auto env = parse_image_env(
      "PATH=/usr/local/bin:/usr/bin\n# comment\nLANG=C.UTF-8\nEMPTY=\nno equals\n1BAD=x\n"
      "BAD-KEY=x\nGPG_KEY=A=B\n\n");
  EXPECT_EQ(env, (std::map<std::string, std::string>{{"PATH", "/usr/local/bin:/usr/bin"},
                                                     {"LANG", "C.UTF-8"},
                                                     {"EMPTY", ""},
                                                     {"GPG_KEY", "A=B"}}));
  EXPECT_TRUE(parse_image_env("").empty());
}

TEST(ImageEnv, RenderKeepsValidEntriesOnly) {
  auto rendered = render_image_env({"PATH=/usr/local/bin:/usr/bin", "LANG=C.UTF-8", "GPG=a=b",
                                    "EMPTY=", "no-equals", "1X=y", "BAD-KEY=z", "NL=a\nEVIL=1"});
  EXPECT_EQ(rendered.text,
            "# The image config's Env, written by banger image pull: agent exec sessions start "
            "from it.\n"
            "PATH=/usr/local/bin:/usr/bin\nLANG=C.UTF-8\nGPG=a=b\nEMPTY=\n");
  EXPECT_EQ(rendered.dropped,
            (std::vector<std::string>{"no-equals", "1X=y", "BAD-KEY=z", "NL=a\nEVIL=1"}));
}

TEST(ImageEnv, WhatIsRenderedParsesBack) {
  auto rendered = render_image_env({"A=1", "B=two words", "C=x=y"});
  EXPECT_EQ(parse_image_env(rendered.text),
            (std::map<std::string, std::string>{{"A", "1"}, {"B", "two words"}, {"C", "x=y"}}));
}

}  // namespace
}  // namespace banger::agentproto
