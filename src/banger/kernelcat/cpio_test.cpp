#include "banger/kernelcat/cpio.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <map>

#include "banger/sys/command_runner.hpp"
#include "banger/sys/fs.hpp"
#include "banger/testkit/temp_dir.hpp"

namespace banger::kernelcat {
namespace {

struct Member {
  mode_t mode = 0;  // full mode incl. type bits
  std::int64_t uid = -1;
  std::int64_t gid = -1;
  std::string content;
  std::string symlink;
  dev_t rdev = 0;
  time_t mtime = -1;
};

struct Listing {
  int filter = 0;
  int format = 0;
  std::vector<std::string> order;
  std::map<std::string, Member> members;
};

Listing list_archive(const std::string& path) {
  Listing out;
  archive* a = archive_read_new();
  archive_read_support_filter_all(a);
  archive_read_support_format_all(a);
  EXPECT_EQ(archive_read_open_filename(a, path.c_str(), 10240), ARCHIVE_OK);
  archive_entry* e = nullptr;
  while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
    Member m;
    m.mode = archive_entry_mode(e);
    m.uid = archive_entry_uid(e);
    m.gid = archive_entry_gid(e);
    m.rdev = archive_entry_rdev(e);
    m.mtime = archive_entry_mtime(e);
    if (const char* link = archive_entry_symlink(e); link != nullptr) {
      m.symlink = link;
    }
    char buf[4096];
    la_ssize_t n;
    while ((n = archive_read_data(a, buf, sizeof buf)) > 0) {
      m.content.append(buf, static_cast<std::size_t>(n));
    }
    out.order.push_back(archive_entry_pathname(e));
    out.members[archive_entry_pathname(e)] = m;
    out.filter = archive_filter_code(a, 0);
    out.format = archive_format(a);
  }
  archive_read_free(a);
  return out;
}

TEST(WriteInitramfs, WritesGzipNewcWithEveryEntryType) {
  testkit::TempDir dir;
  std::string busybox(200 * 1024, 'b');
  ASSERT_TRUE(sys::write_file_atomic(dir.path() + "/busybox", busybox));
  std::string out = dir.path() + "/initrd.img";
  std::vector<CpioEntry> entries = {
      CpioEntry::dir("bin"),
      CpioEntry::host_file("bin/busybox", dir.path() + "/busybox", 0755),
      CpioEntry::symlink("bin/sh", "busybox"),
      CpioEntry::dir("dev"),
      CpioEntry::char_device("dev/console", 5, 1),
      CpioEntry::dir("lib"),
      CpioEntry::dir("lib/modules"),
      CpioEntry::file("lib/modules/load.order", "virtio_blk.ko\n"),
      CpioEntry::file("init", "#!/bin/busybox sh\n", 0755),
      CpioEntry::file("empty", ""),
  };
  auto r = write_initramfs(out, entries);
  ASSERT_TRUE(r) << r.error().message;

  Listing l = list_archive(out);
  EXPECT_EQ(l.filter, ARCHIVE_FILTER_GZIP);
  EXPECT_EQ(l.format, ARCHIVE_FORMAT_CPIO_SVR4_NOCRC);
  std::vector<std::string> want_order = {
      "bin",         "bin/busybox", "bin/sh",      "dev",
      "dev/console", "lib",         "lib/modules", "lib/modules/load.order",
      "init",        "empty"};
  EXPECT_EQ(l.order, want_order);
  EXPECT_EQ(l.members["bin"].mode, mode_t{040755});
  EXPECT_EQ(l.members["bin/busybox"].mode, mode_t{0100755});
  EXPECT_EQ(l.members["bin/busybox"].content, busybox);
  EXPECT_EQ(l.members["bin/sh"].mode, mode_t{0120777});
  EXPECT_EQ(l.members["bin/sh"].symlink, "busybox");
  EXPECT_EQ(l.members["dev/console"].mode, mode_t{020600});
  EXPECT_EQ(l.members["dev/console"].rdev, makedev(5, 1));
  EXPECT_EQ(l.members["lib/modules/load.order"].content, "virtio_blk.ko\n");
  EXPECT_EQ(l.members["init"].mode, mode_t{0100755});
  EXPECT_EQ(l.members["empty"].content, "");
  for (const auto& [name, m] : l.members) {
    EXPECT_EQ(m.uid, 0) << name;
    EXPECT_EQ(m.gid, 0) << name;
    EXPECT_EQ(m.mtime, 0) << name;  // reproducible members
  }
}

TEST(WriteInitramfs, CpioToolListsTheArchive) {
  if (sys::find_executable("cpio").empty() || sys::find_executable("gzip").empty()) {
    GTEST_SKIP() << "cpio or gzip not installed";
  }
  testkit::TempDir dir;
  std::string out = dir.path() + "/initrd.img";
  ASSERT_TRUE(write_initramfs(out, {CpioEntry::dir("bin"), CpioEntry::file("bin/a", "x"),
                                    CpioEntry::symlink("b", "bin/a")}));
  sys::PosixCommandRunner runner;
  auto raw = sys::run_checked(runner, {.argv = {"gzip", "-dc", out}});
  ASSERT_TRUE(raw) << raw.error().message;
  auto listing = sys::run_checked(runner, {.argv = {"cpio", "-it", "--quiet"}, .stdin_data = *raw});
  ASSERT_TRUE(listing) << listing.error().message;
  EXPECT_EQ(*listing, "bin\nbin/a\nb\n");
}

TEST(WriteInitramfs, RejectsBadEntries) {
  testkit::TempDir dir;
  std::string out = dir.path() + "/x";
  struct Case {
    std::vector<CpioEntry> entries;
    std::string message;
  };
  std::vector<Case> cases = {
      {{CpioEntry::file("/init", "")},
       "initramfs entry \"/init\": path must be relative and not end in /"},
      {{CpioEntry::file("a/../b", "")},
       "initramfs entry \"a/../b\": path must not contain empty, \".\" or \"..\" components"},
      {{CpioEntry::file("bin/sh", "")},
       "initramfs entry bin/sh: parent directory bin must be listed before it"},
      {{CpioEntry::file("init", ""), CpioEntry::file("init", "")},
       "initramfs entry init is listed twice"},
      {{CpioEntry::file("init", "", 0100755)},
       "initramfs entry init: mode 0100755 has bits outside 07777"},
  };
  for (const auto& c : cases) {
    auto r = write_initramfs(out, c.entries);
    ASSERT_FALSE(r) << c.message;
    EXPECT_EQ(r.error().code, Errc::invalid_argument);
    EXPECT_EQ(r.error().message, c.message);
  }
  EXPECT_FALSE(sys::path_exists(out));
}

TEST(WriteInitramfs, MissingSourceFileIsNotFoundAndLeavesNothing) {
  testkit::TempDir dir;
  std::string out = dir.path() + "/initrd.img";
  auto r = write_initramfs(out, {CpioEntry::host_file("busybox", dir.path() + "/nope", 0755)});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::not_found);
  EXPECT_EQ(r.error().message, "reading " + dir.path() +
                                   "/nope for initramfs entry busybox: No such file or directory");
  EXPECT_FALSE(sys::path_exists(out));
}

}  // namespace
}  // namespace banger::kernelcat
