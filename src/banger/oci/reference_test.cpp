#include "banger/oci/reference.hpp"

#include <gtest/gtest.h>

namespace banger::oci {
namespace {

Reference parsed(std::string_view text) {
  auto ref = parse_reference(text);
  EXPECT_TRUE(ref.has_value()) << text << ": " << (ref ? "" : ref.error().message);
  return ref.value_or(Reference{});
}

TEST(Reference, DockerHubShortNamesLiveUnderLibrary) {
  auto ref = parsed("debian:bookworm");
  EXPECT_EQ(ref.registry, "docker.io");
  EXPECT_EQ(ref.repository, "library/debian");
  EXPECT_EQ(ref.tag, "bookworm");
  EXPECT_EQ(to_string(ref), "docker.io/library/debian:bookworm");
  EXPECT_EQ(api_host(ref), "registry-1.docker.io");
  EXPECT_EQ(docker_config_key(ref), "https://index.docker.io/v1/");
  EXPECT_EQ(to_string(parsed("alpine")), "docker.io/library/alpine:latest");
  EXPECT_EQ(to_string(parsed("index.docker.io/library/alpine:3")), "docker.io/library/alpine:3");
  EXPECT_EQ(to_string(parsed("acme/tool:v1")), "docker.io/acme/tool:v1");
}

TEST(Reference, AFirstPartWithADotColonOrLocalhostIsTheRegistry) {
  auto ghcr = parsed("ghcr.io/acme/ci-runner:v2");
  EXPECT_EQ(ghcr.registry, "ghcr.io");
  EXPECT_EQ(ghcr.repository, "acme/ci-runner");
  EXPECT_EQ(api_host(ghcr), "ghcr.io");
  EXPECT_EQ(docker_config_key(ghcr), "ghcr.io");
  auto local = parsed("127.0.0.1:5000/banger-test/layers:oci");
  EXPECT_EQ(local.registry, "127.0.0.1:5000");
  EXPECT_EQ(local.repository, "banger-test/layers");
  EXPECT_EQ(local.tag, "oci");
  EXPECT_EQ(parsed("localhost/x").registry, "localhost");
  EXPECT_EQ(parsed("[::1]:5000/x:1").registry, "[::1]:5000");
  // A port-looking tag without a registry part stays a tag.
  EXPECT_EQ(parsed("debian:12").tag, "12");
}

TEST(Reference, DigestsPinAndKeepTheTag) {
  std::string digest = "sha256:" + std::string(64, 'a');
  auto ref = parsed("debian:bookworm@" + digest);
  EXPECT_EQ(ref.tag, "bookworm");
  EXPECT_EQ(ref.digest, digest);
  EXPECT_EQ(to_string(ref), "docker.io/library/debian:bookworm@" + digest);
  auto only = parsed("ghcr.io/a/b@" + digest);
  EXPECT_EQ(only.tag, "");
  EXPECT_EQ(default_image_name(only), "b-aaaaaaaaaaaa");
}

TEST(Reference, BadReferencesNameWhatIsWrong) {
  struct Case {
    std::string text;
    std::string expect;
  };
  for (const auto& c : std::vector<Case>{
           {"", "empty"},
           {"Debian:12", "repository part \"Debian\""},
           {"https://ghcr.io/a/b", "without a scheme"},
           {"debian:", "a tag is"},
           {"debian:-x", "a tag is"},
           {"debian:" + std::string(129, 'a'), "a tag is"},
           {"debian@sha256:abc", "digest"},
           {"debian@md5:" + std::string(32, 'a'), "digest"},
           {"ghcr.io/", "repository name is missing"},
           {"ghcr.io/a//b", "repository part \"\""},
           {"ghcr.io/a/-b", "repository part \"-b\""},
           {"bad_host.io:x/a", "is not a registry host"},
           {"a/../b", "repository part \"..\""},
       }) {
    auto ref = parse_reference(c.text);
    ASSERT_FALSE(ref.has_value()) << c.text;
    EXPECT_EQ(ref.error().code, Errc::invalid_argument);
    EXPECT_NE(ref.error().message.find(c.expect), std::string::npos)
        << c.text << " -> " << ref.error().message;
  }
}

TEST(Reference, SeparatorsFollowDockersGrammar) {
  EXPECT_TRUE(parse_reference("a__b/c.d/e-f/g---h").has_value());
  EXPECT_FALSE(parse_reference("a___b").has_value());
  EXPECT_FALSE(parse_reference("a..b").has_value());
  EXPECT_FALSE(parse_reference("a._b").has_value());
}

TEST(Reference, LoopbackRegistriesAreRecognised) {
  EXPECT_TRUE(is_loopback_registry("127.0.0.1:5000"));
  EXPECT_TRUE(is_loopback_registry("127.1.2.3"));
  EXPECT_TRUE(is_loopback_registry("localhost:5000"));
  EXPECT_TRUE(is_loopback_registry("[::1]:5000"));
  EXPECT_FALSE(is_loopback_registry("127.0.0.1.evil.com"));
  EXPECT_FALSE(is_loopback_registry("localhost.evil.com"));
  EXPECT_FALSE(is_loopback_registry("10.0.0.1:5000"));
  EXPECT_FALSE(is_loopback_registry("ghcr.io"));
}

TEST(Reference, DefaultImageNamesFollowTheSpec) {
  EXPECT_EQ(default_image_name(parsed("docker.io/library/debian:bookworm")), "debian-bookworm");
  EXPECT_EQ(default_image_name(parsed("ghcr.io/acme/ci-runner")), "ci-runner-latest");
  EXPECT_EQ(default_image_name(parsed("python:3.12")), "python-3.12");
}

}  // namespace
}  // namespace banger::oci
