// The CLI's side of the protocol: one connection to bangerd, typed calls with streamed events.
#pragma once

#include <fmt/format.h>
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>

#include <nlohmann/json.hpp>

#include "banger/api/json_codec.hpp"
#include "banger/api/protocol.hpp"
#include "banger/base/error.hpp"
#include "banger/base/fd.hpp"
#include "banger/rpc/frame.hpp"

namespace banger::rpc {

// One connection; calls on it run one after the other. Not thread-safe; movable.
class Client {
 public:
  using EventCallback = std::function<void(const api::Event&)>;

  // Connects to the daemon's socket and checks who listens there before anything is sent
  // (security review H2): the peer's SO_PEERCRED uid must be trusted_uid or 0, otherwise the
  // socket belongs to another user (a squatted runtime dir) whose answers would reach ssh argv
  // and ~/.ssh/config. Errors: unavailable when nothing listens there (ENOENT, ECONNREFUSED; the
  // message names the socket path), permission_denied (EACCES, EPERM, or a peer of another uid:
  // the message names the socket and the peer's uid), invalid_argument (path too long), io
  // otherwise.
  static Expected<Client> connect(const std::string& socket_path, uid_t trusted_uid);
  // connect(socket_path, getuid()).
  static Expected<Client> connect(const std::string& socket_path);

  // Calls method M: sends one request, passes each event line to on_event (when set) and
  // returns the decoded result. A daemon error reply comes back with its code mapped from the
  // wire (api::errc_from_wire), its message and op_id. Errors of the call itself: unavailable
  // when the connection breaks or closes before the reply, internal when the daemon sends a
  // malformed line or a result that does not decode as M::Response.
  template <class M>
  Expected<typename M::Response> call(const typename M::Request& request,
                                      const EventCallback& on_event = {});

  // call() with untyped params and result.
  Expected<nlohmann::json> call_raw(std::string_view method, const nlohmann::json& params,
                                    const EventCallback& on_event = {});

  // call() of a method whose reply carries a descriptor (CallContext::attach_fd on the daemon
  // side; `vm.stream`). internal when the reply came without exactly one descriptor.
  template <class M>
  Expected<std::pair<typename M::Response, base::UniqueFd>> call_with_fd(
      const typename M::Request& request, const EventCallback& on_event = {});

  const std::string& socket_path() const { return socket_path_; }

 private:
  Client(base::UniqueFd fd, std::string socket_path);

  base::UniqueFd fd_;
  std::string socket_path_;
  LineReader reader_;
  std::int64_t next_id_ = 1;
};

// --- Inline implementations ---

template <class M>
Expected<typename M::Response> Client::call(const typename M::Request& request,
                                            const EventCallback& on_event) {
  auto result = call_raw(M::kMethod, api::to_json_value(request), on_event);
  if (!result) {
    return tl::unexpected(std::move(result).error());
  }
  auto response = api::from_json_value<typename M::Response>(*result, "result");
  if (!response) {
    Error error =
        with_context(response.error(), "decoding the reply to " + std::string(M::kMethod));
    error.code = Errc::internal;
    return tl::unexpected(std::move(error));
  }
  return response;
}

template <class M>
Expected<std::pair<typename M::Response, base::UniqueFd>> Client::call_with_fd(
    const typename M::Request& request, const EventCallback& on_event) {
  reader_.take_passed_fds();  // nothing stale may pass for this call's descriptor
  auto response = call<M>(request, on_event);
  auto passed = reader_.take_passed_fds();
  if (!response) {
    return tl::unexpected(std::move(response).error());
  }
  if (passed.size() != 1) {
    return fail(Errc::internal, fmt::format("the reply to {} carried {} descriptors instead of 1",
                                            M::kMethod, passed.size()));
  }
  return std::pair{std::move(*response), std::move(passed[0])};
}

}  // namespace banger::rpc
