#include "banger/sys/file_lock.hpp"

#include <gtest/gtest.h>

#include "banger/testkit/temp_dir.hpp"

namespace banger::sys {
namespace {

TEST(FileLock, SecondTryAcquireIsUnavailableUntilReleased) {
  testkit::TempDir dir;
  std::string path = dir.path() + "/x.lock";
  {
    auto first = FileLock::try_acquire(path);
    ASSERT_TRUE(first) << first.error().message;
    auto second = FileLock::try_acquire(path);
    ASSERT_FALSE(second);
    EXPECT_EQ(second.error().code, Errc::unavailable);
  }
  EXPECT_TRUE(FileLock::try_acquire(path));
}

}  // namespace
}  // namespace banger::sys
