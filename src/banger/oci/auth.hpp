// Registry authentication, the pure parts: WWW-Authenticate challenges, the token endpoint's
// answer, and credentials from ~/.docker/config.json.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "banger/base/error.hpp"

namespace banger::oci {

struct Challenge {
  std::string scheme;  // "bearer" or "basic", lower case
  std::string realm;   // bearer: the token endpoint URL
  std::string service;
  std::string scope;
};

// Parses a WWW-Authenticate header value (`Bearer realm="https://auth.docker.io/token",
// service="registry.docker.io",scope="repository:library/debian:pull"`). Parameter names are
// case-insensitive, values may be quoted (with backslash escapes) or bare. invalid_argument
// for an empty header, an unknown scheme, or a bearer challenge without realm.
Expected<Challenge> parse_challenge(std::string_view header);

// The token URL for challenge and repository: realm?service=...&scope=repository:<repo>:pull
// (the challenge's scope when it names one, URL-encoded).
std::string token_url(const Challenge& challenge, std::string_view repository);

// The bearer token in a token endpoint's JSON answer ("token", else "access_token").
// invalid_argument when neither is a non-empty string.
Expected<std::string> parse_token_response(std::string_view body);

struct Credentials {
  std::string username;
  std::string password;
};

// The credentials for registry_key (see docker_config_key) in the text of a
// ~/.docker/config.json: auths.<key>.auth (base64 "user:password") or its username/password
// fields; an entry written as "https://<key>" or "<key>/v1/" also matches. nullopt when there
// is no entry (anonymous pull). invalid_argument naming the entry when it is malformed.
// Credential helpers (credsStore, credHelpers) are not run: banger does not execute programs
// named in that file; docs/images.md says to use --username/--password-stdin instead.
Expected<std::optional<Credentials>> docker_config_credentials(std::string_view config_json,
                                                               std::string_view registry_key);

}  // namespace banger::oci
