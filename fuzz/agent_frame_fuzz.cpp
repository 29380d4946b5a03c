// clang-format off
// FUZZ_SOURCES: src/banger/agentproto/frame.cpp src/banger/agentproto/message.cpp src/banger/agentproto/base64.cpp src/banger/agentproto/methods.cpp
// clang-format on
// Feeds arbitrary bytes to the agent's FrameDecoder (in fuzzer-chosen chunks, with resets) and
// every complete line to the request/reply parsers and the typed decoders; nothing may crash.
#include <cstddef>
#include <cstdint>
#include <string>
#include <variant>

#include "banger/agentproto/base64.hpp"
#include "banger/agentproto/frame.hpp"
#include "banger/agentproto/message.hpp"
#include "banger/agentproto/methods.hpp"

namespace {

using namespace banger::agentproto;

void exercise_line(const std::string& line) {
  auto parsed = parse_request(line);
  if (auto* request = std::get_if<Request>(&parsed)) {
    ExecParams exec;
    if (decode(request->params, exec).empty()) {
      (void)encode(exec);
    }
    HealthResult health;
    (void)decode(request->params, health);
    PortsResult ports;
    (void)decode(request->params, ports);
    (void)make_result_line(request->id, request->params);
  } else {
    const auto& rejected = std::get<RejectedRequest>(parsed);
    (void)make_error_line(rejected.id, rejected.error.code, rejected.error.message);
  }
  std::string why;
  if (auto response = parse_response(line, &why)) {
    if (response->result) {
      ExecResult exec;
      (void)decode(*response->result, exec);
    }
  }
  if (auto bytes = base64_decode(line)) {
    if (base64_decode(base64_encode(*bytes)) != bytes) {
      __builtin_trap();
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) {
    return 0;
  }
  // First byte: the line limit (small, so oversize and resync paths are hit) and chunking.
  const std::size_t max_line = 1 + (data[0] & 0x3f) * 8;
  const std::size_t chunk = 1 + (data[0] >> 6) * 7;
  FrameDecoder decoder(max_line);
  const char* bytes = reinterpret_cast<const char*>(data + 1);
  std::size_t left = size - 1;
  while (left > 0) {
    const std::size_t n = left < chunk ? left : chunk;
    if (n == 1 && bytes[0] == '\x01') {
      decoder.reset();
    } else {
      decoder.feed(bytes, n);
    }
    bytes += n;
    left -= n;
    while (auto frame = decoder.next()) {
      if (frame->kind == Frame::Kind::line) {
        if (frame->line.size() > max_line || frame->line.find('\n') != std::string::npos) {
          __builtin_trap();
        }
        exercise_line(frame->line);
      }
    }
  }
  // The whole input as one line too, without the decoder's size limit.
  exercise_line(std::string(reinterpret_cast<const char*>(data), size));
  return 0;
}
