// clang-format off
// FUZZ_SOURCES: src/banger/agentproto/stream.cpp src/banger/agentproto/methods.cpp src/banger/agentproto/base64.cpp
// clang-format on
// Feeds arbitrary bytes to the stream channel's frame decoder (docs/agent.md "Stream channels")
// as both senders, in fuzzer-chosen chunks: nothing may crash, no frame may break the rules the
// decoder promises (payload size, fixed sizes, the sender's types), memory stays bounded, and
// encoding a delivered frame gives back its bytes. The same bytes go to the exit and header
// decoders and the text sanitizer.
#include <cstddef>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "banger/agentproto/stream.hpp"

namespace {

using namespace banger::agentproto;

void check(bool ok) {
  if (!ok) {
    __builtin_trap();
  }
}

void run_decoder(StreamSender from, const char* bytes, std::size_t size, std::size_t chunk) {
  StreamFrameDecoder decoder(from);
  std::string rebuilt;
  std::size_t consumed = 0;
  while (consumed < size) {
    const std::size_t n = size - consumed < chunk ? size - consumed : chunk;
    decoder.feed(bytes + consumed, n);
    consumed += n;
    // One frame plus one chunk at most (checked before next() drains it).
    check(decoder.buffered() <= kStreamFrameHeaderBytes + kMaxStreamFramePayload + chunk);
    while (auto frame = decoder.next()) {
      const auto type = static_cast<std::uint8_t>(frame->type);
      check(from == StreamSender::host ? (type >= 0x01 && type <= 0x04)
                                       : (type >= 0x81 && type <= 0x84));
      check(frame->payload.size() <= kMaxStreamFramePayload);
      if (frame->type == StreamFrameType::exit) {
        check(frame->payload.size() == 6);
        if (auto exit = decode_stream_exit(frame->payload)) {
          check(encode_stream_exit(*exit) == frame->payload);
        }
      }
      rebuilt += encode_stream_frame(frame->type, frame->payload);
    }
    if (!decoder.error().empty()) {
      check(decoder.buffered() == 0);
    }
  }
  // What was delivered is exactly a prefix of the input.
  check(std::string(bytes, rebuilt.size()) == rebuilt);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) {
    return 0;
  }
  const std::size_t chunk = 1 + data[0] % 97;
  const char* bytes = reinterpret_cast<const char*>(data + 1);
  run_decoder(StreamSender::host, bytes, size - 1, chunk);
  run_decoder(StreamSender::guest, bytes, size - 1, chunk);
  (void)decode_stream_exit(std::string(bytes, size - 1));
  const std::string text = sanitize_stream_text(std::string(bytes, size - 1), 64);
  for (const char c : text) {
    check(static_cast<unsigned char>(c) >= 0x20 && static_cast<unsigned char>(c) < 0x7f);
  }
  auto json = nlohmann::json::parse(bytes, bytes + (size - 1), nullptr, false);
  if (!json.is_discarded()) {
    StreamExecParams params;
    if (decode(json, params).empty()) {
      StreamExecParams again;
      check(decode(encode(params), again).empty());
      check(again.argv == params.argv && again.env == params.env && again.pty == params.pty);
    }
    StreamExecResult result;
    (void)decode(json, result);
  }
  return 0;
}
