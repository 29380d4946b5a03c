#include "banger/vmm/firecracker/api_client.hpp"

#include <curl/curl.h>
#include <fmt/format.h>

#include <mutex>

#include "banger/base/expected.hpp"
#include "banger/base/printable.hpp"
#include "banger/posix/unix_socket.hpp"

namespace banger::vmm::firecracker {
namespace {

constexpr std::size_t kMaxBody = 64 * 1024;

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user) {
  auto* body = static_cast<std::string*>(user);
  std::size_t room = kMaxBody - std::min(kMaxBody, body->size());
  body->append(data, std::min(room, size * count));
  return size * count;
}

// Firecracker's {"fault_message": "..."} of an error body, else the body itself (bounded).
std::string fault_of(const std::string& body) {
  auto doc = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_object() && doc.contains("fault_message") && doc["fault_message"].is_string()) {
    return base::printable(doc["fault_message"].get<std::string>(), 500);
  }
  return body.empty() ? "no message" : base::printable(body, 500);
}

}  // namespace

struct ApiClient::Curl {
  CURL* handle = nullptr;
  ~Curl() {
    if (handle != nullptr) {
      curl_easy_cleanup(handle);
    }
  }
};

ApiClient::ApiClient(std::string socket_path, std::chrono::milliseconds timeout)
    : socket_path_(std::move(socket_path)), timeout_(timeout), curl_(std::make_unique<Curl>()) {
  global_init();
  curl_->handle = curl_easy_init();
}

ApiClient::ApiClient(ApiClient&&) noexcept = default;
ApiClient& ApiClient::operator=(ApiClient&&) noexcept = default;
ApiClient::~ApiClient() = default;

Expected<std::pair<long, std::string>> ApiClient::perform(const std::string& method,
                                                          const std::string& path,
                                                          const std::string& body) {
  CURL* c = curl_->handle;
  if (c == nullptr) {
    return fail(Errc::internal, "curl_easy_init failed");
  }
  std::string url = "http://localhost" + path;
  std::string answer;
  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, "Content-Type: application/json");
  headers = curl_slist_append(headers, "Accept: application/json");
  // Pinned (posix::open_socket_pinned): under the jailer the socket is in the jail, which the
  // jailed Firecracker owns; a link put in its place is refused, never followed.
  auto socket = posix::open_socket_pinned(socket_path_);
  if (!socket) {
    curl_slist_free_all(headers);
    return fail(Errc::unavailable, fmt::format("firecracker API {}: {} {}: {}", socket_path_,
                                               method, path, socket.error().message()));
  }
  const std::string pinned = posix::socket_fd_path(socket->get());
  curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, pinned.c_str());
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http");
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_.count()));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(timeout_.count()));
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &answer);
  if (method == "GET") {
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
  } else {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  }
  CURLcode rc = curl_easy_perform(c);
  curl_slist_free_all(headers);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, nullptr);
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, nullptr);
  if (rc != CURLE_OK) {
    return fail(Errc::unavailable, fmt::format("firecracker API {}: {} {}: {}", socket_path_,
                                               method, path, curl_easy_strerror(rc)));
  }
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  return std::pair{status, std::move(answer)};
}

Status ApiClient::send(const ApiRequest& request) {
  BANGER_TRY_ASSIGN(auto answer, perform(request.method, request.path, request.body.dump()));
  auto [status, body] = std::move(answer);
  if (status >= 200 && status < 300) {
    return {};
  }
  Errc code = status < 500 ? Errc::failed_precondition : Errc::command_failed;
  return fail(code, fmt::format("firecracker refused {} {}: {}", request.method, request.path,
                                fault_of(body)));
}

Expected<nlohmann::json> ApiClient::instance_info() {
  BANGER_TRY_ASSIGN(auto answer, perform("GET", "/", ""));
  auto [status, body] = std::move(answer);
  if (status != 200) {
    return fail(status < 500 ? Errc::failed_precondition : Errc::command_failed,
                fmt::format("firecracker refused GET /: {}", fault_of(body)));
  }
  auto doc = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) {
    return fail(Errc::command_failed, "firecracker GET /: not a JSON object");
  }
  return doc;
}

}  // namespace banger::vmm::firecracker
