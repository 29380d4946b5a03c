#include "banger/sys/fs.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <thread>
#include <vector>

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

// Regression for L9 (security review): concurrent writers of one file each write their own
// temp file, so every call succeeds and the file always holds one writer's complete content.
// Fails on 8f38f5a: ran with the temp name restored to <path>.tmp.<pid> (8f38f5a's
// fs.cpp:40): renames failed with "No such file or directory" and readers saw a file that did
// not hold one complete write.
TEST(Fs, ConcurrentWritersOfOneFileNeverShareATempFile) {
  testkit::TempDir dir;
  const std::string path = dir.path() + "/ssh_config";
  constexpr int kThreads = 8;
  constexpr int kRounds = 20;
  constexpr std::size_t kSize = 256 * 1024;
  std::vector<std::string> failures(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string content(kSize, static_cast<char>('a' + t));
      for (int i = 0; i < kRounds && failures[t].empty(); ++i) {
        if (auto written = write_file_atomic(path, content); !written) {
          failures[t] = written.error().message;
        }
        auto now = read_file(path);
        if (!now || now->size() != kSize ||
            now->find_first_not_of((*now)[0]) != std::string::npos) {
          failures[t] = "the file does not hold one complete write";
        }
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(failures[t], "") << "writer " << t;
  }
  std::vector<std::string> left;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    left.push_back(entry.path().filename().string());
  }
  EXPECT_EQ(left, (std::vector<std::string>{"ssh_config"}));  // no temp file left behind
}

// Regression for L9 (security review): a symlink planted at the old predictable temp name is
// not followed. Fails on 8f38f5a: ran with the temp name restored to <path>.tmp.<pid> and
// O_CREAT|O_TRUNC (8f38f5a's fs.cpp:40-41): the outside file was overwritten with "new".
TEST(Fs, WriteAtomicDoesNotFollowAPlantedTempName) {
  testkit::TempDir dir;
  const std::string outside = dir.path() + "/outside";
  ASSERT_TRUE(write_file_atomic(outside, "keep"));
  const std::string path = dir.path() + "/config";
  ASSERT_EQ(::symlink(outside.c_str(), (path + ".tmp." + std::to_string(::getpid())).c_str()), 0);
  ASSERT_TRUE(write_file_atomic(path, "new"));
  EXPECT_EQ(*read_file(path), "new");
  EXPECT_EQ(*read_file(outside), "keep");
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

TEST(RequireAbsolute, NamesWhatMustBeAbsoluteAndShowsThePathPrintably) {
  EXPECT_TRUE(require_absolute("the bundle", "/x/b.tar.zst"));
  auto relative = require_absolute("the bundle", "b\n.tar.zst");
  ASSERT_FALSE(relative);
  EXPECT_EQ(relative.error().code, Errc::invalid_argument);
  EXPECT_EQ(relative.error().message, "the bundle must be an absolute path, got \"b\\n.tar.zst\"");
  EXPECT_FALSE(require_absolute("--catalog", ""));
}

}  // namespace
}  // namespace banger::sys
