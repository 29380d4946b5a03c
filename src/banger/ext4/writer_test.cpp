#include "banger/ext4/writer.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <string>

#include "banger/ext4/editor.hpp"
#include "banger/ext4/image_builder.hpp"
#include "banger/sys/fs.hpp"
#include "banger/testkit/temp_dir.hpp"

namespace banger::ext4 {
namespace {

bool have_e2fsprogs() {
  return !sys::find_executable("mkfs.ext4").empty() && !sys::find_executable("debugfs").empty() &&
         !sys::find_executable("e2fsck").empty();
}

struct Image {
  testkit::TempDir dir;
  sys::PosixCommandRunner runner;
  std::string path = dir.path() + "/root.ext4";

  explicit Image(std::uint64_t mib = 16) {
    auto made = make_ext4(runner, {.image = path, .size_mib = mib});
    EXPECT_TRUE(made) << made.error().message;
  }
  std::string debugfs(const std::string& request) {
    auto out = sys::run_checked(runner, {.argv = {"debugfs", "-R", request, path}});
    EXPECT_TRUE(out);
    return out ? *out : "";
  }
  void expect_fsck_clean() {
    auto fsck = runner.run({.argv = {"e2fsck", "-fn", path}});
    ASSERT_TRUE(fsck);
    EXPECT_EQ(fsck->exit_code, 0) << fsck->out << fsck->err;
  }
};

#define SKIP_WITHOUT_E2FSPROGS()                                            \
  if (!have_e2fsprogs()) {                                                  \
    GTEST_SKIP() << "e2fsprogs (mkfs.ext4, debugfs, e2fsck) not installed"; \
  }

TEST(Ext4Writer, WritesEveryKindOfEntryIntoAnImageE2fsckAccepts) {
  SKIP_WITHOUT_E2FSPROGS();
  Image image;
  std::string content;
  for (int i = 0; i < 20000; ++i) {
    content += std::to_string(i) + "\n";
  }
  {
    auto opened = Ext4Writer::open(image.path);
    ASSERT_TRUE(opened) << opened.error().message;
    Ext4Writer& w = *opened;
    auto etc = w.make_dir(kRootIno, "etc", {.mode = 0755, .uid = 0, .gid = 0, .mtime = 1700000000});
    ASSERT_TRUE(etc) << etc.error().message;
    auto home =
        w.make_dir(kRootIno, "home", {.mode = 0750, .uid = 70000, .gid = 70001, .mtime = 5});
    ASSERT_TRUE(home);
    // A file of several blocks, written in pieces.
    auto big = w.make_file(*etc, "big", {.mode = 04755, .uid = 0, .gid = 42, .mtime = 1600000000});
    ASSERT_TRUE(big) << big.error().message;
    {
      auto file = w.open_for_write(*big);
      ASSERT_TRUE(file);
      ASSERT_TRUE(file->write(content.data(), 1000));
      ASSERT_TRUE(file->write(content.data() + 1000, content.size() - 1000));
      ASSERT_TRUE(file->close());
    }
    auto empty = w.make_file(*etc, "empty", {.mode = 0600, .uid = 1, .gid = 2, .mtime = 3});
    ASSERT_TRUE(empty);
    ASSERT_TRUE(w.link(kRootIno, "big-link", *big));
    ASSERT_TRUE(w.make_symlink(kRootIno, "short", "etc/big", {.uid = 7, .gid = 8, .mtime = 9}));
    const std::string long_target = "/" + std::string(200, 'x');
    ASSERT_TRUE(w.make_symlink(kRootIno, "long", long_target, {}));
    ASSERT_TRUE(w.make_node(kRootIno, "null", NodeType::char_device, 1, 3, {.mode = 0666}));
    ASSERT_TRUE(w.make_node(kRootIno, "big-dev", NodeType::block_device, 259, 300, {.mode = 0660}));
    ASSERT_TRUE(w.make_node(*home, "fifo", NodeType::fifo, 0, 0, {.mode = 0620}));
    const std::string cap(
        "\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", 20);
    ASSERT_TRUE(w.set_xattr(*big, "security.capability", cap));
    auto back = w.get_xattr(*big, "security.capability");
    ASSERT_TRUE(back);
    EXPECT_EQ(back->value_or(""), cap);
    EXPECT_FALSE(w.get_xattr(*empty, "user.none")->has_value());
    // Reads through the writer.
    EXPECT_EQ(w.read(*big, 1 << 20).value_or(""), content);
    EXPECT_EQ(w.read_link(*w.resolve("/long", false)).value_or(""), long_target);
    EXPECT_EQ(w.read_link(*w.resolve("/short", false)).value_or(""), "etc/big");
    EXPECT_EQ(*w.resolve("/short", true), *big);
    auto info = w.stat(*big);
    ASSERT_TRUE(info);
    EXPECT_EQ(info->mode, static_cast<mode_t>(0100000 | 04755));
    EXPECT_EQ(info->gid, 42u);
    EXPECT_EQ(info->size, content.size());
    ASSERT_TRUE(w.close());
  }
  image.expect_fsck_clean();
  sys::PosixCommandRunner& r = image.runner;
  EXPECT_EQ(read_file(r, image.path, "/etc/big").value_or(""), content);
  EXPECT_EQ(read_file(r, image.path, "/big-link").value_or(""), content);
  auto big_stat = image.debugfs("stat /etc/big");
  EXPECT_NE(big_stat.find("Mode:  04755"), std::string::npos) << big_stat;
  EXPECT_NE(big_stat.find("Links: 2"), std::string::npos) << big_stat;
  EXPECT_NE(big_stat.find("security.capability (20)"), std::string::npos) << big_stat;
  auto home_stat = image.debugfs("stat /home");
  EXPECT_NE(home_stat.find("User: 70000   Group: 70001"), std::string::npos) << home_stat;
  EXPECT_NE(home_stat.find("Mode:  0750"), std::string::npos) << home_stat;
  EXPECT_NE(image.debugfs("stat /null").find("Device major/minor number: 01:03"),
            std::string::npos);
  auto dev = image.debugfs("stat /big-dev");
  EXPECT_NE(dev.find("Device major/minor number: 259:300"), std::string::npos) << dev;
  EXPECT_NE(image.debugfs("stat /home/fifo").find("Type: FIFO    Mode:  0620"), std::string::npos);
  EXPECT_EQ(read_link(r, image.path, "/short").value_or(""), "etc/big");
  auto short_stat = image.debugfs("stat /short");
  EXPECT_NE(short_stat.find("User:     7   Group:     8"), std::string::npos) << short_stat;
}

TEST(Ext4Writer, GrowsDirectoriesAndRemovesTreesLeavingACleanImage) {
  SKIP_WITHOUT_E2FSPROGS();
  Image image;
  {
    auto w = Ext4Writer::open(image.path);
    ASSERT_TRUE(w);
    auto dir = w->make_dir(kRootIno, "many", {.mode = 0755});
    ASSERT_TRUE(dir);
    // 600 names of 60 bytes need several directory blocks.
    for (int i = 0; i < 600; ++i) {
      auto name = fmt::format("{:060d}", i);
      auto file = w->make_file(*dir, name, {.mode = 0644});
      ASSERT_TRUE(file) << file.error().message;
      auto out = w->open_for_write(*file);
      ASSERT_TRUE(out->write(name.data(), name.size()));
      ASSERT_TRUE(out->close());
    }
    auto sub = w->make_dir(*dir, "sub", {.mode = 0755});
    ASSERT_TRUE(w->set_xattr(*sub, "user.note", "x"));
    ASSERT_TRUE(w->make_symlink(*sub, "up", "..", {}));
    auto kept = w->make_file(kRootIno, "kept", {.mode = 0644});
    ASSERT_TRUE(w->link(*sub, "kept-link", *kept));
    EXPECT_EQ(w->list(*dir)->size(), 601u);
    ASSERT_TRUE(w->remove(kRootIno, "many"));
    EXPECT_FALSE(w->lookup(kRootIno, "many")->has_value());
    EXPECT_EQ(w->remove(kRootIno, "many").error().code, Errc::not_found);
    ASSERT_TRUE(w->close());
  }
  image.expect_fsck_clean();
  EXPECT_NE(image.debugfs("stat /kept").find("Links: 1"), std::string::npos);
}

TEST(Ext4Writer, RefusesBadNamesTakenNamesAndPathsWithDots) {
  SKIP_WITHOUT_E2FSPROGS();
  Image image;
  auto w = Ext4Writer::open(image.path);
  ASSERT_TRUE(w);
  for (const std::string& bad : std::vector<std::string>{
           "", ".", "..", "a/b", std::string("a\0b", 3), std::string(256, 'n')}) {
    auto made = w->make_file(kRootIno, bad, {});
    ASSERT_FALSE(made);
    EXPECT_EQ(made.error().code, Errc::invalid_argument);
  }
  ASSERT_TRUE(w->make_dir(kRootIno, "etc", {.mode = 0755}));
  EXPECT_EQ(w->make_dir(kRootIno, "etc", {}).error().code, Errc::already_exists);
  EXPECT_EQ(w->make_file(kRootIno, "etc", {}).error().code, Errc::already_exists);
  EXPECT_EQ(w->make_symlink(kRootIno, "etc", "x", {}).error().code, Errc::already_exists);
  EXPECT_EQ(w->link(kRootIno, "etc2", *w->resolve("/etc", false)).error().code,
            Errc::invalid_argument);  // no hard links to directories
  EXPECT_EQ(w->resolve("etc", false).error().code, Errc::invalid_argument);
  EXPECT_EQ(w->resolve("/etc/../etc", false).error().code, Errc::invalid_argument);
  EXPECT_EQ(w->resolve("/missing", false).error().code, Errc::not_found);
  // Links resolve inside the image: an absolute one starts at the image's root.
  ASSERT_TRUE(w->make_symlink(kRootIno, "escape", "/../../etc", {}));
  EXPECT_EQ(*w->resolve("/escape", true), *w->resolve("/etc", false));
  ASSERT_TRUE(w->make_symlink(kRootIno, "loop", "/loop", {}));
  EXPECT_EQ(w->resolve("/loop", true).error().code, Errc::invalid_argument);
  ASSERT_TRUE(w->close());
  image.expect_fsck_clean();
}

TEST(Ext4Writer, AFullImageIsAClearError) {
  SKIP_WITHOUT_E2FSPROGS();
  Image image(4);
  auto w = Ext4Writer::open(image.path);
  ASSERT_TRUE(w);
  auto file = w->make_file(kRootIno, "huge", {});
  ASSERT_TRUE(file);
  auto out = w->open_for_write(*file);
  ASSERT_TRUE(out);
  std::string chunk(1 << 20, 'z');
  Status wrote;
  for (int i = 0; i < 8 && wrote; ++i) {
    wrote = out->write(chunk.data(), chunk.size());
  }
  if (wrote) {
    wrote = out->close();
  }
  ASSERT_FALSE(wrote);
  EXPECT_EQ(wrote.error().code, Errc::io);
  EXPECT_NE(wrote.error().message.find("the image is full"), std::string::npos)
      << wrote.error().message;
  EXPECT_NE(wrote.error().message.find(image.path), std::string::npos);
}

TEST(Ext4Writer, OpeningAMissingImageIsNotFound) {
  auto w = Ext4Writer::open("/nonexistent/banger/root.ext4");
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().code, Errc::not_found);
}

}  // namespace
}  // namespace banger::ext4
