// OCI and Docker schema2 manifests, indexes and image configs: the JSON documents a pull reads,
// parsed into what banger needs and checked before any blob is fetched.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "banger/base/error.hpp"

namespace banger::oci {

namespace media {
inline constexpr std::string_view kOciManifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr std::string_view kOciIndex = "application/vnd.oci.image.index.v1+json";
inline constexpr std::string_view kOciConfig = "application/vnd.oci.image.config.v1+json";
inline constexpr std::string_view kDockerManifest =
    "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr std::string_view kDockerManifestList =
    "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr std::string_view kDockerConfig = "application/vnd.docker.container.image.v1+json";
}  // namespace media

// The Accept header value of a manifest request: every manifest and index type banger reads.
std::string manifest_accept_header();

// Manifests, indexes and configs larger than this are refused before they are buffered.
inline constexpr std::uint64_t kMaxDocumentBytes = 4u << 20;

struct Descriptor {
  std::string media_type;
  std::string digest;  // "sha256:<64 hex>" (checked)
  std::uint64_t size = 0;
  std::string os;            // index entries: platform.os
  std::string architecture;  // index entries: platform.architecture
};

struct Manifest {
  bool is_index = false;
  std::vector<Descriptor> manifests;  // index: its entries
  Descriptor config;                  // image manifest: the config blob
  std::vector<Descriptor> layers;     // image manifest: oldest first
};

// Parses a manifest or index. The type comes from the body's mediaType, else from the
// response's content_type; Docker schema 1 and unknown types are refused naming the type.
// invalid_argument `manifest of <what>: <problem>` for malformed JSON, missing or mistyped
// fields, a digest that is not sha256, a layer of a type banger cannot unpack (foreign
// layers, encrypted layers), no layers, or more than 512 layers.
Expected<Manifest> parse_manifest(std::string_view body, std::string_view content_type,
                                  std::string_view what);

// The index entry for os/architecture (linux/amd64); entries without a platform are skipped.
// not_found `<what> has no linux/amd64 image (it has: linux/arm64, ...)`.
Expected<Descriptor> choose_platform(const Manifest& index, std::string_view os,
                                     std::string_view architecture, std::string_view what);

enum class Compression { none, gzip, zstd };

// How a layer of media_type is compressed; invalid_argument for types that are not layers.
Expected<Compression> layer_compression(std::string_view media_type);

// The parts of an image config a VM uses (ADR 0010): recorded, shown, and used for exec.
struct ImageConfig {
  std::string os;
  std::string architecture;
  std::vector<std::string> env;  // "PATH=/usr/local/bin:..."
  std::vector<std::string> entrypoint;
  std::vector<std::string> cmd;
  std::string working_dir;
  std::string user;
  std::size_t layer_count = 0;  // rootfs.diff_ids
};

// Parses an image config; invalid_argument for malformed JSON or mistyped fields, and a
// failed_precondition when os/architecture are not linux/amd64.
Expected<ImageConfig> parse_image_config(std::string_view body, std::string_view what);

// Whether text is "sha256:" + 64 lower-case hex digits.
bool is_sha256_digest(std::string_view text);

}  // namespace banger::oci
