// Bundles (S11): a .tar.zst holding exactly an image's manifest.json + rootfs.ext4, or a
// kernel's manifest.json + vmlinux [+ initrd.img]. Writing streams the files through zstd
// into a file named after its own sha256; reading accepts only those regular files (no links,
// devices, directories or traversal), so a hostile bundle can write nothing else.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "banger/base/error.hpp"
#include "banger/base/progress.hpp"
#include "banger/catalog/catalog.hpp"

namespace banger::catalog {

// The names a bundle of kind may hold, required ones first.
struct BundleLayout {
  std::vector<std::string> required;
  std::vector<std::string> optional;
};
const BundleLayout& bundle_layout(BundleKind kind);

// The manifest.json inside a bundle is read into memory: at most this many bytes.
inline constexpr std::uint64_t kMaxBundleManifestBytes = 1024 * 1024;

// One file to put into a bundle.
struct BundleFile {
  std::string name;  // inside the bundle: one of bundle_layout(kind)'s names
  std::string path;  // on the host
};

struct WrittenBundle {
  std::string path;   // <out_dir>/<bundle_file_name(entry)>
  BundleEntry entry;  // name, arch, sha256, size and url (the file name) filled in
};

// Writes files (every required name of kind, in order, each once) as a pax tar compressed
// with zstd into out_dir, named bundle_file_name() of entry with its sha256 and size (an
// existing file of that name is replaced: same name, same content). The tar is reproducible:
// owner 0:0, mode 0644, mtime 0. Reports stage "bundle" in bytes of input. Errors:
// invalid_argument (a name not in the layout, a required one missing), not_found/io for the
// inputs and out_dir, cancelled. Nothing is left in out_dir on failure.
Expected<WrittenBundle> write_bundle(BundleKind kind, const std::vector<BundleFile>& files,
                                     BundleEntry entry, const std::string& out_dir,
                                     const base::ProgressFn& progress = {},
                                     const base::CancelFn& cancel = {});

// Extracts the bundle at bundle_path into dest_dir (an existing, empty directory), writing
// only the names of bundle_layout(kind) as regular files (mode 0644, zero blocks left as
// holes). invalid_argument `bundle <bundle_name>: ...` for anything else: another compression
// than zstd, entries that are not regular files (links, devices, directories, fifos), names
// outside the layout (including traversal and "./x" spellings of other names), a name twice,
// a missing required file, a manifest.json over kMaxBundleManifestBytes, a truncated or
// corrupt stream. The caller removes dest_dir on failure.
Status extract_bundle(BundleKind kind, const std::string& bundle_path,
                      const std::string& bundle_name, const std::string& dest_dir,
                      const base::ProgressFn& progress = {}, const base::CancelFn& cancel = {});

// Adds entry (of the bundle written at bundle_path) to the catalog file catalog_file (created
// when missing, else parsed strictly), replacing an entry of its name and kind; the entry's url
// becomes bundle_path relative to the catalog's directory when the bundle is in it or below,
// bundle_path itself otherwise. Returns the entry as written. parse_catalog's errors, io.
Expected<BundleEntry> record_in_catalog_file(const std::string& catalog_file, BundleKind kind,
                                             BundleEntry entry, const std::string& bundle_path);

// The manifest.json of the bundle at bundle_path, read without extracting anything (to learn
// a bundle's name before it is installed). The same refusals as extract_bundle for every
// entry read before it; invalid_argument when it has none.
Expected<std::string> read_bundle_manifest(BundleKind kind, const std::string& bundle_path,
                                           const std::string& bundle_name);

}  // namespace banger::catalog
