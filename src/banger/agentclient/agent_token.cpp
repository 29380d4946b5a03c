#include "banger/agentclient/agent_token.hpp"

#include <errno.h>
#include <fmt/format.h>
#include <sys/random.h>

#include <array>

#include "banger/agentproto/auth.hpp"
#include "banger/agentproto/constants.hpp"
#include "banger/base/expected.hpp"
#include "banger/sys/fs.hpp"

namespace banger::agentclient {

Expected<std::string> new_agent_token() {
  std::array<unsigned char, agentproto::kAgentTokenBytes> bytes{};
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::getrandom(bytes.data() + done, bytes.size() - done, 0);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return fail_errno("getting random bytes for the agent token", n < 0 ? errno : EIO);
    }
    done += static_cast<std::size_t>(n);
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string token;
  token.reserve(agentproto::kAgentTokenHexChars);
  for (const unsigned char b : bytes) {
    token += kHex[b >> 4];
    token += kHex[b & 0x0f];
  }
  return token;
}

Status write_agent_token(const std::string& path, const std::string& token) {
  return sys::write_file_atomic(path, token + "\n", 0600);
}

Expected<std::string> read_agent_token(const std::string& path) {
  auto text = sys::read_file(path);
  if (!text) {
    if (text.error().code == Errc::not_found) {
      return fail(Errc::not_found,
                  fmt::format("the agent token {} is missing (the vm was started by an older "
                              "banger): restart the vm",
                              path));
    }
    return tl::unexpected(text.error());
  }
  auto token = agentproto::token_from_file_text(*text);
  if (!token) {
    return fail(Errc::failed_precondition,
                fmt::format("{} does not hold an agent token: restart the vm", path));
  }
  return *token;
}

}  // namespace banger::agentclient
