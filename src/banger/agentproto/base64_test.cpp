#include "banger/agentproto/base64.hpp"

#include <gtest/gtest.h>

#include <string>

namespace banger::agentproto {
namespace {

TEST(Base64, EncodesRfc4648Vectors) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("foob"), "Zm9vYg==");
  EXPECT_EQ(base64_encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
}

TEST(Base64, DecodesPaddedAndUnpadded) {
  EXPECT_EQ(base64_decode("Zm9vYg=="), std::optional<std::string>("foob"));
  EXPECT_EQ(base64_decode("Zm9vYg"), std::optional<std::string>("foob"));
  EXPECT_EQ(base64_decode("Zm9vYmE="), std::optional<std::string>("fooba"));
  EXPECT_EQ(base64_decode(""), std::optional<std::string>(""));
}

TEST(Base64, RejectsMalformedText) {
  EXPECT_EQ(base64_decode("Zm9v!A=="), std::nullopt);
  EXPECT_EQ(base64_decode("Zg="), std::nullopt);
  EXPECT_EQ(base64_decode("Z"), std::nullopt);
  EXPECT_EQ(base64_decode("Z==="), std::nullopt);
  EXPECT_EQ(base64_decode("Zg==Zg=="), std::nullopt);
}

TEST(Base64, RoundTripsEveryByteValue) {
  std::string bytes;
  for (int i = 0; i < 256 * 3 + 1; ++i) {
    bytes.push_back(static_cast<char>(i % 256));
  }
  for (std::size_t len = 0; len < 8; ++len) {
    const auto slice = bytes.substr(0, bytes.size() - len);
    EXPECT_EQ(base64_decode(base64_encode(slice)), std::optional<std::string>(slice));
  }
}

}  // namespace
}  // namespace banger::agentproto
