#include "banger/oci/manifest.hpp"

#include <fmt/format.h>

#include <algorithm>

#include <nlohmann/json.hpp>

#include "banger/base/expected.hpp"
#include "banger/base/strings.hpp"

namespace banger::oci {
namespace {

using nlohmann::json;

constexpr std::size_t kMaxLayers = 512;

Error malformed(std::string_view what, std::string_view problem) {
  return Error{Errc::invalid_argument, fmt::format("{}: {}", what, problem), 0, {}};
}

Expected<json> parse_object(std::string_view body, std::string_view what) {
  if (body.size() > kMaxDocumentBytes) {
    return tl::unexpected(malformed(what, fmt::format("larger than {} bytes", kMaxDocumentBytes)));
  }
  json doc = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return tl::unexpected(malformed(what, "not a JSON object"));
  }
  return doc;
}

std::string string_field(const json& obj, std::string_view key) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string();
}

Expected<Descriptor> parse_descriptor(const json& obj, std::string_view what,
                                      std::string_view role) {
  if (!obj.is_object()) {
    return tl::unexpected(malformed(what, fmt::format("{} is not an object", role)));
  }
  Descriptor d;
  auto media = obj.find("mediaType");
  auto digest = obj.find("digest");
  auto size = obj.find("size");
  if (media == obj.end() || !media->is_string()) {
    return tl::unexpected(malformed(what, fmt::format("{} has no mediaType", role)));
  }
  if (digest == obj.end() || !digest->is_string() ||
      !is_sha256_digest(digest->get<std::string>())) {
    return tl::unexpected(
        malformed(what, fmt::format("{} digest must be sha256:<64 hex> (other algorithms are "
                                    "not supported)",
                                    role)));
  }
  if (size == obj.end() || !size->is_number_unsigned()) {
    return tl::unexpected(malformed(what, fmt::format("{} has no valid size", role)));
  }
  d.media_type = media->get<std::string>();
  d.digest = digest->get<std::string>();
  d.size = size->get<std::uint64_t>();
  if (auto platform = obj.find("platform"); platform != obj.end() && platform->is_object()) {
    d.os = string_field(*platform, "os");
    d.architecture = string_field(*platform, "architecture");
  }
  return d;
}

}  // namespace

std::string manifest_accept_header() {
  return fmt::format("{}, {}, {}, {}", media::kOciIndex, media::kOciManifest,
                     media::kDockerManifestList, media::kDockerManifest);
}

bool is_sha256_digest(std::string_view text) {
  constexpr std::string_view kPrefix = "sha256:";
  return text.size() == kPrefix.size() + 64 && text.substr(0, kPrefix.size()) == kPrefix &&
         std::all_of(text.begin() + kPrefix.size(), text.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

Expected<Compression> layer_compression(std::string_view media_type) {
  static constexpr std::pair<std::string_view, Compression> kLayers[] = {
      {"application/vnd.oci.image.layer.v1.tar", Compression::none},
      {"application/vnd.oci.image.layer.v1.tar+gzip", Compression::gzip},
      {"application/vnd.oci.image.layer.v1.tar+zstd", Compression::zstd},
      {"application/vnd.docker.image.rootfs.diff.tar", Compression::none},
      {"application/vnd.docker.image.rootfs.diff.tar.gzip", Compression::gzip},
      {"application/vnd.docker.image.rootfs.diff.tar.zstd", Compression::zstd},
  };
  for (const auto& [type, compression] : kLayers) {
    if (media_type == type) {
      return compression;
    }
  }
  return fail(Errc::invalid_argument,
              fmt::format("layer type {} is not supported (only tar, tar+gzip and tar+zstd "
                          "layers can be unpacked)",
                          media_type));
}

Expected<Manifest> parse_manifest(std::string_view body, std::string_view content_type,
                                  std::string_view what) {
  BANGER_TRY_ASSIGN(auto doc, parse_object(body, what));
  std::string type = string_field(doc, "mediaType");
  if (type.empty()) {
    type = std::string(content_type.substr(0, content_type.find(';')));
  }
  if (doc.contains("schemaVersion") && doc["schemaVersion"] == 1) {
    return tl::unexpected(malformed(what, "Docker schema 1 manifests are not supported"));
  }
  Manifest manifest;
  if (type == media::kOciIndex || type == media::kDockerManifestList ||
      (type.empty() && doc.contains("manifests"))) {
    manifest.is_index = true;
    auto entries = doc.find("manifests");
    if (entries == doc.end() || !entries->is_array()) {
      return tl::unexpected(malformed(what, "index has no manifests array"));
    }
    if (entries->size() > kMaxLayers) {
      return tl::unexpected(malformed(what, "index has more than 512 entries"));
    }
    for (const auto& entry : *entries) {
      BANGER_TRY_ASSIGN(auto d, parse_descriptor(entry, what, "index entry"));
      manifest.manifests.push_back(std::move(d));
    }
    return manifest;
  }
  if (type != media::kOciManifest && type != media::kDockerManifest &&
      !(type.empty() && doc.contains("layers"))) {
    return tl::unexpected(malformed(
        what, fmt::format("manifest type \"{}\" is not supported", type.empty() ? "?" : type)));
  }
  auto config = doc.find("config");
  if (config == doc.end()) {
    return tl::unexpected(malformed(what, "manifest has no config"));
  }
  BANGER_TRY_ASSIGN(manifest.config, parse_descriptor(*config, what, "config"));
  auto layers = doc.find("layers");
  if (layers == doc.end() || !layers->is_array() || layers->empty()) {
    return tl::unexpected(malformed(what, "manifest has no layers"));
  }
  if (layers->size() > kMaxLayers) {
    return tl::unexpected(malformed(what, "manifest has more than 512 layers"));
  }
  for (const auto& layer : *layers) {
    BANGER_TRY_ASSIGN(auto d, parse_descriptor(layer, what, "layer"));
    if (auto compression = layer_compression(d.media_type); !compression) {
      return tl::unexpected(malformed(what, compression.error().message));
    }
    manifest.layers.push_back(std::move(d));
  }
  return manifest;
}

Expected<Descriptor> choose_platform(const Manifest& index, std::string_view os,
                                     std::string_view architecture, std::string_view what) {
  std::vector<std::string> seen;
  for (const auto& entry : index.manifests) {
    if (entry.os == os && entry.architecture == architecture) {
      return entry;
    }
    if (!entry.os.empty()) {
      seen.push_back(entry.os + "/" + entry.architecture);
    }
  }
  return fail(Errc::not_found,
              fmt::format("{} has no {}/{} image (it has: {})", what, os, architecture,
                          seen.empty() ? "no platform entries" : base::join(seen, ", ")));
}

Expected<ImageConfig> parse_image_config(std::string_view body, std::string_view what) {
  BANGER_TRY_ASSIGN(auto doc, parse_object(body, what));
  ImageConfig config;
  config.os = string_field(doc, "os");
  config.architecture = string_field(doc, "architecture");
  auto strings = [&](const json& obj, std::string_view key,
                     std::vector<std::string>& out) -> Status {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) {
      return {};
    }
    if (!it->is_array() ||
        !std::all_of(it->begin(), it->end(), [](const json& v) { return v.is_string(); })) {
      return tl::unexpected(
          malformed(what, fmt::format("config {} is not a list of strings", key)));
    }
    for (const auto& v : *it) {
      out.push_back(v.get<std::string>());
    }
    return {};
  };
  if (auto inner = doc.find("config"); inner != doc.end() && inner->is_object()) {
    BANGER_TRY(strings(*inner, "Env", config.env));
    BANGER_TRY(strings(*inner, "Entrypoint", config.entrypoint));
    BANGER_TRY(strings(*inner, "Cmd", config.cmd));
    config.working_dir = string_field(*inner, "WorkingDir");
    config.user = string_field(*inner, "User");
  }
  if (auto rootfs = doc.find("rootfs"); rootfs != doc.end() && rootfs->is_object()) {
    if (auto ids = rootfs->find("diff_ids"); ids != rootfs->end() && ids->is_array()) {
      config.layer_count = ids->size();
    }
  }
  if (config.os != "linux" || config.architecture != "amd64") {
    return fail(Errc::failed_precondition,
                fmt::format("{} is a {}/{} image: banger boots linux/amd64 VMs", what,
                            config.os.empty() ? "?" : config.os,
                            config.architecture.empty() ? "?" : config.architecture));
  }
  return config;
}

}  // namespace banger::oci
