#include "banger/vm/console_log.hpp"

#include <gtest/gtest.h>

#include "banger/sys/fs.hpp"
#include "banger/testkit/temp_dir.hpp"

namespace banger::vm {
namespace {

struct ConsoleLogTest : ::testing::Test {
  void SetUp() override { ASSERT_TRUE(sys::write_file_atomic(path, "0123456789", 0600)); }
  testkit::TempDir dir;
  std::string path = dir.path() + "/console.log";
};

TEST_F(ConsoleLogTest, ReadsFromAnOffsetUpToTheLimit) {
  auto window = read_console(path, 2, 3);
  EXPECT_EQ(window.text, "234");
  EXPECT_EQ(window.next_offset, 5);
}

TEST_F(ConsoleLogTest, ANegativeOffsetCountsBackFromTheEndAndStopsAtTheStart) {
  EXPECT_EQ(read_console(path, -4, 100).text, "6789");
  auto all = read_console(path, -400, 100);
  EXPECT_EQ(all.text, "0123456789");
  EXPECT_EQ(all.next_offset, 10);
}

TEST_F(ConsoleLogTest, AnOffsetPastTheEndReadsNothingAtTheEnd) {
  auto window = read_console(path, 50, 100);
  EXPECT_EQ(window.text, "");
  EXPECT_EQ(window.next_offset, 10);
}

TEST_F(ConsoleLogTest, ANegativeLimitReadsNothing) {
  auto window = read_console(path, 3, -1);
  EXPECT_EQ(window.text, "");
  EXPECT_EQ(window.next_offset, 3);
}

TEST_F(ConsoleLogTest, AMissingLogIsEmptyAtZero) {
  auto window = read_console(dir.path() + "/nope.log", 5, 100);
  EXPECT_EQ(window.text, "");
  EXPECT_EQ(window.next_offset, 0);
}

}  // namespace
}  // namespace banger::vm
