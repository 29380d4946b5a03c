// manifest.json beside each managed image's rootfs.ext4: the image record in a file, so an
// image directory describes itself (reconcile re-registers a published directory from it).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "banger/base/error.hpp"
#include "banger/model/image.hpp"

namespace banger::imagecat {

inline constexpr int kManifestVersion = 1;
// The files of an image directory (images/<name>/) and of an image bundle.
inline constexpr std::string_view kManifestFile = "manifest.json";
inline constexpr std::string_view kRootfsFile = "rootfs.ext4";

// Where a pulled image came from (image pull <oci-ref>): what `image show` reports and what
// keeps its layers in the blob cache.
struct OciRecord {
  std::string reference;            // "docker.io/library/debian:bookworm"
  std::string digest;               // the linux/amd64 image manifest's digest
  std::vector<std::string> layers;  // blob digests, oldest first
  std::vector<std::string> entrypoint;
  std::vector<std::string> cmd;
  std::vector<std::string> env;
  std::string working_dir;
  std::string user;
};

// Where an image installed from a bundle came from (image import / image pull <catalog name>).
struct BundleRecord {
  std::string location;  // the bundle's url or path
  std::string sha256;    // of the whole .tar.zst: the same sha256 again is up to date
};

struct Manifest {
  model::Image image;                 // rootfs_path/work_seed_path are not stored (derived)
  std::string recipe;                 // "" for registered/promoted images
  std::vector<std::string> packages;  // extra packages given with --packages
  std::optional<OciRecord> oci;       // pulled images only
  // sha256 of rootfs.ext4, written by `image bundle` into the bundle's manifest and checked
  // when the bundle is installed ("" in the store's own manifests).
  std::string rootfs_sha256;
  std::optional<BundleRecord> bundle;  // images installed from a bundle only
};

// Pure: the JSON text ({"version":1,"name":...}) of manifest, with a trailing newline.
std::string render_manifest(const Manifest& manifest);

// Parses render_manifest() output. invalid_argument `manifest: <what is wrong>` for malformed
// JSON, a missing or mistyped field, an unknown version or an invalid name/init flavour.
Expected<Manifest> parse_manifest(std::string_view text);

// The manifest.json of the image directory dir, parsed (read_file's and parse_manifest's
// errors).
Expected<Manifest> manifest_in(const std::string& dir);

}  // namespace banger::imagecat
