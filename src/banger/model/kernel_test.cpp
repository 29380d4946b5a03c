#include "banger/model/kernel.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace banger::model {
namespace {

TEST(KernelName, AcceptsLettersDigitsDotsUnderscoresAndDashes) {
  EXPECT_TRUE(validate_kernel_name("debian-cloud"));
  EXPECT_TRUE(validate_kernel_name("6.1.0_FC"));
  EXPECT_TRUE(validate_kernel_name("..."));
  EXPECT_TRUE(validate_kernel_name(std::string(64, 'k')));
}

TEST(KernelName, RejectsTraversalSlashesAndLongNames) {
  for (const std::string& name :
       std::vector<std::string>{"", ".", "..", "../etc", "a/b", "tab\t", std::string(65, 'k')}) {
    auto status = validate_kernel_name(name);
    ASSERT_FALSE(status) << name;
    EXPECT_EQ(status.error().code, Errc::invalid_argument);
    EXPECT_EQ(status.error().message,
              "invalid kernel name \"" + name +
                  "\": use 1-64 characters: letters, digits, '.', '_' and '-', other than \".\" "
                  "and \"..\"");
  }
}

}  // namespace
}  // namespace banger::model
