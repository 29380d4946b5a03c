#include "banger/model/vm.hpp"

#include <gtest/gtest.h>

#include <string>

namespace banger::model {
namespace {

std::string name_error(const std::string& name) {
  return "invalid vm name \"" + name +
         "\": use 1-63 characters: lowercase letters, digits and '-', starting with a letter or "
         "digit";
}

// Regression for L9 (security review): a VM named like an id could be resolved instead of the
// VM with that id. Fails on 8f38f5a: its validate_vm_name accepted any [a-z0-9-] name (checked
// by reading it: no id check existed; this assertion fails with the new check removed).
TEST(VmName, RefusesTheFormOfAVmId) {
  auto refused = validate_vm_name("0123456789abcdef");
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("form of a vm id"), std::string::npos);
  EXPECT_TRUE(validate_vm_name("0123456789abcde"));    // 15 digits
  EXPECT_TRUE(validate_vm_name("0123456789abcdef0"));  // 17
  EXPECT_TRUE(validate_vm_name("0123456789abcdeg"));   // not hex
}

TEST(VmName, AcceptsLowercaseDigitsAndDashes) {
  EXPECT_TRUE(validate_vm_name("web"));
  EXPECT_TRUE(validate_vm_name("calm-otter"));
  EXPECT_TRUE(validate_vm_name("0"));
  EXPECT_TRUE(validate_vm_name("9lives-"));
  EXPECT_TRUE(validate_vm_name(std::string(63, 'a')));
}

TEST(VmName, RejectsUppercaseAndUnderscoreWithWhatIsAllowed) {
  auto status = validate_vm_name("Web_1");
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code, Errc::invalid_argument);
  EXPECT_EQ(status.error().message,
            "invalid vm name \"Web_1\": use 1-63 characters: lowercase letters, digits and '-', "
            "starting with a letter or digit");
}

TEST(VmName, RejectsEmpty) {
  auto status = validate_vm_name("");
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code, Errc::invalid_argument);
  EXPECT_EQ(status.error().message, name_error(""));
}

TEST(VmName, Rejects64Characters) {
  std::string name(64, 'a');
  auto status = validate_vm_name(name);
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().message, name_error(name));
}

TEST(VmName, RejectsLeadingDashDotsSlashesAndSpaces) {
  for (const char* name : {"-web", "a.b", "a/b", "a b", "..", "caf\xc3\xa9"}) {
    EXPECT_FALSE(validate_vm_name(name)) << name;
  }
}

TEST(VmState, RoundTripsEveryStateThroughItsName) {
  for (VmState state : {VmState::created, VmState::starting, VmState::running, VmState::stopping,
                        VmState::stopped, VmState::error}) {
    auto parsed = parse_vm_state(to_string(state));
    ASSERT_TRUE(parsed) << to_string(state);
    EXPECT_EQ(*parsed, state);
  }
  EXPECT_EQ(to_string(VmState::running), "running");
}

TEST(VmState, RejectsUnknownNameListingTheKnownOnes) {
  auto parsed = parse_vm_state("paused");
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().code, Errc::invalid_argument);
  EXPECT_EQ(parsed.error().message,
            "unknown vm state \"paused\": use created, starting, running, stopping, stopped or "
            "error");
}

TEST(VmId, RecognisesSixteenLowercaseHexCharacters) {
  EXPECT_TRUE(is_vm_id("0123456789abcdef"));
  EXPECT_FALSE(is_vm_id("0123456789ABCDEF"));
  EXPECT_FALSE(is_vm_id("0123456789abcde"));
  EXPECT_FALSE(is_vm_id("0123456789abcdefa"));
  EXPECT_TRUE(is_hex("beef"));
  EXPECT_FALSE(is_hex(""));
  EXPECT_FALSE(is_hex("web"));
}

TEST(VmmBackend, RoundTripsAndRejectsUnknownNamesListingTheKnownOnes) {
  for (VmmBackend backend : {VmmBackend::qemu, VmmBackend::firecracker}) {
    EXPECT_EQ(parse_vmm_backend(to_string(backend)), backend);
  }
  EXPECT_EQ(to_string(VmmBackend::qemu), "qemu");
  auto bad = parse_vmm_backend("bochs");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, Errc::invalid_argument);
  EXPECT_EQ(bad.error().message, "unknown vmm backend \"bochs\": use qemu or firecracker");
  EXPECT_EQ(Vm{}.vmm, VmmBackend::qemu);
}

TEST(VmmChoice, ConfigSpellings) {
  EXPECT_EQ(to_string(VmmChoice::auto_detect), "auto");
  EXPECT_EQ(kVmmChoiceNames.parse("firecracker"), VmmChoice::firecracker);
  EXPECT_EQ(kVmmChoiceNames.allowed(), "auto, qemu or firecracker");
  EXPECT_EQ(to_string(DiskFormat::qcow2), "qcow2");
}

}  // namespace
}  // namespace banger::model
