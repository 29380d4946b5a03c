#include "banger/agentproto/image_env.hpp"

#include <algorithm>
#include <cctype>

namespace banger::agentproto {

bool is_env_key(std::string_view key) {
  if (key.empty() || std::isdigit(static_cast<unsigned char>(key.front()))) {
    return false;
  }
  return std::all_of(key.begin(), key.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

std::map<std::string, std::string> parse_image_env(std::string_view text) {
  std::map<std::string, std::string> env;
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto end = std::min(text.find('\n', pos), text.size());
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    auto eq = line.find('=');
    if (line.empty() || line.front() == '#' || eq == std::string_view::npos ||
        !is_env_key(line.substr(0, eq))) {
      continue;
    }
    env[std::string(line.substr(0, eq))] = std::string(line.substr(eq + 1));
  }
  return env;
}

ImageEnvText render_image_env(const std::vector<std::string>& env) {
  ImageEnvText out;
  out.text =
      "# The image config's Env, written by banger image pull: agent exec sessions start from "
      "it.\n";
  for (const auto& entry : env) {
    auto eq = entry.find('=');
    if (eq == std::string::npos || !is_env_key(std::string_view(entry).substr(0, eq)) ||
        entry.find_first_of("\n\r") != std::string::npos) {
      out.dropped.push_back(entry);
      continue;
    }
    out.text += entry + "\n";
  }
  return out;
}

}  // namespace banger::agentproto
