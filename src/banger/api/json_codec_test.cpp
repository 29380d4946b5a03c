#include "banger/api/json_codec.hpp"

#include <gtest/gtest.h>

namespace banger::api {
namespace {

using Json = nlohmann::json;

struct Inner {
  int vcpu = 1;
  std::string label;
  template <class V>
  void fields(V& v) {
    v("vcpu", vcpu);
    v("label", label);
  }
};

struct Everything {
  bool flag = false;
  int small = 0;
  std::int64_t big = 0;
  std::uint64_t ubig = 0;
  double ratio = 0.0;
  std::string name = "default";
  std::vector<std::string> names;
  std::optional<int> maybe;
  std::map<std::string, int> counts;
  Json raw;
  Inner vm;
  std::vector<Inner> vms;
  std::optional<Inner> maybe_vm;
  template <class V>
  void fields(V& v) {
    v("flag", flag);
    v("small", small);
    v("big", big);
    v("ubig", ubig);
    v("ratio", ratio);
    v("name", name);
    v("names", names);
    v("maybe", maybe);
    v("counts", counts);
    v("raw", raw);
    v("vm", vm);
    v("vms", vms);
    v("maybe_vm", maybe_vm);
  }
};

Everything sample() {
  Everything e;
  e.flag = true;
  e.small = -7;
  e.big = 1LL << 40;
  e.ubig = 18446744073709551615ULL;
  e.ratio = 0.5;
  e.name = "dev";
  e.names = {"a", "b"};
  e.maybe = 3;
  e.counts = {{"x", 1}, {"y", 2}};
  e.raw = Json::parse(R"({"any":[1,"two",null]})");
  e.vm = Inner{4, "big"};
  e.vms = {Inner{1, "one"}, Inner{2, "two"}};
  e.maybe_vm = Inner{8, "opt"};
  return e;
}

std::string error_of(const Json& json, std::string_view path = "params") {
  auto r = from_json_value<Everything>(json, path);
  if (r) {
    return "<ok>";
  }
  EXPECT_EQ(r.error().code, Errc::invalid_argument);
  return r.error().message;
}

TEST(JsonCodec, EncodesEveryTypeWithSortedKeys) {
  EXPECT_EQ(to_json_value(sample()).dump(),
            R"({"big":1099511627776,"counts":{"x":1,"y":2},"flag":true,"maybe":3,)"
            R"("maybe_vm":{"label":"opt","vcpu":8},"name":"dev","names":["a","b"],)"
            R"("ratio":0.5,"raw":{"any":[1,"two",null]},"small":-7,)"
            R"("ubig":18446744073709551615,"vm":{"label":"big","vcpu":4},)"
            R"("vms":[{"label":"one","vcpu":1},{"label":"two","vcpu":2}]})");
}

TEST(JsonCodec, OmitsUnsetOptionals) {
  Everything e;
  Json json = to_json_value(e);
  EXPECT_FALSE(json.contains("maybe"));
  EXPECT_FALSE(json.contains("maybe_vm"));
  EXPECT_TRUE(json.contains("raw"));
  EXPECT_TRUE(json["raw"].is_null());
}

TEST(JsonCodec, RoundTripsEveryType) {
  Everything in = sample();
  auto out = from_json_value<Everything>(to_json_value(in));
  ASSERT_TRUE(out) << out.error().message;
  EXPECT_EQ(out->flag, in.flag);
  EXPECT_EQ(out->small, in.small);
  EXPECT_EQ(out->big, in.big);
  EXPECT_EQ(out->ubig, in.ubig);
  EXPECT_EQ(out->ratio, in.ratio);
  EXPECT_EQ(out->name, in.name);
  EXPECT_EQ(out->names, in.names);
  EXPECT_EQ(out->maybe, in.maybe);
  EXPECT_EQ(out->counts, in.counts);
  EXPECT_EQ(out->raw, in.raw);
  EXPECT_EQ(out->vm.vcpu, 4);
  EXPECT_EQ(out->vm.label, "big");
  ASSERT_EQ(out->vms.size(), 2u);
  EXPECT_EQ(out->vms[1].label, "two");
  ASSERT_TRUE(out->maybe_vm);
  EXPECT_EQ(out->maybe_vm->vcpu, 8);
}

TEST(JsonCodec, MissingFieldsKeepDefaults) {
  auto out = from_json_value<Everything>(Json::parse(R"({"small":5})"));
  ASSERT_TRUE(out);
  EXPECT_EQ(out->small, 5);
  EXPECT_EQ(out->name, "default");
  EXPECT_FALSE(out->maybe);
  EXPECT_EQ(out->vm.vcpu, 1);
}

TEST(JsonCodec, NullDecodesToNullopt) {
  auto out = from_json_value<Everything>(Json::parse(R"({"maybe":null,"maybe_vm":null})"));
  ASSERT_TRUE(out);
  EXPECT_FALSE(out->maybe);
  EXPECT_FALSE(out->maybe_vm);
}

TEST(JsonCodec, DoubleAcceptsIntegers) {
  auto out = from_json_value<Everything>(Json::parse(R"({"ratio":2})"));
  ASSERT_TRUE(out);
  EXPECT_EQ(out->ratio, 2.0);
}

TEST(JsonCodec, RequiresAnObject) {
  EXPECT_EQ(error_of(Json::array()), "params: expected object, got array");
  EXPECT_EQ(error_of(Json(nullptr)), "params: expected object, got null");
  EXPECT_EQ(error_of(Json("x"), "result"), "result: expected object, got string");
}

TEST(JsonCodec, RejectsUnknownFieldNamingIt) {
  EXPECT_EQ(error_of(Json::parse(R"({"nmae":"x"})")), R"(params: unknown field "nmae")");
  EXPECT_EQ(error_of(Json::parse(R"({"vm":{"vcpus":2}})")), R"(params.vm: unknown field "vcpus")");
  EXPECT_EQ(error_of(Json::parse(R"({"vms":[{},{"x":1}]})")),
            R"(params.vms[1]: unknown field "x")");
}

TEST(JsonCodec, RejectsWrongTypesNamingFieldAndExpectedType) {
  EXPECT_EQ(error_of(Json::parse(R"({"vm":{"vcpu":"2"}})")),
            "params.vm.vcpu: expected integer, got string");
  EXPECT_EQ(error_of(Json::parse(R"({"flag":1})")), "params.flag: expected boolean, got integer");
  EXPECT_EQ(error_of(Json::parse(R"({"name":5})")), "params.name: expected string, got integer");
  EXPECT_EQ(error_of(Json::parse(R"({"ratio":"1"})")), "params.ratio: expected number, got string");
  EXPECT_EQ(error_of(Json::parse(R"({"names":"a"})")), "params.names: expected array, got string");
  EXPECT_EQ(error_of(Json::parse(R"({"names":["a",1]})")),
            "params.names[1]: expected string, got integer");
  EXPECT_EQ(error_of(Json::parse(R"({"counts":[]})")), "params.counts: expected object, got array");
  EXPECT_EQ(error_of(Json::parse(R"({"counts":{"x":true}})")),
            "params.counts.x: expected integer, got boolean");
  EXPECT_EQ(error_of(Json::parse(R"({"maybe":"3"})")),
            "params.maybe: expected integer, got string");
  EXPECT_EQ(error_of(Json::parse(R"({"maybe_vm":{"vcpu":null}})")),
            "params.maybe_vm.vcpu: expected integer, got null");
  EXPECT_EQ(error_of(Json::parse(R"({"vm":7})")), "params.vm: expected object, got integer");
}

TEST(JsonCodec, BooleansAndFloatsAreNotIntegers) {
  EXPECT_EQ(error_of(Json::parse(R"({"small":true})")),
            "params.small: expected integer, got boolean");
  EXPECT_EQ(error_of(Json::parse(R"({"big":1.5})")), "params.big: expected integer, got number");
  EXPECT_EQ(error_of(Json::parse(R"({"ubig":2.0})")), "params.ubig: expected integer, got number");
}

TEST(JsonCodec, RejectsIntegersOutOfRange) {
  EXPECT_EQ(error_of(Json::parse(R"({"small":2147483648})")),
            "params.small: integer out of range (allowed -2147483648..2147483647)");
  EXPECT_EQ(error_of(Json::parse(R"({"small":-2147483649})")),
            "params.small: integer out of range (allowed -2147483648..2147483647)");
  EXPECT_EQ(error_of(Json::parse(R"({"big":9223372036854775808})")),
            "params.big: integer out of range (allowed -9223372036854775808..9223372036854775807)");
  EXPECT_EQ(error_of(Json::parse(R"({"ubig":-1})")),
            "params.ubig: integer out of range (allowed 0..18446744073709551615)");
}

TEST(JsonCodec, AcceptsIntegerLimits) {
  auto out = from_json_value<Everything>(Json::parse(
      R"({"small":-2147483648,"big":-9223372036854775808,"ubig":18446744073709551615})"));
  ASSERT_TRUE(out) << out.error().message;
  EXPECT_EQ(out->small, INT32_MIN);
  EXPECT_EQ(out->big, INT64_MIN);
  EXPECT_EQ(out->ubig, UINT64_MAX);
}

struct Empty {
  template <class V>
  void fields(V& /*v*/) {}
};

TEST(JsonCodec, EmptyStructAcceptsOnlyAnEmptyObject) {
  EXPECT_TRUE(from_json_value<Empty>(Json::object()));
  auto r = from_json_value<Empty>(Json::parse(R"({"a":1})"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, R"(params: unknown field "a")");
  EXPECT_EQ(to_json_value(Empty{}).dump(), "{}");
}

}  // namespace
}  // namespace banger::api
