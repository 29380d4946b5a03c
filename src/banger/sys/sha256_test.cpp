#include "banger/sys/sha256.hpp"

#include <gtest/gtest.h>

#include "banger/sys/command_runner.hpp"
#include "banger/sys/fs.hpp"
#include "banger/testkit/temp_dir.hpp"

namespace banger::sys {
namespace {

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Sha256, StreamMatchesOneShotAndRestartsAfterFinish) {
  Sha256Stream stream;
  stream.update("a");
  stream.update("");
  stream.update("bc");
  EXPECT_EQ(stream.finish_hex(), sha256_hex("abc"));
  stream.update("abc");
  EXPECT_EQ(stream.finish_hex(), sha256_hex("abc"));
}

TEST(Sha256, FileMatchesBufferAcrossChunks) {
  testkit::TempDir dir;
  std::string data;
  for (int i = 0; i < 200000; ++i) {
    data += static_cast<char>(i * 31);
  }
  std::string path = dir.path() + "/blob";
  ASSERT_TRUE(sys::write_file_atomic(path, data));
  auto hex = sha256_file(path);
  ASSERT_TRUE(hex) << hex.error().message;
  EXPECT_EQ(*hex, sha256_hex(data));
  if (!sys::find_executable("sha256sum").empty()) {
    sys::PosixCommandRunner runner;
    auto out = sys::run_checked(runner, {.argv = {"sha256sum", path}});
    ASSERT_TRUE(out);
    EXPECT_EQ(out->substr(0, 64), *hex);
  }
}

TEST(Sha256, MissingFileIsNotFound) {
  testkit::TempDir dir;
  auto hex = sha256_file(dir.path() + "/nope");
  ASSERT_FALSE(hex);
  EXPECT_EQ(hex.error().code, Errc::not_found);
  EXPECT_EQ(hex.error().message, "hashing " + dir.path() + "/nope: No such file or directory");
}

TEST(Sha256, DirectoryIsAnIoError) {
  testkit::TempDir dir;
  auto hex = sha256_file(dir.path());
  ASSERT_FALSE(hex);
  EXPECT_EQ(hex.error().code, Errc::io);
}

}  // namespace
}  // namespace banger::sys
