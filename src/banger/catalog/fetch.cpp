#include "banger/catalog/fetch.hpp"

#include <curl/curl.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>

#include "banger/base/expected.hpp"
#include "banger/base/fd.hpp"
#include "banger/base/printable.hpp"
#include "banger/base/strings.hpp"
#include "banger/sys/sha256.hpp"

namespace banger::catalog {
namespace {

constexpr std::size_t kChunk = 1 << 20;

struct CurlFree {
  void operator()(CURL* curl) const { curl_easy_cleanup(curl); }
};
struct UrlFree {
  void operator()(CURLU* url) const { curl_url_cleanup(url); }
};
struct CurlText {
  char* text = nullptr;
  ~CurlText() { curl_free(text); }
};

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

bool is_loopback_host(std::string_view host) {
  std::string lower = base::to_lower(host);
  return lower == "localhost" || lower == "[::1]" || lower == "::1" || lower.starts_with("127.");
}

// Receives the bytes of a transfer; returns false (having set error) to stop it.
struct Sink {
  std::function<bool(std::string_view)> write;
  std::optional<Error> error;
  bool whole_time_limit = false;  // documents: FetchOptions::document_timeout applies
};

Error located(Errc code, std::string_view location, std::string_view what) {
  return Error{code, fmt::format("{}: {}", base::printable(location, 200), what)};
}

Status read_file_into(const std::string& path, std::string_view location, Sink& sink,
                      const base::CancelFn& cancel) {
  base::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    int err = errno;
    Errc code = err == ENOENT   ? Errc::not_found
                : err == EACCES ? Errc::permission_denied
                                : Errc::io;
    return tl::unexpected(located(code, location, std::strerror(err)));
  }
  std::string buffer(kChunk, '\0');
  for (;;) {
    if (base::is_cancelled(cancel)) {
      return fail(Errc::cancelled, "cancelled");
    }
    ssize_t n = ::read(fd.get(), buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      return tl::unexpected(located(Errc::io, location, std::strerror(errno)));
    }
    if (n == 0) {
      return {};
    }
    if (!sink.write(std::string_view(buffer.data(), static_cast<std::size_t>(n)))) {
      return tl::unexpected(*sink.error);
    }
  }
}

struct HttpTransfer {
  Sink* sink = nullptr;
  const base::CancelFn* cancel = nullptr;
  CURL* curl = nullptr;
  bool refused_status = false;  // a non-2xx body arrived: it is not read
};

std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user) {
  auto* t = static_cast<HttpTransfer*>(user);
  long status = 0;
  curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
  if (status < 200 || status >= 300) {
    t->refused_status = true;
    return 0;
  }
  return t->sink->write(std::string_view(data, size * count)) ? size * count : 0;
}

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* t = static_cast<HttpTransfer*>(user);
  return base::is_cancelled(*t->cancel) ? 1 : 0;
}

Error status_error(long status, std::string_view url) {
  std::string what = fmt::format("HTTP {}", status);
  if (status == 404 || status == 410) {
    return located(Errc::not_found, url, what);
  }
  if (status == 401 || status == 403) {
    return located(Errc::permission_denied, url, what);
  }
  return located(Errc::unavailable, url, what);
}

Status http_get_into(const std::string& url, Sink& sink, const FetchOptions& options,
                     const base::CancelFn& cancel) {
  global_init();
  std::unique_ptr<CURL, CurlFree> curl(curl_easy_init());
  if (!curl) {
    return fail(Errc::internal, "curl_easy_init failed");
  }
  HttpTransfer transfer{.sink = &sink, .cancel = &cancel, .curl = curl.get()};
  CURL* c = curl.get();
  // https locations may only be redirected to https; loopback http ones stay on loopback
  // only by the redirect limit below, and never reach another scheme.
  const char* protocols = url.starts_with("https://") ? "https" : "http,https";
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, protocols);
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, static_cast<long>(options.connect_timeout.count()));
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, static_cast<long>(options.stall_timeout.count()));
  if (sink.whole_time_limit) {
    curl_easy_setopt(c, CURLOPT_TIMEOUT, static_cast<long>(options.document_timeout.count()));
  }
  curl_easy_setopt(c, CURLOPT_USERAGENT, "banger");
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &transfer);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, &transfer);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  CURLcode rc = curl_easy_perform(c);
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  if (sink.error) {
    return tl::unexpected(*sink.error);
  }
  if (transfer.refused_status || (rc == CURLE_OK && (status < 200 || status >= 300))) {
    return tl::unexpected(status_error(status, url));
  }
  if (rc == CURLE_ABORTED_BY_CALLBACK && base::is_cancelled(cancel)) {
    return fail(Errc::cancelled, "cancelled");
  }
  if (rc != CURLE_OK) {
    return tl::unexpected(located(Errc::unavailable, url, curl_easy_strerror(rc)));
  }
  return {};
}

Status get_into(std::string_view location, Sink& sink, const FetchOptions& options,
                const base::CancelFn& cancel) {
  BANGER_TRY_ASSIGN(auto where, parse_location(location));
  if (where.kind == LocationKind::file) {
    return read_file_into(where.target, location, sink, cancel);
  }
  return http_get_into(where.target, sink, options, cancel);
}

}  // namespace

Expected<Location> parse_location(std::string_view location) {
  auto bad = [location](std::string_view why) {
    return fail(Errc::invalid_argument,
                fmt::format("\"{}\": {}", base::printable(location, 200), why));
  };
  if (location.starts_with('/')) {
    return Location{.kind = LocationKind::file, .target = std::string(location)};
  }
  if (location.starts_with("file://")) {
    std::string_view path = location.substr(7);
    if (!path.starts_with('/')) {
      return bad(
          "a file:// location needs an absolute path and no host (file:///srv/catalog.json)");
    }
    return Location{.kind = LocationKind::file, .target = std::string(path)};
  }
  global_init();
  std::unique_ptr<CURLU, UrlFree> url(curl_url());
  std::string text(location);
  if (!url || curl_url_set(url.get(), CURLUPART_URL, text.c_str(), 0) != CURLUE_OK) {
    return bad("not an absolute path, file:// or http(s):// location");
  }
  CurlText scheme;
  CurlText host;
  curl_url_get(url.get(), CURLUPART_SCHEME, &scheme.text, 0);
  curl_url_get(url.get(), CURLUPART_HOST, &host.text, 0);
  std::string scheme_name = scheme.text ? base::to_lower(scheme.text) : "";
  if (scheme_name == "https") {
    return Location{.kind = LocationKind::http, .target = text};
  }
  if (scheme_name == "http") {
    if (host.text && is_loopback_host(host.text)) {
      return Location{.kind = LocationKind::http, .target = text};
    }
    return bad(
        "http:// is only used for loopback hosts: use https:// (bundle checksums come "
        "from the catalog, so it must not be rewritable on the way)");
  }
  return bad("not an absolute path, file:// or http(s):// location");
}

Expected<std::string> fetch_document(std::string_view location, std::size_t limit,
                                     const FetchOptions& options, const base::CancelFn& cancel) {
  std::string body;
  Sink sink;
  sink.whole_time_limit = true;
  sink.write = [&](std::string_view bytes) {
    if (body.size() + bytes.size() > limit) {
      sink.error =
          located(Errc::invalid_argument, location, fmt::format("larger than {} bytes", limit));
      return false;
    }
    body.append(bytes);
    return true;
  };
  BANGER_TRY(get_into(location, sink, options, cancel));
  return body;
}

Status fetch_file(std::string_view location, const std::string& dest, std::uint64_t expected_size,
                  std::string_view expected_sha256, const BytesFn& on_bytes,
                  const FetchOptions& options, const base::CancelFn& cancel) {
  base::UniqueFd out(::open(dest.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!out) {
    return fail_errno("creating " + dest, errno);
  }
  sys::Sha256Stream hash;
  std::uint64_t written = 0;
  Sink sink;
  std::string what = fmt::format("bundle {}", base::printable(location, 200));
  sink.write = [&](std::string_view bytes) {
    if (written + bytes.size() > expected_size) {
      sink.error =
          Error{Errc::invalid_argument,
                fmt::format("{}: longer than the {} bytes the catalog says", what, expected_size)};
      return false;
    }
    for (std::string_view rest = bytes; !rest.empty();) {
      ssize_t n = ::write(out.get(), rest.data(), rest.size());
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n < 0) {
        sink.error = Error{Errc::io, fmt::format("writing {}: {}", dest, std::strerror(errno))};
        return false;
      }
      rest.remove_prefix(static_cast<std::size_t>(n));
    }
    hash.update(bytes);
    written += bytes.size();
    if (on_bytes) {
      on_bytes(written);
    }
    return true;
  };
  Status done = get_into(location, sink, options, cancel);
  if (done && written != expected_size) {
    done =
        fail(Errc::invalid_argument, fmt::format("{}: {} bytes, the catalog says {} (truncated?)",
                                                 what, written, expected_size));
  }
  if (done) {
    if (std::string got = hash.finish_hex(); got != expected_sha256) {
      done = fail(Errc::invalid_argument,
                  fmt::format("{}: sha256 is {}, the catalog says {}", what, got, expected_sha256));
    }
  }
  if (done && ::fsync(out.get()) != 0) {
    done = fail_errno("syncing " + dest, errno);
  }
  if (!done) {
    ::unlink(dest.c_str());
  }
  return done;
}

Expected<Catalog> load_catalog(std::string_view location, const FetchOptions& options,
                               const base::CancelFn& cancel) {
  BANGER_TRY_ASSIGN(auto text, fetch_document(location, kMaxCatalogBytes, options, cancel));
  BANGER_TRY_ASSIGN(auto catalog, parse_catalog(text, location));
  for (BundleKind kind : {BundleKind::image, BundleKind::kernel}) {
    for (auto& entry : catalog.of(kind)) {
      auto resolved = resolve_location(location, entry.url);
      if (!resolved) {
        return fail(Errc::invalid_argument,
                    fmt::format("catalog {}: {} {}: {}", base::printable(location, 200),
                                to_string(kind), entry.name, resolved.error().message));
      }
      entry.url = std::move(*resolved);
    }
  }
  return catalog;
}

Expected<std::string> download_bundle(const BundleEntry& entry, const std::string& dir,
                                      const base::ProgressFn& progress,
                                      const base::CancelFn& cancel, const FetchOptions& options) {
  std::string path = dir + "/bundle-" + entry.name + "-XXXXXX.tar.zst";
  int fd = ::mkstemps(path.data(), 8);
  if (fd < 0) {
    return fail_errno("creating a download file in " + dir, errno);
  }
  ::close(fd);
  ::unlink(path.c_str());  // fetch_file creates it exclusively; the name stays ours
  std::string message =
      fmt::format("downloading {} ({} MiB)", base::printable(entry.url, 200), entry.size >> 20);
  base::report(progress,
               {"download", message, 0, static_cast<std::int64_t>(entry.size), "", base::kBytes});
  std::uint64_t reported = 0;
  auto on_bytes = [&](std::uint64_t done) {
    if (done - reported >= (8U << 20) || done == entry.size) {
      reported = done;
      base::report(progress, {"download", message, static_cast<std::int64_t>(done),
                              static_cast<std::int64_t>(entry.size), "", base::kBytes});
    }
  };
  BANGER_TRY(fetch_file(entry.url, path, entry.size, entry.sha256, on_bytes, options, cancel));
  return path;
}

}  // namespace banger::catalog
