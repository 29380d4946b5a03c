#include "banger/imagecat/guest_tree.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "banger/imagecat/rootfs_layout.hpp"
#include "banger/sys/fs.hpp"
#include "banger/testkit/temp_dir.hpp"

namespace banger::imagecat {
namespace {

namespace fs = std::filesystem;

std::string mode_of(const std::string& path) {
  struct stat st{};
  return ::lstat(path.c_str(), &st) == 0 ? std::to_string(st.st_mode & 07777) : "missing";
}

// dir and every entry below it (relative paths, sorted) with its mode and, for regular files,
// the content.
std::vector<std::string> snapshot(const std::string& dir) {
  std::vector<std::string> out{". " + mode_of(dir)};
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    std::string line = fs::relative(entry.path(), dir).string() + " " + mode_of(entry.path());
    if (entry.is_regular_file()) {
      line += " " + *sys::read_file(entry.path().string());
    }
    out.push_back(line);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// A tree being built, and a directory outside it holding what an escape would hit.
struct Trees {
  Trees() {
    EXPECT_TRUE(sys::make_dirs(root + "/etc"));
    EXPECT_TRUE(sys::make_dirs(outside, 0700));
    EXPECT_TRUE(sys::write_file_atomic(outside + "/ssh_host_ed25519_key", "host key", 0600));
    EXPECT_TRUE(sys::write_file_atomic(outside + "/passwd", "host passwd"));
  }
  testkit::TempDir dir;
  std::string root = dir.path() + "/tree";
  std::string outside = dir.path() + "/host-etc-ssh";
};

// Regression for L7 (security review): configure_debian_tree on a tree whose etc/ssh is an
// absolute symlink to a directory outside the tree neither writes there nor deletes the host
// keys in it. Fails on 8f38f5a: ran with rootfs_layout.cpp's helpers restored to root +
// guest_path with normal resolution (8f38f5a's rootfs_layout.cpp:18-78): the outside
// ssh_host_ed25519_key was deleted and sshd_config.d/banger.conf was written there.
TEST(GuestTree, DebianConfigurationDoesNotFollowAnAbsoluteEtcSshLinkOutOfTheTree) {
  Trees t;
  ASSERT_EQ(::symlink(t.outside.c_str(), (t.root + "/etc/ssh").c_str()), 0);
  const auto before = snapshot(t.outside);
  auto configured = configure_debian_tree(t.root);
  EXPECT_EQ(snapshot(t.outside), before);
  // The link leads nowhere inside the tree (the guest would see no /etc/ssh directory).
  ASSERT_FALSE(configured);
  EXPECT_NE(configured.error().message.find("/etc/ssh"), std::string::npos)
      << configured.error().message;
}

// Regression for L7 (security review): the tiny layout's removals and writes stay inside the
// tree when its directories are links out of it. Fails on 8f38f5a: ran with the helpers
// restored to normal resolution: the outside directory's mode went from 0700 to 0755 (the
// chmod of /etc/dropbear followed the link).
TEST(GuestTree, TinyLayoutDoesNotFollowLinksOutOfTheTree) {
  Trees t;
  ASSERT_TRUE(sys::make_dirs(t.root + "/usr/share"));
  ASSERT_EQ(::symlink(t.outside.c_str(), (t.root + "/usr/share/doc").c_str()), 0);
  ASSERT_EQ(::symlink((t.outside + "/passwd").c_str(), (t.root + "/etc/passwd").c_str()), 0);
  ASSERT_EQ(::symlink(t.outside.c_str(), (t.root + "/etc/dropbear").c_str()), 0);
  const auto before = snapshot(t.outside);
  (void)write_tiny_tree(t.root, {"/bin/sh"});
  EXPECT_EQ(snapshot(t.outside), before);
  EXPECT_FALSE(fs::exists(fs::symlink_status(t.root + "/usr/share/doc")));  // the link went
}

TEST(GuestTree, LinksInsideTheTreeResolveAsTheGuestSeesThem) {
  Trees t;
  ASSERT_TRUE(sys::make_dirs(t.root + "/etc/ssh-real"));
  ASSERT_EQ(::symlink("/etc/ssh-real", (t.root + "/etc/ssh").c_str()), 0);
  ASSERT_EQ(::symlink("../../../../../../..", (t.root + "/etc/up").c_str()), 0);
  auto tree = GuestTree::open(t.root);
  ASSERT_TRUE(tree);
  // An absolute link means the tree's own path.
  ASSERT_TRUE(tree->make_dirs("/etc/ssh/sshd_config.d", 0700));
  ASSERT_TRUE(tree->write_file("/etc/ssh/sshd_config.d/banger.conf", "x", 0640));
  EXPECT_EQ(*sys::read_file(t.root + "/etc/ssh-real/sshd_config.d/banger.conf"), "x");
  struct stat st{};
  ASSERT_EQ(::stat((t.root + "/etc/ssh-real/sshd_config.d").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  ASSERT_EQ(::stat((t.root + "/etc/ssh-real/sshd_config.d/banger.conf").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  // ".." stops at the tree's root, as "/.." does in the guest.
  ASSERT_TRUE(tree->write_file("/etc/up/etc/hostname", "tiny\n", 0644));
  EXPECT_EQ(*sys::read_file(t.root + "/etc/hostname"), "tiny\n");
  EXPECT_EQ(tree->list("/etc/up/etc")->size(), 4u);  // ssh-real, ssh, up, hostname
  // The last component is a name: a link there is replaced or removed, never followed.
  ASSERT_EQ(::symlink((t.outside + "/passwd").c_str(), (t.root + "/etc/passwd").c_str()), 0);
  ASSERT_TRUE(tree->write_file("/etc/passwd", "root\n", 0644));
  EXPECT_FALSE(fs::is_symlink(t.root + "/etc/passwd"));
  EXPECT_EQ(*sys::read_file(t.outside + "/passwd"), "host passwd");
  ASSERT_TRUE(tree->remove("/etc/ssh"));
  EXPECT_TRUE(fs::exists(t.root + "/etc/ssh-real/sshd_config.d/banger.conf"));
  EXPECT_FALSE(tree->exists("/etc/ssh"));
  ASSERT_TRUE(tree->remove("/etc/ssh-real"));
  EXPECT_FALSE(fs::exists(t.root + "/etc/ssh-real"));
  EXPECT_TRUE(tree->remove("/no/such/thing"));
}

TEST(GuestTree, ATreeWithALinkOutsideInsideADirectoryIsRemovedWithoutFollowingIt) {
  Trees t;
  ASSERT_TRUE(sys::make_dirs(t.root + "/var/cache/apt"));
  ASSERT_EQ(::symlink(t.outside.c_str(), (t.root + "/var/cache/apt/archives").c_str()), 0);
  ASSERT_TRUE(sys::write_file_atomic(t.root + "/var/cache/apt/pkgcache.bin", "c"));
  const auto before = snapshot(t.outside);
  auto tree = GuestTree::open(t.root);
  ASSERT_TRUE(tree);
  ASSERT_TRUE(tree->remove("/var/cache"));
  EXPECT_FALSE(fs::exists(t.root + "/var/cache"));
  EXPECT_EQ(snapshot(t.outside), before);
}

TEST(GuestTree, RejectsPathsThatAreNotPlainAbsoluteGuestPaths) {
  Trees t;
  auto tree = GuestTree::open(t.root);
  ASSERT_TRUE(tree);
  auto relative = tree->write_file("etc/passwd", "x", 0644);
  ASSERT_FALSE(relative);
  EXPECT_EQ(relative.error().code, Errc::invalid_argument);
  EXPECT_EQ(relative.error().message, "guest path \"etc/passwd\" is not absolute");
  auto dotdot = tree->remove("/etc/..");
  ASSERT_FALSE(dotdot);
  EXPECT_EQ(dotdot.error().message, "guest path \"/etc/..\" has a \"..\" part");
  EXPECT_EQ(GuestTree::open(t.root + "/missing").error().code, Errc::not_found);
}

}  // namespace
}  // namespace banger::imagecat
