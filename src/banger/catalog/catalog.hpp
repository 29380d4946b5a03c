// The catalog document of S11 ({"version":1,"images":[...],"kernels":[...]}) as far as it
// travels: the bundle entries a team publishes next to its bundles on any static web server
// (or in a directory), read from config catalog_url and written by `image bundle --catalog`.
// The embedded catalog's recipes are code (imagecat::recipes, kernelcat::builtin_catalog);
// a published catalog holds bundles only. Pure: no I/O.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "banger/base/error.hpp"

namespace banger::catalog {

inline constexpr int kCatalogVersion = 1;
// A catalog document larger than this is refused (it lists names and URLs only).
inline constexpr std::size_t kMaxCatalogBytes = 4 * 1024 * 1024;
// The one architecture banger boots.
inline constexpr std::string_view kArch = "x86_64";

enum class BundleKind { image, kernel };

// "image" or "kernel".
std::string_view to_string(BundleKind kind);

// One bundle of a catalog (S11: {name, distro, arch, kernel, url, sha256, size}).
struct BundleEntry {
  std::string name;         // the image or kernel name it is pulled as
  std::string description;  // optional one line for `list --available`
  std::string distro;       // "debian", "unknown"
  std::string arch = std::string(kArch);
  std::string kernel;  // images: the kernel they boot ("" for kernels)
  // Where the bundle is: absolute (http(s)://, file://, /path) or relative to the catalog.
  std::string url;
  std::string sha256;      // of the whole .tar.zst, lower-case hex
  std::uint64_t size = 0;  // of the whole .tar.zst, bytes

  friend bool operator==(const BundleEntry&, const BundleEntry&) = default;
};

struct Catalog {
  std::vector<BundleEntry> images;
  std::vector<BundleEntry> kernels;

  std::vector<BundleEntry>& of(BundleKind kind) {
    return kind == BundleKind::image ? images : kernels;
  }
  const std::vector<BundleEntry>& of(BundleKind kind) const {
    return kind == BundleKind::image ? images : kernels;
  }
  friend bool operator==(const Catalog&, const Catalog&) = default;
};

// Parses a catalog document strictly: version 1, only the keys above (an unknown key is
// refused: version 1 defines them all), names valid for their kind and unique per list, arch
// x86_64, sha256 as 64 lower-case hex digits, size > 0, a url without control characters, and
// a kernel name for every image. invalid_argument `catalog <where>: images[2].sha256: ...`
// naming the entry otherwise (where = the catalog's location, for messages).
Expected<Catalog> parse_catalog(std::string_view text, std::string_view where);

// The JSON text of catalog (entries sorted by name, two-space indent, trailing newline); what
// parse_catalog() reads back.
std::string render_catalog(const Catalog& catalog);

// Adds entry to catalog's list of kind, replacing an entry of the same name.
void upsert(Catalog& catalog, BundleKind kind, BundleEntry entry);

// The entry of kind called name, or nullptr.
const BundleEntry* find_entry(const Catalog& catalog, BundleKind kind, std::string_view name);

// The file name of a bundle: `<name>-<arch>-<first 12 hex digits of sha256>.tar.zst`.
std::string bundle_file_name(const BundleEntry& entry);

// The location of url as seen from the catalog at catalog_location: an absolute url as is,
// a relative one against the catalog's directory ("https://h/c/catalog.json" + "a.tar.zst" =
// "https://h/c/a.tar.zst"; "/srv/c/catalog.json" + "a.tar.zst" = "/srv/c/a.tar.zst"), and
// "/x" on a web catalog's own server. invalid_argument for a relative url with ".." segments,
// a query or a fragment, and for a web catalog naming a local file (file://): a catalog on a
// server must not make banger read the host's files.
Expected<std::string> resolve_location(std::string_view catalog_location, std::string_view url);

}  // namespace banger::catalog
