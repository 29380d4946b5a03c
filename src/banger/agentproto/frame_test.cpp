#include "banger/agentproto/frame.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace banger::agentproto {
namespace {

// Feeds text and collects every frame as "L:<line>" or "OVERSIZE".
std::vector<std::string> drain(FrameDecoder& decoder) {
  std::vector<std::string> out;
  while (auto frame = decoder.next()) {
    out.push_back(frame->kind == Frame::Kind::line ? "L:" + frame->line : "OVERSIZE");
  }
  return out;
}

std::vector<std::string> feed_all(FrameDecoder& decoder, const std::string& text) {
  decoder.feed(text.data(), text.size());
  return drain(decoder);
}

TEST(FrameDecoder, SplitsLinesAndKeepsPartialOne) {
  FrameDecoder decoder(100);
  EXPECT_EQ(feed_all(decoder, "a\nbc\nde"), (std::vector<std::string>{"L:a", "L:bc"}));
  EXPECT_EQ(decoder.buffered(), 2u);
  EXPECT_EQ(feed_all(decoder, "f\n"), (std::vector<std::string>{"L:def"}));
  EXPECT_EQ(decoder.buffered(), 0u);
}

TEST(FrameDecoder, ByteByByteFeedGivesSameLines) {
  FrameDecoder decoder(100);
  const std::string text = "{\"id\":1}\r\n{\"id\":2}\n";
  for (const char c : text) {
    decoder.feed(&c, 1);
  }
  EXPECT_EQ(drain(decoder), (std::vector<std::string>{"L:{\"id\":1}", "L:{\"id\":2}"}));
}

TEST(FrameDecoder, SkipsEmptyLines) {
  FrameDecoder decoder(100);
  EXPECT_EQ(feed_all(decoder, "\n\r\n\nx\n\n"), (std::vector<std::string>{"L:x"}));
}

TEST(FrameDecoder, LineAtLimitIsDelivered) {
  FrameDecoder decoder(4);
  EXPECT_EQ(feed_all(decoder, "abcd\n"), (std::vector<std::string>{"L:abcd"}));
}

TEST(FrameDecoder, OversizedLineGivesOneEventAndResynchronises) {
  FrameDecoder decoder(4);
  EXPECT_EQ(feed_all(decoder, "abc"), std::vector<std::string>{});
  EXPECT_EQ(feed_all(decoder, "de"), (std::vector<std::string>{"OVERSIZE"}));
  EXPECT_EQ(decoder.buffered(), 0u);
  EXPECT_EQ(feed_all(decoder, "fghijklmn"), std::vector<std::string>{});
  EXPECT_EQ(feed_all(decoder, "opq\nok\n"), (std::vector<std::string>{"L:ok"}));
}

TEST(FrameDecoder, OversizedCompleteLineInOneFeed) {
  FrameDecoder decoder(4);
  EXPECT_EQ(feed_all(decoder, "a\nabcdefgh\nb\n"),
            (std::vector<std::string>{"L:a", "OVERSIZE", "L:b"}));
}

TEST(FrameDecoder, ResetDropsPartialLineAndSkipState) {
  FrameDecoder decoder(4);
  EXPECT_EQ(feed_all(decoder, "{\"id\":"), (std::vector<std::string>{"OVERSIZE"}));
  decoder.reset();
  EXPECT_EQ(feed_all(decoder, "ok\n"), (std::vector<std::string>{"L:ok"}));
  EXPECT_EQ(feed_all(decoder, "ha"), std::vector<std::string>{});
  decoder.reset();
  EXPECT_EQ(decoder.buffered(), 0u);
  EXPECT_EQ(feed_all(decoder, "lo\n"), (std::vector<std::string>{"L:lo"}));
}

}  // namespace
}  // namespace banger::agentproto
