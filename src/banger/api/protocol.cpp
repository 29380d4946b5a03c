#include "banger/api/protocol.hpp"

#include <fmt/format.h>

#include "banger/api/json_codec.hpp"

namespace banger::api {
namespace {

using Json = nlohmann::json;

tl::unexpected<RejectedRequest> reject(std::optional<std::int64_t> id, Errc code,
                                       std::string message) {
  return tl::unexpected(RejectedRequest{id, Error{code, std::move(message), 0, {}}});
}

tl::unexpected<Error> bad_reply(std::string message) {
  return fail(Errc::internal, "malformed reply from daemon: " + std::move(message));
}

}  // namespace

std::string dump_line(const Json& value) {
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string encode_request(std::int64_t id, std::string_view method, const Json& params) {
  Json line = Json::object();
  line["v"] = kProtocolVersion;
  line["id"] = id;
  line["method"] = std::string(method);
  line["params"] = params.is_null() ? Json::object() : params;
  return dump_line(line);
}

std::string encode_result(std::int64_t id, const Json& result) {
  Json line = Json::object();
  line["id"] = id;
  line["result"] = result;
  return dump_line(line);
}

std::string encode_error(std::optional<std::int64_t> id, const WireError& error) {
  Json line = Json::object();
  line["id"] = id ? Json(*id) : Json(nullptr);
  line["error"] = to_json_value(error);
  return dump_line(line);
}

Event to_event(const base::ProgressEvent& event) {
  Event out{
      .stage = event.stage, .message = event.message, .done = event.done, .total = event.total};
  if (!event.task.empty()) {
    out.task = event.task;
  }
  if (!event.unit.empty()) {
    out.unit = event.unit;
  }
  return out;
}

std::string encode_event(std::int64_t id, const Event& event) {
  Json line = Json::object();
  line["id"] = id;
  line["event"] = to_json_value(event);
  return dump_line(line);
}

tl::expected<Request, RejectedRequest> parse_request(std::string_view line) {
  Json json = Json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) {
    return reject(std::nullopt, Errc::invalid_argument, "request is not valid JSON");
  }
  if (!json.is_object()) {
    return reject(std::nullopt, Errc::invalid_argument, "request must be a JSON object");
  }
  // Read the id first so that every later error reply can still carry it.
  std::optional<std::int64_t> id;
  auto id_it = json.find("id");
  if (id_it != json.end() && id_it->is_number_integer() &&
      (!id_it->is_number_unsigned() || id_it->get<std::uint64_t>() <= INT64_MAX)) {
    id = id_it->get<std::int64_t>();
  }

  auto v_it = json.find("v");
  if (v_it == json.end()) {
    return reject(id, Errc::invalid_argument, "request field \"v\" is missing");
  }
  if (!v_it->is_number_integer()) {
    return reject(id, Errc::invalid_argument, "request field \"v\" must be an integer");
  }
  bool same_version = v_it->is_number_unsigned() ? v_it->get<std::uint64_t>() ==
                                                       static_cast<std::uint64_t>(kProtocolVersion)
                                                 : v_it->get<std::int64_t>() == kProtocolVersion;
  if (!same_version) {
    return reject(id, Errc::bad_version,
                  fmt::format("protocol version {} is not supported: this daemon speaks version {}",
                              v_it->dump(), kProtocolVersion));
  }
  if (id_it == json.end()) {
    return reject(id, Errc::invalid_argument, "request field \"id\" is missing");
  }
  if (!id) {
    return reject(id, Errc::invalid_argument, "request field \"id\" must be an integer");
  }
  auto method_it = json.find("method");
  if (method_it == json.end()) {
    return reject(id, Errc::invalid_argument, "request field \"method\" is missing");
  }
  if (!method_it->is_string()) {
    return reject(id, Errc::invalid_argument, "request field \"method\" must be a string");
  }
  Request request;
  request.id = *id;
  request.method = method_it->get<std::string>();
  if (auto params_it = json.find("params"); params_it != json.end()) {
    if (!params_it->is_object()) {
      return reject(id, Errc::invalid_argument, "request field \"params\" must be an object");
    }
    request.params = std::move(*params_it);
  }
  for (auto it = json.begin(); it != json.end(); ++it) {
    const std::string& key = it.key();
    if (key != "v" && key != "id" && key != "method" && key != "params") {
      return reject(
          id, Errc::invalid_argument,
          fmt::format("request has unknown field \"{}\" (allowed: v, id, method, params)", key));
    }
  }
  return request;
}

Expected<Reply> parse_reply(std::string_view line) {
  Json json = Json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) {
    return bad_reply("not valid JSON");
  }
  if (!json.is_object()) {
    return bad_reply("not a JSON object");
  }
  Reply reply;
  auto id_it = json.find("id");
  if (id_it == json.end()) {
    return bad_reply("field \"id\" is missing");
  }
  if (id_it->is_number_integer() &&
      (!id_it->is_number_unsigned() || id_it->get<std::uint64_t>() <= INT64_MAX)) {
    reply.id = id_it->get<std::int64_t>();
  } else if (!id_it->is_null()) {
    return bad_reply("field \"id\" must be an integer or null");
  }
  if (json.size() != 2) {
    return bad_reply("expected \"id\" and exactly one of \"result\", \"error\", \"event\"");
  }
  if (auto it = json.find("result"); it != json.end()) {
    reply.kind = Reply::Kind::result;
    reply.result = std::move(*it);
    return reply;
  }
  if (auto it = json.find("error"); it != json.end()) {
    auto error = from_json_value<WireError>(*it, "error");
    if (!error) {
      return bad_reply(error.error().message);
    }
    reply.kind = Reply::Kind::error;
    reply.error = std::move(*error);
    return reply;
  }
  if (auto it = json.find("event"); it != json.end()) {
    auto event = from_json_value<Event>(*it, "event");
    if (!event) {
      return bad_reply(event.error().message);
    }
    reply.kind = Reply::Kind::event;
    reply.event = std::move(*event);
    return reply;
  }
  return bad_reply("expected \"id\" and exactly one of \"result\", \"error\", \"event\"");
}

}  // namespace banger::api
