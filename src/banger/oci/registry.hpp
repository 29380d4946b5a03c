// RegistryClient: the OCI distribution API (GET manifests and blobs) over libcurl, with the
// Bearer-token and Basic flows, bounded buffers, retries where they are safe, and every blob
// checked against its digest while it streams to disk.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>

#include "banger/base/error.hpp"
#include "banger/base/progress.hpp"
#include "banger/oci/auth.hpp"
#include "banger/oci/manifest.hpp"
#include "banger/oci/reference.hpp"

namespace banger::oci {

struct RegistryOptions {
  // Plain http instead of https (loopback registries and insecure_registries; see
  // registry_scheme()).
  bool plain_http = false;
  std::optional<Credentials> credentials;  // Basic credentials, also sent to the token realm
  std::chrono::seconds connect_timeout{30};
  // A transfer that receives nothing for this long is aborted (a hanging registry).
  std::chrono::seconds stall_timeout{60};
  // Tries per request for failures that are safe to retry (429, 5xx, connection errors,
  // truncated bodies), waiting backoff, then twice as long, ... (Retry-After, up to 10 s, wins).
  int attempts = 4;
  std::chrono::milliseconds backoff{500};
  std::string user_agent = "banger";
  // A manifest, config or token answer that takes longer than this in all is aborted.
  std::chrono::seconds document_timeout{120};
};

// Whether to use http for registry host: loopback hosts and hosts listed in insecure (config
// insecure_registries) only; everything else is https.
bool registry_uses_http(std::string_view host, const std::vector<std::string>& insecure);

struct FetchedManifest {
  std::string body;
  std::string content_type;
  std::string digest;  // "sha256:..." of body (checked against the reference when pinned)
};

// Called with the bytes received so far of a blob (for progress).
using BytesFn = std::function<void(std::uint64_t done)>;

// One client per pull. Thread-safety: fetch_blob may run concurrently from several threads
// (one transfer each); the token is shared.
class RegistryClient {
 public:
  RegistryClient(Reference ref, RegistryOptions options, base::CancelFn cancel = {});

  // The manifest or index named by reference (a tag or "sha256:..."), at most
  // kMaxDocumentBytes. A reference that is a digest is verified against the body.
  // Errors: not_found (no such repository, tag or manifest), permission_denied (credentials
  // refused or missing), unavailable (network, 5xx after retries), invalid_argument (a body
  // that is too large or does not match its digest), cancelled.
  Expected<FetchedManifest> fetch_manifest(const std::string& reference);

  // A small blob (the image config) into memory, verified; errors as above.
  Expected<std::string> fetch_small_blob(const Descriptor& blob);

  // Streams blob into dest (created 0600, replaced on a retry), hashing while it writes.
  // invalid_argument `blob <digest>: ...` when the registry sends more or fewer bytes than
  // the descriptor's size or other content (dest is then removed); other errors as above.
  Status fetch_blob(const Descriptor& blob, const std::string& dest, const BytesFn& on_bytes = {});

  const Reference& reference() const { return ref_; }

 private:
  struct Response;
  struct Sink;
  struct BoundedSink;
  // One GET with authentication, retries and the registry's error mapping.
  Expected<Response> get(const std::string& url, const std::string& accept, Sink& sink,
                         std::string_view what);
  Expected<Response> perform_once(const std::string& url, const std::string& accept,
                                  const std::string& authorization, Sink& sink);
  Status authenticate(const std::string& challenge_header, std::string_view what);
  std::string authorization() const;
  std::string base_url() const;

  Reference ref_;
  RegistryOptions options_;
  base::CancelFn cancel_;
  mutable std::mutex auth_mutex_;
  std::string token_;  // "Bearer <token>" or "Basic <base64>" once a challenge was answered
};

}  // namespace banger::oci
