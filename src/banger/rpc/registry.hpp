// Method registry and dispatcher: turns one request line into one reply line. This is the only
// place where an Error becomes a wire error, and it holds the last-resort exception catch.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "banger/api/json_codec.hpp"
#include "banger/api/protocol.hpp"
#include "banger/base/assert.hpp"
#include "banger/base/error.hpp"
#include "banger/base/expected.hpp"
#include "banger/base/fd.hpp"
#include "banger/base/random.hpp"

namespace banger::rpc {

// What a handler knows about the call it serves. Created by the server for each request;
// Registry::dispatch fills in the request id and op id.
// Thread-safety: emit() and cancelled() may be called from any thread while the call runs.
class CallContext {
 public:
  // Receives each event line (without '\n') the handler emits.
  using LineSink = std::function<void(const std::string& line)>;

  explicit CallContext(uid_t peer_uid, LineSink sink = {});
  CallContext(const CallContext&) = delete;
  CallContext& operator=(const CallContext&) = delete;

  // "op-3f9a1c": also in every log line the call causes and in its error reply.
  const std::string& op_id() const { return op_id_; }
  std::int64_t request_id() const { return request_id_; }
  uid_t peer_uid() const { return peer_uid_; }

  // Sends a progress line `{"id":N,"event":{...}}` for this request before its reply. A client
  // that went away is not an error here; the handler learns it from cancelled().
  void emit(const api::Event& event);

  // True once the client has hung up: the handler should stop and roll back what it created.
  bool cancelled() const { return cancelled_.load(); }
  // Marks the call cancelled (the server does this when the peer hangs up).
  void cancel() { cancelled_.store(true); }

  // Attaches a descriptor to the call's successful reply: the server passes it to the client
  // with SCM_RIGHTS on the reply line's first byte (`vm.stream` hands the CLI a connected agent
  // stream channel this way, ADR 0009). Dropped (closed) when the call fails.
  void attach_fd(base::UniqueFd fd) { attached_fd_ = std::move(fd); }
  // The attached descriptor, handed over (invalid when there is none).
  base::UniqueFd take_attached_fd() { return std::move(attached_fd_); }

  // Keeps resource alive until the client's connection closes, whether this call succeeds or
  // not: what the passed descriptor stands for (the stream channel's lease) stays taken while
  // the client uses it, and is released when it hangs up, however it ends.
  void keep_until_hangup(std::shared_ptr<void> resource) { kept_.push_back(std::move(resource)); }
  // What keep_until_hangup() collected, handed over to the connection.
  std::vector<std::shared_ptr<void>> take_kept() { return std::exchange(kept_, {}); }

 private:
  friend class Registry;
  uid_t peer_uid_;
  LineSink sink_;
  std::string op_id_;
  std::int64_t request_id_ = 0;
  std::atomic<bool> cancelled_{false};
  base::UniqueFd attached_fd_;
  std::vector<std::shared_ptr<void>> kept_;
};

// A fresh op id: "op-" followed by 6 lowercase hex characters.
std::string make_op_id(base::Random& random);

// Maps method names to typed handlers.
// Thread-safety: add() before serving; dispatch() and methods() may then run concurrently.
class Registry {
 public:
  template <class M>
  using Handler =
      std::function<Expected<typename M::Response>(const typename M::Request&, CallContext&)>;

  explicit Registry(base::Random& random) : random_(random) {}

  // Registers the handler of method M (M::kMethod, M::Request, M::Response). Registering the
  // same method twice is a programming error (asserts).
  template <class M>
  void add(Handler<M> handler);

  // Registered method names, sorted.
  std::vector<std::string> methods() const;

  // Serves one request line and returns the reply line (without '\n'): parses and validates
  // the request, finds the method, decodes params strictly, runs the handler and encodes its
  // result. Never fails: every problem becomes an error reply with the wire code from
  // api/errors.hpp and the call's op id (bad_request, bad_version, unknown_method, the
  // handler's code, or internal when the handler throws). Sets ctx's op id and request id, and
  // the thread's log op id for the handler's duration.
  std::string dispatch(const std::string& line, CallContext& ctx);

 private:
  using RawHandler = std::function<Expected<nlohmann::json>(const nlohmann::json&, CallContext&)>;
  void add_raw(std::string_view method, RawHandler handler);

  base::Random& random_;
  std::map<std::string, RawHandler, std::less<>> handlers_;
};

// --- Inline implementations ---

template <class M>
void Registry::add(Handler<M> handler) {
  BANGER_ASSERT(handler != nullptr, "a registered handler must be callable");
  add_raw(M::kMethod,
          [handler = std::move(handler)](const nlohmann::json& params,
                                         CallContext& ctx) -> Expected<nlohmann::json> {
            BANGER_TRY_ASSIGN(auto request,
                              api::from_json_value<typename M::Request>(params, "params"));
            BANGER_TRY_ASSIGN(auto response, handler(request, ctx));
            return api::to_json_value(response);
          });
}

}  // namespace banger::rpc
