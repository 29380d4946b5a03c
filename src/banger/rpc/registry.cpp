#include "banger/rpc/registry.hpp"

#include <chrono>
#include <exception>

#include "banger/api/errors.hpp"
#include "banger/base/log.hpp"

namespace banger::rpc {

CallContext::CallContext(uid_t peer_uid, LineSink sink)
    : peer_uid_(peer_uid), sink_(std::move(sink)) {}

void CallContext::emit(const api::Event& event) {
  if (sink_) {
    sink_(api::encode_event(request_id_, event));
  }
}

std::string make_op_id(base::Random& random) { return "op-" + base::random_hex(random, 6); }

std::vector<std::string> Registry::methods() const {
  std::vector<std::string> names;
  names.reserve(handlers_.size());
  for (const auto& [name, handler] : handlers_) {
    names.push_back(name);
  }
  return names;
}

void Registry::add_raw(std::string_view method, RawHandler handler) {
  bool inserted = handlers_.emplace(std::string(method), std::move(handler)).second;
  BANGER_ASSERT(inserted, "each rpc method is registered once");
}

std::string Registry::dispatch(const std::string& line, CallContext& ctx) {
  ctx.op_id_ = make_op_id(random_);
  base::OpIdScope op_scope(ctx.op_id_);
  auto started = std::chrono::steady_clock::now();

  auto reply_error = [&](std::optional<std::int64_t> id, std::string_view method,
                         const Error& error) {
    BANGER_LOG_WARN("rpc {} id={} uid={}: {}: {}", method.empty() ? "-" : method,
                    id ? std::to_string(*id) : "-", ctx.peer_uid(), api::wire_code(error.code),
                    error.message);
    return api::encode_error(
        id, api::WireError{std::string(api::wire_code(error.code)), error.message, ctx.op_id_});
  };

  auto request = api::parse_request(line);
  if (!request) {
    return reply_error(request.error().id, "", request.error().error);
  }
  ctx.request_id_ = request->id;
  auto it = handlers_.find(request->method);
  if (it == handlers_.end()) {
    return reply_error(request->id, request->method,
                       Error{Errc::unknown_method,
                             "unknown method \"" + request->method + "\" (see docs/rpc.md)",
                             0,
                             {}});
  }

  Expected<nlohmann::json> result = fail(Errc::internal, "handler did not run");
  try {
    result = it->second(request->params, ctx);
  } catch (const std::exception& e) {
    result = fail(Errc::internal, std::string("internal error: ") + e.what());
  } catch (...) {
    result = fail(Errc::internal, "internal error: unknown exception");
  }
  if (ctx.cancelled()) {
    BANGER_LOG_INFO("rpc {} id={}: cancelled: the client hung up", request->method, request->id);
  }
  if (!result) {
    ctx.take_attached_fd().reset();  // a failed call passes nothing
    return reply_error(request->id, request->method, result.error());
  }
  auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
  BANGER_LOG_DEBUG("rpc {} id={} uid={}: ok in {} ms", request->method, request->id, ctx.peer_uid(),
                   elapsed.count());
  return api::encode_result(request->id, *result);
}

}  // namespace banger::rpc
