// Real image builds through the real binaries (label `artifacts`): `banger image build tiny`
// from the host's Debian archive, a build interrupted by killing bangerd, and bad input (the
// debian-bookworm build is in debian_image_test.cpp, label `slow`). Skips without root or
// without access to the apt archive.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "../integration/harness.hpp"
#include <nlohmann/json.hpp>

#include "banger/ext4/editor.hpp"
#include "banger/sys/fs.hpp"

namespace banger::itest {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// Why real builds cannot run here, or "" when they can. Probed once per process: root, the
// tools, and a real download of a small package through the host's apt.
std::string build_skip_reason() {
  static const std::string reason = [] {
    if (::geteuid() != 0) {
      return std::string("needs root (image builds write root-owned trees)");
    }
    for (const char* tool : {"apt-get", "mkfs.ext4", "debugfs", "e2fsck"}) {
      if (sys::find_executable(tool).empty()) {
        return std::string(tool) + " not installed";
      }
    }
    testkit::TempDir dir;
    sys::PosixCommandRunner runner;
    auto result = runner.run({.argv = {"apt-get", "download", "libtommath1"},
                              .timeout = std::chrono::seconds(60),
                              .cwd = dir.path()});
    if (!result || result->exit_code != 0) {
      return std::string(
          "the Debian archive is not reachable through apt (apt-get download "
          "libtommath1 failed)");
    }
    return std::string();
  }();
  return reason;
}

#define SKIP_WITHOUT_BUILDS()                           \
  do {                                                  \
    if (auto why = build_skip_reason(); !why.empty()) { \
      GTEST_SKIP() << why;                              \
    }                                                   \
  } while (false)

// `banger <args>` with a timeout long enough for builds.
sys::CommandResult banger_slow(BangerHome& home, const std::vector<std::string>& args,
                               std::chrono::seconds timeout) {
  sys::PosixCommandRunner runner;
  sys::Command command{.argv = {bin("banger")},
                       .timeout = timeout,
                       .env_overrides = {{"BANGER_HOME", home.dir()}, {"NO_COLOR", "1"}}};
  command.argv.insert(command.argv.end(), args.begin(), args.end());
  auto result = runner.run(command);
  EXPECT_TRUE(result) << result.error().message;
  return result ? *result : sys::CommandResult{-1, "", ""};
}

nlohmann::json json_of(const sys::CommandResult& result) {
  auto json = nlohmann::json::parse(result.out, nullptr, false);
  EXPECT_FALSE(json.is_discarded()) << result.out;
  return json;
}

// Polls cond every 50 ms until it holds or the deadline passes.
bool wait_for(const std::function<bool()>& cond, std::chrono::seconds deadline) {
  auto end = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < end) {
    if (cond()) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return cond();
}

void expect_fsck_clean(const std::string& image) {
  sys::PosixCommandRunner runner;
  auto fsck = runner.run({.argv = {"e2fsck", "-fn", image}, .timeout = std::chrono::minutes(2)});
  ASSERT_TRUE(fsck) << fsck.error().message;
  EXPECT_EQ(fsck->exit_code, 0) << fsck->out << fsck->err;
}

TEST(ImageBuild, TinyBuildsACleanExt4WithInitAndDropbear) {
  SKIP_WITHOUT_BUILDS();
  BangerHome home;
  auto built = banger_slow(home, {"image", "build", "tiny", "--json"}, std::chrono::minutes(5));
  ASSERT_EQ(built.exit_code, 0) << built.out << built.err;
  auto image = json_of(built);
  EXPECT_EQ(image["name"], "tiny");
  EXPECT_EQ(image["init_flavour"], "busybox");
  EXPECT_EQ(image["kernel"], "debian-cloud");
  EXPECT_EQ(image["managed"], true);
  const std::string rootfs = image["rootfs_path"];
  EXPECT_EQ(rootfs, home.dir() + "/state/images/tiny/rootfs.ext4");
  EXPECT_TRUE(fs::exists(home.dir() + "/state/images/tiny/manifest.json"));
  EXPECT_FALSE(fs::exists(home.dir() + "/state/images/tiny.staging"));
  expect_fsck_clean(rootfs);

  sys::PosixCommandRunner runner;
  auto init = ext4::read_file(runner, rootfs, "/sbin/init");
  ASSERT_TRUE(init) << init.error().message;
  EXPECT_THAT(*init, HasSubstr("dropbear -r"));
  auto init_stat = ext4::stat(runner, rootfs, "/sbin/init");
  ASSERT_TRUE(init_stat);
  EXPECT_EQ(init_stat->mode & 0777, 0755u);
  EXPECT_EQ(init_stat->uid, 0u);
  for (const char* path : {"/usr/sbin/dropbear", "/usr/bin/dropbearkey", "/bin/busybox"}) {
    auto st = ext4::stat(runner, rootfs, path);
    ASSERT_TRUE(st) << path << ": " << st.error().message;
    EXPECT_EQ(st->type, ext4::FileType::regular) << path;
  }
  EXPECT_EQ(*ext4::read_link(runner, rootfs, "/bin/sh"), "/bin/busybox");
  EXPECT_TRUE(*ext4::exists(runner, rootfs, "/etc/banger/init.d"));
  EXPECT_TRUE(*ext4::exists(runner, rootfs, "/usr/local/lib/banger"));
  // A library dropbear links against came along.
  EXPECT_TRUE(*ext4::exists(runner, rootfs, "/usr/lib/x86_64-linux-gnu/libtomcrypt.so.1"));

  auto list = home.banger({"image", "list"});
  EXPECT_EQ(list.exit_code, 0) << list.err;
  EXPECT_THAT(list.out, HasSubstr("tiny"));
  auto again = home.banger({"image", "build", "tiny"});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_THAT(again.err,
              HasSubstr("banger: image \"tiny\" already exists: use --force to rebuild it"));
  auto deleted = home.banger({"image", "delete", "tiny"});
  EXPECT_EQ(deleted.exit_code, 0) << deleted.err;
  EXPECT_FALSE(fs::exists(home.dir() + "/state/images/tiny"));
}

TEST(ImageBuild, KillingTheDaemonMidBuildLeavesNoImageAndTheNextBuildWorks) {
  SKIP_WITHOUT_BUILDS();
  BangerHome home;
  // Start the daemon first so its pid is known before the build starts.
  ASSERT_EQ(home.banger({"image", "list"}).exit_code, 0);
  auto pid_text = sys::read_file(home.dir() + "/run/bangerd.lock");
  ASSERT_TRUE(pid_text);
  const pid_t daemon_pid = std::atoi(pid_text->c_str());
  ASSERT_GT(daemon_pid, 0);

  const std::string staging = home.dir() + "/state/images/tiny.staging";
  pid_t client = ::fork();
  ASSERT_GE(client, 0);
  if (client == 0) {
    ::setenv("BANGER_HOME", home.dir().c_str(), 1);
    int devnull = ::open("/dev/null", O_WRONLY);
    ::dup2(devnull, 1);
    ::dup2(devnull, 2);
    std::string banger = bin("banger");
    ::execl(banger.c_str(), banger.c_str(), "image", "build", "tiny", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  bool staged = wait_for([&] { return fs::exists(staging); }, std::chrono::seconds(60));
  ::kill(daemon_pid, SIGKILL);
  int status = 0;
  ::waitpid(client, &status, 0);
  ASSERT_TRUE(staged) << "the build never created " << staging;
  EXPECT_NE(WEXITSTATUS(status), 0);

  // The next command starts a fresh daemon, whose reconcile removes the half build.
  auto list = home.banger({"image", "list", "--json"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_EQ(json_of(list), nlohmann::json::array());
  EXPECT_FALSE(fs::exists(staging));
  EXPECT_FALSE(fs::exists(home.dir() + "/state/images/tiny"));

  auto built = banger_slow(home, {"image", "build", "tiny"}, std::chrono::minutes(5));
  ASSERT_EQ(built.exit_code, 0) << built.out << built.err;
  EXPECT_THAT(built.out, HasSubstr("built image tiny"));
  auto show = home.banger({"image", "show", "tiny", "--json"});
  ASSERT_EQ(show.exit_code, 0) << show.err;
  expect_fsck_clean(json_of(show)["rootfs_path"]);
}

TEST(ImageBuild, BadInputGetsClearErrors) {
  BangerHome home;
  auto unknown = home.banger({"image", "build", "alpine"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_THAT(unknown.err, HasSubstr("banger: unknown recipe \"alpine\": available recipes: "
                                     "tiny, debian-bookworm"));
  auto bad_name = home.banger({"image", "build", "tiny", "--name", "../etc"});
  EXPECT_NE(bad_name.exit_code, 0);
  EXPECT_THAT(bad_name.err, HasSubstr("banger: invalid image name \"../etc\": use 1-64 "
                                      "characters: letters, digits, '.', '_' and '-'"));
  auto staging_name = home.banger({"image", "build", "tiny", "--name", "x.staging"});
  EXPECT_NE(staging_name.exit_code, 0);
  EXPECT_THAT(staging_name.err, HasSubstr("names ending in \".staging\" are reserved"));
  // tiny takes --packages now (issue 11: tiny-git), but only Debian package names.
  auto tiny_packages = home.banger({"image", "build", "tiny", "--packages", "Bad_Pkg;x"});
  EXPECT_NE(tiny_packages.exit_code, 0);
  EXPECT_THAT(tiny_packages.err, HasSubstr("invalid package name \"Bad_Pkg;x\""));
  auto missing = home.banger({"image", "show", "nope"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.err, HasSubstr("banger: image \"nope\" not found"));
  EXPECT_FALSE(fs::exists(home.dir() + "/state/images/x.staging"));
}

}  // namespace
}  // namespace banger::itest
