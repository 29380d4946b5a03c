#include "banger/oci/auth.hpp"

#include <fmt/format.h>

#include <cctype>

#include <nlohmann/json.hpp>

#include "banger/agentproto/base64.hpp"
#include "banger/base/expected.hpp"
#include "banger/base/strings.hpp"

namespace banger::oci {
namespace {

void skip_blanks(std::string_view text, std::size_t& i) {
  while (i < text.size() && (text[i] == ' ' || text[i] == '\t' || text[i] == ',')) {
    ++i;
  }
}

std::string url_encode(std::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

}  // namespace

Expected<Challenge> parse_challenge(std::string_view header) {
  std::size_t i = 0;
  skip_blanks(header, i);
  std::size_t scheme_end = header.find(' ', i);
  Challenge challenge;
  challenge.scheme = base::to_lower(header.substr(
      i, scheme_end == std::string_view::npos ? std::string_view::npos : scheme_end - i));
  if (challenge.scheme != "bearer" && challenge.scheme != "basic") {
    return fail(Errc::invalid_argument,
                fmt::format("registry asks for \"{}\" authentication, which banger does not "
                            "support (only Bearer and Basic)",
                            challenge.scheme));
  }
  i = scheme_end == std::string_view::npos ? header.size() : scheme_end;
  while (true) {
    skip_blanks(header, i);
    if (i >= header.size()) {
      break;
    }
    std::size_t eq = header.find('=', i);
    if (eq == std::string_view::npos) {
      break;
    }
    std::string name = base::to_lower(base::trim(header.substr(i, eq - i)));
    i = eq + 1;
    std::string value;
    if (i < header.size() && header[i] == '"') {
      ++i;
      while (i < header.size() && header[i] != '"') {
        if (header[i] == '\\' && i + 1 < header.size()) {
          ++i;
        }
        value += header[i++];
      }
      ++i;  // the closing quote
    } else {
      while (i < header.size() && header[i] != ',') {
        value += header[i++];
      }
      value = std::string(base::trim(value));
    }
    if (name == "realm") {
      challenge.realm = value;
    } else if (name == "service") {
      challenge.service = value;
    } else if (name == "scope") {
      challenge.scope = value;
    }
  }
  if (challenge.scheme == "bearer" && challenge.realm.empty()) {
    return fail(Errc::invalid_argument, "registry's Bearer challenge names no token realm");
  }
  return challenge;
}

std::string token_url(const Challenge& challenge, std::string_view repository) {
  std::string url = challenge.realm;
  url += url.find('?') == std::string::npos ? '?' : '&';
  bool first = true;
  auto add = [&](std::string_view key, std::string_view value) {
    url += fmt::format("{}{}={}", first ? "" : "&", key, url_encode(value));
    first = false;
  };
  if (!challenge.service.empty()) {
    add("service", challenge.service);
  }
  add("scope",
      challenge.scope.empty() ? fmt::format("repository:{}:pull", repository) : challenge.scope);
  return url;
}

Expected<std::string> parse_token_response(std::string_view body) {
  auto doc = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_object()) {
    for (const char* key : {"token", "access_token"}) {
      auto it = doc.find(key);
      if (it != doc.end() && it->is_string() && !it->get<std::string>().empty()) {
        return it->get<std::string>();
      }
    }
  }
  return fail(Errc::invalid_argument, "registry token endpoint answered without a token");
}

Expected<std::optional<Credentials>> docker_config_credentials(std::string_view config_json,
                                                               std::string_view registry_key) {
  auto doc = nlohmann::json::parse(config_json, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) {
    return fail(Errc::invalid_argument, "docker config: not a JSON object");
  }
  auto auths = doc.find("auths");
  if (auths == doc.end() || !auths->is_object()) {
    return std::optional<Credentials>{};
  }
  std::string key(registry_key);
  const nlohmann::json* entry = nullptr;
  std::string entry_name;
  for (const auto& [name, value] : auths->items()) {
    std::string host = name;
    for (std::string_view scheme : {"https://", "http://"}) {
      if (host.rfind(scheme, 0) == 0) {
        host = host.substr(scheme.size());
      }
    }
    host = host.substr(0, host.find('/'));
    if (name == key || (key.find('/') == std::string::npos && host == key)) {
      entry = &value;
      entry_name = name;
      break;
    }
  }
  if (entry == nullptr) {
    return std::optional<Credentials>{};
  }
  auto bad = [&](std::string_view why) {
    return fail(Errc::invalid_argument,
                fmt::format("docker config: auths entry \"{}\": {}", entry_name, why));
  };
  if (!entry->is_object()) {
    return bad("not an object");
  }
  Credentials creds;
  if (auto it = entry->find("auth");
      it != entry->end() && it->is_string() && !it->get<std::string>().empty()) {
    auto decoded = agentproto::base64_decode(it->get<std::string>());
    if (!decoded) {
      return bad("auth is not base64");
    }
    auto colon = decoded->find(':');
    if (colon == std::string::npos) {
      return bad("auth is not base64 of user:password");
    }
    creds.username = decoded->substr(0, colon);
    creds.password = decoded->substr(colon + 1);
  } else {
    auto user = entry->find("username");
    auto pass = entry->find("password");
    if (user == entry->end() || pass == entry->end() || !user->is_string() || !pass->is_string()) {
      return std::optional<Credentials>{};
    }
    creds.username = user->get<std::string>();
    creds.password = pass->get<std::string>();
  }
  return std::optional<Credentials>{std::move(creds)};
}

}  // namespace banger::oci
