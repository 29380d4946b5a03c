// Base64 (RFC 4648, standard alphabet, '=' padding): exec byte payloads travel as strings.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace banger::agentproto {

// Encodes bytes with padding.
std::string base64_encode(std::string_view bytes);
// Decodes padded or unpadded base64; nullopt on any character outside the alphabet, padding
// anywhere but the end, or a length that cannot be base64 (4n+1 characters).
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace banger::agentproto
