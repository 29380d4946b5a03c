#include "banger/rpc/registry.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

#include "banger/api/daemon.hpp"
#include "banger/api/vm.hpp"

namespace banger::rpc {
namespace {

using Json = nlohmann::json;

class RegistryTest : public ::testing::Test {
 protected:
  RegistryTest() {
    registry.add<api::Ping>(
        [](const api::Ping::Request&, CallContext&) -> Expected<api::Ping::Response> {
          return api::Ping::Response{};
        });
    registry.add<api::VmShow>(
        [this](const api::VmShow::Request& r, CallContext&) -> Expected<api::VmShow::Response> {
          seen_name = r.name;
          if (r.name == "boom") {
            throw std::runtime_error("boom");
          }
          if (r.name == "tool") {
            return fail(Errc::command_failed, "ip exited 2");
          }
          return fail(Errc::not_found, "vm \"" + r.name + "\" not found");
        });
    registry.add<api::VmCreate>([](const api::VmCreate::Request& r,
                                   CallContext& call) -> Expected<api::VmCreate::Response> {
      call.emit(api::Event{"boot", "booting", 1, 2});
      api::VmCreate::Response response;
      response.vm.name = r.name;
      response.vm.vcpu = r.vcpu.value_or(1);
      return response;
    });
  }

  std::string dispatch(const std::string& line) { return registry.dispatch(line, ctx); }

  Json error_of(const std::string& line) {
    Json reply = Json::parse(dispatch(line));
    EXPECT_EQ(reply["error"]["op_id"], ctx.op_id());
    return reply;
  }

  base::Mt19937Random random{42};
  Registry registry{random};
  std::vector<std::string> events;
  CallContext ctx{1000, [this](const std::string& line) { events.push_back(line); }};
  std::string seen_name;
};

TEST_F(RegistryTest, ListsMethodsSorted) {
  EXPECT_EQ(registry.methods(), (std::vector<std::string>{"ping", "vm.create", "vm.show"}));
}

TEST_F(RegistryTest, DispatchesAndEncodesResult) {
  EXPECT_EQ(dispatch(R"({"v":1,"id":3,"method":"ping"})"),
            R"({"id":3,"result":{"pid":0,"pong":true}})");
  EXPECT_EQ(ctx.request_id(), 3);
}

TEST_F(RegistryTest, EveryRequestGetsAFreshOpIdFromTheRandom) {
  base::Mt19937Random same_seed{42};
  dispatch(R"({"v":1,"id":1,"method":"ping"})");
  EXPECT_EQ(ctx.op_id(), make_op_id(same_seed));
  dispatch(R"({"v":1,"id":2,"method":"ping"})");
  EXPECT_EQ(ctx.op_id(), make_op_id(same_seed));
  EXPECT_EQ(ctx.op_id().size(), 9u);
  EXPECT_EQ(ctx.op_id().rfind("op-", 0), 0u);
}

TEST_F(RegistryTest, UnknownMethodIsNamed) {
  Json reply = error_of(R"({"v":1,"id":4,"method":"vm.frob"})");
  EXPECT_EQ(reply["id"], 4);
  EXPECT_EQ(reply["error"]["code"], "unknown_method");
  EXPECT_EQ(reply["error"]["message"], R"(unknown method "vm.frob" (see docs/rpc.md))");
}

TEST_F(RegistryTest, BadParamsAreNamed) {
  Json reply = error_of(R"({"v":1,"id":5,"method":"vm.create","params":{"nmae":"x"}})");
  EXPECT_EQ(reply["error"]["code"], "bad_request");
  EXPECT_EQ(reply["error"]["message"], R"(params: unknown field "nmae")");
  reply = error_of(R"({"v":1,"id":5,"method":"vm.create","params":{"vcpu":"2"}})");
  EXPECT_EQ(reply["error"]["message"], "params.vcpu: expected integer, got string");
}

TEST_F(RegistryTest, HandlerErrorBecomesWireCode) {
  Json reply = error_of(R"({"v":1,"id":6,"method":"vm.show","params":{"name":"x"}})");
  EXPECT_EQ(seen_name, "x");
  EXPECT_EQ(reply["id"], 6);
  EXPECT_EQ(reply["error"]["code"], "not_found");
  EXPECT_EQ(reply["error"]["message"], R"(vm "x" not found)");
  reply = error_of(R"({"v":1,"id":7,"method":"vm.show","params":{"name":"tool"}})");
  EXPECT_EQ(reply["error"]["code"], "operation_failed");
  EXPECT_EQ(reply["error"]["message"], "ip exited 2");
}

TEST_F(RegistryTest, ExceptionBecomesInternal) {
  Json reply = error_of(R"({"v":1,"id":8,"method":"vm.show","params":{"name":"boom"}})");
  EXPECT_EQ(reply["error"]["code"], "internal");
  EXPECT_EQ(reply["error"]["message"], "internal error: boom");
}

TEST_F(RegistryTest, MalformedRequestsGetErrorReplies) {
  Json reply = error_of("not json");
  EXPECT_TRUE(reply["id"].is_null());
  EXPECT_EQ(reply["error"]["code"], "bad_request");
  EXPECT_EQ(reply["error"]["message"], "request is not valid JSON");
  reply = error_of(R"({"v":9,"id":2,"method":"ping"})");
  EXPECT_EQ(reply["id"], 2);
  EXPECT_EQ(reply["error"]["code"], "bad_version");
  EXPECT_EQ(reply["error"]["message"],
            "protocol version 9 is not supported: this daemon speaks version 1");
}

TEST_F(RegistryTest, EmitWritesEventLinesForTheRequest) {
  EXPECT_EQ(
      dispatch(R"({"v":1,"id":9,"method":"vm.create","params":{"name":"a","vcpu":2}})"),
      R"({"id":9,"result":{"vm":{"created_at":"","disk_size_mib":0,"forwards":[],"guest_ip":"",)"
      R"("id":"",)"
      R"("image":"","kernel":"","last_error":"","mac":"","memory_mib":0,"name":"a",)"
      R"("nat":false,"pid":0,"publish":[],"rootfs_size_mib":0,"rootfs_strategy":"","state":"","tap":"",)"
      R"("touched_at":"","vcpu":2,)"
      R"("vmm":"","workspace":{"branch":"","head":"","path":"","prepared_at":"","repo":""}}}})");
  EXPECT_EQ(events,
            (std::vector<std::string>{
                R"({"event":{"done":1,"message":"booting","stage":"boot","total":2},"id":9})"}));
}

TEST(CallContext, CancelIsVisible) {
  CallContext ctx(0);
  EXPECT_FALSE(ctx.cancelled());
  ctx.cancel();
  EXPECT_TRUE(ctx.cancelled());
  ctx.emit(api::Event{});  // no sink: ignored
}

}  // namespace
}  // namespace banger::rpc
