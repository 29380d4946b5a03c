#include "banger/kernelcat/decompress.hpp"

#include <gtest/gtest.h>

#include "banger/sys/command_runner.hpp"
#include "banger/sys/fs.hpp"
#include "banger/testkit/temp_dir.hpp"

namespace banger::kernelcat {
namespace {

std::string compress(const std::vector<std::string>& argv, const std::string& data) {
  sys::PosixCommandRunner runner;
  auto out = sys::run_checked(runner, {.argv = argv, .stdin_data = data});
  EXPECT_TRUE(out) << out.error().message;
  return out ? *out : "";
}

const std::string kModule = std::string(
                                "\x7f"
                                "ELF module body ") +
                            std::string(5000, 'm');

TEST(ReadDecompressed, ReturnsPlainFilesAsTheyAre) {
  testkit::TempDir dir;
  ASSERT_TRUE(sys::write_file_atomic(dir.path() + "/a.ko", kModule));
  EXPECT_EQ(read_decompressed(dir.path() + "/a.ko"), kModule);
}

TEST(ReadDecompressed, DecompressesXzZstdAndGzip) {
  testkit::TempDir dir;
  struct Case {
    const char* tool;
    const char* suffix;
  };
  for (const auto& c : {Case{"xz", ".ko.xz"}, Case{"zstd", ".ko.zst"}, Case{"gzip", ".ko.gz"}}) {
    if (sys::find_executable(c.tool).empty()) {
      continue;
    }
    std::string path = dir.path() + "/m" + c.suffix;
    ASSERT_TRUE(sys::write_file_atomic(path, compress({c.tool, "-c"}, kModule)));
    EXPECT_EQ(read_decompressed(path), kModule) << c.tool;
  }
}

TEST(ReadDecompressed, OutputBeyondTheLimitIsRefused) {
  testkit::TempDir dir;
  ASSERT_TRUE(sys::write_file_atomic(dir.path() + "/big.ko", kModule));
  auto content = read_decompressed(dir.path() + "/big.ko", 100);
  ASSERT_FALSE(content);
  EXPECT_EQ(content.error().code, Errc::invalid_argument);
  EXPECT_EQ(content.error().message, "corrupt " + dir.path() + "/big.ko: larger than 100 bytes");
}

TEST(ReadDecompressed, TruncatedStreamIsCorrupt) {
  if (sys::find_executable("xz").empty()) {
    GTEST_SKIP() << "xz not installed";
  }
  testkit::TempDir dir;
  std::string xz = compress({"xz", "-c"}, kModule);
  ASSERT_TRUE(sys::write_file_atomic(dir.path() + "/t.ko.xz", xz.substr(0, xz.size() / 2)));
  auto content = read_decompressed(dir.path() + "/t.ko.xz");
  ASSERT_FALSE(content);
  EXPECT_EQ(content.error().code, Errc::invalid_argument);
  EXPECT_EQ(content.error().message.rfind("corrupt " + dir.path() + "/t.ko.xz: ", 0), 0u)
      << content.error().message;
}

TEST(ReadDecompressed, MissingFileIsNotFound) {
  testkit::TempDir dir;
  auto content = read_decompressed(dir.path() + "/none.ko");
  ASSERT_FALSE(content);
  EXPECT_EQ(content.error().code, Errc::not_found);
  EXPECT_EQ(content.error().message, dir.path() + "/none.ko not found");
}

}  // namespace
}  // namespace banger::kernelcat
