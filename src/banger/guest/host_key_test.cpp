#include "banger/guest/host_key.hpp"

#include <gtest/gtest.h>

namespace banger::guest {
namespace {

// Generated with ssh-keygen; fingerprints from `ssh-keygen -lf`.
constexpr const char* kKey1 =
    "AAAAC3NzaC1lZDI1NTE5AAAAINW5i5metELidgOqF9OiS67Ui7SDFsw2EYNY37dZ4Z58";
constexpr const char* kKey2 =
    "AAAAC3NzaC1lZDI1NTE5AAAAIFGSsYaTYF7QUidiuhobPDCyGdw2nO4vQotrUuqfPgbR";

TEST(HostKey, FingerprintMatchesSshKeygen) {
  EXPECT_EQ(fingerprint_sha256(kKey1).value(),
            "SHA256:uepLRCXR8AvnC6tbDWj8jJnGaA5ql0rQBZ9/TAs2JFg");
  EXPECT_EQ(fingerprint_sha256(kKey2).value(),
            "SHA256:JyYnQBuuq+ZtNODBqrT5T/Cd3GqBBdYl55FbvI4HZAI");
}

TEST(HostKey, DecodesBase64WithAndWithoutPadding) {
  EXPECT_EQ(decode_base64("TWFu").value(), "Man");
  EXPECT_EQ(decode_base64("TWE=").value(), "Ma");
  EXPECT_EQ(decode_base64("TWE").value(), "Ma");
  EXPECT_EQ(decode_base64("TQ==").value(), "M");
  EXPECT_EQ(decode_base64("TQ").value(), "M");
}

TEST(HostKey, RejectsTextThatIsNotBase64) {
  for (const char* bad : {"", "T", "TW!u", "TQ===", "====", "TW Fu"}) {
    auto decoded = decode_base64(bad);
    ASSERT_FALSE(decoded) << bad;
    EXPECT_EQ(decoded.error().code, Errc::invalid_argument);
    EXPECT_EQ(decoded.error().message, "host key is not valid base64");
  }
  EXPECT_EQ(fingerprint_sha256("not base64!").error().code, Errc::invalid_argument);
}

}  // namespace
}  // namespace banger::guest
