// BlobCache: verified OCI blobs by digest under the cache dir (S3: oci/blobs/sha256/<hex>),
// shared by every pull, so a second pull of an image, or of one sharing layers, downloads
// nothing it already has.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "banger/base/error.hpp"
#include "banger/oci/manifest.hpp"
#include "banger/oci/registry.hpp"

namespace banger::oci {

struct CachedBlob {
  std::string digest;  // "sha256:..."
  std::uint64_t size = 0;
  std::int64_t mtime = 0;  // unix seconds: when it was downloaded
};

// Files are only ever complete and verified: a download streams into
// "<hex>.partial-XXXXXX" beside its final name and is renamed over it once its size and
// digest were checked, so a crash or Ctrl-C leaves at worst a partial file (removed by
// remove_partials() and never read). A blob present under its final name is trusted when its
// size matches (the directory is the daemon's, 0700); concurrent pulls of one blob may both
// download it, and the second rename replaces identical content.
// Thread-safety: every method may be called concurrently.
class BlobCache {
 public:
  explicit BlobCache(std::string dir) : dir_(std::move(dir)) {}

  const std::string& dir() const { return dir_; }
  // Where blob digest lives (it may not exist).
  std::string path_of(const std::string& digest) const;
  // Whether the blob is cached with the descriptor's size.
  bool has(const Descriptor& blob) const;
  // Downloads blob unless it is cached; returns its path. Errors from the client; io when the
  // cache directory cannot be created or written.
  Expected<std::string> fetch(RegistryClient& client, const Descriptor& blob,
                              const BytesFn& on_bytes = {});
  // Every cached blob, by digest. io when the directory cannot be read (a missing one is
  // empty).
  Expected<std::vector<CachedBlob>> list() const;
  // Removes the blobs not in keep (digests) and returns what was (or, with dry_run, would be)
  // removed.
  Expected<std::vector<CachedBlob>> prune(const std::set<std::string>& keep, bool dry_run);
  // Removes leftover partial downloads (daemon start); returns how many.
  std::size_t remove_partials();

 private:
  Status ensure_dir() const;
  std::string dir_;
};

}  // namespace banger::oci
