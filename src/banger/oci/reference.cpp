#include "banger/oci/reference.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "banger/base/expected.hpp"
#include "banger/oci/manifest.hpp"

namespace banger::oci {
namespace {

bool is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// One path component: [a-z0-9]+ ((\.|_|__|-+)[a-z0-9]+)*
bool valid_component(std::string_view part) {
  if (part.empty() || !is_lower_alnum(part.front()) || !is_lower_alnum(part.back())) {
    return false;
  }
  for (std::size_t i = 0; i < part.size();) {
    if (is_lower_alnum(part[i])) {
      ++i;
      continue;
    }
    std::size_t run = i;
    while (run < part.size() && !is_lower_alnum(part[run])) {
      ++run;
    }
    std::string_view sep = part.substr(i, run - i);
    bool dashes = std::all_of(sep.begin(), sep.end(), [](char c) { return c == '-'; });
    if (sep != "." && sep != "_" && sep != "__" && !dashes) {
      return false;
    }
    i = run;
  }
  return true;
}

bool valid_tag(std::string_view tag) {
  auto word = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  if (tag.empty() || tag.size() > 128 || !word(tag.front())) {
    return false;
  }
  return std::all_of(tag.begin(), tag.end(),
                     [&](char c) { return word(c) || c == '.' || c == '-'; });
}

bool valid_host(std::string_view host) {
  std::string_view name = host;
  std::string_view port;
  if (!name.empty() && name.front() == '[') {
    auto close = name.find(']');
    if (close == std::string_view::npos || close == 1) {
      return false;
    }
    port = name.substr(close + 1);
    if (!port.empty() && port.front() != ':') {
      return false;
    }
    name = name.substr(1, close - 1);
    if (!std::all_of(name.begin(), name.end(), [](char c) {
          return std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.';
        })) {
      return false;
    }
  } else {
    auto colon = name.find(':');
    if (colon != std::string_view::npos) {
      port = name.substr(colon);
      name = name.substr(0, colon);
    }
    if (name.empty() || name.front() == '-' || name.front() == '.' ||
        !std::all_of(name.begin(), name.end(), [](char c) {
          return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-';
        })) {
      return false;
    }
  }
  if (!port.empty()) {
    port.remove_prefix(1);
    if (port.empty() || port.size() > 5 || !std::all_of(port.begin(), port.end(), [](char c) {
          return std::isdigit(static_cast<unsigned char>(c));
        })) {
      return false;
    }
  }
  return true;
}

Error bad(std::string_view text, std::string_view why) {
  return Error{
      Errc::invalid_argument, fmt::format("invalid image reference \"{}\": {}", text, why), 0, {}};
}

}  // namespace

Expected<Reference> parse_reference(std::string_view text) {
  if (text.empty()) {
    return tl::unexpected(bad(text, "it is empty"));
  }
  if (text.find("://") != std::string_view::npos) {
    return tl::unexpected(
        bad(text, "give the registry host without a scheme (\"ghcr.io/acme/app:v1\")"));
  }
  Reference ref;
  std::string_view rest = text;
  if (auto at = rest.find('@'); at != std::string_view::npos) {
    ref.digest = std::string(rest.substr(at + 1));
    rest = rest.substr(0, at);
    if (!is_sha256_digest(ref.digest)) {
      return tl::unexpected(bad(text, "the digest must be sha256: and 64 lower-case hex digits"));
    }
  }
  auto last_slash = rest.rfind('/');
  auto colon = rest.rfind(':');
  if (colon != std::string_view::npos &&
      (last_slash == std::string_view::npos || colon > last_slash)) {
    ref.tag = std::string(rest.substr(colon + 1));
    rest = rest.substr(0, colon);
    if (!valid_tag(ref.tag)) {
      return tl::unexpected(
          bad(text, "a tag is 1 to 128 of [A-Za-z0-9_.-] and starts with a letter, digit or _"));
    }
  }
  std::string_view path = rest;
  auto first_slash = rest.find('/');
  if (first_slash != std::string_view::npos) {
    std::string_view first = rest.substr(0, first_slash);
    if (first.find_first_of(".:") != std::string_view::npos || first == "localhost" ||
        first.front() == '[') {
      if (!valid_host(first)) {
        return tl::unexpected(bad(text, fmt::format("\"{}\" is not a registry host", first)));
      }
      ref.registry = std::string(first);
      path = rest.substr(first_slash + 1);
    }
  }
  if (ref.registry.empty() || ref.registry == "index.docker.io" ||
      ref.registry == "registry-1.docker.io") {
    ref.registry = std::string(kDockerHub);
  }
  if (path.empty()) {
    return tl::unexpected(bad(text, "the repository name is missing"));
  }
  std::size_t begin = 0;
  while (true) {
    auto end = path.find('/', begin);
    std::string_view part = path.substr(begin, end == std::string_view::npos ? end : end - begin);
    if (!valid_component(part)) {
      return tl::unexpected(
          bad(text, fmt::format("repository part \"{}\" must be lower-case letters and digits, "
                                "separated by '.', '_', '__' or '-'",
                                part)));
    }
    if (end == std::string_view::npos) {
      break;
    }
    begin = end + 1;
  }
  ref.repository = std::string(path);
  if (ref.registry == kDockerHub && ref.repository.find('/') == std::string::npos) {
    ref.repository = "library/" + ref.repository;
  }
  if (ref.tag.empty() && ref.digest.empty()) {
    ref.tag = "latest";
  }
  if (ref.repository.size() + ref.registry.size() > 255) {
    return tl::unexpected(bad(text, "the name is longer than 255 characters"));
  }
  return ref;
}

std::string to_string(const Reference& ref) {
  std::string text = ref.registry + "/" + ref.repository;
  if (!ref.tag.empty()) {
    text += ":" + ref.tag;
  }
  if (!ref.digest.empty()) {
    text += "@" + ref.digest;
  }
  return text;
}

std::string api_host(const Reference& ref) {
  return ref.registry == kDockerHub ? "registry-1.docker.io" : ref.registry;
}

std::string docker_config_key(const Reference& ref) {
  return ref.registry == kDockerHub ? "https://index.docker.io/v1/" : ref.registry;
}

bool is_loopback_registry(std::string_view host) {
  std::string_view name = host;
  if (!name.empty() && name.front() == '[') {
    return name.substr(0, 5) == "[::1]";
  }
  name = name.substr(0, name.find(':'));
  if (name == "localhost") {
    return true;
  }
  // 127.0.0.0/8 written as a dotted quad.
  if (name.substr(0, 4) != "127.") {
    return false;
  }
  int dots = 0;
  for (char c : name) {
    if (c == '.') {
      ++dots;
    } else if (!std::isdigit(static_cast<unsigned char>(c))) {
      return false;
    }
  }
  return dots == 3;
}

std::string default_image_name(const Reference& ref) {
  std::string_view repo = ref.repository;
  std::string last(
      repo.substr(repo.rfind('/') == std::string_view::npos ? 0 : repo.rfind('/') + 1));
  std::string name =
      last + "-" +
      (ref.tag.empty() ? ref.digest.substr(std::string_view("sha256:").size(), 12) : ref.tag);
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') {
      c = '-';
    }
  }
  return name;
}

}  // namespace banger::oci
