#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "banger/debpkg/debpkg.hpp"
#include "banger/sys/command_runner.hpp"
#include "banger/sys/fs.hpp"
#include "banger/testkit/temp_dir.hpp"

namespace banger::debpkg {
namespace {

struct TarMember {
  std::string path;
  mode_t type = AE_IFREG;
  mode_t mode = 0644;
  std::string content;
  std::string link;  // symlink target or hard-link target
  bool hardlink = false;
};

// A gzip/xz/zstd-compressed tar of members, in memory.
std::string make_tar(const std::vector<TarMember>& members, int filter) {
  std::vector<char> buffer(1 << 20);
  std::size_t used = 0;
  archive* a = archive_write_new();
  archive_write_set_format_gnutar(a);
  archive_write_add_filter(a, filter);
  archive_write_open_memory(a, buffer.data(), buffer.size(), &used);
  for (const auto& m : members) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, m.path.c_str());
    archive_entry_set_mtime(e, 1700000000, 0);
    if (m.hardlink) {
      archive_entry_set_hardlink(e, m.link.c_str());
      archive_entry_set_filetype(e, AE_IFREG);
      archive_entry_set_perm(e, m.mode);
      archive_entry_set_size(e, 0);
    } else {
      archive_entry_set_filetype(e, m.type);
      archive_entry_set_perm(e, m.mode);
      if (m.type == AE_IFLNK) {
        archive_entry_set_symlink(e, m.link.c_str());
      }
      archive_entry_set_size(e, static_cast<la_int64_t>(m.content.size()));
    }
    archive_write_header(a, e);
    if (!m.content.empty()) {
      archive_write_data(a, m.content.data(), m.content.size());
    }
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
  return std::string(buffer.data(), used);
}

// Writes an ar archive (like dpkg-deb's) with the given members.
void write_ar(const std::string& path,
              const std::vector<std::pair<std::string, std::string>>& members) {
  archive* a = archive_write_new();
  archive_write_set_format_ar_svr4(a);
  ASSERT_EQ(archive_write_open_filename(a, path.c_str()), ARCHIVE_OK);
  for (const auto& [name, content] : members) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, name.c_str());
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, static_cast<la_int64_t>(content.size()));
    archive_write_header(a, e);
    archive_write_data(a, content.data(), content.size());
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
}

void write_deb(const std::string& path, const std::vector<TarMember>& data,
               int filter = ARCHIVE_FILTER_XZ, const std::string& data_name = "data.tar.xz") {
  write_ar(path, {{"debian-binary", "2.0\n"},
                  {"control.tar.gz",
                   make_tar({{"./control", AE_IFREG, 0644, "Package: t\n"}}, ARCHIVE_FILTER_GZIP)},
                  {data_name, make_tar(data, filter)}});
}

std::string read(const std::string& path) {
  auto content = sys::read_file(path);
  return content ? *content : "<missing>";
}

std::string link_of(const std::string& path) {
  std::error_code ec;
  auto target = std::filesystem::read_symlink(path, ec);
  return ec ? "<not a symlink>" : target.string();
}

mode_t mode_of(const std::string& path) {
  struct stat st{};
  if (::lstat(path.c_str(), &st) != 0) {
    return 0;
  }
  return st.st_mode;
}

const std::vector<TarMember> kTree = {
    {"./", AE_IFDIR, 0755, "", "", false},
    {"./bin/", AE_IFDIR, 0755, "", "", false},
    {"./bin/busybox", AE_IFREG, 0755, "ELF...", "", false},
    {"./bin/sh", AE_IFLNK, 0777, "", "busybox", false},
    {"./usr/", AE_IFDIR, 0755, "", "", false},
    {"./usr/share/", AE_IFDIR, 0700, "", "", false},
    {"./usr/share/doc", AE_IFREG, 0600, "docs", "", false},
    {"./usr/share/doc2", AE_IFREG, 0600, "", "./usr/share/doc", true},
    {"./etc/abs-link", AE_IFLNK, 0777, "", "/usr/share/doc", false},
};

TEST(ExtractDeb, UnpacksDataTarWithModesSymlinksAndHardLinks) {
  testkit::TempDir dir;
  const std::string deb = dir.path() + "/t_1.0_amd64.deb";
  write_deb(deb, kTree);
  ASSERT_TRUE(extract_deb(deb, dir.path() + "/root"));
  const std::string root = dir.path() + "/root";
  EXPECT_EQ(read(root + "/bin/busybox"), "ELF...");
  EXPECT_EQ(mode_of(root + "/bin/busybox") & 07777, 0755u);
  EXPECT_TRUE(S_ISLNK(mode_of(root + "/bin/sh")));
  EXPECT_EQ(link_of(root + "/bin/sh"), "busybox");
  EXPECT_EQ(link_of(root + "/etc/abs-link"), "/usr/share/doc");
  EXPECT_EQ(mode_of(root + "/usr/share") & 07777, 0700u);
  EXPECT_EQ(read(root + "/usr/share/doc2"), "docs");
  struct stat a{}, b{};
  ASSERT_EQ(::stat((root + "/usr/share/doc").c_str(), &a), 0);
  ASSERT_EQ(::stat((root + "/usr/share/doc2").c_str(), &b), 0);
  EXPECT_EQ(a.st_ino, b.st_ino);
  EXPECT_EQ(a.st_mtime, 1700000000);
  // Nothing lands relative to the working directory.
  EXPECT_FALSE(sys::path_exists("bin/busybox"));
}

TEST(ExtractDeb, HandlesGzipAndZstdDataMembers) {
  testkit::TempDir dir;
  write_deb(dir.path() + "/g.deb", kTree, ARCHIVE_FILTER_GZIP, "data.tar.gz");
  write_deb(dir.path() + "/z.deb", kTree, ARCHIVE_FILTER_ZSTD, "data.tar.zst");
  ASSERT_TRUE(extract_deb(dir.path() + "/g.deb", dir.path() + "/g"));
  ASSERT_TRUE(extract_deb(dir.path() + "/z.deb", dir.path() + "/z"));
  EXPECT_EQ(read(dir.path() + "/g/bin/busybox"), "ELF...");
  EXPECT_EQ(read(dir.path() + "/z/bin/busybox"), "ELF...");
}

TEST(ExtractDeb, RejectsParentTraversal) {
  testkit::TempDir dir;
  write_deb(dir.path() + "/bad.deb", {{"./a/../../escape", AE_IFREG, 0644, "x", "", false}});
  auto status = extract_deb(dir.path() + "/bad.deb", dir.path() + "/root");
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code, Errc::invalid_argument);
  EXPECT_EQ(status.error().message,
            "unsafe path ./a/../../escape in package bad.deb: entries must stay inside the "
            "package root");
  EXPECT_FALSE(sys::path_exists(dir.path() + "/escape"));
}

TEST(ExtractDeb, RejectsAbsolutePaths) {
  testkit::TempDir dir;
  write_deb(dir.path() + "/abs.deb", {{"/tmp/owned", AE_IFREG, 0644, "x", "", false}});
  auto status = extract_deb(dir.path() + "/abs.deb", dir.path() + "/root");
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code, Errc::invalid_argument);
  EXPECT_EQ(status.error().message,
            "unsafe path /tmp/owned in package abs.deb: entries must stay inside the package "
            "root");
}

TEST(ExtractDeb, RejectsHardLinksLeavingTheRoot) {
  testkit::TempDir dir;
  write_deb(dir.path() + "/hl.deb", {{"./passwd", AE_IFREG, 0644, "", "../../etc/passwd", true}});
  auto status = extract_deb(dir.path() + "/hl.deb", dir.path() + "/root");
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code, Errc::invalid_argument);
  EXPECT_EQ(status.error().message,
            "unsafe hard link ./passwd -> ../../etc/passwd in package hl.deb: links must stay "
            "inside the package root");
}

TEST(ExtractDeb, RefusesToWriteThroughASymlink) {
  testkit::TempDir dir;
  write_deb(dir.path() + "/sl.deb", {{"./lnk", AE_IFLNK, 0777, "", "/tmp", false},
                                     {"./lnk/owned", AE_IFREG, 0644, "x", "", false}});
  auto status = extract_deb(dir.path() + "/sl.deb", dir.path() + "/root");
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code, Errc::io);
  EXPECT_NE(status.error().message.find("extracting ./lnk/owned from sl.deb: "), std::string::npos)
      << status.error().message;
  EXPECT_FALSE(sys::path_exists("/tmp/owned"));
}

TEST(ExtractDeb, RejectsATruncatedPackage) {
  testkit::TempDir dir;
  const std::string deb = dir.path() + "/trunc_1_amd64.deb";
  std::vector<TarMember> big = {{"./big", AE_IFREG, 0644, std::string(300000, 'q'), "", false}};
  write_deb(deb, big, ARCHIVE_FILTER_NONE, "data.tar");
  auto content = sys::read_file(deb);
  ASSERT_TRUE(content);
  ASSERT_TRUE(sys::write_file_atomic(deb, content->substr(0, content->size() / 2)));
  auto status = extract_deb(deb, dir.path() + "/root");
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code, Errc::invalid_argument);
  EXPECT_EQ(status.error().message.rfind("corrupt package trunc_1_amd64.deb: ", 0), 0u)
      << status.error().message;
}

TEST(ExtractDeb, RejectsAFileThatIsNotAPackage) {
  testkit::TempDir dir;
  const std::string deb = dir.path() + "/junk.deb";
  ASSERT_TRUE(sys::write_file_atomic(deb, "this is not an ar archive at all"));
  auto status = extract_deb(deb, dir.path() + "/root");
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code, Errc::invalid_argument);
  EXPECT_EQ(status.error().message.rfind("corrupt package junk.deb: ", 0), 0u)
      << status.error().message;
}

TEST(ExtractDeb, RejectsAnArchiveWithoutDataMember) {
  testkit::TempDir dir;
  const std::string deb = dir.path() + "/nodata.deb";
  write_ar(deb, {{"debian-binary", "2.0\n"}});
  auto status = extract_deb(deb, dir.path() + "/root");
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code, Errc::invalid_argument);
  EXPECT_EQ(status.error().message, "corrupt package nodata.deb: no data.tar member");
}

TEST(ExtractDeb, MissingPackageIsNotFound) {
  testkit::TempDir dir;
  auto status = extract_deb(dir.path() + "/none.deb", dir.path() + "/root");
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code, Errc::not_found);
  EXPECT_EQ(status.error().message, "package file " + dir.path() + "/none.deb not found");
}

TEST(ExtractDeb, UnpacksAPackageBuiltByDpkgDeb) {
  if (sys::find_executable("dpkg-deb").empty()) {
    GTEST_SKIP() << "dpkg-deb not installed";
  }
  testkit::TempDir dir;
  const std::string tree = dir.path() + "/tree";
  ASSERT_TRUE(sys::make_dirs(tree + "/DEBIAN"));
  ASSERT_TRUE(sys::make_dirs(tree + "/usr/bin"));
  ASSERT_TRUE(sys::write_file_atomic(
      tree + "/DEBIAN/control",
      "Package: bgtest\nVersion: 1.0\nArchitecture: amd64\nMaintainer: t <t@t>\n"
      "Description: t\n"));
  ASSERT_TRUE(sys::write_file_atomic(tree + "/usr/bin/hello", "#!/bin/sh\necho hi\n", 0755));
  ASSERT_EQ(::symlink("hello", (tree + "/usr/bin/hi").c_str()), 0);
  sys::PosixCommandRunner runner;
  auto built =
      sys::run_checked(runner, {.argv = {"dpkg-deb", "--root-owner-group", "-Zxz", "--build", tree,
                                         dir.path() + "/bgtest_1.0_amd64.deb"}});
  ASSERT_TRUE(built) << built.error().message;
  ASSERT_TRUE(extract_deb(dir.path() + "/bgtest_1.0_amd64.deb", dir.path() + "/out"));
  EXPECT_EQ(read(dir.path() + "/out/usr/bin/hello"), "#!/bin/sh\necho hi\n");
  EXPECT_EQ(mode_of(dir.path() + "/out/usr/bin/hello") & 07777, 0755u);
  EXPECT_EQ(link_of(dir.path() + "/out/usr/bin/hi"), "hello");
  EXPECT_FALSE(sys::path_exists(dir.path() + "/out/DEBIAN"));
}

}  // namespace
}  // namespace banger::debpkg
