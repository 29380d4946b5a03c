// Fetching catalogs and bundles from where catalog_url points: a local file (an absolute
// path or file:///path), https://, or http:// on a loopback host (a catalog over plain http
// could be rewritten on the way; the bundles' sha256 come from it). Documents are bounded,
// files are hashed while they are written, every transfer can be cancelled and stalls end.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "banger/base/error.hpp"
#include "banger/base/progress.hpp"
#include "banger/catalog/catalog.hpp"

namespace banger::catalog {

enum class LocationKind { file, http };

struct Location {
  LocationKind kind = LocationKind::file;
  std::string target;  // file: the absolute path; http: the URL
};

// Classifies location. invalid_argument, naming it, for a relative path, an unknown scheme,
// a file:// URL with a host, or http:// to a host that is not loopback ("use https://").
Expected<Location> parse_location(std::string_view location);

struct FetchOptions {
  std::chrono::seconds connect_timeout{30};
  // A transfer that receives nothing for this long is aborted (a hanging server).
  std::chrono::seconds stall_timeout{60};
  // A document (not a file) that takes longer than this in all is aborted (a trickling server).
  std::chrono::seconds document_timeout{120};
};

// The document at location, at most limit bytes. Errors name the location: not_found (a
// missing file, HTTP 404/410), permission_denied (HTTP 401/403, an unreadable file),
// invalid_argument (larger than limit, a bad location), unavailable (network errors, other
// HTTP statuses, stalls and timeouts), cancelled.
Expected<std::string> fetch_document(std::string_view location, std::size_t limit,
                                     const FetchOptions& options = {},
                                     const base::CancelFn& cancel = {});

// Called with the bytes written so far.
using BytesFn = std::function<void(std::uint64_t done)>;

// Copies the file at location into dest (created exclusively, 0600), hashing while it writes.
// invalid_argument `bundle <location>: ...` when it is longer or shorter than expected_size or
// its sha256 is not expected_sha256; other errors as fetch_document. dest is removed on every
// failure.
Status fetch_file(std::string_view location, const std::string& dest, std::uint64_t expected_size,
                  std::string_view expected_sha256, const BytesFn& on_bytes = {},
                  const FetchOptions& options = {}, const base::CancelFn& cancel = {});

// The catalog at location (config catalog_url), parsed, with every bundle url resolved to a
// location (resolve_location). Errors of fetch_document and parse_catalog; a url that does
// not resolve is invalid_argument naming the catalog and the entry.
Expected<Catalog> load_catalog(std::string_view location, const FetchOptions& options = {},
                               const base::CancelFn& cancel = {});

// Downloads entry's bundle into a new file in dir ("bundle-<name>-XXXXXX.tar.zst", 0600),
// verified against the entry's size and sha256 while it streams, reporting stage "download" in
// bytes. Returns the file's path; the caller removes it. Errors of fetch_file.
Expected<std::string> download_bundle(const BundleEntry& entry, const std::string& dir,
                                      const base::ProgressFn& progress = {},
                                      const base::CancelFn& cancel = {},
                                      const FetchOptions& options = {});

}  // namespace banger::catalog
