#include "banger/model/image.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace banger::model {
namespace {

TEST(ImageName, AcceptsLettersDigitsDotsUnderscoresAndDashes) {
  EXPECT_TRUE(validate_image_name("debian-bookworm"));
  EXPECT_TRUE(validate_image_name("Ubuntu_24.04"));
  EXPECT_TRUE(validate_image_name(std::string(64, 'x')));
}

TEST(ImageName, RejectsTraversalAndSlashesWithWhatIsAllowed) {
  for (const std::string& name :
       std::vector<std::string>{"", ".", "..", "a/b", "a b", std::string(65, 'x')}) {
    auto status = validate_image_name(name);
    ASSERT_FALSE(status) << name;
    EXPECT_EQ(status.error().code, Errc::invalid_argument);
    EXPECT_EQ(status.error().message,
              "invalid image name \"" + name +
                  "\": use 1-64 characters: letters, digits, '.', '_' and '-', other than \".\" "
                  "and \"..\"");
  }
}

TEST(ImageName, RejectsTheStagingSuffix) {
  auto status = validate_image_name("tiny.staging");
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().message,
            "invalid image name \"tiny.staging\": names ending in \".staging\" are reserved for "
            "images being published");
}

TEST(InitFlavour, ParsesSystemdAndBusybox) {
  EXPECT_EQ(parse_init_flavour("systemd"), InitFlavour::systemd);
  EXPECT_EQ(parse_init_flavour("busybox"), InitFlavour::busybox);
  EXPECT_EQ(to_string(InitFlavour::busybox), "busybox");
  auto parsed = parse_init_flavour("openrc");
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().code, Errc::invalid_argument);
  EXPECT_EQ(parsed.error().message, "unknown init flavour \"openrc\": use systemd or busybox");
}

}  // namespace
}  // namespace banger::model
