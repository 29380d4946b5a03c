// OCI image references ("debian:bookworm", "ghcr.io/acme/runner:v1@sha256:...") as Docker
// reads them: a first component with a '.' or ':' (or "localhost") names the registry, else
// Docker Hub, whose one-component names live under "library/".
#pragma once

#include <string>
#include <string_view>

#include "banger/base/error.hpp"

namespace banger::oci {

inline constexpr std::string_view kDockerHub = "docker.io";

struct Reference {
  std::string registry;    // "docker.io", "ghcr.io", "127.0.0.1:5000"
  std::string repository;  // "library/debian"
  std::string tag;         // "bookworm"; "latest" when neither a tag nor a digest was given
  std::string digest;      // "sha256:<64 hex>" when pinned, else ""
};

// Parses text as Docker does (docs/images.md "OCI references"). invalid_argument naming the
// part that is wrong: an empty reference, upper case or other bad characters in the
// repository, a tag longer than 128 characters or with bad characters, a digest that is not
// "sha256:" + 64 lower-case hex, a scheme ("https://...": give the registry host only).
Expected<Reference> parse_reference(std::string_view text);

// The canonical spelling: "docker.io/library/debian:bookworm", "ghcr.io/a/b@sha256:..." (a
// pinned reference keeps its tag too: "r/a:t@sha256:...").
std::string to_string(const Reference& ref);

// The host the registry API is reached at: Docker Hub's API lives at registry-1.docker.io.
std::string api_host(const Reference& ref);

// Key of the registry in ~/.docker/config.json "auths": Docker Hub's historical
// "https://index.docker.io/v1/", else the registry host.
std::string docker_config_key(const Reference& ref);

// Whether host ("127.0.0.1:5000", "localhost", "[::1]:5000") is a loopback address, where
// plain http is allowed without configuration.
bool is_loopback_registry(std::string_view host);

// The image name a pull gets without --name (S11): the last repository component and the tag,
// "docker.io/library/debian:bookworm" -> "debian-bookworm", "ghcr.io/a/runner" ->
// "runner-latest", a digest-only reference -> "<last>-<first 12 hex>"; characters outside
// [A-Za-z0-9._-] become '-'.
std::string default_image_name(const Reference& ref);

}  // namespace banger::oci
