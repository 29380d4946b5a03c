#include "banger/vmm/vmm.hpp"

#include <gtest/gtest.h>

namespace banger::vmm {
namespace {

const VmmHandle kHandle{.backend = Backend::qemu,
                        .pid = 4242,
                        .start_time = 987654321,
                        .control_socket = "/run/a/qmp.sock",
                        .console_log = "/vms/a/console.log",
                        .agent_socket = "/run/a/agent.sock"};

TEST(VmmHandle, RoundTripsThroughJson) {
  nlohmann::json json = vmm_handle_to_json(kHandle);
  EXPECT_EQ(
      json.dump(),
      R"({"agent_socket":"/run/a/agent.sock","backend":"qemu","console_log":"/vms/a/console.log",)"
      R"("control_socket":"/run/a/qmp.sock","pid":4242,"start_time":987654321,"vsock_cid":0})");
  auto back = vmm_handle_from_json(nlohmann::json::parse(json.dump()));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(*back, kHandle);
}

TEST(VmmHandle, VsockCidRoundTripsAndMayBeAbsentInOlderHandles) {
  VmmHandle with_cid = kHandle;
  with_cid.vsock_cid = 0x0BA00002;
  EXPECT_EQ(*vmm_handle_from_json(vmm_handle_to_json(with_cid)), with_cid);
  nlohmann::json old = vmm_handle_to_json(kHandle);
  old.erase("vsock_cid");
  EXPECT_EQ(*vmm_handle_from_json(old), kHandle);
  old["vsock_cid"] = -1;
  EXPECT_EQ(vmm_handle_from_json(old).error().message,
            "vmm handle: vsock_cid must be a 32-bit unsigned integer");
}

TEST(VmmHandle, RejectsAnUnknownBackend) {
  nlohmann::json json = vmm_handle_to_json(kHandle);
  json["backend"] = "bochs";
  EXPECT_EQ(vmm_handle_from_json(json).error().message,
            "vmm handle: unknown vmm backend \"bochs\": use qemu or firecracker");
}

TEST(VsockCid, DerivesFromTheLow20BitsOfTheGuestAddress) {
  EXPECT_EQ(vsock_cid_for_ip("172.16.0.2"), 0x0BA00002u);
  EXPECT_EQ(vsock_cid_for_ip("172.16.1.200"), 0x0BA001C8u);
  EXPECT_EQ(vsock_cid_for_ip("10.0.0.0"), 0x0BA00000u);
  EXPECT_EQ(vsock_cid_for_ip("not-an-ip"), 0u);
}

TEST(VmmHandle, RejectsMissingOrMistypedFields) {
  struct Case {
    const char* json;
    const char* message;
  };
  for (
      const Case& c : {
          Case{R"([])", "vmm handle: expected a json object"},
          Case{R"({"pid":1})", "vmm handle: backend must be a string"},
          Case{R"({"backend":"qemu","pid":0})", "vmm handle: pid must be a positive integer"},
          Case{R"({"backend":"qemu","pid":"7"})", "vmm handle: pid must be a positive integer"},
          Case{R"({"backend":"qemu","pid":7,"start_time":-1})",
               "vmm handle: start_time must be a non-negative integer"},
          Case{
              R"({"backend":"qemu","pid":7,"start_time":1,"control_socket":"c","console_log":"l"})",
              "vmm handle: agent_socket must be a string"},
      }) {
    auto handle = vmm_handle_from_json(nlohmann::json::parse(c.json));
    ASSERT_FALSE(handle) << c.json;
    EXPECT_EQ(handle.error().code, Errc::invalid_argument);
    EXPECT_EQ(handle.error().message, c.message);
  }
}

TEST(VmmNames, AreStable) {
  EXPECT_EQ(accel_name(Accel::kvm), "kvm");
  EXPECT_EQ(accel_name(Accel::tcg), "tcg");
  EXPECT_EQ(model::to_string(DiskFormat::raw), "raw");
  EXPECT_EQ(model::to_string(DiskFormat::qcow2), "qcow2");
  EXPECT_EQ(model::to_string(Backend::qemu), "qemu");
  EXPECT_EQ(model::to_string(Backend::firecracker), "firecracker");
  EXPECT_EQ(vmm_state_name(VmmState::running), "running");
  EXPECT_EQ(vmm_state_name(VmmState::paused), "paused");
  EXPECT_EQ(vmm_state_name(VmmState::exited), "exited");
}

}  // namespace
}  // namespace banger::vmm
