#include "banger/oci/manifest.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace banger::oci {
namespace {

using nlohmann::json;

std::string digest(char c) { return "sha256:" + std::string(64, c); }

json descriptor(std::string_view type, char c, std::uint64_t size) {
  return {{"mediaType", type}, {"digest", digest(c)}, {"size", size}};
}

json oci_manifest() {
  return {{"schemaVersion", 2},
          {"mediaType", media::kOciManifest},
          {"config", descriptor(media::kOciConfig, 'c', 100)},
          {"layers",
           {descriptor("application/vnd.oci.image.layer.v1.tar+gzip", '1', 10),
            descriptor("application/vnd.oci.image.layer.v1.tar+zstd", '2', 20),
            descriptor("application/vnd.oci.image.layer.v1.tar", '3', 30)}}};
}

TEST(Manifest, OciManifestGivesConfigAndLayersOldestFirst) {
  auto m = parse_manifest(oci_manifest().dump(), "", "manifest x");
  ASSERT_TRUE(m.has_value()) << m.error().message;
  EXPECT_FALSE(m->is_index);
  EXPECT_EQ(m->config.digest, digest('c'));
  ASSERT_EQ(m->layers.size(), 3u);
  EXPECT_EQ(m->layers[0].size, 10u);
  EXPECT_EQ(m->layers[2].digest, digest('3'));
}

TEST(Manifest, DockerSchema2WithoutMediaTypeUsesTheContentType) {
  json doc = oci_manifest();
  doc.erase("mediaType");
  doc["layers"] = {descriptor("application/vnd.docker.image.rootfs.diff.tar.gzip", '1', 10)};
  auto m = parse_manifest(doc.dump(), std::string(media::kDockerManifest) + "; charset=utf-8",
                          "manifest x");
  ASSERT_TRUE(m.has_value()) << m.error().message;
  EXPECT_EQ(m->layers.size(), 1u);
}

TEST(Manifest, IndexesChooseLinuxAmd64AndSayWhatTheyHave) {
  json index = {{"schemaVersion", 2},
                {"mediaType", media::kOciIndex},
                {"manifests",
                 {descriptor(media::kOciManifest, 'a', 1), descriptor(media::kOciManifest, 'b', 2),
                  descriptor(media::kOciManifest, 'c', 3)}}};
  index["manifests"][0]["platform"] = {{"os", "linux"}, {"architecture", "arm64"}};
  index["manifests"][1]["platform"] = {{"os", "linux"}, {"architecture", "amd64"}};
  auto m = parse_manifest(index.dump(), "", "index x");
  ASSERT_TRUE(m.has_value()) << m.error().message;
  EXPECT_TRUE(m->is_index);
  auto chosen = choose_platform(*m, "linux", "amd64", "index x");
  ASSERT_TRUE(chosen.has_value());
  EXPECT_EQ(chosen->digest, digest('b'));
  auto missing = choose_platform(*m, "linux", "riscv64", "index x");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, Errc::not_found);
  EXPECT_EQ(missing.error().message,
            "index x has no linux/riscv64 image (it has: linux/arm64, linux/amd64)");
  index["mediaType"] = media::kDockerManifestList;
  EXPECT_TRUE(parse_manifest(index.dump(), "", "index x").value().is_index);
}

TEST(Manifest, MalformedAndUnsupportedDocumentsAreRefusedNamingTheProblem) {
  struct Case {
    json doc;
    std::string expect;
  };
  json no_layers = oci_manifest();
  no_layers["layers"] = json::array();
  json bad_digest = oci_manifest();
  bad_digest["layers"][0]["digest"] = "sha512:" + std::string(128, 'a');
  json negative = oci_manifest();
  negative["layers"][1]["size"] = -1;
  json foreign = oci_manifest();
  foreign["layers"][0]["mediaType"] = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
  json encrypted = oci_manifest();
  encrypted["layers"][0]["mediaType"] = "application/vnd.oci.image.layer.v1.tar+gzip+encrypted";
  json schema1 = {{"schemaVersion", 1}, {"name", "x"}};
  json unknown = oci_manifest();
  unknown["mediaType"] = "application/vnd.example+json";
  json too_many = oci_manifest();
  too_many["layers"] = json::array();
  for (int i = 0; i < 513; ++i) {
    too_many["layers"].push_back(descriptor("application/vnd.oci.image.layer.v1.tar", 'a', 1));
  }
  for (const auto& c : std::vector<Case>{{no_layers, "no layers"},
                                         {bad_digest, "layer digest must be sha256"},
                                         {negative, "layer has no valid size"},
                                         {foreign, "is not supported"},
                                         {encrypted, "is not supported"},
                                         {schema1, "schema 1"},
                                         {unknown, "application/vnd.example+json"},
                                         {too_many, "more than 512 layers"},
                                         {json::array(), "not a JSON object"}}) {
    auto m = parse_manifest(c.doc.dump(), "", "manifest x");
    ASSERT_FALSE(m.has_value()) << c.doc.dump().substr(0, 200);
    EXPECT_EQ(m.error().code, Errc::invalid_argument);
    EXPECT_NE(m.error().message.find(c.expect), std::string::npos) << m.error().message;
    EXPECT_EQ(m.error().message.rfind("manifest x: ", 0), 0u) << m.error().message;
  }
  EXPECT_FALSE(parse_manifest("{not json", "", "m").has_value());
  std::string huge(kMaxDocumentBytes + 1, ' ');
  EXPECT_NE(parse_manifest(huge, "", "m").error().message.find("larger than"), std::string::npos);
}

TEST(Manifest, LayerCompressionByMediaType) {
  EXPECT_EQ(layer_compression("application/vnd.oci.image.layer.v1.tar").value(), Compression::none);
  EXPECT_EQ(layer_compression("application/vnd.docker.image.rootfs.diff.tar.gzip").value(),
            Compression::gzip);
  EXPECT_EQ(layer_compression("application/vnd.oci.image.layer.v1.tar+zstd").value(),
            Compression::zstd);
  EXPECT_FALSE(layer_compression(media::kOciConfig).has_value());
}

TEST(Manifest, ImageConfigKeepsWhatAVmUsesAndRefusesOtherPlatforms) {
  json config = {{"os", "linux"},
                 {"architecture", "amd64"},
                 {"config",
                  {{"Env", {"PATH=/usr/local/bin:/usr/bin", "LANG=C.UTF-8"}},
                   {"Entrypoint", {"/docker-entrypoint.sh"}},
                   {"Cmd", {"python3"}},
                   {"WorkingDir", "/app"},
                   {"User", "1000:1000"}}},
                 {"rootfs", {{"type", "layers"}, {"diff_ids", {digest('1'), digest('2')}}}}};
  auto parsed = parse_image_config(config.dump(), "config x");
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
  EXPECT_EQ(parsed->env.size(), 2u);
  EXPECT_EQ(parsed->entrypoint, std::vector<std::string>{"/docker-entrypoint.sh"});
  EXPECT_EQ(parsed->cmd, std::vector<std::string>{"python3"});
  EXPECT_EQ(parsed->working_dir, "/app");
  EXPECT_EQ(parsed->user, "1000:1000");
  EXPECT_EQ(parsed->layer_count, 2u);
  config["config"]["Cmd"] = nullptr;
  EXPECT_TRUE(parse_image_config(config.dump(), "config x").has_value());
  config["config"]["Env"] = "PATH=/bin";
  EXPECT_NE(parse_image_config(config.dump(), "config x").error().message.find("Env"),
            std::string::npos);
  config["config"].erase("Env");
  config["architecture"] = "arm64";
  auto other = parse_image_config(config.dump(), "config x");
  ASSERT_FALSE(other.has_value());
  EXPECT_EQ(other.error().code, Errc::failed_precondition);
  EXPECT_NE(other.error().message.find("linux/arm64 image"), std::string::npos);
}

TEST(Manifest, AcceptHeaderNamesEveryTypeRead) {
  std::string accept = manifest_accept_header();
  for (auto type : {media::kOciIndex, media::kOciManifest, media::kDockerManifestList,
                    media::kDockerManifest}) {
    EXPECT_NE(accept.find(type), std::string::npos);
  }
  EXPECT_TRUE(is_sha256_digest(digest('0')));
  EXPECT_FALSE(is_sha256_digest("sha256:" + std::string(64, 'A')));
}

}  // namespace
}  // namespace banger::oci
