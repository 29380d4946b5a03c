#include "banger/imagecat/layer_flattener.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "banger/ext4/image_builder.hpp"
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

struct Fixture {
  testkit::TempDir dir;
  std::string tree = dir.path() + "/tree";
  std::string outside = dir.path() + "/outside";
  LayerFlattener flattener{tree};
  int layers = 0;

  Fixture() {
    fs::create_directories(outside);
    EXPECT_TRUE(sys::write_file_atomic(outside + "/sentinel", "host\n", 0644));
  }
  Status apply(const std::vector<TarEntry>& entries) {
    std::string path =
        write_tar(dir.path() + "/layer" + std::to_string(++layers) + ".tar", entries);
    return flattener.apply(path, "layer " + std::to_string(layers), {});
  }
  bool present(const std::string& relative) const {
    struct stat st{};
    return ::lstat((tree + "/" + relative).c_str(), &st) == 0;
  }
  bool outside_untouched() const {
    std::size_t count = 0;
    for ([[maybe_unused]] const auto& e : fs::directory_iterator(outside)) {
      ++count;
    }
    return count == 1 && slurp(outside + "/sentinel") == "host\n";
  }
};

TEST(LayerFlattener, WhiteoutsOpaqueDirectoriesAndReplacementsFollowTheOciRules) {
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
  EXPECT_EQ(slurp(f.tree + "/opt/app/new"), "new\n");  // same-layer entries survive the marker
  EXPECT_EQ(slurp(f.tree + "/usr/bin/tool"), "v2\n");
  EXPECT_EQ(slurp(f.tree + "/srv/data"), "now a file\n");
  EXPECT_TRUE(fs::is_directory(f.tree + "/home/user"));
  const auto& meta = f.flattener.entries();
  EXPECT_EQ(meta.count("etc/gone"), 0u);
  EXPECT_EQ(meta.count("var/cache"), 0u);
  EXPECT_EQ(meta.count("var/cache/old"), 0u);
  EXPECT_EQ(meta.count("srv/data/file"), 0u);
  EXPECT_EQ(meta.at("usr/bin/tool").mode, 04755u);
  EXPECT_EQ(meta.at("srv/data").type, EntryType::file);
  EXPECT_EQ(meta.at("srv/data").uid, 7);
  EXPECT_EQ(meta.at("home/user").uid, 1000);
  // Parents no entry listed are root-owned 0755 directories.
  EXPECT_EQ(meta.at("var").type, EntryType::directory);
  EXPECT_EQ(meta.at("var").mode, 0755u);
}

TEST(LayerFlattener, DirectoriesGetTheirLayerTimeBackAfterLaterChanges) {
  Fixture f;
  ASSERT_TRUE(f.apply({{"etc", 'd', ""}, {"etc/old", 'f', "x"}, {"usr/bin", 'd', ""}}));
  ASSERT_TRUE(f.apply({{"etc/new", 'f', "y"}, {"etc/.wh.old", 'f', ""}}));
  ASSERT_TRUE(sys::write_file_atomic(f.tree + "/usr/bin/banger-added", "z", 0755));
  ASSERT_TRUE(f.flattener.restore_directory_times());
  for (std::string dir : {"etc", "usr/bin"}) {
    struct stat st{};
    ASSERT_EQ(::lstat((f.tree + "/" + dir).c_str(), &st), 0);
    EXPECT_EQ(st.st_mtime, 1700000000) << dir;  // write_tar's entry time
  }
  // A directory a later layer replaced by a symlink is left alone (never followed).
  ASSERT_TRUE(f.apply({{"usr/bin", 'l', "/tmp"}}));
  EXPECT_TRUE(f.flattener.restore_directory_times());
}

TEST(LayerFlattener, FixupsRestoreOwnersSetuidSpecialFilesAndXattrs) {
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
                       {"home/dev", 'd', "", 0750, 1000, 1000}}));
  EXPECT_FALSE(f.present("dev/null"));  // made in the image, not in the tree
  EXPECT_TRUE(f.present("dev"));
  struct stat shadow{};
  ASSERT_EQ(::lstat((f.tree + "/etc/shadow").c_str(), &shadow), 0);
  EXPECT_EQ(shadow.st_mode & 0600, 0600u);  // readable while staged
  auto edit = f.flattener.fixups();
  ASSERT_TRUE(edit) << edit.error().message;
  auto has = [&](ext4::EditOp::Kind kind, const std::string& path) {
    return std::any_of(edit->ops().begin(), edit->ops().end(),
                       [&](const ext4::EditOp& op) { return op.kind == kind && op.path == path; });
  };
  EXPECT_TRUE(has(ext4::EditOp::Kind::make_node, "/dev/null"));
  EXPECT_TRUE(has(ext4::EditOp::Kind::make_node, "/run/fifo"));
  EXPECT_TRUE(has(ext4::EditOp::Kind::chmod, "/etc/shadow"));
  EXPECT_TRUE(has(ext4::EditOp::Kind::chown, "/home/dev"));
  EXPECT_TRUE(has(ext4::EditOp::Kind::set_xattr, "/bin/ping"));
  EXPECT_TRUE(has(ext4::EditOp::Kind::set_xattr, "/bin/ping6"));  // the same inode
  if (::geteuid() != 0) {
    EXPECT_TRUE(has(ext4::EditOp::Kind::chown, "/bin/su"));
  }

  // Packed like an image build and edited: the ext4 tree is what the layers say.
  sys::PosixCommandRunner runner;
  if (sys::find_executable("mkfs.ext4").empty() || sys::find_executable("debugfs").empty()) {
    GTEST_SKIP() << "e2fsprogs not installed";
  }
  std::string image = f.dir.path() + "/rootfs.ext4";
  ASSERT_TRUE(ext4::make_ext4(runner, {.image = image, .size_mib = 16, .source_dir = f.tree}));
  auto applied = ext4::apply(runner, image, *edit);
  ASSERT_TRUE(applied) << applied.error().message;
  auto stat_of = [&](const std::string& path) {
    return sys::run_checked(runner, {.argv = {"debugfs", "-R", "stat " + path, image}})
        .value_or("");
  };
  EXPECT_NE(stat_of("/bin/su").find("Mode:  04755"), std::string::npos) << stat_of("/bin/su");
  EXPECT_NE(stat_of("/tmp").find("Mode:  01777"), std::string::npos);
  EXPECT_NE(stat_of("/etc/shadow").find("Mode:  0000"), std::string::npos);
  EXPECT_NE(stat_of("/etc/shadow").find("Group:    42"), std::string::npos);
  EXPECT_NE(stat_of("/home/dev").find("User:  1000   Group:  1000"), std::string::npos);
  EXPECT_NE(stat_of("/dev/null").find("Device major/minor number: 01:03"), std::string::npos);
  EXPECT_NE(stat_of("/run/fifo").find("Type: FIFO    Mode:  0620"), std::string::npos);
  std::string ping = stat_of("/bin/ping");
  EXPECT_NE(ping.find("Links: 2"), std::string::npos) << ping;
  EXPECT_NE(ping.find("security.capability (20)"), std::string::npos) << ping;
  auto fsck = runner.run({.argv = {"e2fsck", "-fn", image}});
  ASSERT_TRUE(fsck);
  EXPECT_EQ(fsck->exit_code, 0) << fsck->out;
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

TEST(LayerFlattener, CancellationStopsBetweenEntries) {
  Fixture f;
  std::string path = write_tar(f.dir.path() + "/l.tar", {{"a", 'f', "x"}, {"b", 'f', "y"}});
  auto result = f.flattener.apply(path, "layer 1", [] { return true; });
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, Errc::cancelled);
}

}  // namespace
}  // namespace banger::imagecat
