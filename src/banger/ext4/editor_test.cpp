#include "banger/ext4/editor.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>

#include "banger/ext4/image_builder.hpp"
#include "banger/sys/fs.hpp"
#include "banger/testkit/fake_command_runner.hpp"
#include "banger/testkit/temp_dir.hpp"

namespace banger::ext4 {
namespace {

bool have_e2fsprogs() {
  return !sys::find_executable("mkfs.ext4").empty() && !sys::find_executable("debugfs").empty() &&
         !sys::find_executable("e2fsck").empty();
}

// A small image built from a tree with /etc/hostname, /usr/lib and a /lib -> usr/lib symlink
// (merged-usr layout).
std::string make_image(sys::CommandRunner& runner, const testkit::TempDir& dir) {
  std::string tree = dir.path() + "/tree";
  EXPECT_TRUE(sys::make_dirs(tree + "/etc"));
  EXPECT_TRUE(sys::make_dirs(tree + "/usr/lib"));
  EXPECT_TRUE(sys::write_file_atomic(tree + "/etc/hostname", "old\n", 0644));
  EXPECT_EQ(::symlink("usr/lib", (tree + "/lib").c_str()), 0);
  std::string image = dir.path() + "/root.ext4";
  auto made = make_ext4(runner, {.image = image, .size_mib = 8, .source_dir = tree});
  EXPECT_TRUE(made) << made.error().message;
  return image;
}

void expect_fsck_clean(sys::CommandRunner& runner, const std::string& image) {
  auto fsck = runner.run({.argv = {"e2fsck", "-fn", image}});
  ASSERT_TRUE(fsck);
  EXPECT_EQ(fsck->exit_code, 0) << fsck->out << fsck->err;
}

std::string debugfs_request(sys::CommandRunner& runner, const std::string& image,
                            const std::string& request) {
  auto out = sys::run_checked(runner, {.argv = {"debugfs", "-R", request, image}});
  EXPECT_TRUE(out);
  return out ? *out : "";
}

TEST(PlanDebugfsScript, RendersEveryOpWithMarkers) {
  Ext4Edit edit;
  edit.write_file("/etc/hostname", "vm1\n", 0644)
      .mkdir_p("/root/.ssh", 0700, 1000, 1001)
      .symlink("/etc/resolv.conf", "../run/resolv.conf")
      .remove("/etc/machine-id")
      .chmod("/usr/bin/agent", 04755, FileType::regular)
      .chown("/home/dev", 1000, 1000);
  auto plan = plan_debugfs_script(edit, "/stage");
  ASSERT_TRUE(plan) << plan.error().message;
  EXPECT_EQ(plan->script,
            "banger-begin\n"
            "rm /etc/hostname\nbanger-step-0\n"
            "write /stage/0 /etc/./hostname\nbanger-step-1\n"
            "set_inode_field /etc/hostname mode 0100644\nbanger-step-2\n"
            "set_inode_field /etc/hostname uid 0\nbanger-step-3\n"
            "set_inode_field /etc/hostname gid 0\nbanger-step-4\n"
            "mkdir /./root\nbanger-step-5\n"
            "mkdir /root/./.ssh\nbanger-step-6\n"
            "set_inode_field /root/.ssh/. mode 040700\nbanger-step-7\n"
            "set_inode_field /root/.ssh/. uid 1000\nbanger-step-8\n"
            "set_inode_field /root/.ssh/. gid 1001\nbanger-step-9\n"
            "rm /etc/resolv.conf\nbanger-step-10\n"
            "symlink /etc/./resolv.conf ../run/resolv.conf\nbanger-step-11\n"
            "rm /etc/machine-id\nbanger-step-12\n"
            "set_inode_field /usr/bin/agent mode 0104755\nbanger-step-13\n"
            "set_inode_field /home/dev uid 1000\nbanger-step-14\n"
            "set_inode_field /home/dev gid 1000\nbanger-step-15\n");
  ASSERT_EQ(plan->staged_files.size(), 1u);
  EXPECT_EQ(plan->staged_files[0].first, "/stage/0");
  EXPECT_EQ(plan->staged_files[0].second, "vm1\n");
  EXPECT_EQ(plan->steps[0].tolerate, Tolerate::any);
  EXPECT_EQ(plan->steps[5].tolerate, Tolerate::already_exists);
  EXPECT_EQ(plan->steps[12].tolerate, Tolerate::not_found);
  EXPECT_EQ(plan->steps[13].op_index, 4u);
}

TEST(PlanDebugfsScript, NormalisesSlashesAndDirectoryChmod) {
  Ext4Edit edit;
  edit.chmod("//srv/./data/", 0750, FileType::directory).write_file("/top", "x", 0600);
  auto plan = plan_debugfs_script(edit, "/s");
  ASSERT_TRUE(plan);
  EXPECT_EQ(plan->steps[0].command, "set_inode_field /srv/data/. mode 040750");
  EXPECT_EQ(plan->steps[2].command, "write /s/1 /./top");
}

// Names are hostile input (file_sync copies a user's tree): whitespace and '"' are quoted the
// way libss parses them, and each op stays one line.
TEST(PlanDebugfsScript, QuotesNamesWithSpacesAndQuotes) {
  Ext4Edit edit;
  edit.write_file("/a b/x\"y", "1").symlink("/l\tn", "../t \"q\" 'single' \\back");
  auto plan = plan_debugfs_script(edit, "/s");
  ASSERT_TRUE(plan) << plan.error().message;
  EXPECT_EQ(plan->steps[0].command, "rm \"/a b/x\"\"y\"");
  EXPECT_EQ(plan->steps[1].command, "write /s/0 \"/a b/./x\"\"y\"");
  EXPECT_EQ(plan->steps[6].command, "symlink \"/./l\tn\" \"../t \"\"q\"\" 'single' \\back\"");
  EXPECT_EQ(std::count(plan->script.begin(), plan->script.end(), '\n'),
            static_cast<std::ptrdiff_t>(1 + 2 * plan->steps.size()));
}

// ensure_dir creates what is missing (root:root 0755 or its mode) and leaves alone a directory
// that exists or that an earlier op of the batch made with its own mode.
TEST(PlanDebugfsScript, EnsureDirKeepsExistingDirectories) {
  Ext4Edit edit;
  edit.ensure_dir("/old", 0755)
      .mkdir_p("/made", 0700)
      .ensure_dir("/made", 0755)
      .ensure_dir("/new", 0711);
  auto plan = plan_debugfs_script(edit, "/s", {"/old"});
  ASSERT_TRUE(plan) << plan.error().message;
  std::vector<std::string> commands;
  for (const auto& step : plan->steps) {
    commands.push_back(step.command);
  }
  EXPECT_EQ(commands, (std::vector<std::string>{
                          "mkdir /./made",
                          "set_inode_field /made/. mode 040700",
                          "set_inode_field /made/. uid 0",
                          "set_inode_field /made/. gid 0",
                          "mkdir /./new",
                          "set_inode_field /new/. mode 040711",
                          "set_inode_field /new/. uid 0",
                          "set_inode_field /new/. gid 0",
                      }));
}

TEST(PlanDebugfsScript, RejectsBadPathsAndModes) {
  struct Case {
    Ext4Edit edit;
    std::string message;
  };
  std::vector<Case> cases;
  cases.push_back(
      {Ext4Edit().write_file("etc/x", ""), "write_file \"etc/x\": guest path must be absolute"});
  cases.push_back(
      {Ext4Edit().remove("/etc/../x"), "remove \"/etc/../x\": guest path must not contain \"..\""});
  cases.push_back({Ext4Edit().mkdir_p("/a\nrm /etc/passwd"),
                   "mkdir_p \"/a\\x0arm /etc/passwd\": guest path must not contain a newline, "
                   "carriage return or NUL"});
  cases.push_back({Ext4Edit().write_file("/a\rb", ""),
                   "write_file \"/a\\x0db\": guest path must not contain a newline, carriage "
                   "return or NUL"});
  cases.push_back({Ext4Edit().remove(std::string("/a\0b", 4)),
                   "remove \"/a\\x00b\": guest path must not contain a newline, carriage return "
                   "or NUL"});
  cases.push_back(
      {Ext4Edit().remove("/" + std::string(3000, 'x')),
       "remove \"/" + std::string(39, 'x') + "...\": guest path is longer than 3000 bytes"});
  cases.push_back(
      {Ext4Edit().symlink("/", "x"), "symlink \"/\": guest path must name something below /"});
  cases.push_back({Ext4Edit().symlink("/l", "a\n!sh"),
                   "symlink /l: target \"a\\x0a!sh\" must be non-empty, at most 3000 bytes and "
                   "without a newline, carriage return or NUL"});
  cases.push_back({Ext4Edit().symlink("/l", ""),
                   "symlink /l: target \"\" must be non-empty, at most 3000 bytes and without a "
                   "newline, carriage return or NUL"});
  cases.push_back({Ext4Edit().write_file("/x", "", 0100644),
                   "write_file /x: mode 0100644 has bits outside 07777 (give permission bits "
                   "only)"});
  for (const auto& c : cases) {
    auto plan = plan_debugfs_script(c.edit, "/s");
    ASSERT_FALSE(plan) << c.message;
    EXPECT_EQ(plan.error().code, Errc::invalid_argument);
    EXPECT_EQ(plan.error().message, c.message);
  }
}

TEST(Ext4Apply, EmptyEditRunsNothing) {
  testkit::FakeCommandRunner runner;
  ASSERT_TRUE(apply(runner, "/nonexistent.ext4", Ext4Edit()));
  EXPECT_TRUE(runner.ran().empty());
}

TEST(Ext4Apply, MissingImageIsNotFound) {
  testkit::FakeCommandRunner runner;
  auto r = apply(runner, "/nonexistent/x.ext4", Ext4Edit().remove("/a"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::not_found);
  EXPECT_EQ(r.error().message, "ext4 image /nonexistent/x.ext4 does not exist");
}

TEST(Ext4Apply, DebugfsDyingMidScriptIsReported) {
  testkit::TempDir dir;
  std::string image = dir.path() + "/x.ext4";
  ASSERT_TRUE(sys::write_file_atomic(image, ""));
  testkit::FakeCommandRunner runner;
  runner.on("debugfs", {.exit_code = 139,
                        .out = "",
                        .err = "debugfs 1.47.0 (5-Feb-2023)\n"
                               "debugfs: Command not found banger-begin\n"
                               "debugfs: Command not found banger-step-0\n"});
  auto r = apply(runner, image, Ext4Edit().remove("/a").remove("/b"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "editing ext4 image " + image +
                                   ": remove /b: debugfs exited 139 before finishing the script");
}

TEST(Ext4Apply, UnopenableImageFailsWithDebugfsMessage) {
  if (!have_e2fsprogs()) {
    GTEST_SKIP() << "e2fsprogs not installed";
  }
  testkit::TempDir dir;
  std::string image = dir.path() + "/junk.ext4";
  ASSERT_TRUE(sys::write_file_atomic(image, std::string(4096, 'x')));
  sys::PosixCommandRunner runner;
  auto r = apply(runner, image, Ext4Edit().remove("/a"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::command_failed);
  EXPECT_NE(r.error().message.find("editing ext4 image " + image + ": debugfs exited"),
            std::string::npos)
      << r.error().message;
  EXPECT_NE(r.error().message.find("while trying to open"), std::string::npos) << r.error().message;
}

TEST(Ext4Apply, BatchOfEditsIsVisibleWithDebugfs) {
  if (!have_e2fsprogs()) {
    GTEST_SKIP() << "e2fsprogs not installed";
  }
  testkit::TempDir dir;
  sys::PosixCommandRunner runner;
  std::string image = make_image(runner, dir);
  std::string binary(300 * 1024, '\0');
  for (std::size_t i = 0; i < binary.size(); ++i) {
    binary[i] = static_cast<char>((i * 7919) % 251);
  }
  Ext4Edit edit;
  edit.mkdir_p("/home/dev/.ssh", 0700, 1000, 1001)
      .write_file("/home/dev/.ssh/authorized_keys", "ssh-ed25519 AAAA dev\n", 0600, 1000, 1001)
      .mkdir_p("/usr/local/bin")
      .write_file("/usr/local/bin/agent", binary, 0755)
      .mkdir_p("/lib/systemd")
      .symlink("/etc/resolv.conf", "../run/resolv.conf")
      .write_file("/lib/systemd/marker", "via symlinked parent\n", 0644)
      .remove("/etc/missing-is-fine");
  auto r = apply(runner, image, edit);
  ASSERT_TRUE(r) << r.error().message;

  auto ssh = stat(runner, image, "/home/dev/.ssh");
  ASSERT_TRUE(ssh);
  EXPECT_EQ(ssh->type, FileType::directory);
  EXPECT_EQ(ssh->mode, mode_t{040700});
  EXPECT_EQ(ssh->uid, 1000u);
  EXPECT_EQ(ssh->gid, 1001u);
  auto home = stat(runner, image, "/home");
  ASSERT_TRUE(home);
  EXPECT_EQ(home->mode, mode_t{040755});  // created parents: root:root 0755
  EXPECT_EQ(home->uid, 0u);

  auto keys = stat(runner, image, "/home/dev/.ssh/authorized_keys");
  ASSERT_TRUE(keys);
  EXPECT_EQ(keys->mode, mode_t{0100600});
  EXPECT_EQ(keys->uid, 1000u);
  EXPECT_EQ(keys->gid, 1001u);
  EXPECT_EQ(*read_file(runner, image, "/home/dev/.ssh/authorized_keys"), "ssh-ed25519 AAAA dev\n");

  std::string raw = debugfs_request(runner, image, "stat /usr/local/bin/agent");
  EXPECT_NE(raw.find("Type: regular    Mode:  0755"), std::string::npos) << raw;
  EXPECT_NE(raw.find("User:     0   Group:     0"), std::string::npos) << raw;
  EXPECT_EQ(*read_file(runner, image, "/usr/local/bin/agent"), binary);

  EXPECT_EQ(*read_link(runner, image, "/etc/resolv.conf"), "../run/resolv.conf");
  EXPECT_EQ(stat(runner, image, "/etc/resolv.conf")->mode, mode_t{0120777});
  EXPECT_EQ(*read_file(runner, image, "/usr/lib/systemd/marker"), "via symlinked parent\n");
  EXPECT_EQ(*read_link(runner, image, "/lib"), "usr/lib");  // the symlink itself is untouched
  expect_fsck_clean(runner, image);
}

// OCI images carry fifos, device nodes and file capabilities; banger writes them without
// root (debugfs on the image file).
TEST(Ext4Apply, NodesAndXattrsAreCreatedWithOwnerAndMode) {
  if (!have_e2fsprogs()) {
    GTEST_SKIP() << "e2fsprogs not installed";
  }
  testkit::TempDir dir;
  sys::PosixCommandRunner runner;
  std::string image = make_image(runner, dir);
  const std::string cap(
      "\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
      "\x00\x00\x00\x00",
      20);
  Ext4Edit edit;
  edit.mkdir_p("/dev")
      .make_node("/dev/null", NodeType::char_device, 1, 3, 0666, 0, 0)
      .make_node("/dev/sda", NodeType::block_device, 8, 0, 0660, 0, 6)
      .make_node("/etc/a fifo", NodeType::fifo, 0, 0, 0600, 1000, 1000)
      .write_file("/usr/lib/ping", "elf", 0755)
      .set_xattr("/usr/lib/ping", "security.capability", cap)
      .set_xattr("/etc/hostname", "user.note", "hello world");
  auto r = apply(runner, image, edit);
  ASSERT_TRUE(r) << r.error().message;
  std::string null_dev = debugfs_request(runner, image, "stat /dev/null");
  EXPECT_NE(null_dev.find("Type: character special    Mode:  0666"), std::string::npos) << null_dev;
  EXPECT_NE(null_dev.find("Device major/minor number: 01:03"), std::string::npos) << null_dev;
  std::string sda = debugfs_request(runner, image, "stat /dev/sda");
  EXPECT_NE(sda.find("Type: block special    Mode:  0660"), std::string::npos) << sda;
  EXPECT_NE(sda.find("Group:     6"), std::string::npos) << sda;
  std::string fifo = debugfs_request(runner, image, "stat \"/etc/a fifo\"");
  EXPECT_NE(fifo.find("Type: FIFO    Mode:  0600"), std::string::npos) << fifo;
  EXPECT_NE(fifo.find("User:  1000   Group:  1000"), std::string::npos) << fifo;
  std::string caps = debugfs_request(runner, image, "ea_list /usr/lib/ping");
  EXPECT_NE(caps.find("security.capability (20) = 01 00 00 02 00 20 00 00"), std::string::npos)
      << caps;
  EXPECT_NE(debugfs_request(runner, image, "ea_list /etc/hostname")
                .find("user.note (11) = \"hello world\""),
            std::string::npos);
  expect_fsck_clean(runner, image);
}

TEST(PlanDebugfsScript, RefusesNodesAtTheRootAndBadXattrNames) {
  EXPECT_FALSE(
      plan_debugfs_script(Ext4Edit().make_node("/", NodeType::fifo, 0, 0, 0600, 0, 0), "/s"));
  for (std::string name :
       {"security.", "system.posix_acl_access", "user.a b", "user.x\"y", "capability"}) {
    auto plan = plan_debugfs_script(Ext4Edit().set_xattr("/f", name, "v"), "/s");
    ASSERT_FALSE(plan) << name;
    EXPECT_NE(plan.error().message.find("attribute name"), std::string::npos);
  }
}

// The names debugfs must keep intact, on a real image: whitespace, both quotes, backslashes,
// a leading '!' (libss's shell escape at the start of a line) and '#'.
TEST(Ext4Apply, HostileNamesArriveIntactAndRunNothing) {
  if (!have_e2fsprogs()) {
    GTEST_SKIP() << "e2fsprogs not installed";
  }
  testkit::TempDir dir;
  sys::PosixCommandRunner runner;
  std::string image = make_image(runner, dir);
  // A name cannot hold '/', so the canary a shell escape would create is in the working dir.
  const std::string canary = "banger-ext4-canary";
  (void)::unlink(canary.c_str());
  const std::vector<std::string> names = {"a b",
                                          "x\"y",
                                          "it's",
                                          "back\\slash",
                                          "tab\there",
                                          "!touch " + canary,
                                          "#hash",
                                          "-dash",
                                          "$(touch " + canary + ")",
                                          "\" ; touch " + canary + " \""};
  Ext4Edit edit;
  edit.mkdir_p("/d ir/s\"ub", 0750);
  for (std::size_t i = 0; i < names.size(); ++i) {
    edit.write_file("/d ir/s\"ub/" + names[i], std::to_string(i), 0640);
    edit.symlink("/d ir/link " + names[i], "../" + names[i]);
  }
  auto r = apply(runner, image, edit);
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_TRUE(apply(runner, image, edit)) << "a second run over existing names";
  for (std::size_t i = 0; i < names.size(); ++i) {
    auto content = read_file(runner, image, "/d ir/s\"ub/" + names[i]);
    ASSERT_TRUE(content) << names[i] << ": " << content.error().message;
    EXPECT_EQ(*content, std::to_string(i));
    EXPECT_EQ(stat(runner, image, "/d ir/s\"ub/" + names[i])->mode, mode_t{0100640});
    EXPECT_EQ(*read_link(runner, image, "/d ir/link " + names[i]), "../" + names[i]);
  }
  EXPECT_EQ(stat(runner, image, "/d ir/s\"ub")->mode, mode_t{040750});
  EXPECT_FALSE(sys::path_exists(canary));
  expect_fsck_clean(runner, image);
}

TEST(Ext4Query, FreeBytesShrinksAsFilesAreWritten) {
  if (!have_e2fsprogs()) {
    GTEST_SKIP() << "e2fsprogs not installed";
  }
  testkit::TempDir dir;
  sys::PosixCommandRunner runner;
  std::string image = make_image(runner, dir);
  auto before = free_bytes(runner, image);
  ASSERT_TRUE(before) << before.error().message;
  EXPECT_GT(*before, 4u * 1024 * 1024);
  EXPECT_LT(*before, 8u * 1024 * 1024);
  ASSERT_TRUE(apply(runner, image, Ext4Edit().write_file("/big", std::string(1 << 20, 'x'))));
  auto after = free_bytes(runner, image);
  ASSERT_TRUE(after);
  EXPECT_LE(*after + (1u << 20), *before);
  EXPECT_EQ(free_bytes(runner, dir.path() + "/none").error().code, Errc::not_found);
}

// Regression: debugfs 1.47 leaks an inode when asked to mkdir an existing directory, which
// e2fsck then reports; mkdir_p must only create what is missing.
TEST(Ext4Apply, MkdirPOfExistingDirectoriesKeepsTheFilesystemClean) {
  if (!have_e2fsprogs()) {
    GTEST_SKIP() << "e2fsprogs not installed";
  }
  testkit::TempDir dir;
  sys::PosixCommandRunner runner;
  std::string image = make_image(runner, dir);
  ASSERT_TRUE(apply(runner, image, Ext4Edit().mkdir_p("/root/.ssh", 0700)));
  for (int i = 0; i < 3; ++i) {
    auto r = apply(runner, image,
                   Ext4Edit()
                       .mkdir_p("/root/.ssh", 0700)
                       .mkdir_p("/root/.ssh/deeper", 0711)
                       .write_file("/root/.ssh/authorized_keys", "k\n", 0600));
    ASSERT_TRUE(r) << r.error().message;
  }
  EXPECT_EQ(stat(runner, image, "/root/.ssh/deeper")->mode, mode_t{040711});
  expect_fsck_clean(runner, image);
}

TEST(Ext4Apply, OverwritesFilesAndSymlinksAndRemoves) {
  if (!have_e2fsprogs()) {
    GTEST_SKIP() << "e2fsprogs not installed";
  }
  testkit::TempDir dir;
  sys::PosixCommandRunner runner;
  std::string image = make_image(runner, dir);
  std::string long_target = "/" + std::string(100, 'a');
  ASSERT_TRUE(apply(runner, image,
                    Ext4Edit()
                        .write_file("/etc/hostname", "vm1\n", 0640, 0, 42)
                        .symlink("/etc/link", "/old")
                        .symlink("/etc/slow", long_target)
                        .write_file("/etc/gone", "x")));
  ASSERT_TRUE(apply(runner, image,
                    Ext4Edit()
                        .write_file("/etc/hostname", "vm2-longer-name\n", 0644)
                        .symlink("/etc/link", "/new")
                        .write_file("/etc/slow", "now a file\n")
                        .remove("/etc/gone")
                        .chmod("/etc", 0711, FileType::directory)
                        .chown("/etc/link", 7, 8)));
  EXPECT_EQ(*read_file(runner, image, "/etc/hostname"), "vm2-longer-name\n");
  auto host = stat(runner, image, "/etc/hostname");
  EXPECT_EQ(host->mode, mode_t{0100644});
  EXPECT_EQ(host->gid, 0u);
  EXPECT_EQ(*read_link(runner, image, "/etc/link"), "/new");
  EXPECT_EQ(stat(runner, image, "/etc/link")->uid, 7u);
  EXPECT_EQ(*read_file(runner, image, "/etc/slow"), "now a file\n");
  EXPECT_EQ(*exists(runner, image, "/etc/gone"), false);
  EXPECT_EQ(stat(runner, image, "/etc")->mode, mode_t{040711});
  expect_fsck_clean(runner, image);
}

TEST(Ext4Apply, SlowSymlinkTargetReadsBack) {
  if (!have_e2fsprogs()) {
    GTEST_SKIP() << "e2fsprogs not installed";
  }
  testkit::TempDir dir;
  sys::PosixCommandRunner runner;
  std::string image = make_image(runner, dir);
  std::string long_target = "/" + std::string(100, 'a');
  ASSERT_TRUE(apply(runner, image, Ext4Edit().symlink("/slow", long_target)));
  EXPECT_EQ(*read_link(runner, image, "/slow"), long_target);
}

TEST(Ext4Apply, WriteUnderRegularFileFailsNamingTheOp) {
  if (!have_e2fsprogs()) {
    GTEST_SKIP() << "e2fsprogs not installed";
  }
  testkit::TempDir dir;
  sys::PosixCommandRunner runner;
  std::string image = make_image(runner, dir);
  auto r = apply(runner, image,
                 Ext4Edit().write_file("/etc/ok", "fine").write_file("/etc/hostname/x", "bad"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::command_failed);
  EXPECT_EQ(r.error().message, "editing ext4 image " + image +
                                   ": write_file /etc/hostname/x: /etc/hostname/.: Ext2 inode is "
                                   "not a directory while looking up \"/etc/hostname/.\"; write: "
                                   "Ext2 inode is not a directory");
  expect_fsck_clean(runner, image);
}

TEST(Ext4Apply, MkdirOverRegularFileFails) {
  if (!have_e2fsprogs()) {
    GTEST_SKIP() << "e2fsprogs not installed";
  }
  testkit::TempDir dir;
  sys::PosixCommandRunner runner;
  std::string image = make_image(runner, dir);
  auto r = apply(runner, image, Ext4Edit().mkdir_p("/etc/hostname", 0755));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "editing ext4 image " + image +
                                   ": mkdir_p /etc/hostname: /etc/hostname/.: Ext2 inode is not a "
                                   "directory");
  EXPECT_EQ(stat(runner, image, "/etc/hostname")->mode, mode_t{0100644});  // not clobbered
}

TEST(Ext4Apply, RemovingADirectoryFails) {
  if (!have_e2fsprogs()) {
    GTEST_SKIP() << "e2fsprogs not installed";
  }
  testkit::TempDir dir;
  sys::PosixCommandRunner runner;
  std::string image = make_image(runner, dir);
  auto r = apply(runner, image, Ext4Edit().remove("/etc"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message,
            "editing ext4 image " + image + ": remove /etc: rm: file is a directory");
}

TEST(Ext4Apply, FullImageReportsAllocationFailure) {
  if (!have_e2fsprogs()) {
    GTEST_SKIP() << "e2fsprogs not installed";
  }
  testkit::TempDir dir;
  sys::PosixCommandRunner runner;
  std::string image = make_image(runner, dir);
  auto r = apply(runner, image, Ext4Edit().write_file("/big", std::string(12 << 20, 'z')));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "editing ext4 image " + image +
                                   ": write_file /big: write: Could not allocate block in ext2 "
                                   "filesystem");
}

TEST(Ext4Query, MissingPathsAndWrongTypes) {
  if (!have_e2fsprogs()) {
    GTEST_SKIP() << "e2fsprogs not installed";
  }
  testkit::TempDir dir;
  sys::PosixCommandRunner runner;
  std::string image = make_image(runner, dir);
  auto missing = read_file(runner, image, "/etc/nope");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::not_found);
  EXPECT_EQ(missing.error().message, "/etc/nope does not exist in ext4 image " + image);
  EXPECT_EQ(*exists(runner, image, "/etc/nope"), false);
  EXPECT_EQ(*exists(runner, image, "/etc/hostname/x"), false);
  EXPECT_EQ(*exists(runner, image, "/etc/hostname"), true);
  auto dir_read = read_file(runner, image, "/etc");
  ASSERT_FALSE(dir_read);
  EXPECT_EQ(dir_read.error().code, Errc::failed_precondition);
  EXPECT_EQ(dir_read.error().message, "/etc in ext4 image " + image + " is not a regular file");
  auto not_link = read_link(runner, image, "/etc/hostname");
  ASSERT_FALSE(not_link);
  EXPECT_EQ(not_link.error().message, "/etc/hostname in ext4 image " + image + " is not a symlink");
  auto no_image = exists(runner, dir.path() + "/none.ext4", "/etc");
  ASSERT_FALSE(no_image);
  EXPECT_EQ(no_image.error().code, Errc::not_found);
}

}  // namespace
}  // namespace banger::ext4
