// The agent's per-VM token (docs/agent.md "Authentication", docs/decisions/0012): its text form
// and the comparison, shared by the agent (which checks) and the host (which presents it).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace banger::agentproto {

// True when text is exactly kAgentTokenHexChars lowercase hex characters.
bool valid_token(std::string_view text);

// The token in the text of a token file: the file holds the token and at most one trailing
// '\n'. nullopt when that is not what the file holds (an empty file holds no token).
std::optional<std::string> token_from_file_text(std::string_view text);

// Compares a presented token with the expected one in time that depends only on their lengths
// (never on where they first differ). False when the lengths differ or expected is empty.
bool tokens_equal(std::string_view presented, std::string_view expected);

}  // namespace banger::agentproto
