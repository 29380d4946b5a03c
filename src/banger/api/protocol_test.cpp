#include "banger/api/protocol.hpp"

#include <gtest/gtest.h>

namespace banger::api {
namespace {

using Json = nlohmann::json;

void expect_rejected(std::string_view line, std::optional<std::int64_t> id, Errc code,
                     std::string_view message) {
  SCOPED_TRACE(std::string(line));
  auto r = parse_request(line);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().id, id);
  EXPECT_EQ(r.error().error.code, code);
  EXPECT_EQ(r.error().error.message, message);
}

TEST(Protocol, EncodesRequestLine) {
  EXPECT_EQ(encode_request(7, "vm.create", Json::parse(R"({"name":"a"})")),
            R"({"id":7,"method":"vm.create","params":{"name":"a"},"v":1})");
  EXPECT_EQ(encode_request(1, "ping", Json()), R"({"id":1,"method":"ping","params":{},"v":1})");
}

TEST(Protocol, EncodesReplyLines) {
  EXPECT_EQ(encode_result(3, Json::parse(R"({"pong":true})")),
            R"({"id":3,"result":{"pong":true}})");
  EXPECT_EQ(
      encode_error(3, WireError{"not_found", "vm \"x\" not found", "op-3f9a1c"}),
      R"({"error":{"code":"not_found","message":"vm \"x\" not found","op_id":"op-3f9a1c"},"id":3})");
  EXPECT_EQ(encode_error(std::nullopt, WireError{"bad_request", "m", "op-000000"}),
            R"({"error":{"code":"bad_request","message":"m","op_id":"op-000000"},"id":null})");
  EXPECT_EQ(encode_event(4, Event{"boot", "booting", 1, 2}),
            R"({"event":{"done":1,"message":"booting","stage":"boot","total":2},"id":4})");
}

TEST(Protocol, EncodingNeverThrowsOnInvalidUtf8) {
  std::string line = encode_result(1, Json{{"s", std::string("a\xff")}});
  EXPECT_EQ(line, "{\"id\":1,\"result\":{\"s\":\"a\xef\xbf\xbd\"}}");
}

TEST(Protocol, ParsesRequest) {
  auto r = parse_request(R"({"v":1,"id":9,"method":"vm.show","params":{"name":"x"}})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->id, 9);
  EXPECT_EQ(r->method, "vm.show");
  EXPECT_EQ(r->params, Json::parse(R"({"name":"x"})"));
}

TEST(Protocol, MissingParamsIsAnEmptyObject) {
  auto r = parse_request(R"({"v":1,"id":1,"method":"ping"})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->params, Json::object());
}

TEST(Protocol, RejectsMalformedRequests) {
  expect_rejected("{nope", std::nullopt, Errc::invalid_argument, "request is not valid JSON");
  expect_rejected("", std::nullopt, Errc::invalid_argument, "request is not valid JSON");
  expect_rejected("[1]", std::nullopt, Errc::invalid_argument, "request must be a JSON object");
  expect_rejected(R"({"id":1,"method":"ping"})", 1, Errc::invalid_argument,
                  R"(request field "v" is missing)");
  expect_rejected(R"({"v":"1","id":1,"method":"ping"})", 1, Errc::invalid_argument,
                  R"(request field "v" must be an integer)");
  expect_rejected(R"({"v":1,"method":"ping"})", std::nullopt, Errc::invalid_argument,
                  R"(request field "id" is missing)");
  expect_rejected(R"({"v":1,"id":"1","method":"ping"})", std::nullopt, Errc::invalid_argument,
                  R"(request field "id" must be an integer)");
  expect_rejected(R"({"v":1,"id":1.5,"method":"ping"})", std::nullopt, Errc::invalid_argument,
                  R"(request field "id" must be an integer)");
  expect_rejected(R"({"v":1,"id":2})", 2, Errc::invalid_argument,
                  R"(request field "method" is missing)");
  expect_rejected(R"({"v":1,"id":2,"method":5})", 2, Errc::invalid_argument,
                  R"(request field "method" must be a string)");
  expect_rejected(R"({"v":1,"id":2,"method":"ping","params":[]})", 2, Errc::invalid_argument,
                  R"(request field "params" must be an object)");
  expect_rejected(R"({"v":1,"id":2,"method":"ping","extra":0})", 2, Errc::invalid_argument,
                  R"(request has unknown field "extra" (allowed: v, id, method, params))");
}

TEST(Protocol, VersionMismatchIsBadVersionNamingBoth) {
  expect_rejected(R"({"v":2,"id":5,"method":"ping"})", 5, Errc::bad_version,
                  "protocol version 2 is not supported: this daemon speaks version 1");
}

TEST(Protocol, ParsesEveryReplyKind) {
  auto result = parse_reply(R"({"id":1,"result":{"pong":true}})");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->kind, Reply::Kind::result);
  EXPECT_EQ(result->id, 1);
  EXPECT_EQ(result->result, Json::parse(R"({"pong":true})"));

  auto error =
      parse_reply(R"({"id":null,"error":{"code":"timeout","message":"m","op_id":"op-1"}})");
  ASSERT_TRUE(error);
  EXPECT_EQ(error->kind, Reply::Kind::error);
  EXPECT_EQ(error->id, std::nullopt);
  EXPECT_EQ(error->error.code, "timeout");
  EXPECT_EQ(error->error.message, "m");
  EXPECT_EQ(error->error.op_id, "op-1");

  auto event = parse_reply(encode_event(2, Event{"pull", "layer", 5, 10}));
  ASSERT_TRUE(event);
  EXPECT_EQ(event->kind, Reply::Kind::event);
  EXPECT_EQ(event->event.stage, "pull");
  EXPECT_EQ(event->event.done, 5);
  EXPECT_EQ(event->event.total, 10);
}

// task and unit travel only when set, so a client that predates them still parses the events
// of tasks without them; a line from a daemon that predates them parses with both unset.
TEST(Protocol, EventTaskAndUnitAreOptional) {
  EXPECT_EQ(encode_event(1, to_event({.stage = "boot", .message = "booting"})),
            R"({"event":{"done":0,"message":"booting","stage":"boot","total":0},"id":1})");
  EXPECT_EQ(encode_event(1, to_event({.stage = "download",
                                      .message = "m",
                                      .done = 5,
                                      .total = 10,
                                      .task = "web",
                                      .unit = base::kBytes})),
            R"({"event":{"done":5,"message":"m","stage":"download","task":"web","total":10,)"
            R"("unit":"bytes"},"id":1})");
  auto old = parse_reply(R"({"id":2,"event":{"stage":"s","message":"m","done":1,"total":2}})");
  ASSERT_TRUE(old);
  EXPECT_EQ(old->event.task, std::nullopt);
  EXPECT_EQ(old->event.unit, std::nullopt);
  auto with = parse_reply(
      R"({"id":2,"event":{"stage":"s","message":"m","done":1,"total":2,"task":"a","unit":"bytes"}})");
  ASSERT_TRUE(with);
  EXPECT_EQ(with->event.task, "a");
  EXPECT_EQ(with->event.unit, std::string(kBytesUnit));
}

TEST(Protocol, MalformedReplyIsInternal) {
  auto check = [](std::string_view line, std::string_view message) {
    auto r = parse_reply(line);
    ASSERT_FALSE(r) << line;
    EXPECT_EQ(r.error().code, Errc::internal);
    EXPECT_EQ(r.error().message, message);
  };
  check("x", "malformed reply from daemon: not valid JSON");
  check("1", "malformed reply from daemon: not a JSON object");
  check(R"({"result":{}})", R"(malformed reply from daemon: field "id" is missing)");
  check(R"({"id":"1","result":{}})",
        R"(malformed reply from daemon: field "id" must be an integer or null)");
  check(
      R"({"id":1})",
      R"(malformed reply from daemon: expected "id" and exactly one of "result", "error", "event")");
  check(R"({"id":1,"error":{"code":1}})",
        "malformed reply from daemon: error.code: expected string, got integer");
}

}  // namespace
}  // namespace banger::api
