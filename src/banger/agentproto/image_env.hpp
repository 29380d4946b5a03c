// /etc/banger/image.env, the contract between `image pull` (which writes a pulled image's
// config Env there) and the guest agent (whose exec sessions start from it).
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace banger::agentproto {

inline constexpr std::string_view kImageEnvFile = "/etc/banger/image.env";

// Whether key is an environment variable name banger keeps: [A-Za-z_][A-Za-z0-9_]*.
bool is_env_key(std::string_view key);

// The KEY=VALUE lines of an image.env text; lines that are empty, comments (#), without '='
// or with a key that is not is_env_key() are skipped.
std::map<std::string, std::string> parse_image_env(std::string_view text);

struct ImageEnvText {
  std::string text;                  // a comment line, then one KEY=VALUE line per kept entry
  std::vector<std::string> dropped;  // entries that are not KEY=VALUE on one line
};

// The image.env text for an image config's Env entries ("PATH=/usr/bin").
ImageEnvText render_image_env(const std::vector<std::string>& env);

}  // namespace banger::agentproto
