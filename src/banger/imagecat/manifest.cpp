#include "banger/imagecat/manifest.hpp"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "banger/base/expected.hpp"
#include "banger/sys/fs.hpp"

namespace banger::imagecat {
namespace {

using Json = nlohmann::json;

Expected<std::string> string_field(const Json& json, const char* key) {
  auto it = json.find(key);
  if (it == json.end() || !it->is_string()) {
    return fail(Errc::invalid_argument,
                fmt::format("manifest: field \"{}\" must be a string", key));
  }
  return it->get<std::string>();
}

Expected<std::int64_t> int_field(const Json& json, const char* key) {
  auto it = json.find(key);
  if (it == json.end() || !it->is_number_integer()) {
    return fail(Errc::invalid_argument,
                fmt::format("manifest: field \"{}\" must be an integer", key));
  }
  return it->get<std::int64_t>();
}

Expected<std::vector<std::string>> strings_field(const Json& json, const char* key) {
  auto it = json.find(key);
  if (it == json.end() || !it->is_array()) {
    return fail(Errc::invalid_argument,
                fmt::format("manifest: field \"{}\" must be an array", key));
  }
  std::vector<std::string> out;
  for (const auto& item : *it) {
    if (!item.is_string()) {
      return fail(Errc::invalid_argument,
                  fmt::format("manifest: field \"{}\" must hold strings", key));
    }
    out.push_back(item.get<std::string>());
  }
  return out;
}

}  // namespace

std::string render_manifest(const Manifest& manifest) {
  const auto& image = manifest.image;
  Json json = {{"version", kManifestVersion},
               {"name", image.name},
               {"distro", image.distro},
               {"init_flavour", std::string(model::to_string(image.init_flavour))},
               {"kernel", image.kernel_ref},
               {"extra_kernel_args", image.extra_kernel_args},
               {"recipe", manifest.recipe},
               {"packages", manifest.packages},
               {"size_bytes", image.size_bytes},
               {"created_at", image.created_at},
               {"ssh", image.ssh}};
  if (manifest.oci) {
    const auto& oci = *manifest.oci;
    json["oci"] = {{"reference", oci.reference},     {"digest", oci.digest}, {"layers", oci.layers},
                   {"entrypoint", oci.entrypoint},   {"cmd", oci.cmd},       {"env", oci.env},
                   {"working_dir", oci.working_dir}, {"user", oci.user}};
  }
  if (!manifest.rootfs_sha256.empty()) {
    json["rootfs_sha256"] = manifest.rootfs_sha256;
  }
  if (manifest.bundle) {
    json["bundle"] = {{"location", manifest.bundle->location}, {"sha256", manifest.bundle->sha256}};
  }
  return json.dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
}

Expected<Manifest> parse_manifest(std::string_view text) {
  Json json = Json::parse(text, nullptr, false);
  if (json.is_discarded() || !json.is_object()) {
    return fail(Errc::invalid_argument, "manifest: not a JSON object");
  }
  BANGER_TRY_ASSIGN(auto version, int_field(json, "version"));
  if (version != kManifestVersion) {
    return fail(Errc::invalid_argument,
                fmt::format("manifest: unsupported version {} (this banger reads version {})",
                            version, kManifestVersion));
  }
  Manifest manifest;
  auto& image = manifest.image;
  BANGER_TRY_ASSIGN(image.name, string_field(json, "name"));
  if (auto valid = model::validate_image_name(image.name); !valid) {
    return tl::unexpected(with_context(valid.error(), "manifest"));
  }
  BANGER_TRY_ASSIGN(image.distro, string_field(json, "distro"));
  BANGER_TRY_ASSIGN(auto flavour, string_field(json, "init_flavour"));
  auto parsed = model::parse_init_flavour(flavour);
  if (!parsed) {
    return tl::unexpected(with_context(parsed.error(), "manifest"));
  }
  image.init_flavour = *parsed;
  BANGER_TRY_ASSIGN(image.kernel_ref, string_field(json, "kernel"));
  BANGER_TRY_ASSIGN(image.extra_kernel_args, string_field(json, "extra_kernel_args"));
  BANGER_TRY_ASSIGN(manifest.recipe, string_field(json, "recipe"));
  BANGER_TRY_ASSIGN(image.size_bytes, int_field(json, "size_bytes"));
  BANGER_TRY_ASSIGN(image.created_at, int_field(json, "created_at"));
  BANGER_TRY_ASSIGN(manifest.packages, strings_field(json, "packages"));
  if (auto oci = json.find("oci"); oci != json.end()) {
    if (!oci->is_object()) {
      return fail(Errc::invalid_argument, "manifest: field \"oci\" must be an object");
    }
    OciRecord record;
    BANGER_TRY_ASSIGN(record.reference, string_field(*oci, "reference"));
    BANGER_TRY_ASSIGN(record.digest, string_field(*oci, "digest"));
    BANGER_TRY_ASSIGN(record.working_dir, string_field(*oci, "working_dir"));
    BANGER_TRY_ASSIGN(record.user, string_field(*oci, "user"));
    for (auto [key, out] :
         {std::pair{"layers", &record.layers}, std::pair{"entrypoint", &record.entrypoint},
          std::pair{"cmd", &record.cmd}, std::pair{"env", &record.env}}) {
      BANGER_TRY_ASSIGN(*out, strings_field(*oci, key));
    }
    manifest.oci = std::move(record);
  }
  if (auto ssh = json.find("ssh"); ssh != json.end()) {
    if (!ssh->is_boolean()) {
      return fail(Errc::invalid_argument, "manifest: field \"ssh\" must be a boolean");
    }
    image.ssh = ssh->get<bool>();
  }
  if (json.contains("rootfs_sha256")) {
    BANGER_TRY_ASSIGN(manifest.rootfs_sha256, string_field(json, "rootfs_sha256"));
  }
  if (auto bundle = json.find("bundle"); bundle != json.end()) {
    if (!bundle->is_object()) {
      return fail(Errc::invalid_argument, "manifest: field \"bundle\" must be an object");
    }
    BundleRecord record;
    BANGER_TRY_ASSIGN(record.location, string_field(*bundle, "location"));
    BANGER_TRY_ASSIGN(record.sha256, string_field(*bundle, "sha256"));
    manifest.bundle = std::move(record);
  }
  image.managed = true;
  return manifest;
}

Expected<Manifest> manifest_in(const std::string& dir) {
  BANGER_TRY_ASSIGN(auto text, sys::read_file(dir + "/" + std::string(kManifestFile)));
  return parse_manifest(text);
}

}  // namespace banger::imagecat
