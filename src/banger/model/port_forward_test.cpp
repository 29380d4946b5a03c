#include "banger/model/port_forward.hpp"

#include <gtest/gtest.h>

namespace banger::model {
namespace {

TEST(PortForward, ParsesGuestHostAndAddressForms) {
  EXPECT_EQ(*parse_port_forward("80"), (PortForward{"127.0.0.1", 80, 80}));
  EXPECT_EQ(*parse_port_forward("8080:80"), (PortForward{"127.0.0.1", 8080, 80}));
  EXPECT_EQ(*parse_port_forward("0:80"), (PortForward{"127.0.0.1", 0, 80}));
  EXPECT_EQ(*parse_port_forward("0.0.0.0:8080:80"), (PortForward{"0.0.0.0", 8080, 80}));
  EXPECT_EQ(*parse_port_forward("8080:80", "10.0.0.1"), (PortForward{"10.0.0.1", 8080, 80}));
}

TEST(PortForward, RefusesBadSpecsNamingThem) {
  for (const char* spec : {"", ":", "0", "80:0", "65536", "70000:80", "-1:80", "a:80", "80:b",
                           "1:2:3:4", "localhost:80:80", "::1:80:80", "1.2.3:80:80", "+80",
                           "080808", "8080 :80", "999.1.1.1:80:80"}) {
    auto parsed = parse_port_forward(spec);
    ASSERT_FALSE(parsed) << spec;
    EXPECT_EQ(parsed.error().code, Errc::invalid_argument) << spec;
    EXPECT_NE(parsed.error().message.find("invalid port forward"), std::string::npos) << spec;
  }
}

TEST(PortForward, ValidatesEveryField) {
  EXPECT_TRUE(validate_port_forward({"127.0.0.1", 0, 1}));
  EXPECT_TRUE(validate_port_forward({"0.0.0.0", 65535, 65535}));
  EXPECT_FALSE(validate_port_forward({"", 80, 80}));
  EXPECT_FALSE(validate_port_forward({"127.0.0.1\n", 80, 80}));
  EXPECT_FALSE(validate_port_forward({"::1", 80, 80}));
  EXPECT_FALSE(validate_port_forward({"127.0.0.1", 65536, 80}));
  EXPECT_FALSE(validate_port_forward({"127.0.0.1", -5, 80}));
  EXPECT_FALSE(validate_port_forward({"127.0.0.1", 80, 0}));
  EXPECT_FALSE(validate_port_forward({"127.0.0.1", 80, 1 << 30}));
}

TEST(PortForward, RefusesTheSameHostPortTwiceAndTooMany) {
  EXPECT_TRUE(validate_port_forwards({{"127.0.0.1", 0, 80}, {"127.0.0.1", 0, 81}}));
  EXPECT_TRUE(validate_port_forwards({{"127.0.0.1", 80, 80}, {"127.0.0.2", 80, 81}}));
  auto twice = validate_port_forwards({{"127.0.0.1", 80, 80}, {"127.0.0.1", 80, 81}});
  ASSERT_FALSE(twice);
  EXPECT_EQ(twice.error().message, "host port 127.0.0.1:80 is given twice");
  std::vector<PortForward> many(kMaxForwardsPerVm + 1, PortForward{"127.0.0.1", 0, 80});
  EXPECT_FALSE(validate_port_forwards(many));
}

TEST(PortForward, StoreTextRoundTrips) {
  std::vector<PortForward> forwards{{"127.0.0.1", 8080, 80}, {"0.0.0.0", 0, 22}};
  EXPECT_EQ(join_port_forwards(forwards), "127.0.0.1:8080:80,0.0.0.0:0:22");
  EXPECT_EQ(*split_port_forwards(join_port_forwards(forwards)), forwards);
  EXPECT_TRUE(split_port_forwards("")->empty());
  EXPECT_FALSE(split_port_forwards("8080:80"));
  EXPECT_FALSE(split_port_forwards("127.0.0.1:1:2,"));
}

}  // namespace
}  // namespace banger::model
