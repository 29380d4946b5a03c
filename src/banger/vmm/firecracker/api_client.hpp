// ApiClient: Firecracker's HTTP API on its unix socket (libcurl, CURLOPT_UNIX_SOCKET_PATH),
// one connection per client, reused across requests. Errors carry Firecracker's
// fault_message.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "banger/base/error.hpp"
#include "banger/vmm/firecracker/api_requests.hpp"

namespace banger::vmm::firecracker {

class ApiClient {
 public:
  // socket_path: the --api-sock of one Firecracker process. timeout bounds each request.
  ApiClient(std::string socket_path, std::chrono::milliseconds timeout);
  ApiClient(ApiClient&&) noexcept;
  ApiClient& operator=(ApiClient&&) noexcept;
  ~ApiClient();

  // Sends request (a PUT with a JSON body). Ok on 2xx. Errors: unavailable when the socket
  // does not answer (missing, refused, no HTTP reply in time), failed_precondition with
  // `firecracker refused PUT /path: <fault_message>` for a 4xx, command_failed for 5xx.
  Status send(const ApiRequest& request);

  // GET / (the instance information: {"id", "state": "Not started"|"Running"|"Paused", ...}).
  // Errors as send().
  Expected<nlohmann::json> instance_info();

 private:
  struct Curl;
  // One request; the status and the body (at most 64 KiB kept).
  Expected<std::pair<long, std::string>> perform(const std::string& method, const std::string& path,
                                                 const std::string& body);

  std::string socket_path_;
  std::chrono::milliseconds timeout_;
  std::unique_ptr<Curl> curl_;
};

}  // namespace banger::vmm::firecracker
