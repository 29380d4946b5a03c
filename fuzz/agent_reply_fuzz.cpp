// clang-format off
// FUZZ_SOURCES: src/banger/agentproto/frame.cpp src/banger/agentproto/message.cpp src/banger/agentproto/base64.cpp src/banger/agentproto/methods.cpp src/banger/agentproto/auth.cpp
// clang-format on
// The host's side of the agent protocol with the guest as the attacker: reply lines through the
// client's limits (FrameDecoder with a method's line limit, precheck_reply, parse_response) and
// every typed result decoder. Nothing may crash, and the invariants the client relies on hold:
// a parsed reply passed the precheck, a decoded ports list is capped and duplicate-free.
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <tuple>

#include "banger/agentproto/auth.hpp"
#include "banger/agentproto/constants.hpp"
#include "banger/agentproto/frame.hpp"
#include "banger/agentproto/message.hpp"
#include "banger/agentproto/methods.hpp"

namespace {

using namespace banger::agentproto;

void exercise_reply(const std::string& line, std::size_t max_values) {
  std::string why;
  auto response = parse_response(line, &why, max_values);
  if (!response) {
    if (why.empty()) {
      __builtin_trap();  // a refusal always says why
    }
    return;
  }
  if (!precheck_reply(line, max_values).empty()) {
    __builtin_trap();  // parse_response never parses what the precheck refuses
  }
  if (response->result.has_value() == response->error.has_value()) {
    __builtin_trap();
  }
  if (!response->result) {
    (void)error_code_name(response->error->code);
    return;
  }
  const auto& result = *response->result;
  HealthResult health;
  (void)decode(result, health);
  ExecResult exec;
  if (decode(result, exec).empty()) {
    (void)encode(exec);
  }
  PortsResult ports;
  if (decode(result, ports).empty()) {
    if (ports.ports.size() > kMaxPortEntries) {
      __builtin_trap();
    }
    std::set<std::tuple<std::string, std::string, std::string, std::uint16_t>> seen;
    for (const auto& entry : ports.ports) {
      if (!seen.emplace(entry.proto, entry.family, entry.address, entry.port).second) {
        __builtin_trap();
      }
    }
    (void)encode(ports);
  }
  AuthParams auth;
  if (decode(result, auth).empty()) {
    (void)tokens_equal(auth.token, std::string(kAgentTokenHexChars, 'a'));
    (void)valid_token(auth.token);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) {
    return 0;
  }
  // First byte: which method's limits apply (small line limits hit the skip path) and chunking.
  static const char* const kMethods[] = {"health", "ports", "sync", "poweroff", "exec", "auth"};
  const std::string method = kMethods[data[0] % 6];
  const auto limits = reply_limits(method);
  const std::size_t max_line = 1 + (data[0] >> 3) * 64;  // well below the real limits
  const std::size_t max_values = (data[0] & 0x80) != 0 ? 16 : limits.max_values;
  const std::size_t chunk = 1 + (data[0] & 0x07) * 5;
  FrameDecoder decoder(max_line < limits.max_bytes ? max_line : limits.max_bytes);
  const char* bytes = reinterpret_cast<const char*>(data + 1);
  std::size_t left = size - 1;
  while (left > 0) {
    const std::size_t n = left < chunk ? left : chunk;
    decoder.feed(bytes, n);
    bytes += n;
    left -= n;
    while (auto frame = decoder.next()) {
      if (frame->kind == Frame::Kind::line) {
        exercise_reply(frame->line, max_values);
      }
    }
  }
  // The whole input as one reply line, under the method's real value limit.
  exercise_reply(std::string(reinterpret_cast<const char*>(data + 1), size - 1), limits.max_values);
  return 0;
}
