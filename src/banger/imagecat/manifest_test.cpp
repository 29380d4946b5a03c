#include "banger/imagecat/manifest.hpp"

#include <gtest/gtest.h>

namespace banger::imagecat {
namespace {

Manifest sample() {
  Manifest manifest;
  manifest.image.name = "dev";
  manifest.image.distro = "debian";
  manifest.image.init_flavour = model::InitFlavour::systemd;
  manifest.image.kernel_ref = "debian-cloud";
  manifest.image.extra_kernel_args = "quiet";
  manifest.image.managed = true;
  manifest.image.size_bytes = 1073741824;
  manifest.image.created_at = 1800000000;
  manifest.recipe = "debian-bookworm";
  manifest.packages = {"htop"};
  return manifest;
}

TEST(Manifest, RendersEveryFieldAndParsesBack) {
  std::string text = render_manifest(sample());
  EXPECT_EQ(text, R"({
  "created_at": 1800000000,
  "distro": "debian",
  "extra_kernel_args": "quiet",
  "init_flavour": "systemd",
  "kernel": "debian-cloud",
  "name": "dev",
  "packages": [
    "htop"
  ],
  "recipe": "debian-bookworm",
  "size_bytes": 1073741824,
  "ssh": true,
  "version": 1
}
)");
  auto back = parse_manifest(text);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->image, sample().image);
  EXPECT_EQ(back->recipe, "debian-bookworm");
  EXPECT_EQ(back->packages, (std::vector<std::string>{"htop"}));
}

TEST(Manifest, PulledImagesKeepTheirOciOrigin) {
  Manifest manifest = sample();
  manifest.recipe = "";
  manifest.packages = {};
  manifest.oci = OciRecord{.reference = "docker.io/library/python:3.12",
                           .digest = "sha256:" + std::string(64, 'a'),
                           .layers = {"sha256:" + std::string(64, 'b')},
                           .entrypoint = {},
                           .cmd = {"python3"},
                           .env = {"PATH=/usr/local/bin:/usr/bin"},
                           .working_dir = "/app",
                           .user = "1000"};
  auto back = parse_manifest(render_manifest(manifest));
  ASSERT_TRUE(back) << back.error().message;
  ASSERT_TRUE(back->oci.has_value());
  EXPECT_EQ(back->oci->reference, "docker.io/library/python:3.12");
  EXPECT_EQ(back->oci->layers, manifest.oci->layers);
  EXPECT_EQ(back->oci->cmd, manifest.oci->cmd);
  EXPECT_EQ(back->oci->env, manifest.oci->env);
  EXPECT_EQ(back->oci->working_dir, "/app");
  EXPECT_EQ(back->oci->user, "1000");
  EXPECT_FALSE(parse_manifest(render_manifest(sample()))->oci.has_value());
  std::string broken = render_manifest(manifest);
  broken.replace(broken.find("\"layers\": ["), 11, "\"layers\": 7, \"x\": [");
  auto bad = parse_manifest(broken);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message, "manifest: field \"layers\" must be an array");
}

TEST(Manifest, BundledImagesKeepTheRootfsHashAndTheirBundleOrigin) {
  Manifest manifest = sample();
  manifest.rootfs_sha256 = std::string(64, 'c');
  manifest.bundle = BundleRecord{.location = "https://h/c/dev.tar.zst", .sha256 = "d"};
  auto back = parse_manifest(render_manifest(manifest));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->rootfs_sha256, manifest.rootfs_sha256);
  ASSERT_TRUE(back->bundle.has_value());
  EXPECT_EQ(back->bundle->location, "https://h/c/dev.tar.zst");
  EXPECT_EQ(back->bundle->sha256, "d");
  auto plain = parse_manifest(render_manifest(sample()));
  EXPECT_EQ(plain->rootfs_sha256, "");
  EXPECT_FALSE(plain->bundle.has_value());
  std::string broken = render_manifest(manifest);
  broken.replace(broken.find("\"bundle\": {"), 11, "\"bundle\": 7, \"x\": {");
  auto bad = parse_manifest(broken);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message, "manifest: field \"bundle\" must be an object");
}

TEST(Manifest, RejectsMalformedInput) {
  auto not_json = parse_manifest("{");
  ASSERT_FALSE(not_json);
  EXPECT_EQ(not_json.error().message, "manifest: not a JSON object");
  auto version = parse_manifest(R"({"version":2})");
  ASSERT_FALSE(version);
  EXPECT_EQ(version.error().message,
            "manifest: unsupported version 2 (this banger reads version 1)");
  auto name = parse_manifest(R"({"version":1,"name":"../x"})");
  ASSERT_FALSE(name);
  EXPECT_EQ(name.error().code, Errc::invalid_argument);
  EXPECT_EQ(name.error().message.rfind("manifest: invalid image name \"../x\"", 0), 0u)
      << name.error().message;
  auto missing = parse_manifest(R"({"version":1,"name":"x"})");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message, "manifest: field \"distro\" must be a string");
}

}  // namespace
}  // namespace banger::imagecat
