#include "banger/sys/fs.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "banger/testkit/temp_dir.hpp"

namespace banger::sys {
namespace {

TEST(Fs, WriteAtomicThenReadBack) {
  testkit::TempDir dir;
  std::string path = dir.path() + "/a/b/c.txt";
  ASSERT_TRUE(make_dirs(dir.path() + "/a/b"));
  ASSERT_TRUE(write_file_atomic(path, "hello", 0600));
  EXPECT_EQ(*read_file(path), "hello");
  struct stat st{};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(Fs, ReadMissingFileIsNotFound) {
  auto r = read_file("/nonexistent/banger");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::not_found);
}

TEST(Fs, MakeDirsOverFileFails) {
  testkit::TempDir dir;
  ASSERT_TRUE(write_file_atomic(dir.path() + "/f", "x"));
  auto r = make_dirs(dir.path() + "/f");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::failed_precondition);
}

TEST(Fs, FindExecutableSearchesPathAndSbin) {
  EXPECT_FALSE(find_executable("sh").empty());
  EXPECT_TRUE(find_executable("banger-no-such-tool-xyz").empty());
}

}  // namespace
}  // namespace banger::sys
