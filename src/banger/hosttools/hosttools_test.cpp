#include "banger/hosttools/hosttools.hpp"

#include <gtest/gtest.h>

namespace banger::hosttools {
namespace {

TEST(Toolingplan, ChecksEveryToolAndKeepsOrder) {
  auto statuses = check_tools([](const std::string& tool) {
    return tool == "ip" ? std::string("/usr/sbin/ip") : std::string();
  });
  ASSERT_EQ(statuses.size(), host_tools().size());
  for (const auto& s : statuses) {
    EXPECT_EQ(s.path.empty(), s.requirement.tool != "ip");
  }
}

TEST(Toolingplan, RequireToolNamesThePackage) {
  auto none = [](const std::string&) { return std::string(); };
  auto r = require_tool("nft", none);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::not_found);
  EXPECT_EQ(r.error().message,
            "nft not found: install the nftables package (apt-get install nftables)");
  EXPECT_EQ(require_tool("frobnicate", none).error().message, "frobnicate not found in PATH");
  EXPECT_TRUE(require_tool("nft", [](const std::string&) { return std::string("/usr/sbin/nft"); }));
}

}  // namespace
}  // namespace banger::hosttools
