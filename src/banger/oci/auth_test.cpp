#include "banger/oci/auth.hpp"

#include <gtest/gtest.h>

namespace banger::oci {
namespace {

TEST(Auth, BearerChallengesGiveTheTokenUrl) {
  auto c = parse_challenge(
      "Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\","
      "scope=\"repository:library/debian:pull\"");
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->scheme, "bearer");
  EXPECT_EQ(c->realm, "https://auth.docker.io/token");
  EXPECT_EQ(c->service, "registry.docker.io");
  EXPECT_EQ(token_url(*c, "library/debian"),
            "https://auth.docker.io/token?service=registry.docker.io&scope=repository%3Alibrary%"
            "2Fdebian%3Apull");
  auto bare = parse_challenge("bearer Realm=https://r.example/t?x=1 , service=reg");
  ASSERT_TRUE(bare.has_value());
  EXPECT_EQ(bare->realm, "https://r.example/t?x=1");
  EXPECT_EQ(token_url(*bare, "a/b"),
            "https://r.example/t?x=1&service=reg&scope=repository%3Aa%2Fb%3Apull");
  auto escaped = parse_challenge(R"(Bearer realm="https://x/\"t\"", service="s")");
  ASSERT_TRUE(escaped.has_value());
  EXPECT_EQ(escaped->realm, "https://x/\"t\"");
}

TEST(Auth, BasicAndUnsupportedSchemes) {
  EXPECT_EQ(parse_challenge("Basic realm=\"Registry Realm\"").value().scheme, "basic");
  auto negotiate = parse_challenge("Negotiate");
  ASSERT_FALSE(negotiate.has_value());
  EXPECT_NE(negotiate.error().message.find("\"negotiate\""), std::string::npos);
  EXPECT_FALSE(parse_challenge("Bearer service=\"x\"").has_value());
  EXPECT_FALSE(parse_challenge("").has_value());
}

TEST(Auth, TokenResponses) {
  EXPECT_EQ(parse_token_response(R"({"token":"abc","expires_in":300})").value(), "abc");
  EXPECT_EQ(parse_token_response(R"({"access_token":"xyz"})").value(), "xyz");
  EXPECT_FALSE(parse_token_response(R"({"token":""})").has_value());
  EXPECT_FALSE(parse_token_response("<html>").has_value());
}

TEST(Auth, DockerConfigCredentials) {
  // "alice:s3cr:et" in base64.
  std::string config = R"({
    "auths": {
      "https://index.docker.io/v1/": {"auth": "YWxpY2U6czNjcjpldA=="},
      "ghcr.io": {"username": "bob", "password": "pw"},
      "https://quay.io": {"auth": "Ym9iOnF1YXk="}
    },
    "credsStore": "desktop"
  })";
  auto hub = docker_config_credentials(config, "https://index.docker.io/v1/").value();
  ASSERT_TRUE(hub.has_value());
  EXPECT_EQ(hub->username, "alice");
  EXPECT_EQ(hub->password, "s3cr:et");
  EXPECT_EQ(docker_config_credentials(config, "ghcr.io").value()->username, "bob");
  EXPECT_EQ(docker_config_credentials(config, "quay.io").value()->password, "quay");
  EXPECT_FALSE(docker_config_credentials(config, "registry.example").value().has_value());
  EXPECT_FALSE(docker_config_credentials("{}", "ghcr.io").value().has_value());
  auto bad = docker_config_credentials(R"({"auths":{"ghcr.io":{"auth":"!!!"}}})", "ghcr.io");
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().message.find("auths entry \"ghcr.io\""), std::string::npos);
  EXPECT_FALSE(docker_config_credentials("[]", "ghcr.io").has_value());
}

}  // namespace
}  // namespace banger::oci
