#include "banger/catalog/bundle.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "banger/sys/fs.hpp"
#include "banger/sys/sha256.hpp"
#include "banger/testkit/temp_dir.hpp"

namespace banger::catalog {
namespace {

namespace fs = std::filesystem;

struct RawEntry {
  std::string path;
  char type = 'f';  // f file, d directory, l symlink, h hard link, c char device, p fifo
  std::string content_or_link;
};

enum class Compression { zstd, gzip, none };

// A hand-made tar (hostile bundles the writer would never produce).
void write_raw(const std::string& path, const std::vector<RawEntry>& entries,
               Compression compression = Compression::zstd) {
  archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  if (compression == Compression::zstd) {
    archive_write_add_filter_zstd(a);
  } else if (compression == Compression::gzip) {
    archive_write_add_filter_gzip(a);
  }
  ASSERT_EQ(archive_write_open_filename(a, path.c_str()), ARCHIVE_OK);
  for (const auto& e : entries) {
    archive_entry* entry = archive_entry_new();
    archive_entry_set_pathname(entry, e.path.c_str());
    archive_entry_set_perm(entry, 0644);
    switch (e.type) {
      case 'f':
        archive_entry_set_filetype(entry, AE_IFREG);
        archive_entry_set_size(entry, static_cast<la_int64_t>(e.content_or_link.size()));
        break;
      case 'd':
        archive_entry_set_filetype(entry, AE_IFDIR);
        break;
      case 'l':
        archive_entry_set_filetype(entry, AE_IFLNK);
        archive_entry_set_symlink(entry, e.content_or_link.c_str());
        break;
      case 'h':
        archive_entry_set_filetype(entry, AE_IFREG);
        archive_entry_set_hardlink(entry, e.content_or_link.c_str());
        break;
      case 'c':
        archive_entry_set_filetype(entry, AE_IFCHR);
        archive_entry_set_rdevmajor(entry, 1);
        archive_entry_set_rdevminor(entry, 3);
        break;
      default:
        archive_entry_set_filetype(entry, AE_IFIFO);
    }
    ASSERT_EQ(archive_write_header(a, entry), ARCHIVE_OK);
    if (e.type == 'f') {
      archive_write_data(a, e.content_or_link.data(), e.content_or_link.size());
    }
    archive_entry_free(entry);
  }
  archive_write_close(a);
  archive_write_free(a);
}

struct Fixture {
  Fixture() {
    fs::create_directories(out());
    fs::create_directories(dest());
  }
  std::string out() const { return dir.path() + "/out"; }
  std::string dest() const { return dir.path() + "/dest"; }
  std::string file(const std::string& name, const std::string& content) const {
    std::string path = dir.path() + "/" + name;
    EXPECT_TRUE(sys::write_file_atomic(path, content));
    return path;
  }
  // Extracts a hand-made image bundle; the error message ("" on success).
  std::string extract_raw(const std::vector<RawEntry>& entries,
                          Compression compression = Compression::zstd) {
    std::string path = dir.path() + "/raw.tar.zst";
    fs::remove(path);
    write_raw(path, entries, compression);
    auto done = extract_bundle(BundleKind::image, path, "raw.tar.zst", dest());
    return done ? "" : done.error().message;
  }
  testkit::TempDir dir;
};

const std::string kRefused = "bundle raw.tar.zst: ";

TEST(Bundle, WritesAReproducibleBundleNamedAfterItsSha256AndReadsItBack) {
  Fixture f;
  std::string rootfs = f.file("rootfs.ext4", std::string(200000, 'r') + "end");
  std::string manifest = f.file("manifest.json", "{\"name\":\"team\"}");
  BundleEntry entry{.name = "team", .distro = "debian", .kernel = "debian-cloud"};
  auto written = write_bundle(
      BundleKind::image, {{"manifest.json", manifest}, {"rootfs.ext4", rootfs}}, entry, f.out());
  ASSERT_TRUE(written) << written.error().message;
  EXPECT_EQ(written->entry.sha256, *sys::sha256_file(written->path));
  EXPECT_EQ(written->entry.size, fs::file_size(written->path));
  EXPECT_EQ(written->path, f.out() + "/" + bundle_file_name(written->entry));
  EXPECT_EQ(written->entry.url, bundle_file_name(written->entry));
  EXPECT_EQ(written->entry.kernel, "debian-cloud");

  auto again = write_bundle(BundleKind::image,
                            {{"manifest.json", manifest}, {"rootfs.ext4", rootfs}}, entry, f.out());
  ASSERT_TRUE(again);
  EXPECT_EQ(again->entry.sha256, written->entry.sha256) << "same files, same bundle";
  EXPECT_EQ(std::distance(fs::directory_iterator(f.out()), fs::directory_iterator()), 1)
      << "no partial file is left";

  ASSERT_TRUE(extract_bundle(BundleKind::image, written->path, "b", f.dest()));
  EXPECT_EQ(*sys::read_file(f.dest() + "/rootfs.ext4"), *sys::read_file(rootfs));
  EXPECT_EQ(*sys::read_file(f.dest() + "/manifest.json"), "{\"name\":\"team\"}");
}

TEST(Bundle, ZeroBlocksStayHolesWhenExtracted) {
  Fixture f;
  std::string rootfs = f.dir.path() + "/rootfs.ext4";
  {
    int fd = ::open(rootfs.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::pwrite(fd, "data", 4, 0), 4);
    ASSERT_EQ(::ftruncate(fd, 64 << 20), 0);  // 64 MiB, nearly all hole
    ::close(fd);
  }
  auto written =
      write_bundle(BundleKind::image,
                   {{"manifest.json", f.file("manifest.json", "{}")}, {"rootfs.ext4", rootfs}},
                   {.name = "sparse", .kernel = "k"}, f.out());
  ASSERT_TRUE(written) << written.error().message;
  EXPECT_LT(written->entry.size, 1u << 20);
  ASSERT_TRUE(extract_bundle(BundleKind::image, written->path, "b", f.dest()));
  struct stat st{};
  ASSERT_EQ(::stat((f.dest() + "/rootfs.ext4").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 64 << 20);
  EXPECT_LT(st.st_blocks * 512, 1 << 20) << "the zeros were written out";
}

TEST(Bundle, WriterRefusesFilesOutsideTheLayout) {
  Fixture f;
  std::string m = f.file("manifest.json", "{}");
  auto missing = write_bundle(BundleKind::image, {{"manifest.json", m}}, {.name = "x"}, f.out());
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message, "image bundle: rootfs.ext4 is missing");
  auto extra =
      write_bundle(BundleKind::kernel, {{"manifest.json", m}, {"vmlinux", m}, {"modules.tar", m}},
                   {.name = "x"}, f.out());
  ASSERT_FALSE(extra);
  EXPECT_EQ(extra.error().message,
            "kernel bundle: \"modules.tar\" is not allowed (allowed: manifest.json, vmlinux, "
            "initrd.img (optional))");
  EXPECT_TRUE(fs::is_empty(f.out()));
}

TEST(Bundle, KernelBundlesMayCarryAnInitrd) {
  Fixture f;
  auto written = write_bundle(BundleKind::kernel,
                              {{"manifest.json", f.file("manifest.json", "{}")},
                               {"vmlinux", f.file("vmlinux", "ELF")},
                               {"initrd.img", f.file("initrd.img", "cpio")}},
                              {.name = "k"}, f.out());
  ASSERT_TRUE(written) << written.error().message;
  ASSERT_TRUE(extract_bundle(BundleKind::kernel, written->path, "k", f.dest()));
  EXPECT_EQ(*sys::read_file(f.dest() + "/initrd.img"), "cpio");
  fs::remove_all(f.dest());
  fs::create_directories(f.dest());
  auto as_image = extract_bundle(BundleKind::image, written->path, "k", f.dest());
  ASSERT_FALSE(as_image);
  EXPECT_NE(as_image.error().message.find("entry \"vmlinux\" is not allowed"), std::string::npos);
}

TEST(Bundle, RefusesHostileBundles) {
  Fixture f;
  const std::vector<RawEntry> good = {{"manifest.json", 'f', "{}"}, {"rootfs.ext4", 'f', "x"}};
  EXPECT_EQ(f.extract_raw(good), "");

  struct Case {
    std::vector<RawEntry> entries;
    std::string error;
  };
  const std::vector<Case> cases = {
      {{{"manifest.json", 'f', "{}"}, {"rootfs.ext4", 'f', "x"}, {"extra", 'f', "x"}},
       "entry \"extra\" is not allowed (a bundle holds exactly: manifest.json, rootfs.ext4)"},
      {{{"manifest.json", 'f', "{}"}, {"rootfs.ext4", 'l', "/etc/shadow"}},
       "entry \"rootfs.ext4\" is not a regular file"},
      {{{"manifest.json", 'f', "{}"}, {"rootfs.ext4", 'h', "manifest.json"}},
       "entry \"rootfs.ext4\" is not a regular file"},
      {{{"manifest.json", 'f', "{}"}, {"rootfs.ext4", 'c', ""}},
       "entry \"rootfs.ext4\" is not a regular file"},
      {{{"manifest.json", 'p', ""}, {"rootfs.ext4", 'f', "x"}},
       "entry \"manifest.json\" is not a regular file"},
      {{{"manifest.json", 'f', "{}"}, {"rootfs.ext4", 'd', ""}},
       "entry \"rootfs.ext4/\" is not a regular file"},
      {{{"manifest.json", 'f', "{}"}, {"../rootfs.ext4", 'f', "x"}},
       "entry \"../rootfs.ext4\" is not allowed (a bundle holds exactly: manifest.json, "
       "rootfs.ext4)"},
      {{{"manifest.json", 'f', "{}"}, {"/rootfs.ext4", 'f', "x"}},
       "entry \"/rootfs.ext4\" is not allowed (a bundle holds exactly: manifest.json, "
       "rootfs.ext4)"},
      {{{"manifest.json", 'f', "{}"}, {"sub/rootfs.ext4", 'f', "x"}},
       "entry \"sub/rootfs.ext4\" is not allowed (a bundle holds exactly: manifest.json, "
       "rootfs.ext4)"},
      {{{"manifest.json", 'f', "{}"}, {"rootfs.ext4", 'f', "x"}, {"./rootfs.ext4", 'f', "y"}},
       "entry \"./rootfs.ext4\" appears twice"},
      {{{"manifest.json", 'f', "{}"}},
       "rootfs.ext4 is missing (an image bundle holds exactly: manifest.json, rootfs.ext4)"},
      {{{"manifest.json", 'f', std::string(kMaxBundleManifestBytes + 1, ' ')},
        {"rootfs.ext4", 'f', "x"}},
       "manifest.json is larger than 1024 KiB"},
  };
  for (const auto& c : cases) {
    fs::remove_all(f.dest());
    fs::create_directories(f.dest());
    EXPECT_EQ(f.extract_raw(c.entries), kRefused + c.error);
    EXPECT_FALSE(sys::path_exists(f.dir.path() + "/etc")) << "nothing is written outside";
  }
  fs::remove_all(f.dest());
  fs::create_directories(f.dest());
  EXPECT_EQ(f.extract_raw(good, Compression::gzip),
            kRefused + "not a readable .tar.zst: Unrecognized archive format");
  fs::remove_all(f.dest());
  fs::create_directories(f.dest());
  EXPECT_EQ(f.extract_raw(good, Compression::none),
            kRefused + "not a readable .tar.zst: not zstd-compressed");
}

TEST(Bundle, TheManifestIsReadWithoutExtractingAndWithTheSameRefusals) {
  Fixture f;
  std::string path = f.dir.path() + "/m.tar.zst";
  write_raw(path, {{"rootfs.ext4", 'f', "x"}, {"manifest.json", 'f', "{\"name\":\"m\"}"}});
  EXPECT_EQ(*read_bundle_manifest(BundleKind::image, path, "m"), "{\"name\":\"m\"}");
  EXPECT_TRUE(fs::is_empty(f.dest()));
  fs::remove(path);
  write_raw(path, {{"evil", 'l', "/etc"}, {"manifest.json", 'f', "{}"}});
  auto hostile = read_bundle_manifest(BundleKind::image, path, "m");
  ASSERT_FALSE(hostile);
  EXPECT_EQ(hostile.error().message,
            "bundle m: entry \"evil\" is not allowed (a bundle holds exactly: manifest.json, "
            "rootfs.ext4)");
  fs::remove(path);
  write_raw(path, {{"rootfs.ext4", 'f', "x"}});
  auto none = read_bundle_manifest(BundleKind::image, path, "m");
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().message,
            "bundle m: manifest.json is missing (an image bundle holds exactly: manifest.json, "
            "rootfs.ext4)");
}

TEST(Bundle, RefusesATruncatedStream) {
  Fixture f;
  std::string rootfs = f.dir.path() + "/rootfs.ext4";
  std::string noise;
  for (int i = 0; i < 400000; ++i) {
    noise += static_cast<char>((i * 7919) % 251);
  }
  ASSERT_TRUE(sys::write_file_atomic(rootfs, noise));
  auto written =
      write_bundle(BundleKind::image,
                   {{"manifest.json", f.file("manifest.json", "{}")}, {"rootfs.ext4", rootfs}},
                   {.name = "t", .kernel = "k"}, f.out());
  ASSERT_TRUE(written);
  fs::resize_file(written->path, written->entry.size / 2);
  auto cut = extract_bundle(BundleKind::image, written->path, "t.tar.zst", f.dest());
  ASSERT_FALSE(cut);
  EXPECT_EQ(cut.error().code, Errc::invalid_argument);
  EXPECT_TRUE(cut.error().message.starts_with("bundle t.tar.zst: "));
  EXPECT_NE(cut.error().message.find("runcated"), std::string::npos) << cut.error().message;
}

}  // namespace
}  // namespace banger::catalog
