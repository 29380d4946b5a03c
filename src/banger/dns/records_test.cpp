#include "banger/dns/records.hpp"

#include <gtest/gtest.h>

#include <thread>

namespace banger::dns {
namespace {

TEST(RecordTable, SetLookupAndRemoveIgnoreCase) {
  RecordTable table;
  ASSERT_TRUE(table.set("Web", "172.16.0.2"));
  EXPECT_EQ(table.lookup("web"), (Ipv4Bytes{172, 16, 0, 2}));
  EXPECT_EQ(table.lookup("WEB"), (Ipv4Bytes{172, 16, 0, 2}));
  ASSERT_TRUE(table.set("web", "172.16.0.3"));
  EXPECT_EQ(table.lookup("web"), (Ipv4Bytes{172, 16, 0, 3}));
  EXPECT_EQ(table.size(), 1u);
  EXPECT_TRUE(table.remove("WEB"));
  EXPECT_FALSE(table.remove("web"));
  EXPECT_EQ(table.lookup("web"), std::nullopt);
}

TEST(RecordTable, RejectsBadNamesAndAddresses) {
  RecordTable table;
  auto bad_name = table.set("a.b", "172.16.0.2");
  ASSERT_FALSE(bad_name);
  EXPECT_EQ(bad_name.error().code, Errc::invalid_argument);
  EXPECT_EQ(bad_name.error().message,
            "invalid dns record name \"a.b\": use 1-63 characters: letters, digits and '-'");
  EXPECT_FALSE(table.set("", "172.16.0.2"));
  EXPECT_FALSE(table.set(std::string(64, 'a'), "172.16.0.2"));
  auto bad_ip = table.set("web", "172.16.0");
  ASSERT_FALSE(bad_ip);
  EXPECT_EQ(bad_ip.error().code, Errc::invalid_argument);
  EXPECT_EQ(bad_ip.error().message,
            "invalid ipv4 address \"172.16.0\" for dns record web: use four numbers 0-255 "
            "separated by dots, such as 172.16.0.2");
  EXPECT_EQ(table.size(), 0u);
}

TEST(RecordTable, ReplaceAllSwapsEverythingOrNothing) {
  RecordTable table;
  ASSERT_TRUE(table.set("old", "10.0.0.1"));
  ASSERT_TRUE(table.replace_all({{"web", "172.16.0.2"}, {"DB", "172.16.0.3"}}));
  EXPECT_EQ(table.snapshot(),
            (std::map<std::string, std::string>{{"db", "172.16.0.3"}, {"web", "172.16.0.2"}}));
  auto bad = table.replace_all({{"ok", "1.2.3.4"}, {"bad", "x"}});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message,
            "invalid ipv4 address \"x\" for dns record bad: use four numbers 0-255 separated by "
            "dots, such as 172.16.0.2");
  EXPECT_EQ(table.size(), 2u);
  EXPECT_EQ(table.lookup("ok"), std::nullopt);
}

TEST(RecordTable, ConcurrentWritersAndReadersAgree) {
  RecordTable table;
  std::thread writer([&] {
    for (int i = 0; i < 2000; ++i) {
      ASSERT_TRUE(table.set("vm" + std::to_string(i % 50), "10.0.0." + std::to_string(i % 250)));
      table.remove("vm" + std::to_string((i + 25) % 50));
    }
  });
  for (int i = 0; i < 2000; ++i) {
    auto found = table.lookup("vm" + std::to_string(i % 50));
    if (found) {
      EXPECT_EQ((*found)[0], 10);
    }
  }
  writer.join();
  EXPECT_LE(table.size(), 50u);
}

}  // namespace
}  // namespace banger::dns
