#include <gtest/gtest.h>

#include "banger/api/daemon.hpp"
#include "banger/api/json_codec.hpp"
#include "banger/api/vm.hpp"

namespace banger::api {
namespace {

using Json = nlohmann::json;

TEST(Methods, NamesMatchSpec) {
  EXPECT_EQ(Ping::kMethod, "ping");
  EXPECT_EQ(Version::kMethod, "version");
  EXPECT_EQ(Shutdown::kMethod, "shutdown");
  EXPECT_EQ(Doctor::kMethod, "doctor");
  EXPECT_EQ(VmCreate::kMethod, "vm.create");
  EXPECT_EQ(VmList::kMethod, "vm.list");
  EXPECT_EQ(VmShow::kMethod, "vm.show");
  EXPECT_EQ(VmDelete::kMethod, "vm.delete");
  EXPECT_EQ(VmForwardMethod::kMethod, "vm.forward");
  EXPECT_EQ(VmUnforwardMethod::kMethod, "vm.unforward");
}

TEST(Methods, VmForwardRequestDecodesStrictly) {
  auto r = from_json_value<VmForwardMethod::Request>(Json::parse(
      R"({"name":"web","ports":[{"host_address":"127.0.0.1","host_port":0,"guest_port":80}]})"));
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->ports.size(), 1U);
  EXPECT_EQ(r->ports[0].guest_port, 80);
  auto big = from_json_value<VmForwardMethod::Request>(
      Json::parse(R"({"name":"web","ports":[{"guest_port":99999999999}]})"));
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().code, Errc::invalid_argument);
  auto typo = from_json_value<VmForwardMethod::Request>(
      Json::parse(R"({"name":"web","ports":[{"guest":80}]})"));
  ASSERT_FALSE(typo);
}

TEST(Methods, VmCreateRequestDecodesWithDefaults) {
  auto r = from_json_value<VmCreate::Request>(Json::parse(R"({"name":"dev","vcpu":2})"));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->name, "dev");
  EXPECT_EQ(r->vcpu, 2);
  EXPECT_FALSE(r->memory_mib);
  EXPECT_FALSE(r->nat);
  EXPECT_FALSE(r->no_start);
  EXPECT_EQ(r->ready, "ssh");
  EXPECT_EQ(r->vmm, "");  // the config's backend
  // Unset optionals are left out of the encoding.
  EXPECT_EQ(
      to_json_value(*r).dump(),
      R"({"image":"","kernel":"","name":"dev","nat":false,"no_start":false,"publish":[],"ready":"ssh","vcpu":2,"vmm":""})");
}

TEST(Methods, VmCreateRequestRejectsTypos) {
  auto r = from_json_value<VmCreate::Request>(Json::parse(R"({"nmae":"dev"})"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, R"(params: unknown field "nmae")");
}

TEST(Methods, VmInfoRoundTrips) {
  VmInfo vm{.id = "id1",
            .name = "dev",
            .state = "running",
            .image = "debian",
            .kernel = "6.1",
            .vcpu = 2,
            .memory_mib = 1024,
            .disk_size_mib = 8192,
            .nat = true,
            .guest_ip = "172.16.0.2",
            .mac = "02:00:00:00:00:01",
            .last_error = "",
            .created_at = "2024-01-01T00:00:00Z",
            .touched_at = "2024-01-02T00:00:00Z"};
  VmList::Response list{.vms = {vm, vm}};
  auto back = from_json_value<VmList::Response>(to_json_value(list), "result");
  ASSERT_TRUE(back) << back.error().message;
  ASSERT_EQ(back->vms.size(), 2u);
  EXPECT_EQ(to_json_value(back->vms[1]), to_json_value(vm));
  EXPECT_EQ(back->vms[0].memory_mib, 1024);
  EXPECT_TRUE(back->vms[0].nat);
}

TEST(Methods, DoctorAndVersionRoundTrip) {
  Doctor::Response doctor{.checks = {{"kvm", "fail", "no /dev/kvm", "load kvm_intel"}}};
  auto d = from_json_value<Doctor::Response>(to_json_value(doctor), "result");
  ASSERT_TRUE(d);
  ASSERT_EQ(d->checks.size(), 1u);
  EXPECT_EQ(d->checks[0].hint, "load kvm_intel");

  Version::Response version{.version = "0.1.0", .commit = "abc", .protocol = 1};
  EXPECT_EQ(to_json_value(version).dump(), R"({"commit":"abc","protocol":1,"version":"0.1.0"})");
  EXPECT_EQ(to_json_value(Ping::Response{}).dump(), R"({"pid":0,"pong":true})");
  EXPECT_EQ(to_json_value(Shutdown::Response{}).dump(), "{}");
}

}  // namespace
}  // namespace banger::api
