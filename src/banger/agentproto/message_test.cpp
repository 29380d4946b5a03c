#include "banger/agentproto/message.hpp"

#include <gtest/gtest.h>

#include <string>
#include <variant>

#include "banger/agentproto/constants.hpp"

namespace banger::agentproto {
namespace {

RejectedRequest rejected(std::string_view line) {
  auto parsed = parse_request(line);
  EXPECT_TRUE(std::holds_alternative<RejectedRequest>(parsed)) << line;
  if (auto* r = std::get_if<RejectedRequest>(&parsed)) {
    return *r;
  }
  return {};
}

TEST(ParseRequest, ReadsWellFormedRequest) {
  auto parsed = parse_request(R"({"v":1,"id":7,"method":"health","params":{"a":1}})");
  ASSERT_TRUE(std::holds_alternative<Request>(parsed));
  const auto& request = std::get<Request>(parsed);
  EXPECT_EQ(request.id, 7);
  EXPECT_EQ(request.method, "health");
  EXPECT_EQ(request.params, nlohmann::json({{"a", 1}}));
}

TEST(ParseRequest, MissingParamsAndVersionDefault) {
  auto parsed = parse_request(R"({"id":0,"method":"sync"})");
  ASSERT_TRUE(std::holds_alternative<Request>(parsed));
  EXPECT_EQ(std::get<Request>(parsed).params, nlohmann::json::object());
}

TEST(ParseRequest, RejectsMalformedJsonWithoutId) {
  const auto r = rejected("{\"id\":1,");
  EXPECT_EQ(r.id, std::nullopt);
  EXPECT_EQ(r.error.code, ErrorCode::bad_request);
  EXPECT_EQ(r.error.message, "request is not valid json");
}

TEST(ParseRequest, RejectsNonObject) {
  const auto r = rejected("[1,2]");
  EXPECT_EQ(r.id, std::nullopt);
  EXPECT_EQ(r.error.message, "request must be a json object");
}

TEST(ParseRequest, RejectsMissingOrBadId) {
  EXPECT_EQ(rejected(R"({"method":"health"})").error.message, "request has no \"id\"");
  const auto r = rejected(R"({"id":-1,"method":"health"})");
  EXPECT_EQ(r.id, std::nullopt);
  EXPECT_EQ(r.error.message, "\"id\" must be a non-negative integer");
  EXPECT_EQ(rejected(R"({"id":"3","method":"health"})").error.code, ErrorCode::bad_request);
  EXPECT_EQ(rejected(R"({"id":1.5,"method":"health"})").error.code, ErrorCode::bad_request);
}

TEST(ParseRequest, RejectsBadMethodKeepingId) {
  const auto r = rejected(R"({"id":4,"method":""})");
  EXPECT_EQ(r.id, std::optional<std::int64_t>(4));
  EXPECT_EQ(r.error.code, ErrorCode::bad_request);
  EXPECT_EQ(r.error.message, "\"method\" must be a non-empty string");
}

TEST(ParseRequest, RejectsNonObjectParams) {
  const auto r = rejected(R"({"id":4,"method":"x","params":[1]})");
  EXPECT_EQ(r.id, std::optional<std::int64_t>(4));
  EXPECT_EQ(r.error.message, "\"params\" must be a json object");
}

TEST(ParseRequest, RejectsOtherVersion) {
  const auto r = rejected(R"({"v":2,"id":9,"method":"health"})");
  EXPECT_EQ(r.id, std::optional<std::int64_t>(9));
  EXPECT_EQ(r.error.code, ErrorCode::bad_version);
  EXPECT_EQ(r.error.message, "unsupported protocol version 2: this agent speaks 1");
}

TEST(Lines, BuildsRequestResultAndErrorLines) {
  EXPECT_EQ(make_request_line(3, "health", nlohmann::json::object()),
            "{\"id\":3,\"method\":\"health\",\"params\":{},\"v\":1}\n");
  EXPECT_EQ(make_result_line(3, {{"x", 1}}), "{\"id\":3,\"result\":{\"x\":1}}\n");
  EXPECT_EQ(make_error_line(std::nullopt, ErrorCode::bad_request, "nope"),
            "{\"error\":{\"code\":\"bad_request\",\"message\":\"nope\"},\"id\":null}\n");
}

TEST(Lines, InvalidUtf8IsReplacedNotThrown) {
  EXPECT_EQ(
      make_error_line(1, ErrorCode::not_found, "bad \xff byte"),
      "{\"error\":{\"code\":\"not_found\",\"message\":\"bad \xEF\xBF\xBD byte\"},\"id\":1}\n");
}

TEST(ParseResponse, ReadsResultAndError) {
  auto ok = parse_response(R"({"id":3,"result":{"x":1}})");
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->id, std::optional<std::int64_t>(3));
  EXPECT_EQ(ok->result, std::optional<nlohmann::json>(nlohmann::json({{"x", 1}})));
  EXPECT_FALSE(ok->error.has_value());

  auto err = parse_response(R"({"id":null,"error":{"code":"timeout","message":"m"}})");
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->id, std::nullopt);
  ASSERT_TRUE(err->error.has_value());
  EXPECT_EQ(err->error->code, ErrorCode::timeout);
  EXPECT_EQ(err->error->message, "m");
}

TEST(ParseResponse, UnknownErrorCodeIsOperationFailed) {
  auto err = parse_response(R"({"id":1,"error":{"code":"weird","message":"m"}})");
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->error->code, ErrorCode::operation_failed);
}

TEST(ParseResponse, RejectsNonReplies) {
  std::string why;
  EXPECT_FALSE(parse_response("nope", &why).has_value());
  EXPECT_EQ(why, "reply is not a json object");
  EXPECT_FALSE(parse_response(R"({"id":1})", &why).has_value());
  EXPECT_EQ(why, "reply must have exactly one of \"result\" and \"error\"");
  EXPECT_FALSE(parse_response(R"({"id":"x","result":{}})", &why).has_value());
  EXPECT_EQ(why, "reply \"id\" must be a non-negative integer or null");
  EXPECT_FALSE(parse_response(R"({"id":1,"result":3})", &why).has_value());
  EXPECT_EQ(why, "reply \"result\" must be a json object");
  EXPECT_FALSE(parse_response(R"({"id":1,"error":{"code":1}})", &why).has_value());
  EXPECT_EQ(why, "reply \"error\" needs string \"code\" and \"message\"");
}

TEST(ErrorCodes, NamesRoundTrip) {
  for (auto code : {ErrorCode::bad_request, ErrorCode::bad_version, ErrorCode::unknown_method,
                    ErrorCode::not_found, ErrorCode::operation_failed, ErrorCode::timeout}) {
    EXPECT_EQ(parse_error_code(error_code_name(code)), std::optional<ErrorCode>(code));
  }
  EXPECT_EQ(parse_error_code("internal"), std::nullopt);
}

}  // namespace
}  // namespace banger::agentproto

namespace banger::agentproto {
namespace {

// Regression for M1 (security review): a deeply nested reply is refused by a linear scan, before
// nlohmann allocates a node per level. Fails on 8f38f5a: parse_response had no such check
// (checked by disabling the precheck call: the 8 MiB line below was parsed, for 13.8 s at -O0,
// and the test failed).
TEST(PrecheckReply, RefusesDeepNestingBeforeParsing) {
  const std::size_t n = 4 * 1024 * 1024;
  std::string line =
      "{\"id\":1,\"result\":{\"x\":" + std::string(n, '[') + std::string(n, ']') + "}}";
  std::string why;
  EXPECT_FALSE(parse_response(line, &why));
  EXPECT_EQ(why, "reply nests deeper than 32 levels");
}

TEST(PrecheckReply, CountsValuesOutsideStringsOnly) {
  EXPECT_EQ(precheck_reply(R"({"id":1,"result":{"a":[1,2,3]}})", 10), "");
  EXPECT_EQ(precheck_reply(R"({"id":1,"result":{"a":[1,2,3,4,5,6,7,8,9,10]}})", 10),
            "reply holds more than 10 json values");
  // Brackets, commas and escaped quotes inside strings are text.
  EXPECT_EQ(precheck_reply(R"({"id":1,"result":{"s":"[[[[,,,,\"[[[[,,,"}})", 5), "");
  EXPECT_EQ(precheck_reply(std::string(33, '['), 100), "reply nests deeper than 32 levels");
  EXPECT_EQ(precheck_reply(std::string(32, '[') + std::string(32, ']'), 100), "");
}

TEST(PrecheckReply, LimitsPerMethod) {
  EXPECT_EQ(reply_limits("health").max_bytes, kMaxSmallReplyBytes);
  EXPECT_EQ(reply_limits("sync").max_bytes, kMaxSmallReplyBytes);
  EXPECT_EQ(reply_limits("poweroff").max_bytes, kMaxSmallReplyBytes);
  EXPECT_EQ(reply_limits("auth").max_bytes, kMaxSmallReplyBytes);
  EXPECT_EQ(reply_limits("ports").max_bytes, kMaxPortsReplyBytes);
  EXPECT_EQ(reply_limits("exec").max_bytes, kMaxReplyFrameBytes);
  EXPECT_LT(reply_limits("exec").max_values, 10'000u);
}

TEST(ErrorCodes, UnauthorizedHasAWireName) {
  EXPECT_EQ(error_code_name(ErrorCode::unauthorized), "unauthorized");
  EXPECT_EQ(parse_error_code("unauthorized"), ErrorCode::unauthorized);
}

}  // namespace
}  // namespace banger::agentproto
