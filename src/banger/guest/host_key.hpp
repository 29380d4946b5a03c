// SSH host keys as banger handles them: the key type plus the base64 key blob, as found in
// known_hosts lines and ssh-keyscan output, and the OpenSSH-style SHA256 fingerprint.
#pragma once

#include <string>

#include "banger/base/error.hpp"

namespace banger::guest {

// The only host key type banger asks guests for (ssh-keyscan -t ed25519).
inline constexpr const char* kHostKeyType = "ssh-ed25519";

struct HostKey {
  std::string type;    // "ssh-ed25519"
  std::string base64;  // the key blob, base64 as in known_hosts ("AAAAC3Nz...")

  friend bool operator==(const HostKey&, const HostKey&) = default;
};

// Decodes standard base64 (with or without '=' padding). invalid_argument when the text is
// empty or not base64.
Expected<std::string> decode_base64(const std::string& text);

// "SHA256:<unpadded base64 of sha256(blob)>", exactly what `ssh-keygen -l` prints.
// invalid_argument when key_base64 is not base64.
Expected<std::string> fingerprint_sha256(const std::string& key_base64);

}  // namespace banger::guest
