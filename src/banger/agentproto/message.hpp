// Request and reply lines of the agent protocol: {"v":1,"id":N,"method":...,"params":{...}} and
// {"id":N,"result":{...}} / {"id":N,"error":{"code":...,"message":...}}. Never throws.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include <nlohmann/json.hpp>

namespace banger::agentproto {

// Error codes on the wire.
enum class ErrorCode {
  bad_request,
  bad_version,
  unknown_method,
  not_found,
  operation_failed,
  timeout,
  unauthorized  // the connection has not presented this VM's token (the agent then hangs up)
};

// The wire name ("bad_request").
std::string_view error_code_name(ErrorCode code);
// Parses a wire name; nullopt for a name this build does not know.
std::optional<ErrorCode> parse_error_code(std::string_view name);

struct WireError {
  ErrorCode code = ErrorCode::operation_failed;
  std::string message;
};

// A well-formed request. params is always an object ({} when the line had none).
struct Request {
  std::int64_t id = 0;
  std::string method;
  nlohmann::json params = nlohmann::json::object();
};

// A refused request line: id is set when the line carried a readable id (so the error reply
// can still be matched), nullopt for malformed JSON or a missing/invalid id.
struct RejectedRequest {
  std::optional<std::int64_t> id;
  WireError error;
};

// Parses one request line. Rejections: bad_request for malformed JSON, a non-object, a missing or
// non-integer (or negative) "id", a missing/empty/non-string "method" or non-object "params";
// bad_version when "v" is present and not kProtocolVersion (a missing "v" means version 1).
std::variant<Request, RejectedRequest> parse_request(std::string_view line);

// A parsed reply line: exactly one of result / error is set.
struct Response {
  std::optional<std::int64_t> id;  // nullopt for "id":null (the agent could not read the id)
  std::optional<nlohmann::json> result;
  std::optional<WireError> error;
};

// What the host accepts in one reply line to a method (a hostile guest chooses the reply).
struct ReplyLimits {
  std::size_t max_bytes = 0;   // longest line; longer lines are skipped unparsed
  std::size_t max_values = 0;  // most JSON values (objects, arrays, scalars) in the line
};

// The limits of replies to method: health, sync, poweroff, auth: kMaxSmallReplyBytes and 4096
// values; ports: kMaxPortsReplyBytes and 600,000 values; exec (and unknown methods):
// kMaxReplyFrameBytes and 4096 values (its output travels as two base64 strings).
ReplyLimits reply_limits(std::string_view method);

// A linear scan of a reply line before it is parsed, so a hostile line never reaches the JSON
// parser (whose memory is ~40x the input for deep or wide documents): "" when the line nests
// at most kMaxReplyDepth arrays/objects and holds at most max_values values (counted from the
// '[', '{' and ',' outside strings), otherwise the reason ("reply nests deeper than 32 levels").
std::string precheck_reply(std::string_view line, std::size_t max_values);

// Parses one reply line; nullopt (with *why set when why is not null) when it is not a reply:
// precheck_reply() refuses it (max_values), malformed JSON, not an object, "id" neither
// integer nor null, or not exactly one of "result" (an object) and "error" (an object with
// string "code" and "message"). An unknown error code parses as operation_failed.
std::optional<Response> parse_response(std::string_view line, std::string* why = nullptr,
                                       std::size_t max_values = 600'000);

// Serialises values as one line ending in '\n'. Strings that are not valid UTF-8 are
// repaired (U+FFFD), never a throw.
std::string make_request_line(std::int64_t id, std::string_view method,
                              const nlohmann::json& params);
std::string make_result_line(std::int64_t id, const nlohmann::json& result);
std::string make_error_line(std::optional<std::int64_t> id, ErrorCode code,
                            std::string_view message);

// json.dump() that never throws (invalid UTF-8 replaced).
std::string dump_json(const nlohmann::json& value);

}  // namespace banger::agentproto
