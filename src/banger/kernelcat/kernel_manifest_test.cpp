#include "banger/kernelcat/kernel_manifest.hpp"

#include <gtest/gtest.h>

namespace banger::kernelcat {
namespace {

KernelManifest sample() {
  return KernelManifest{.name = "debian-cloud",
                        .distro = "debian",
                        .arch = "x86_64",
                        .version = "6.1.0-28-cloud-amd64",
                        .sha256 = std::string(64, 'a'),
                        .initrd_sha256 = std::string(64, 'b'),
                        .source = "debian-cloud: linux-image-6.1.0-28-cloud-amd64 6.1.119-1",
                        .imported_at = 1800000000,
                        .package = "linux-image-6.1.0-28-cloud-amd64",
                        .package_version = "6.1.119-1"};
}

TEST(KernelManifest, RoundTripsEveryField) {
  auto parsed = parse_manifest(to_json(sample()));
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(*parsed, sample());
}

TEST(KernelManifest, JsonHasStableKeys) {
  KernelManifest m{.name = "k", .sha256 = "ab"};
  EXPECT_EQ(to_json(m),
            "{\n  \"name\": \"k\",\n  \"distro\": \"\",\n  \"arch\": \"\",\n  \"version\": \"\",\n"
            "  \"sha256\": \"ab\",\n  \"initrd_sha256\": \"\",\n  \"source\": \"\",\n"
            "  \"imported_at\": 0,\n  \"package\": \"\",\n  \"package_version\": \"\"\n}\n");
}

TEST(KernelManifest, RejectsMalformedInput) {
  struct Case {
    std::string text;
    std::string message;
  };
  for (const auto& c : std::vector<Case>{
           {"[1]", "bad kernel manifest: not a JSON object"},
           {"{", "bad kernel manifest: not a JSON object"},
           {R"({"sha256":"ab"})", "bad kernel manifest: name is missing"},
           {R"({"name":"k"})", "bad kernel manifest: sha256 is missing"},
           {R"({"name":7,"sha256":"ab"})", "bad kernel manifest: name must be a string"},
           {R"({"name":"k","sha256":"ab","imported_at":"x"})",
            "bad kernel manifest: imported_at must be an integer"},
       }) {
    auto parsed = parse_manifest(c.text);
    ASSERT_FALSE(parsed) << c.text;
    EXPECT_EQ(parsed.error().code, Errc::invalid_argument);
    EXPECT_EQ(parsed.error().message, c.message);
  }
}

TEST(KernelManifest, RecordPointsIntoTheKernelDirectory) {
  auto record = to_record(sample(), "/s/kernels/debian-cloud");
  EXPECT_EQ(record.vmlinux_path, "/s/kernels/debian-cloud/vmlinux");
  EXPECT_EQ(record.initrd_path, "/s/kernels/debian-cloud/initrd.img");
  EXPECT_EQ(record.sha256, std::string(64, 'a'));
  EXPECT_EQ(record.version, "6.1.0-28-cloud-amd64");
  EXPECT_EQ(record.imported_at, 1800000000);
  KernelManifest no_initrd = sample();
  no_initrd.initrd_sha256.clear();
  EXPECT_EQ(to_record(no_initrd, "/d").initrd_path, "");
}

}  // namespace
}  // namespace banger::kernelcat
