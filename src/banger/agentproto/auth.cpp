#include "banger/agentproto/auth.hpp"

#include "banger/agentproto/constants.hpp"

namespace banger::agentproto {

bool valid_token(std::string_view text) {
  if (text.size() != kAgentTokenHexChars) {
    return false;
  }
  for (const char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return true;
}

std::optional<std::string> token_from_file_text(std::string_view text) {
  if (!text.empty() && text.back() == '\n') {
    text.remove_suffix(1);
  }
  if (!valid_token(text)) {
    return std::nullopt;
  }
  return std::string(text);
}

bool tokens_equal(std::string_view presented, std::string_view expected) {
  if (expected.empty() || presented.size() != expected.size()) {
    return false;
  }
  // volatile keeps the compiler from turning the loop into an early-exit memcmp.
  volatile unsigned char diff = 0;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    diff = static_cast<unsigned char>(diff | (static_cast<unsigned char>(presented[i]) ^
                                              static_cast<unsigned char>(expected[i])));
  }
  return diff == 0;
}

}  // namespace banger::agentproto
