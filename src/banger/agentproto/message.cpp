#include "banger/agentproto/message.hpp"

#include <array>
#include <limits>
#include <utility>

#include "banger/agentproto/constants.hpp"

namespace banger::agentproto {
namespace {

struct CodeName {
  ErrorCode code;
  std::string_view name;
};

constexpr std::array<CodeName, 7> kCodeNames{{
    {ErrorCode::bad_request, "bad_request"},
    {ErrorCode::bad_version, "bad_version"},
    {ErrorCode::unknown_method, "unknown_method"},
    {ErrorCode::not_found, "not_found"},
    {ErrorCode::operation_failed, "operation_failed"},
    {ErrorCode::timeout, "timeout"},
    {ErrorCode::unauthorized, "unauthorized"},
}};

// Reads a JSON integer that fits int64 and is >= 0.
std::optional<std::int64_t> read_id(const nlohmann::json& value) {
  if (value.is_number_unsigned()) {
    const auto v = value.get<std::uint64_t>();
    if (v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      return std::nullopt;
    }
    return static_cast<std::int64_t>(v);
  }
  if (value.is_number_integer()) {
    const auto v = value.get<std::int64_t>();
    if (v < 0) {
      return std::nullopt;
    }
    return v;
  }
  return std::nullopt;
}

RejectedRequest reject(std::optional<std::int64_t> id, ErrorCode code, std::string message) {
  return RejectedRequest{id, WireError{code, std::move(message)}};
}

}  // namespace

std::string_view error_code_name(ErrorCode code) {
  for (const auto& entry : kCodeNames) {
    if (entry.code == code) {
      return entry.name;
    }
  }
  return "operation_failed";
}

std::optional<ErrorCode> parse_error_code(std::string_view name) {
  for (const auto& entry : kCodeNames) {
    if (entry.name == name) {
      return entry.code;
    }
  }
  return std::nullopt;
}

std::variant<Request, RejectedRequest> parse_request(std::string_view line) {
  const auto doc = nlohmann::json::parse(line.begin(), line.end(), nullptr, false);
  if (doc.is_discarded()) {
    return reject(std::nullopt, ErrorCode::bad_request, "request is not valid json");
  }
  if (!doc.is_object()) {
    return reject(std::nullopt, ErrorCode::bad_request, "request must be a json object");
  }
  const auto id_it = doc.find("id");
  if (id_it == doc.end()) {
    return reject(std::nullopt, ErrorCode::bad_request, "request has no \"id\"");
  }
  const auto id = read_id(*id_it);
  if (!id) {
    return reject(std::nullopt, ErrorCode::bad_request, "\"id\" must be a non-negative integer");
  }
  if (const auto v_it = doc.find("v"); v_it != doc.end()) {
    if (!v_it->is_number_integer() || v_it->get<std::int64_t>() != kProtocolVersion) {
      return reject(id, ErrorCode::bad_version,
                    "unsupported protocol version " + dump_json(*v_it) + ": this agent speaks " +
                        std::to_string(kProtocolVersion));
    }
  }
  const auto method_it = doc.find("method");
  if (method_it == doc.end() || !method_it->is_string() ||
      method_it->get_ref<const std::string&>().empty()) {
    return reject(id, ErrorCode::bad_request, "\"method\" must be a non-empty string");
  }
  Request request;
  request.id = *id;
  request.method = method_it->get<std::string>();
  if (const auto params_it = doc.find("params"); params_it != doc.end()) {
    if (params_it->is_null()) {
      // same as absent
    } else if (!params_it->is_object()) {
      return reject(id, ErrorCode::bad_request, "\"params\" must be a json object");
    } else {
      request.params = *params_it;
    }
  }
  return request;
}

ReplyLimits reply_limits(std::string_view method) {
  constexpr std::size_t kFewValues = 4096;
  if (method == "health" || method == "sync" || method == "poweroff" || method == "auth") {
    return {kMaxSmallReplyBytes, kFewValues};
  }
  if (method == "ports") {
    return {kMaxPortsReplyBytes, 600'000};
  }
  return {kMaxReplyFrameBytes, kFewValues};
}

std::string precheck_reply(std::string_view line, std::size_t max_values) {
  std::size_t depth = 0;
  std::size_t values = 1;
  bool in_string = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (in_string) {
      if (c == '\\') {
        ++i;  // the escaped character cannot end the string
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    switch (c) {
      case '"':
        in_string = true;
        break;
      case '[':
      case '{':
        if (++depth > kMaxReplyDepth) {
          return "reply nests deeper than " + std::to_string(kMaxReplyDepth) + " levels";
        }
        ++values;
        break;
      case ']':
      case '}':
        depth = depth > 0 ? depth - 1 : 0;
        break;
      case ',':
        ++values;
        break;
      default:
        break;
    }
    if (values > max_values) {
      return "reply holds more than " + std::to_string(max_values) + " json values";
    }
  }
  return "";
}

std::optional<Response> parse_response(std::string_view line, std::string* why,
                                       std::size_t max_values) {
  auto set_why = [why](std::string text) {
    if (why != nullptr) {
      *why = std::move(text);
    }
  };
  if (auto refused = precheck_reply(line, max_values); !refused.empty()) {
    set_why(std::move(refused));
    return std::nullopt;
  }
  auto doc = nlohmann::json::parse(line.begin(), line.end(), nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    set_why("reply is not a json object");
    return std::nullopt;
  }
  Response response;
  const auto id_it = doc.find("id");
  if (id_it == doc.end() || id_it->is_null()) {
    response.id = std::nullopt;
  } else if (auto id = read_id(*id_it)) {
    response.id = id;
  } else {
    set_why("reply \"id\" must be a non-negative integer or null");
    return std::nullopt;
  }
  const auto result_it = doc.find("result");
  const auto error_it = doc.find("error");
  const bool has_result = result_it != doc.end();
  const bool has_error = error_it != doc.end();
  if (has_result == has_error) {
    set_why("reply must have exactly one of \"result\" and \"error\"");
    return std::nullopt;
  }
  if (has_result) {
    if (!result_it->is_object()) {
      set_why("reply \"result\" must be a json object");
      return std::nullopt;
    }
    response.result = std::move(*result_it);
    return response;
  }
  const auto& error = *error_it;
  if (!error.is_object()) {
    set_why("reply \"error\" must be a json object");
    return std::nullopt;
  }
  const auto code_it = error.find("code");
  const auto message_it = error.find("message");
  if (code_it == error.end() || !code_it->is_string() || message_it == error.end() ||
      !message_it->is_string()) {
    set_why("reply \"error\" needs string \"code\" and \"message\"");
    return std::nullopt;
  }
  response.error = WireError{parse_error_code(code_it->get_ref<const std::string&>())
                                 .value_or(ErrorCode::operation_failed),
                             message_it->get<std::string>()};
  return response;
}

std::string dump_json(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string make_request_line(std::int64_t id, std::string_view method,
                              const nlohmann::json& params) {
  nlohmann::json doc = nlohmann::json::object();
  doc["v"] = kProtocolVersion;
  doc["id"] = id;
  doc["method"] = std::string(method);
  doc["params"] = params.is_object() ? params : nlohmann::json::object();
  return dump_json(doc) + "\n";
}

std::string make_result_line(std::int64_t id, const nlohmann::json& result) {
  nlohmann::json doc = nlohmann::json::object();
  doc["id"] = id;
  doc["result"] = result.is_object() ? result : nlohmann::json::object();
  return dump_json(doc) + "\n";
}

std::string make_error_line(std::optional<std::int64_t> id, ErrorCode code,
                            std::string_view message) {
  nlohmann::json doc = nlohmann::json::object();
  doc["id"] = id ? nlohmann::json(*id) : nlohmann::json(nullptr);
  doc["error"] = {{"code", std::string(error_code_name(code))}, {"message", std::string(message)}};
  return dump_json(doc) + "\n";
}

}  // namespace banger::agentproto
