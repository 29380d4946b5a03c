#include "banger/imagecat/layer_flattener.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "banger/base/expected.hpp"
#include "banger/ext4/editor.hpp"
#include "banger/ext4/image_builder.hpp"
#include "banger/ext4/writer.hpp"
#include "banger/sys/command_runner.hpp"
#include "banger/sys/fs.hpp"
#include "banger/testkit/temp_dir.hpp"

namespace banger::imagecat {
namespace {

namespace fs = std::filesystem;
using unpack::EntryType;

struct TarEntry {
  std::string path;
  char type = 'f';  // f file, d dir, l symlink, h hard link, p fifo, c char device
  std::string content_or_link;
  int mode = 0644;
  int uid = 0;
  int gid = 0;
  std::vector<std::pair<std::string, std::string>> xattrs;
};

std::string write_tar(const std::string& path, const std::vector<TarEntry>& entries) {
  archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  EXPECT_EQ(archive_write_open_filename(a, path.c_str()), ARCHIVE_OK);
  for (const auto& e : entries) {
    archive_entry* entry = archive_entry_new();
    archive_entry_set_pathname(entry, e.path.c_str());
    archive_entry_set_perm(entry, static_cast<mode_t>(e.mode));
    archive_entry_set_uid(entry, e.uid);
    archive_entry_set_gid(entry, e.gid);
    archive_entry_set_mtime(entry, 1700000000, 0);
    for (const auto& [name, value] : e.xattrs) {
      archive_entry_xattr_add_entry(entry, name.c_str(), value.data(), value.size());
    }
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
      case 'p':
        archive_entry_set_filetype(entry, AE_IFIFO);
        break;
      default:
        archive_entry_set_filetype(entry, AE_IFCHR);
        archive_entry_set_rdevmajor(entry, 1);
        archive_entry_set_rdevminor(entry, 3);
        break;
    }
    EXPECT_GE(archive_write_header(a, entry), ARCHIVE_WARN) << e.path;  // WARN: a non-UTF-8 name
    if (e.type == 'f') {
      archive_write_data(a, e.content_or_link.data(), e.content_or_link.size());
    }
    archive_entry_free(entry);
  }
  archive_write_close(a);
  archive_write_free(a);
  return path;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream out;
  out << in.rdbuf();
  return in ? out.str() : "<missing>";
}

bool have_e2fsprogs() {
  return !sys::find_executable("mkfs.ext4").empty() && !sys::find_executable("debugfs").empty() &&
         !sys::find_executable("e2fsck").empty();
}

struct Fixture {
  testkit::TempDir dir;
  std::string outside = dir.path() + "/outside";
  std::string image = dir.path() + "/rootfs.ext4";
  LayerFlattener flattener;
  std::vector<std::string> layer_paths;
  std::vector<std::string> names;
  sys::PosixCommandRunner runner;

  Fixture() {
    fs::create_directories(outside);
    EXPECT_TRUE(sys::write_file_atomic(outside + "/sentinel", "host\n", 0644));
  }
  Status apply(const std::vector<TarEntry>& entries) {
    std::string path =
        write_tar(dir.path() + "/layer" + std::to_string(layer_paths.size() + 1) + ".tar", entries);
    layer_paths.push_back(path);
    names.push_back("layer " + std::to_string(layer_paths.size()));
    return flattener.apply(path, names.back(), {});
  }
  bool present(const std::string& relative) const { return flattener.find(relative) != nullptr; }
  // Writes the flattened layers into a fresh 16 MiB image, e2fsck must find it clean.
  Status write() {
    BANGER_TRY(ext4::make_ext4(runner, {.image = image, .size_mib = 16}));
    BANGER_TRY_ASSIGN(auto writer, ext4::Ext4Writer::open(image));
    BANGER_TRY(flattener.write(writer, layer_paths, names, {}));
    BANGER_TRY(writer.close());
    auto fsck = runner.run({.argv = {"e2fsck", "-fn", image}});
    EXPECT_TRUE(fsck && fsck->exit_code == 0) << (fsck ? fsck->out : "");
    return {};
  }
  std::string read(const std::string& guest) {
    return ext4::read_file(runner, image, guest).value_or("<missing>");
  }
  std::string stat_of(const std::string& guest) {
    return sys::run_checked(runner, {.argv = {"debugfs", "-R", "stat " + guest, image}})
        .value_or("");
  }
  bool outside_untouched() const {
    std::size_t count = 0;
    for ([[maybe_unused]] const auto& e : fs::directory_iterator(outside)) {
      ++count;
    }
    return count == 1 && slurp(outside + "/sentinel") == "host\n";
  }
};

#define SKIP_WITHOUT_E2FSPROGS()                                            \
  if (!have_e2fsprogs()) {                                                  \
    GTEST_SKIP() << "e2fsprogs (mkfs.ext4, debugfs, e2fsck) not installed"; \
  }

TEST(LayerFlattener, WhiteoutsOpaqueDirectoriesAndReplacementsFollowTheOciRules) {
  SKIP_WITHOUT_E2FSPROGS();
  Fixture f;
  ASSERT_TRUE(f.apply({{"etc", 'd', "", 0755},
                       {"etc/keep", 'f', "keep\n"},
                       {"etc/gone", 'f', "gone\n"},
                       {"var/cache/old", 'f', "old\n"},
                       {"opt/app/a", 'f', "a\n"},
                       {"opt/app/sub/b", 'f', "b\n"},
                       {"usr/bin/tool", 'f', "v1\n", 0755},
                       {"srv/data", 'd', "", 0750, 1000, 1000},
                       {"srv/data/file", 'f', "d\n"},
                       {"home", 'f', "was a file\n"}}));
  ASSERT_TRUE(f.apply({{"etc/.wh.gone", 'f', ""},
                       {"var/.wh.cache", 'f', ""},
                       {"opt/app/new", 'f', "new\n"},
                       {"opt/app/.wh..wh..opq", 'f', ""},
                       {"usr/bin/tool", 'f', "v2\n", 04755, 0, 0},
                       {"srv/data", 'f', "now a file\n", 0600, 7, 7},
                       {"home", 'd', "", 0755},
                       {"home/user", 'd', "", 0700, 1000, 1000}}));
  EXPECT_TRUE(f.present("etc/keep"));
  EXPECT_FALSE(f.present("etc/gone"));
  EXPECT_TRUE(f.present("var"));
  EXPECT_FALSE(f.present("var/cache"));
  EXPECT_FALSE(f.present("opt/app/a"));
  EXPECT_FALSE(f.present("opt/app/sub"));
  ASSERT_TRUE(f.write());
  EXPECT_EQ(f.read("/opt/app/new"), "new\n");  // same-layer entries survive the marker
  EXPECT_EQ(f.read("/usr/bin/tool"), "v2\n");
  EXPECT_EQ(f.read("/srv/data"), "now a file\n");
  EXPECT_NE(f.stat_of("/home/user").find("Type: directory"), std::string::npos);
  EXPECT_EQ(f.read("/etc/gone"), "<missing>");
  EXPECT_FALSE(f.present("var/cache/old"));
  EXPECT_FALSE(f.present("srv/data/file"));
  EXPECT_EQ(f.flattener.find("usr/bin/tool")->mode, 04755u);
  EXPECT_EQ(f.flattener.find("srv/data")->type, EntryType::file);
  EXPECT_EQ(f.flattener.find("srv/data")->uid, 7);
  EXPECT_EQ(f.flattener.find("home/user")->uid, 1000);
  EXPECT_NE(f.stat_of("/usr/bin/tool").find("Mode:  04755"), std::string::npos);
  // Parents no entry listed are root-owned 0755 directories.
  EXPECT_EQ(f.flattener.find("var")->type, EntryType::directory);
  EXPECT_EQ(f.flattener.find("var")->mode, 0755u);
}

TEST(LayerFlattener, DirectoriesKeepTheirLayerTimeAfterLaterChanges) {
  SKIP_WITHOUT_E2FSPROGS();
  Fixture f;
  ASSERT_TRUE(f.apply({{"etc", 'd', ""}, {"etc/old", 'f', "x"}, {"usr/bin", 'd', ""}}));
  ASSERT_TRUE(f.apply({{"etc/new", 'f', "y"}, {"etc/.wh.old", 'f', ""}}));
  ASSERT_TRUE(f.write());
  for (std::string dir : {"/etc", "/usr/bin"}) {
    // write_tar's entry time, 2023-11-14 22:13:20 UTC.
    EXPECT_NE(f.stat_of(dir).find("mtime: 0x6553f100"), std::string::npos) << f.stat_of(dir);
  }
}

TEST(LayerFlattener, WritesOwnersSetuidSpecialFilesXattrsAndHardLinks) {
  SKIP_WITHOUT_E2FSPROGS();
  Fixture f;
  const std::string cap(
      "\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", 20);
  ASSERT_TRUE(f.apply({{"bin/su", 'f', "su", 04755},
                       {"bin/ping", 'f', "ping", 0755, 0, 0, {{"security.capability", cap}}},
                       {"bin/ping6", 'h', "bin/ping"},
                       {"tmp", 'd', "", 01777},
                       {"etc/shadow", 'f', "x", 0000, 0, 42},
                       {"dev/null", 'c', "", 0666},
                       {"run/fifo", 'p', "", 0620, 5, 5},
                       {"home/dev", 'd', "", 0750, 1000, 1000},
                       {"lost+found", 'd', "", 0700}}));
  ASSERT_TRUE(f.write());
  EXPECT_NE(f.stat_of("/bin/su").find("Mode:  04755"), std::string::npos) << f.stat_of("/bin/su");
  EXPECT_NE(f.stat_of("/tmp").find("Mode:  01777"), std::string::npos);
  EXPECT_NE(f.stat_of("/etc/shadow").find("Mode:  0000"), std::string::npos);
  EXPECT_NE(f.stat_of("/etc/shadow").find("Group:    42"), std::string::npos);
  EXPECT_NE(f.stat_of("/home/dev").find("User:  1000   Group:  1000"), std::string::npos);
  EXPECT_NE(f.stat_of("/dev/null").find("Device major/minor number: 01:03"), std::string::npos);
  EXPECT_NE(f.stat_of("/run/fifo").find("Type: FIFO    Mode:  0620"), std::string::npos);
  std::string ping = f.stat_of("/bin/ping");
  EXPECT_NE(ping.find("Links: 2"), std::string::npos) << ping;
  EXPECT_NE(ping.find("security.capability (20)"), std::string::npos) << ping;
  EXPECT_EQ(f.read("/bin/ping6"), "ping");
  EXPECT_EQ(f.read("/etc/shadow"), "x");
}

TEST(LayerFlattener, AHardLinkKeepsTheDataOfAFileALaterLayerReplaced) {
  SKIP_WITHOUT_E2FSPROGS();
  Fixture f;
  ASSERT_TRUE(f.apply({{"a", 'f', "old"}}));
  ASSERT_TRUE(f.apply({{"b", 'h', "a"}}));
  ASSERT_TRUE(f.apply({{"a", 'f', "new"}, {"c", 'h', "a"}}));
  ASSERT_TRUE(f.write());
  EXPECT_EQ(f.read("/a"), "new");
  EXPECT_EQ(f.read("/b"), "old");
  EXPECT_EQ(f.read("/c"), "new");
  EXPECT_NE(f.stat_of("/b").find("Links: 1"), std::string::npos) << f.stat_of("/b");
  EXPECT_NE(f.stat_of("/a").find("Links: 2"), std::string::npos) << f.stat_of("/a");
  EXPECT_EQ(f.flattener.content_bytes(), 3 * 4096u + 6u);  // two files' data, three paths
}

TEST(LayerFlattener, ALayerThatChangesBetweenItsTwoReadsIsRefused) {
  SKIP_WITHOUT_E2FSPROGS();
  Fixture f;
  ASSERT_TRUE(f.apply({{"a", 'f', "first"}, {"b", 'f', "second"}}));
  write_tar(f.layer_paths[0], {{"a", 'f', "first"}, {"b", 'f', "longer second"}});
  auto written = f.write();
  ASSERT_FALSE(written);
  EXPECT_EQ(written.error().code, Errc::invalid_argument);
  EXPECT_NE(written.error().message.find("layer 1: b: the layer changed"), std::string::npos)
      << written.error().message;
}

struct Hostile {
  std::string name;
  std::vector<std::vector<TarEntry>> layers;
  std::string expect;
};

TEST(LayerFlattener, HostileLayersAreRefusedAndWriteNothingOutside) {
  for (const auto& c : std::vector<Hostile>{
           {"dotdot", {{{"../outside/evil", 'f', "x"}}}, "unsafe path ../outside/evil"},
           {"absolute", {{{"/outside/evil", 'f', "x"}}}, "unsafe path /outside/evil"},
           {"symlink then write through",
            {{{"etc/link", 'l', "../../outside"}, {"etc/link/evil", 'f', "x"}}},
            "a parent directory is a symlink"},
           {"symlink in an earlier layer",
            {{{"etc/link", 'l', "/"}}, {{"etc/link/evil", 'f', "x"}}},
            "a parent directory is a symlink"},
           {"hard link outside", {{{"etc/pw", 'h', "../outside/sentinel"}}}, "unsafe hard link"},
           {"hard link to nothing yet",
            {{{"etc/pw", 'h', "etc/later"}, {"etc/later", 'f', "x"}}},
            "hard link to etc/later"},
           {"hard link to a directory",
            {{{"etc", 'd', ""}, {"x", 'h', "etc"}}},
            "hard link to etc"},
           {"hard link through a symlink",
            {{{"etc/link", 'l', "/"}, {"x", 'h', "etc/link/sentinel"}}},
            "hard link to etc/link/sentinel"},
           {"below a file",
            {{{"etc", 'f', "x"}}, {{"etc/passwd", 'f', "x"}}},
            "etc is not a directory"},
           {"whiteout through a symlink",
            {{{"etc/link", 'l', "../../outside"}}, {{"etc/link/.wh.sentinel", 'f', ""}}},
            "a parent directory is a symlink"},
           {"whiteout of dot dot", {{{"etc/.wh...", 'f', ""}}}, "a whiteout must name"},
           {"opaque through a symlink",
            {{{"etc/link", 'l', "../../outside"}}, {{"etc/link/.wh..wh..opq", 'f', ""}}},
            "a parent directory is a symlink"},
           {"newline in a name", {{{"etc/a\nb", 'f', "x"}}}, "valid UTF-8 without newline"},
           {"invalid utf-8", {{{"etc/\xff\xfe", 'f', "x"}}}, "valid UTF-8"},
           {"overlong name",
            {{{"etc/" + std::string(256, 'a'), 'f', "x"}}},
            "longer than 255 bytes"},
       }) {
    Fixture f;
    Status result;
    for (const auto& layer : c.layers) {
      result = f.apply(layer);
      if (!result) {
        break;
      }
    }
    ASSERT_FALSE(result) << c.name;
    EXPECT_EQ(result.error().code, Errc::invalid_argument)
        << c.name << ": " << result.error().message;
    EXPECT_NE(result.error().message.find(c.expect), std::string::npos)
        << c.name << ": " << result.error().message;
    EXPECT_NE(result.error().message.find("layer"), std::string::npos) << result.error().message;
    EXPECT_TRUE(f.outside_untouched()) << c.name;
  }
}

TEST(LayerFlattener, EntryCountAndXattrSizeAreBounded) {
  testkit::TempDir dir;
  // The same path again and again: the live tree stays one path, the count still grows.
  std::vector<TarEntry> same(6, TarEntry{"a", 'f', "x"});
  LayerFlattener small(5);
  auto counted = small.apply(write_tar(dir.path() + "/l1.tar", same), "layer 1", {});
  ASSERT_FALSE(counted);
  EXPECT_NE(counted.error().message.find("layer 1: a: the image has more than 5 entries"),
            std::string::npos)
      << counted.error().message;
  LayerFlattener flattener;
  auto big = flattener.apply(
      write_tar(dir.path() + "/l2.tar",
                {{"b", 'f', "x", 0644, 0, 0, {{"user.big", std::string(65537, 'v')}}}}),
      "layer 1", {});
  ASSERT_FALSE(big);
  EXPECT_NE(big.error().message.find("extended attribute user.big is larger than 64 KiB"),
            std::string::npos)
      << big.error().message;
}

TEST(LayerFlattener, CancellationStopsBetweenEntries) {
  Fixture f;
  std::string path = write_tar(f.dir.path() + "/l.tar", {{"a", 'f', "x"}, {"b", 'f', "y"}});
  // (apply is pass 1; write's cancellation is checked between files the same way.)
  auto result = f.flattener.apply(path, "layer 1", [] { return true; });
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, Errc::cancelled);
  // Writing is cancellable too, between paths.
  ASSERT_TRUE(f.apply({{"a", 'f', "x"}, {"b", 'f', "y"}}));
  if (!have_e2fsprogs()) {
    GTEST_SKIP() << "e2fsprogs (mkfs.ext4, debugfs, e2fsck) not installed";
  }
  ASSERT_TRUE(ext4::make_ext4(f.runner, {.image = f.image, .size_mib = 16}));
  auto writer = ext4::Ext4Writer::open(f.image);
  ASSERT_TRUE(writer);
  auto written = f.flattener.write(*writer, f.layer_paths, f.names, [] { return true; });
  ASSERT_FALSE(written);
  EXPECT_EQ(written.error().code, Errc::cancelled);
}

}  // namespace
}  // namespace banger::imagecat
