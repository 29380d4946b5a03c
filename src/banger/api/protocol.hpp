// Wire format of the CLI <-> daemon protocol (SPEC S2, docs/rpc.md): one JSON object per line.
// Builds and parses request, result, error and event lines; knows nothing about sockets.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "banger/base/error.hpp"
#include "banger/base/progress.hpp"

namespace banger::api {

// Bump on any incompatible change to the wire format or to a method's fields.
constexpr int kProtocolVersion = 1;
// Largest line (without its newline) either side accepts.
constexpr std::size_t kMaxFrameBytes = std::size_t{16} * 1024 * 1024;

// A progress line a long operation sends before its final reply.
// task and unit are optional on the wire (omitted when unset): daemons before them never send
// them, and clients before them would refuse an unknown field, so they are only sent when set.
struct Event {
  std::string stage;    // short machine-readable step name: "pull", "boot"
  std::string message;  // one human line
  std::int64_t done = 0;
  std::int64_t total = 0;  // 0 when unknown
  // Which of several concurrent tasks of the request the event belongs to (a VM's name when
  // vm.start starts several); unset = the request's single main task.
  std::optional<std::string> task;
  // What done/total count: kBytesUnit, or unset = steps (items, packages, files).
  std::optional<std::string> unit;
  template <class V>
  void fields(V& v) {
    v("stage", stage);
    v("message", message);
    v("done", done);
    v("total", total);
    v("task", task);
    v("unit", unit);
  }
};

// Event::unit of an event whose done/total count bytes (downloads, copies): the CLI shows a
// byte count, a rate and an ETA.
inline constexpr std::string_view kBytesUnit = "bytes";

// The stage of the event vm.create sends once the VM is recorded, before it boots: message is
// its sizing, "2 vcpu | 1024 MiB | 8G disk" (the CLI prints it as the `spec:` line).
inline constexpr std::string_view kSpecStage = "spec";
// The stage of an event that warns (a missing [[file_sync]] host path): the CLI keeps it on
// screen instead of overwriting it with the next progress line.
inline constexpr std::string_view kWarningStage = "warning";

// The wire form of a service's progress event (empty task/unit are left unset).
Event to_event(const base::ProgressEvent& event);

// A well-formed request. params is always an object ({} when the line had none).
struct Request {
  std::int64_t id = 0;
  std::string method;
  nlohmann::json params = nlohmann::json::object();
};

// Why a request line was refused. id is set when the line carried a readable id, so the error
// reply can still be matched by the client.
struct RejectedRequest {
  std::optional<std::int64_t> id;
  Error error;
};

// The error object of an error reply, with its wire code already mapped (see errors.hpp).
struct WireError {
  std::string code;
  std::string message;
  std::string op_id;
  template <class V>
  void fields(V& v) {
    v("code", code);
    v("message", message);
    v("op_id", op_id);
  }
};

// Any line the daemon sends: exactly one of result, error or event is meaningful.
struct Reply {
  enum class Kind { result, error, event };
  Kind kind = Kind::result;
  std::optional<std::int64_t> id;  // nullopt when the daemon could not read the request's id
  nlohmann::json result;
  WireError error;
  Event event;
};

// Serializes a JSON value on one line. Never throws: invalid UTF-8 in strings is replaced.
std::string dump_line(const nlohmann::json& value);

// `{"v":1,"id":N,"method":"...","params":{...}}` (no trailing newline).
std::string encode_request(std::int64_t id, std::string_view method, const nlohmann::json& params);

// `{"id":N,"result":{...}}`.
std::string encode_result(std::int64_t id, const nlohmann::json& result);

// `{"id":N,"error":{"code":...,"message":...,"op_id":...}}`; id null when unknown.
std::string encode_error(std::optional<std::int64_t> id, const WireError& error);

// `{"id":N,"event":{"stage":...,"message":...,"done":...,"total":...}}`.
std::string encode_event(std::int64_t id, const Event& event);

// Parses and validates a request line. Fails with:
//   - Errc::bad_version when "v" is an integer other than kProtocolVersion (the message names
//     both versions);
//   - Errc::invalid_argument for everything else: not JSON ("request is not valid JSON"), not
//     an object, a missing or mistyped "v"/"id"/"method"/"params"
//     (`request field "method" must be a string`), or an unknown top-level field.
tl::expected<Request, RejectedRequest> parse_request(std::string_view line);

// Parses a line sent by the daemon (client side). Fails with Errc::internal when the line is not
// a well-formed result, error or event line: that is a daemon bug, not a user error.
Expected<Reply> parse_reply(std::string_view line);

}  // namespace banger::api
