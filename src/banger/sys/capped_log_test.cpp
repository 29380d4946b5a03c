#include "banger/sys/capped_log.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <thread>

#include "banger/posix/fd.hpp"
#include "banger/sys/fs.hpp"
#include "banger/testkit/temp_dir.hpp"

namespace banger::sys {
namespace {

std::int64_t size_of(const std::string& path) {
  struct stat st{};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<std::int64_t>(st.st_size) : -1;
}

// Regression for M10 (security review): a guest that floods its console cannot fill the host's
// disk: 8 MiB through a 256 KiB cap leaves at most 2 x 256 KiB on disk, the newest bytes last.
// Fails on 8f38f5a: QEMU's file chardev appended everything (no cap existed); checked by
// replacing the rotation in copy_to_capped_log with plain appends: console.log grew to 8 MiB.
TEST(CappedLog, AFloodKeepsAtMostTwoCapsOnDiskAndTheNewestBytes) {
  testkit::TempDir dir;
  const std::string path = dir.path() + "/console.log";
  constexpr std::int64_t kCap = 256 * 1024;
  auto pipe = posix::make_pipe();
  ASSERT_TRUE(pipe);
  std::thread writer([fd = std::move(pipe->write)]() mutable {
    std::string line(4000, 'x');
    line += '\n';
    for (int i = 0; i < 2048; ++i) {  // ~8 MiB
      std::string numbered = std::to_string(i) + line;
      ASSERT_EQ(::write(fd.get(), numbered.data(), numbered.size()),
                static_cast<ssize_t>(numbered.size()));
    }
  });
  ASSERT_TRUE(copy_to_capped_log(pipe->read.get(), path, kCap));
  writer.join();
  EXPECT_LE(size_of(path), kCap);
  EXPECT_LE(size_of(path + ".1"), kCap);
  EXPECT_GT(size_of(path + ".1"), 0);
  std::string tail = read_tail(path, 8192);
  EXPECT_NE(tail.find("2047xxx"), std::string::npos);
}

TEST(CappedLog, AppendsToAnExistingFileAndRefusesATinyCap) {
  testkit::TempDir dir;
  const std::string path = dir.path() + "/console.log";
  ASSERT_TRUE(write_file_atomic(path, "before\n", 0600));
  auto pipe = posix::make_pipe();
  ASSERT_TRUE(pipe);
  ASSERT_EQ(::write(pipe->write.get(), "after\n", 6), 6);
  pipe->write.reset();
  ASSERT_TRUE(copy_to_capped_log(pipe->read.get(), path, 4096));
  EXPECT_EQ(read_file(path).value_or(""), "before\nafter\n");
  auto refused = copy_to_capped_log(pipe->read.get(), path, 100);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, Errc::invalid_argument);
}

// Regression for M10 (security review): a tail of a multi-MiB console log reads only the
// requested bytes from the end (pread), never the whole file. Fails on 8f38f5a: the tails read
// the whole file (sys::read_file); checked by making read_tail return read_file(path): the
// size EXPECT saw 6 MiB.
TEST(CappedLog, ReadTailReadsOnlyTheLastBytesAfterTheOffset) {
  testkit::TempDir dir;
  const std::string path = dir.path() + "/console.log";
  std::string big(6 << 20, 'a');
  big += "LAST LINE\n";
  ASSERT_TRUE(write_file_atomic(path, big, 0600));
  std::string tail = read_tail(path, 4096);
  EXPECT_EQ(tail.size(), 4096u);
  EXPECT_TRUE(tail.ends_with("LAST LINE\n"));
  // Not before from_offset; an offset past the end (rotated meanwhile) reads from the start.
  EXPECT_EQ(read_tail(path, 4096, static_cast<std::int64_t>(big.size()) - 5), "LINE\n");
  ASSERT_TRUE(write_file_atomic(path, "fresh\n", 0600));
  EXPECT_EQ(read_tail(path, 4096, 1 << 20), "fresh\n");
  EXPECT_EQ(read_tail(dir.path() + "/missing", 4096), "");
}

}  // namespace
}  // namespace banger::sys
