#include "banger/sys/proc_stats.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include "banger/sys/fs.hpp"
#include "banger/testkit/temp_dir.hpp"

namespace banger::sys {
namespace {

TEST(ProcStats, CpuTicksAreUtimePlusStimeEvenWithParenthesesInComm) {
  std::string stat =
      "4242 (qemu (x) y) S 1 4242 4242 0 -1 4194560 5000 0 12 0 150 25 0 0 20 0 3 0 1234 "
      "1000000 5000 18446744073709551615";
  EXPECT_EQ(*parse_stat_cpu_ticks(stat), 175u);
}

TEST(ProcStats, MalformedStatTextIsInvalidArgument) {
  EXPECT_EQ(parse_stat_cpu_ticks("garbage").error().message,
            "not a /proc/<pid>/stat line: no \")\"");
  EXPECT_EQ(parse_stat_cpu_ticks("1 (a) S 1 2").error().message,
            "not a /proc/<pid>/stat line: too few fields");
  EXPECT_EQ(parse_stat_cpu_ticks("1 (a) S 1 2 3 4 5 6 7 8 9 10 x 0").error().message,
            "not a /proc/<pid>/stat line: bad cpu time \"x\"");
}

TEST(ProcStats, RssComesFromVmRssInKibibytes) {
  EXPECT_EQ(parse_status_rss_bytes("Name:\tqemu\nVmPeak:\t 9 kB\nVmRSS:\t  65536 kB\n"),
            65536 * 1024);
  EXPECT_EQ(parse_status_rss_bytes("Name:\tkthreadd\n"), 0);
}

TEST(ProcStats, SamplingThisProcessGivesLiveNumbers) {
  auto sample = sample_process(::getpid());
  ASSERT_TRUE(sample) << sample.error().message;
  EXPECT_GT(sample->rss_bytes, 0);
  EXPECT_EQ(sample_process(-5).error().code, Errc::not_found);
  EXPECT_GT(clock_ticks_per_second(), 0);
}

TEST(ProcStats, DiskUsageSumsRegularFilesAndSeesSparseness) {
  testkit::TempDir dir;
  ASSERT_TRUE(write_file_atomic(dir.path() + "/a", std::string(8192, 'x')));
  ASSERT_TRUE(make_dirs(dir.path() + "/sub"));
  ASSERT_EQ(::truncate((dir.path() + "/a").c_str(), 8192), 0);
  ASSERT_TRUE(write_file_atomic(dir.path() + "/sub/sparse", ""));
  ASSERT_EQ(::truncate((dir.path() + "/sub/sparse").c_str(), 1 << 30), 0);
  auto usage = disk_usage(dir.path());
  ASSERT_TRUE(usage) << usage.error().message;
  EXPECT_EQ(usage->apparent_bytes, 8192 + (1 << 30));
  EXPECT_GE(usage->allocated_bytes, 8192);
  EXPECT_LT(usage->allocated_bytes, 1 << 20);
  EXPECT_EQ(disk_usage(dir.path() + "/missing").error().code, Errc::not_found);
}

}  // namespace
}  // namespace banger::sys
