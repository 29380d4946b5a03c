#include "banger/imagecat/ext4_guest_fs.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include "banger/ext4/editor.hpp"
#include "banger/ext4/image_builder.hpp"
#include "banger/sys/fs.hpp"
#include "banger/testkit/temp_dir.hpp"

namespace banger::imagecat {
namespace {

TEST(Ext4GuestFs, EditsFollowLinksInsideTheImageAndNeverTheLastComponent) {
  if (sys::find_executable("mkfs.ext4").empty() || sys::find_executable("debugfs").empty() ||
      sys::find_executable("e2fsck").empty()) {
    GTEST_SKIP() << "e2fsprogs (mkfs.ext4, debugfs, e2fsck) not installed";
  }
  testkit::TempDir dir;
  sys::PosixCommandRunner runner;
  const std::string image = dir.path() + "/root.ext4";
  ASSERT_TRUE(ext4::make_ext4(runner, {.image = image, .size_mib = 16}));
  {
    auto writer = ext4::Ext4Writer::open(image);
    ASSERT_TRUE(writer);
    Ext4GuestFs guest(std::move(*writer));
    ASSERT_TRUE(guest.make_dirs("/usr/lib", 0755));
    ASSERT_TRUE(guest.symlink("/lib", "usr/lib"));
    ASSERT_TRUE(guest.symlink("/escape", "/../../.."));
    ASSERT_TRUE(guest.make_dirs("/lib/banger", 0700));  // through the link: /usr/lib/banger
    ASSERT_TRUE(guest.write_file("/escape/etc/hostname", "vm\n", 0644));  // /etc/hostname
    ASSERT_TRUE(guest.write_file("/usr/lib/banger/tool", "#!/bin/sh\n", 0755));
    EXPECT_TRUE(guest.is_executable("/lib/banger/tool"));
    EXPECT_FALSE(guest.is_regular("/lib"));  // the link itself
    EXPECT_EQ(guest.read_file("/escape/etc/hostname").value_or(""), "vm\n");
    auto names = guest.list("/lib");
    ASSERT_TRUE(names);
    EXPECT_EQ(*names, std::vector<std::string>{"banger"});
    // A symlink at the path is replaced, not written through.
    ASSERT_TRUE(guest.symlink("/etc/resolv.conf", "/usr/lib/banger/tool"));
    ASSERT_TRUE(guest.write_file("/etc/resolv.conf", "nameserver 10.0.0.1\n", 0644));
    EXPECT_TRUE(guest.is_regular("/etc/resolv.conf"));
    EXPECT_EQ(guest.read_file("/usr/lib/banger/tool").value_or(""), "#!/bin/sh\n");
    EXPECT_EQ(guest.symlink("/lib", "x").error().code, Errc::already_exists);
    EXPECT_EQ(guest.write_file("/usr", "x", 0644).error().code, Errc::failed_precondition);
    EXPECT_EQ(guest.read_file("/usr").error().code, Errc::invalid_argument);
    EXPECT_EQ(guest.read_file("/usr/lib/banger/tool", 3).error().code, Errc::invalid_argument);
    EXPECT_EQ(guest.write_file("relative", "x", 0644).error().code, Errc::invalid_argument);
    ASSERT_TRUE(guest.remove("/lib"));  // the link, not /usr/lib
    EXPECT_TRUE(guest.exists("/usr/lib/banger/tool"));
    ASSERT_TRUE(guest.remove("/usr/lib"));
    ASSERT_TRUE(guest.remove("/missing/and/more"));
    EXPECT_FALSE(guest.exists("/usr/lib"));
    ASSERT_TRUE(guest.close());
  }
  auto fsck = runner.run({.argv = {"e2fsck", "-fn", image}});
  ASSERT_TRUE(fsck);
  EXPECT_EQ(fsck->exit_code, 0) << fsck->out;
  EXPECT_EQ(ext4::read_file(runner, image, "/etc/hostname").value_or(""), "vm\n");
  auto info = ext4::stat(runner, image, "/etc/resolv.conf");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->type, ext4::FileType::regular);
  EXPECT_EQ(info->mode & 07777, 0644u);
}

}  // namespace
}  // namespace banger::imagecat
