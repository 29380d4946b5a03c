#include "banger/posix/env.hpp"

#include <string_view>

extern char** environ;

namespace banger::posix {

std::vector<std::string> build_env(const std::vector<std::string>& base,
                                   const std::map<std::string, std::string>& overrides) {
  std::vector<std::string> env;
  env.reserve(base.size() + overrides.size());
  for (const auto& entry : base) {
    const std::string key = entry.substr(0, entry.find('='));
    if (!overrides.contains(key)) {
      env.push_back(entry);
    }
  }
  for (const auto& [key, value] : overrides) {
    env.push_back(key + "=" + value);
  }
  return env;
}

std::vector<std::string> current_env() {
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    env.emplace_back(*e);
  }
  return env;
}

std::vector<char*> c_strings(const std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (const auto& s : strings) {
    out.push_back(const_cast<char*>(s.c_str()));
  }
  out.push_back(nullptr);
  return out;
}

}  // namespace banger::posix
