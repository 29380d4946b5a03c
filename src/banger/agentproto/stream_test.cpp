#include "banger/agentproto/stream.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace banger::agentproto {
namespace {

using T = StreamFrameType;

std::vector<StreamFrame> drain(StreamFrameDecoder& decoder) {
  std::vector<StreamFrame> out;
  while (auto frame = decoder.next()) {
    out.push_back(std::move(*frame));
  }
  return out;
}

TEST(StreamFrame, EncodesTypeBigEndianLengthAndPayload) {
  EXPECT_EQ(encode_stream_frame(T::stdout_data, "hi"), std::string("\x81\0\0\0\x02hi", 7));
  EXPECT_EQ(encode_stream_frame(T::stdin_eof, ""), std::string("\x02\0\0\0\0", 5));
  const std::string big(70000, 'x');
  EXPECT_EQ(encode_stream_frame(T::stdin_data, big).substr(0, 5),
            std::string("\x01\x00\x01\x11\x70", 5));
}

TEST(StreamFrameDecoder, RoundTripsFramesFedByteByByte) {
  std::string wire =
      encode_stream_frame(T::stdout_data, "out") +
      encode_stream_frame(T::stderr_data, std::string("\0\xff", 2)) +
      encode_stream_frame(T::exit,
                          encode_stream_exit({.exit_code = -3, .signal = 9, .timed_out = true}));
  StreamFrameDecoder decoder(StreamSender::guest);
  std::vector<StreamFrame> frames;
  for (const char c : wire) {
    decoder.feed(&c, 1);
    for (auto& frame : drain(decoder)) {
      frames.push_back(std::move(frame));
    }
  }
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_EQ(frames[0].type, T::stdout_data);
  EXPECT_EQ(frames[0].payload, "out");
  EXPECT_EQ(frames[1].payload, std::string("\0\xff", 2));
  auto exit = decode_stream_exit(frames[2].payload);
  ASSERT_TRUE(exit);
  EXPECT_EQ(exit->exit_code, -3);
  EXPECT_EQ(exit->signal, 9);
  EXPECT_TRUE(exit->timed_out);
  EXPECT_EQ(decoder.buffered(), 0u);
  EXPECT_EQ(decoder.error(), "");
}

TEST(StreamFrameDecoder, AFrameOfTheOtherSideIsAnError) {
  StreamFrameDecoder decoder(StreamSender::host);
  decoder.feed(encode_stream_frame(T::stdout_data, "x"));
  EXPECT_FALSE(decoder.next());
  EXPECT_EQ(decoder.error(), "frame type 0x81 is not a host frame");
}

TEST(StreamFrameDecoder, UnknownTypeIsAStickyError) {
  StreamFrameDecoder decoder(StreamSender::guest);
  decoder.feed(std::string("\x7f\0\0\0\0", 5) + encode_stream_frame(T::stdout_data, "x"));
  EXPECT_FALSE(decoder.next());
  EXPECT_EQ(decoder.error(), "frame type 0x7f is not a guest frame");
  decoder.feed(encode_stream_frame(T::stdout_data, "y"));
  EXPECT_FALSE(decoder.next());
  EXPECT_EQ(decoder.buffered(), 0u);
}

TEST(StreamFrameDecoder, OversizeLengthFailsBeforeThePayloadIsBuffered) {
  StreamFrameDecoder decoder(StreamSender::host);
  decoder.feed(std::string("\x01\x00\x04\x00\x01", 5));  // 256 KiB + 1
  EXPECT_FALSE(decoder.next());
  EXPECT_EQ(decoder.error(), "frame stdin_data of 262145 bytes is longer than 262144");
  const std::string flood(1 << 20, 'a');
  decoder.feed(flood);
  EXPECT_EQ(decoder.buffered(), 0u);  // nothing kept after the error
}

TEST(StreamFrameDecoder, LargestFrameIsAccepted) {
  StreamFrameDecoder decoder(StreamSender::host);
  decoder.feed(encode_stream_frame(T::stdin_data, std::string(kMaxStreamFramePayload, 'z')));
  auto frame = decoder.next();
  ASSERT_TRUE(frame);
  EXPECT_EQ(frame->payload.size(), kMaxStreamFramePayload);
}

TEST(StreamFrameDecoder, FixedSizeFramesMustHaveTheirSize) {
  for (auto [type, size] : std::vector<std::pair<T, int>>{
           {T::stdin_eof, 1}, {T::signal, 0}, {T::signal, 2}, {T::resize, 3}}) {
    StreamFrameDecoder decoder(StreamSender::host);
    decoder.feed(encode_stream_frame(type, std::string(static_cast<std::size_t>(size), '\1')));
    EXPECT_FALSE(decoder.next());
    EXPECT_NE(decoder.error().find("payload bytes, expected"), std::string::npos)
        << decoder.error();
  }
  StreamFrameDecoder guest(StreamSender::guest);
  guest.feed(encode_stream_frame(T::exit, "12345"));
  EXPECT_FALSE(guest.next());
  EXPECT_EQ(guest.error(), "frame exit has 5 payload bytes, expected 6");
}

TEST(StreamExit, RejectsBadTimedOutByteAndSize) {
  EXPECT_FALSE(decode_stream_exit(std::string("\0\0\0\0\0\2", 6)));
  EXPECT_FALSE(decode_stream_exit("abc"));
  auto exit = decode_stream_exit(encode_stream_exit({.exit_code = 255}));
  ASSERT_TRUE(exit);
  EXPECT_EQ(exit->exit_code, 255);
  EXPECT_FALSE(exit->timed_out);
}

TEST(StreamResize, RoundTripsLargeSizesAndRejectsOtherLengths) {
  for (auto [rows, cols] :
       {std::pair<std::uint16_t, std::uint16_t>{24, 80}, {0, 0}, {65535, 300}, {258, 65280}}) {
    const auto decoded = decode_stream_resize(encode_stream_resize(rows, cols));
    ASSERT_TRUE(decoded);
    EXPECT_EQ(decoded->rows, rows);
    EXPECT_EQ(decoded->cols, cols);
  }
  EXPECT_FALSE(decode_stream_resize(""));
  EXPECT_FALSE(decode_stream_resize("abc"));
  EXPECT_FALSE(decode_stream_resize("abcde"));
}

TEST(StreamExecParams, RoundTripsThroughJson) {
  StreamExecParams params{.argv = {"tar", "-x"},
                          .env = {{"A", "b"}},
                          .cwd = "/root",
                          .timeout_s = 5,
                          .pty = StreamPty{.rows = 40, .cols = 120}};
  StreamExecParams back;
  ASSERT_EQ(decode(encode(params), back), "");
  EXPECT_EQ(back.argv, params.argv);
  EXPECT_EQ(back.env, params.env);
  EXPECT_EQ(back.cwd, "/root");
  EXPECT_EQ(back.timeout_s, 5);
  EXPECT_EQ(back.pty, params.pty);
  params.pty.reset();
  ASSERT_EQ(decode(encode(params), back), "");
  EXPECT_FALSE(back.pty);
}

TEST(StreamExecParams, RefusesBadFields) {
  StreamExecParams out;
  EXPECT_EQ(decode(nlohmann::json::parse(R"({"argv":[]})"), out),
            "field \"argv\": expected a non-empty array of strings");
  EXPECT_EQ(decode(nlohmann::json::parse(R"({"argv":["x"],"pty":{"rows":0,"cols":1}})"), out),
            "field \"pty.rows\": expected an integer from 1 to 65535");
  EXPECT_EQ(decode(nlohmann::json::parse(R"({"argv":["x"],"pty":3})"), out),
            "field \"pty\": expected an object with rows and cols");
  EXPECT_NE(decode(nlohmann::json::parse(R"({"argv":["x"],"stdin_b64":""})"), out), "");
  EXPECT_NE(decode(nlohmann::json::parse(R"({"argv":["x"],"timeout_s":-1})"), out), "");
  StreamExecResult result;
  EXPECT_NE(decode(nlohmann::json::parse(R"({"pid":0})"), result), "");
  EXPECT_EQ(decode(nlohmann::json::parse(R"({"pid":42})"), result), "");
  EXPECT_EQ(result.pid, 42);
}

TEST(StreamText, EscapesControlCharactersAndCuts) {
  EXPECT_EQ(sanitize_stream_text("a\nb\x1b[2J\\"), "a\\nb\\x1b[2J\\\\");
  EXPECT_EQ(sanitize_stream_text("abcdef", 3), "abc...");
}

}  // namespace
}  // namespace banger::agentproto
