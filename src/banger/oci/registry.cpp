#include "banger/oci/registry.hpp"

#include <curl/curl.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <thread>

#include <nlohmann/json.hpp>

#include "banger/agentproto/base64.hpp"
#include "banger/base/expected.hpp"
#include "banger/base/fd.hpp"
#include "banger/base/strings.hpp"
#include "banger/sys/sha256.hpp"

namespace banger::oci {
namespace {

// Error bodies and token answers are read up to this many bytes (messages only need a line).
constexpr std::size_t kMaxSmallBody = 64 * 1024;
constexpr std::chrono::seconds kMaxRetryAfter{10};

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct CurlFree {
  void operator()(CURL* curl) const { curl_easy_cleanup(curl); }
};
struct SlistFree {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};

// The first message of a registry error body ({"errors":[{"code":..,"message":..}]}), else "".
std::string registry_message(std::string_view body) {
  auto doc = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object() || !doc.contains("errors") || !doc["errors"].is_array() ||
      doc["errors"].empty() || !doc["errors"][0].is_object()) {
    return {};
  }
  const auto& first = doc["errors"][0];
  std::string code = first.value("code", std::string());
  std::string message = first.value("message", std::string());
  std::string text = message.empty() ? code : message;
  if (text.size() > 200) {
    text = text.substr(0, 200) + "...";
  }
  for (char& c : text) {
    if (static_cast<unsigned char>(c) < 0x20) {
      c = ' ';
    }
  }
  return text;
}

// Sleeps for delay in small steps; false once cancel says so.
bool sleep_unless_cancelled(std::chrono::milliseconds delay, const base::CancelFn& cancel) {
  auto until = std::chrono::steady_clock::now() + delay;
  while (std::chrono::steady_clock::now() < until) {
    if (base::is_cancelled(cancel)) {
      return false;
    }
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
        std::chrono::milliseconds(50), until - std::chrono::steady_clock::now()));
  }
  return !base::is_cancelled(cancel);
}

}  // namespace

bool registry_uses_http(std::string_view host, const std::vector<std::string>& insecure) {
  return is_loopback_registry(host) ||
         std::find(insecure.begin(), insecure.end(), host) != insecure.end();
}

struct RegistryClient::Response {
  long status = 0;
  std::string content_type;
  std::string www_authenticate;
  std::string retry_after;
  std::string error_body;  // the body of a non-2xx answer, at most kMaxSmallBody bytes
  bool retryable = false;  // set on transport failures that are safe to repeat
};

struct RegistryClient::Sink {
  // Takes body bytes of a 2xx answer; returns false (after setting error) to abort.
  std::function<bool(std::string_view)> write;
  // Starts over before a retried request.
  std::function<void()> reset;
  std::optional<Error> error;
  // Whole-request limit (0 = none): manifests, configs and token answers only.
  std::chrono::seconds time_limit{0};
};

// A Sink collecting a small document into body; more than limit bytes abort the transfer with
// too_large. Not copyable: write() refers to the sink itself.
struct RegistryClient::BoundedSink : Sink {
  BoundedSink(std::string& body, std::size_t limit, Error too_large,
              std::chrono::seconds whole_time) {
    write = [this, &body, limit, too_large = std::move(too_large)](std::string_view bytes) {
      if (body.size() + bytes.size() > limit) {
        error = too_large;
        return false;
      }
      body.append(bytes);
      return true;
    };
    reset = [&body] { body.clear(); };
    time_limit = whole_time;
  }
  BoundedSink(const BoundedSink&) = delete;
  BoundedSink& operator=(const BoundedSink&) = delete;
};

RegistryClient::RegistryClient(Reference ref, RegistryOptions options, base::CancelFn cancel)
    : ref_(std::move(ref)), options_(std::move(options)), cancel_(std::move(cancel)) {
  global_init();
}

std::string RegistryClient::base_url() const {
  return fmt::format("{}://{}/v2/{}", options_.plain_http ? "http" : "https", api_host(ref_),
                     ref_.repository);
}

std::string RegistryClient::authorization() const {
  std::lock_guard lock(auth_mutex_);
  return token_;
}

namespace {

struct Transfer {
  CURL* curl = nullptr;
  RegistryClient* client = nullptr;
  std::function<bool(std::string_view)>* write = nullptr;
  std::string* error_body = nullptr;
  const base::CancelFn* cancel = nullptr;
  std::string content_type;
  std::string www_authenticate;
  std::string retry_after;
  bool error_body_cut = false;  // a non-2xx body went past kMaxSmallBody; the rest was not read
};

std::size_t on_header(char* data, std::size_t size, std::size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string_view line(data, size * count);
  if (line.substr(0, 5) == "HTTP/") {
    // A new response (after a redirect or a 100): forget the previous one's headers.
    t->content_type.clear();
    t->www_authenticate.clear();
    t->retry_after.clear();
  } else if (auto colon = line.find(':'); colon != std::string_view::npos) {
    std::string name = base::to_lower(base::trim(line.substr(0, colon)));
    std::string value(base::trim(line.substr(colon + 1)));
    if (name == "content-type") {
      t->content_type = value;
    } else if (name == "www-authenticate" && t->www_authenticate.empty()) {
      t->www_authenticate = value;
    } else if (name == "retry-after") {
      t->retry_after = value;
    }
  }
  return size * count;
}

std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  long status = 0;
  curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
  std::string_view bytes(data, size * count);
  if (status >= 200 && status < 300) {
    return (*t->write)(bytes) ? bytes.size() : 0;
  }
  std::size_t room = kMaxSmallBody - std::min(kMaxSmallBody, t->error_body->size());
  t->error_body->append(bytes.substr(0, room));
  if (bytes.size() > room) {
    // The message is in the first bytes; an error body that goes on is not read to its end
    // (it may never end).
    t->error_body_cut = true;
    return 0;
  }
  return bytes.size();
}

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* t = static_cast<Transfer*>(user);
  return base::is_cancelled(*t->cancel) ? 1 : 0;
}

}  // namespace

Expected<RegistryClient::Response> RegistryClient::perform_once(const std::string& url,
                                                                const std::string& accept,
                                                                const std::string& authorization,
                                                                Sink& sink) {
  std::unique_ptr<CURL, CurlFree> curl(curl_easy_init());
  if (!curl) {
    return fail(Errc::internal, "curl_easy_init failed");
  }
  Response response;
  Transfer transfer{.curl = curl.get(),
                    .client = this,
                    .write = &sink.write,
                    .error_body = &response.error_body,
                    .cancel = &cancel_};
  std::unique_ptr<curl_slist, SlistFree> headers;
  auto add_header = [&](const std::string& header) {
    headers.reset(curl_slist_append(headers.release(), header.c_str()));
  };
  if (!accept.empty()) {
    add_header("Accept: " + accept);
  }
  if (!authorization.empty()) {
    add_header("Authorization: " + authorization);
  }
  const char* protocols = options_.plain_http ? "http,https" : "https";
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, protocols);
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, protocols);
  // Blob downloads are redirected to storage hosts; curl never sends our Authorization
  // header to another host (CURLOPT_UNRESTRICTED_AUTH stays off).
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, static_cast<long>(options_.connect_timeout.count()));
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, static_cast<long>(options_.stall_timeout.count()));
  if (sink.time_limit.count() > 0) {
    // Documents are small: a registry that trickles one (never stalling) is cut off too.
    curl_easy_setopt(c, CURLOPT_TIMEOUT, static_cast<long>(sink.time_limit.count()));
  }
  curl_easy_setopt(c, CURLOPT_USERAGENT, options_.user_agent.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &transfer);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &transfer);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, &transfer);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  CURLcode rc = curl_easy_perform(c);
  if (rc == CURLE_WRITE_ERROR && transfer.error_body_cut) {
    rc = CURLE_OK;  // the status and the start of the error body are all we use
  }
  response.content_type = std::move(transfer.content_type);
  response.www_authenticate = std::move(transfer.www_authenticate);
  response.retry_after = std::move(transfer.retry_after);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &response.status);
  if (rc == CURLE_WRITE_ERROR && sink.error) {
    return tl::unexpected(*sink.error);
  }
  if (rc == CURLE_ABORTED_BY_CALLBACK) {
    return fail(Errc::cancelled, "pull cancelled");
  }
  if (rc != CURLE_OK) {
    Response failed;
    failed.retryable = true;
    failed.error_body =
        rc == CURLE_OPERATION_TIMEDOUT
            ? fmt::format(
                  "the registry sent nothing for {} s, or a document took longer than {} "
                  "s ({})",
                  options_.stall_timeout.count(), options_.document_timeout.count(), url)
            : fmt::format("{} ({})", curl_easy_strerror(rc), url);
    return failed;
  }
  return response;
}

Status RegistryClient::authenticate(const std::string& challenge_header, std::string_view what) {
  std::string registry = ref_.registry;
  if (challenge_header.empty()) {
    return fail(
        Errc::permission_denied,
        fmt::format("{}: registry {} refused access without saying how to log in", what, registry));
  }
  BANGER_TRY_ASSIGN(auto challenge, parse_challenge(challenge_header));
  std::string basic;
  if (options_.credentials) {
    basic = "Basic " + agentproto::base64_encode(options_.credentials->username + ":" +
                                                 options_.credentials->password);
  }
  if (challenge.scheme == "basic") {
    if (basic.empty()) {
      return fail(Errc::permission_denied,
                  fmt::format("{}: registry {} requires a login: add it to "
                              "~/.docker/config.json or pass --username and --password-stdin",
                              what, registry));
    }
    std::lock_guard lock(auth_mutex_);
    token_ = basic;
    return {};
  }
  std::string body;
  BoundedSink sink(
      body, kMaxSmallBody,
      Error{Errc::invalid_argument, "registry token answer is larger than 64 KiB", 0, {}},
      options_.document_timeout);
  std::string url = token_url(challenge, ref_.repository);
  for (int attempt = 1;; ++attempt) {
    sink.reset();
    BANGER_TRY_ASSIGN(auto response, perform_once(url, "", basic, sink));
    bool transient = response.retryable || response.status == 429 || response.status >= 500;
    if (transient && attempt < options_.attempts) {
      if (!sleep_unless_cancelled(options_.backoff * (1 << (attempt - 1)), cancel_)) {
        return fail(Errc::cancelled, "pull cancelled");
      }
      continue;
    }
    if (response.retryable) {
      return fail(Errc::unavailable,
                  fmt::format("{}: cannot reach token service: {}", what, response.error_body));
    }
    if (response.status == 401 || response.status == 403) {
      return fail(Errc::permission_denied,
                  fmt::format("{}: registry {} refused the credentials{}", what, registry,
                              basic.empty() ? " (none were given)" : ""));
    }
    if (response.status < 200 || response.status >= 300) {
      return fail(Errc::unavailable,
                  fmt::format("{}: token service answered HTTP {}", what, response.status));
    }
    break;
  }
  auto token = parse_token_response(body);
  if (!token) {
    return tl::unexpected(with_context(
        token.error(), fmt::format("{}: token service of registry {}", what, registry)));
  }
  std::lock_guard lock(auth_mutex_);
  token_ = "Bearer " + *token;
  return {};
}

Expected<RegistryClient::Response> RegistryClient::get(const std::string& url,
                                                       const std::string& accept, Sink& sink,
                                                       std::string_view what) {
  bool authenticated = false;
  for (int attempt = 1;; ++attempt) {
    if (base::is_cancelled(cancel_)) {
      return fail(Errc::cancelled, "pull cancelled");
    }
    if (attempt > 1) {
      sink.reset();
    }
    BANGER_TRY_ASSIGN(auto response, perform_once(url, accept, authorization(), sink));
    if (response.status == 401 && !authenticated && !response.retryable) {
      BANGER_TRY(authenticate(response.www_authenticate, what));
      authenticated = true;
      --attempt;  // the authenticated request is not a retry
      continue;
    }
    bool transient = response.retryable || response.status == 429 || response.status >= 500;
    if (transient && attempt < options_.attempts) {
      auto delay = options_.backoff * (1 << (attempt - 1));
      if (int seconds = 0; !response.retry_after.empty() &&
                           std::sscanf(response.retry_after.c_str(), "%d", &seconds) == 1 &&
                           seconds >= 0) {
        delay = std::min<std::chrono::milliseconds>(std::chrono::seconds(seconds), kMaxRetryAfter);
      }
      if (!sleep_unless_cancelled(delay, cancel_)) {
        return fail(Errc::cancelled, "pull cancelled");
      }
      continue;
    }
    if (response.retryable) {
      return fail(Errc::unavailable,
                  fmt::format("{}: {} (after {} attempts)", what, response.error_body, attempt));
    }
    if (response.status >= 200 && response.status < 300) {
      return response;
    }
    std::string message = registry_message(response.error_body);
    std::string detail = message.empty() ? "" : ": " + message;
    switch (response.status) {
      case 401:
      case 403:
        if (options_.credentials) {
          return fail(
              Errc::permission_denied,
              fmt::format("{}: registry {} refused the credentials for {}/{} (HTTP {}{})", what,
                          ref_.registry, ref_.registry, ref_.repository, response.status, detail));
        }
        return fail(Errc::permission_denied,
                    fmt::format("{}: access denied by registry {} (HTTP {}{}); the repository may "
                                "not exist, or needs credentials in ~/.docker/config.json or "
                                "--username/--password-stdin",
                                what, ref_.registry, response.status, detail));
      case 404:
        return fail(Errc::not_found, fmt::format("{}: not found in {}/{}{}", what, ref_.registry,
                                                 ref_.repository, detail));
      case 429:
        return fail(Errc::unavailable,
                    fmt::format("{}: registry {} is rate limiting pulls (HTTP 429{}); try again "
                                "later",
                                what, ref_.registry, detail));
      default:
        return fail(Errc::unavailable,
                    fmt::format("{}: registry {} answered HTTP {}{}{}", what, ref_.registry,
                                response.status, detail,
                                attempt > 1 ? fmt::format(" (after {} attempts)", attempt) : ""));
    }
  }
}

Expected<FetchedManifest> RegistryClient::fetch_manifest(const std::string& reference) {
  std::string what = fmt::format("manifest {}", to_string(ref_));
  if (reference != ref_.tag && reference != ref_.digest) {
    what = fmt::format("manifest {}@{}", ref_.registry + "/" + ref_.repository, reference);
  }
  FetchedManifest fetched;
  BoundedSink sink(fetched.body, kMaxDocumentBytes,
                   Error{Errc::invalid_argument,
                         fmt::format("{}: larger than {} bytes; refused", what, kMaxDocumentBytes),
                         0,
                         {}},
                   options_.document_timeout);
  BANGER_TRY_ASSIGN(auto response, get(base_url() + "/manifests/" + reference,
                                       manifest_accept_header(), sink, what));
  fetched.content_type = response.content_type;
  fetched.digest = "sha256:" + sys::sha256_hex(fetched.body);
  if (is_sha256_digest(reference) && fetched.digest != reference) {
    return fail(
        Errc::invalid_argument,
        fmt::format("{}: registry sent a manifest whose digest is {}", what, fetched.digest));
  }
  return fetched;
}

Expected<std::string> RegistryClient::fetch_small_blob(const Descriptor& blob) {
  std::string what = fmt::format("blob {}", blob.digest);
  if (blob.size > kMaxDocumentBytes) {
    return fail(Errc::invalid_argument,
                fmt::format("{}: {} bytes is more than the {} a config may have", what, blob.size,
                            kMaxDocumentBytes));
  }
  std::string body;
  BoundedSink sink(
      body, blob.size,
      Error{Errc::invalid_argument,
            fmt::format("{}: registry sent more than the {} bytes the manifest declares", what,
                        blob.size),
            0,
            {}},
      options_.document_timeout);
  BANGER_TRY(get(base_url() + "/blobs/" + blob.digest, "", sink, what));
  if (body.size() != blob.size) {
    return fail(Errc::invalid_argument,
                fmt::format("{}: registry sent {} bytes, the manifest declares {}", what,
                            body.size(), blob.size));
  }
  if ("sha256:" + sys::sha256_hex(body) != blob.digest) {
    return fail(Errc::invalid_argument, fmt::format("{}: content does not match its digest", what));
  }
  return body;
}

Status RegistryClient::fetch_blob(const Descriptor& blob, const std::string& dest,
                                  const BytesFn& on_bytes) {
  std::string what = fmt::format("blob {}", blob.digest);
  base::UniqueFd fd(::open(dest.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!fd) {
    return fail_errno(fmt::format("{}: creating {}", what, dest), errno);
  }
  sys::Sha256Stream hash;
  std::uint64_t received = 0;
  Sink sink;
  sink.write = [&](std::string_view bytes) {
    if (received + bytes.size() > blob.size) {
      sink.error = Error{Errc::invalid_argument,
                         fmt::format("{}: registry sent more than the {} bytes the manifest "
                                     "declares",
                                     what, blob.size),
                         0,
                         {}};
      return false;
    }
    std::size_t done = 0;
    while (done < bytes.size()) {
      ssize_t n = ::write(fd.get(), bytes.data() + done, bytes.size() - done);
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n <= 0) {
        sink.error = Error{Errc::io,
                           fmt::format("{}: writing {}: {}", what, dest, std::strerror(errno)),
                           errno,
                           {}};
        return false;
      }
      done += static_cast<std::size_t>(n);
    }
    hash.update(bytes);
    received += bytes.size();
    if (on_bytes) {
      on_bytes(received);
    }
    return true;
  };
  sink.reset = [&] {
    hash = sys::Sha256Stream();
    received = 0;
    (void)::ftruncate(fd.get(), 0);
    (void)::lseek(fd.get(), 0, SEEK_SET);
  };
  auto fetched = get(base_url() + "/blobs/" + blob.digest, "", sink, what);
  Status result;
  if (!fetched) {
    result = tl::unexpected(fetched.error());
  } else if (received != blob.size) {
    result = fail(Errc::invalid_argument,
                  fmt::format("{}: registry sent {} bytes, the manifest declares {}", what,
                              received, blob.size));
  } else if (std::string got = "sha256:" + hash.finish_hex(); got != blob.digest) {
    result = fail(Errc::invalid_argument,
                  fmt::format("{}: content does not match its digest (got {})", what, got));
  } else if (::fsync(fd.get()) != 0) {
    result = fail_errno(fmt::format("{}: syncing {}", what, dest), errno);
  }
  if (!result) {
    ::unlink(dest.c_str());
  }
  return result;
}

}  // namespace banger::oci
