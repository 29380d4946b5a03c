#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "banger/debpkg/debpkg.hpp"
#include "banger/sys/fs.hpp"
#include "banger/testkit/fake_command_runner.hpp"
#include "banger/testkit/temp_dir.hpp"

namespace banger::debpkg {
namespace {

// A runner whose programs are all missing (like a host without apt).
class MissingToolRunner final : public sys::CommandRunner {
 public:
  Expected<sys::CommandResult> run(const sys::Command& command) override {
    return fail(Errc::not_found, command.argv.front() + ": no such file or directory");
  }
};

constexpr const char* kDependsOutput =
    "linux-image-cloud-amd64\n"
    "  Depends: linux-image-6.1.0-28-cloud-amd64\n"
    "  Recommends: firmware-linux-free\n";

constexpr const char* kPolicyOutput =
    "busybox-static:\n"
    "  Installed: (none)\n"
    "  Candidate: 1:1.35.0-4+b3\n"
    "  Version table:\n"
    "     1:1.35.0-4+b3 500\n"
    "        500 http://deb.example/debian bookworm/main amd64 Packages\n";

TEST(Apt, ResolvesTheConcreteKernelPackageFromTheMetaPackage) {
  testkit::FakeCommandRunner runner;
  runner.on("apt-cache depends", {.exit_code = 0, .out = kDependsOutput, .err = ""});
  auto pkg = resolve_dependency(runner, "linux-image-cloud-amd64", "linux-image-");
  ASSERT_TRUE(pkg) << pkg.error().message;
  EXPECT_EQ(*pkg, "linux-image-6.1.0-28-cloud-amd64");
  EXPECT_EQ(runner.ran(), std::vector<std::string>{"apt-cache depends linux-image-cloud-amd64"});
}

TEST(Apt, ResolveSkipsDependenciesWithoutThePrefixAndAlternativeMarkers) {
  testkit::FakeCommandRunner runner;
  runner.on("apt-cache depends",
            {.exit_code = 0,
             .out = "meta\n  PreDepends: dpkg\n |Depends: linux-base\n  Depends: "
                    "linux-image-6.1.0-30-cloud-amd64 <virtual>\n",
             .err = ""});
  auto pkg = resolve_dependency(runner, "meta", "linux-image-");
  ASSERT_TRUE(pkg) << pkg.error().message;
  EXPECT_EQ(*pkg, "linux-image-6.1.0-30-cloud-amd64");
}

TEST(Apt, ResolveOfAnUnknownPackageIsNotFound) {
  testkit::FakeCommandRunner runner;
  runner.on("apt-cache depends", {.exit_code = 100, .out = "", .err = "E: No packages found\n"});
  auto pkg = resolve_dependency(runner, "linux-image-nope", "linux-image-");
  ASSERT_FALSE(pkg);
  EXPECT_EQ(pkg.error().code, Errc::not_found);
  EXPECT_EQ(pkg.error().message,
            "package linux-image-nope not found by apt: run apt-get update or check the host's "
            "apt sources");
}

TEST(Apt, ResolveWithoutAMatchingDependencyIsNotFound) {
  testkit::FakeCommandRunner runner;
  runner.on("apt-cache depends", {.exit_code = 0, .out = "meta\n  Depends: dpkg\n", .err = ""});
  auto pkg = resolve_dependency(runner, "meta", "linux-image-");
  ASSERT_FALSE(pkg);
  EXPECT_EQ(pkg.error().code, Errc::not_found);
  EXPECT_EQ(pkg.error().message, "package meta has no dependency named linux-image-*");
}

TEST(Apt, MissingAptCacheNamesThePackageToInstall) {
  MissingToolRunner runner;
  auto pkg = resolve_dependency(runner, "meta", "linux-image-");
  ASSERT_FALSE(pkg);
  EXPECT_EQ(pkg.error().code, Errc::not_found);
  EXPECT_EQ(pkg.error().message,
            "apt-cache not found: install the apt package (apt-get install apt)");
}

TEST(Apt, CandidateVersionIsReadFromPolicy) {
  testkit::FakeCommandRunner runner;
  runner.on("apt-cache policy", {.exit_code = 0, .out = kPolicyOutput, .err = ""});
  auto version = candidate_version(runner, "busybox-static");
  ASSERT_TRUE(version) << version.error().message;
  EXPECT_EQ(*version, "1:1.35.0-4+b3");
  EXPECT_EQ(runner.ran(), std::vector<std::string>{"apt-cache policy busybox-static"});
}

TEST(Apt, CandidateVersionNoneIsNotFound) {
  testkit::FakeCommandRunner runner;
  runner.on("apt-cache policy",
            {.exit_code = 0, .out = "x:\n  Installed: (none)\n  Candidate: (none)\n", .err = ""});
  auto version = candidate_version(runner, "x");
  ASSERT_FALSE(version);
  EXPECT_EQ(version.error().code, Errc::not_found);
  EXPECT_EQ(version.error().message,
            "package x has no installation candidate in the host's apt sources");
}

TEST(Apt, CandidateVersionOfAnUnknownPackageIsNotFound) {
  testkit::FakeCommandRunner runner;  // apt-cache policy prints nothing for unknown packages
  auto version = candidate_version(runner, "nope");
  ASSERT_FALSE(version);
  EXPECT_EQ(version.error().code, Errc::not_found);
  EXPECT_EQ(version.error().message,
            "package nope not found by apt: run apt-get update or check the host's apt sources");
}

TEST(Apt, DownloadRunsAptGetInTheDestinationAndReturnsDebsInPackageOrder) {
  testkit::TempDir dir;
  ASSERT_TRUE(sys::write_file_atomic(dir.path() + "/busybox-static_1%3a1.35.0-4_amd64.deb", "b"));
  ASSERT_TRUE(sys::write_file_atomic(
      dir.path() + "/linux-image-6.1.0-28-cloud-amd64_6.1.119-1_amd64.deb", "kk"));
  testkit::FakeCommandRunner runner;
  runner.on("apt-get download --print-uris",
            {.exit_code = 0,
             .out = "'http://deb.example/k.deb' linux-image_6.1.119-1_amd64.deb 2000 SHA256:ab\n"
                    "'http://deb.example/b.deb' busybox-static_1_amd64.deb 48 SHA256:cd\n",
             .err = ""});
  std::vector<base::ProgressEvent> events;
  auto debs = download(runner, {"linux-image-6.1.0-28-cloud-amd64", "busybox-static"}, dir.path(),
                       [&](const base::ProgressEvent& e) { events.push_back(e); });
  ASSERT_TRUE(debs) << debs.error().message;
  EXPECT_EQ(*debs, (std::vector<std::string>{
                       dir.path() + "/linux-image-6.1.0-28-cloud-amd64_6.1.119-1_amd64.deb",
                       dir.path() + "/busybox-static_1%3a1.35.0-4_amd64.deb"}));
  EXPECT_EQ(runner.ran(),
            (std::vector<std::string>{
                "apt-get download --print-uris linux-image-6.1.0-28-cloud-amd64 busybox-static",
                "apt-get download linux-image-6.1.0-28-cloud-amd64 busybox-static"}));
  // Bytes: 0 of what --print-uris announced, then what is on disk at the end.
  ASSERT_GE(events.size(), 2u);
  EXPECT_EQ(events.front().stage, "download");
  EXPECT_EQ(events.front().unit, base::kBytes);
  EXPECT_EQ(events.front().done, 0);
  EXPECT_EQ(events.front().total, 2048);
  EXPECT_EQ(events.back().message, "downloaded linux-image-6.1.0-28-cloud-amd64, busybox-static");
  EXPECT_EQ(events.back().unit, base::kBytes);
  EXPECT_EQ(events.back().done, 3);
  EXPECT_EQ(events.back().total, 3);
}

// Writes half of a .deb, waits (up to a deadline) until a progress event has seen it, then
// writes the rest: the download's events follow the bytes on disk while apt-get runs.
class SlowDownloadRunner final : public sys::CommandRunner {
 public:
  Expected<sys::CommandResult> run(const sys::Command& command) override {
    if (command.argv.size() > 2 && command.argv[2] == "--print-uris") {
      return sys::CommandResult{0, "'http://x/a.deb' a_1_amd64.deb 200 SHA256:ab\n", ""};
    }
    const std::string deb = command.cwd + "/a_1_amd64.deb";
    if (!sys::write_file_atomic(deb, std::string(100, 'a'))) {
      return fail(Errc::io, "write");
    }
    std::unique_lock lock(mutex);
    seen_half.wait_for(lock, std::chrono::seconds(10), [&] { return half_seen; });
    lock.unlock();
    if (!sys::write_file_atomic(deb, std::string(200, 'a'))) {
      return fail(Errc::io, "write");
    }
    return sys::CommandResult{};
  }
  std::mutex mutex;
  std::condition_variable seen_half;
  bool half_seen = false;
};

TEST(Apt, DownloadReportsTheBytesOnDiskWhileAptGetRuns) {
  testkit::TempDir dir;
  SlowDownloadRunner runner;
  std::vector<base::ProgressEvent> events;
  auto debs = download(runner, {"a"}, dir.path(), [&](const base::ProgressEvent& e) {
    events.push_back(e);
    if (e.done == 100) {
      std::lock_guard lock(runner.mutex);
      runner.half_seen = true;
      runner.seen_half.notify_one();
    }
  });
  ASSERT_TRUE(debs) << debs.error().message;
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(events[0].done, 0);
  EXPECT_EQ(events[1].done, 100);
  EXPECT_EQ(events[1].total, 200);
  EXPECT_EQ(events[1].unit, base::kBytes);
  EXPECT_EQ(events.back().done, 200);
}

TEST(Apt, DownloadOfAnUnknownPackageNamesIt) {
  testkit::TempDir dir;
  testkit::FakeCommandRunner runner;
  runner.on("apt-get download",
            {.exit_code = 100, .out = "", .err = "E: Unable to locate package nosuch-pkg\n"});
  auto debs = download(runner, {"busybox-static", "nosuch-pkg"}, dir.path());
  ASSERT_FALSE(debs);
  EXPECT_EQ(debs.error().code, Errc::not_found);
  EXPECT_EQ(debs.error().message,
            "package nosuch-pkg not found by apt: run apt-get update or check the host's apt "
            "sources");
}

TEST(Apt, DownloadFailureCarriesAptGetStderr) {
  testkit::TempDir dir;
  testkit::FakeCommandRunner runner;
  runner.on("apt-get download",
            {.exit_code = 100, .out = "", .err = "E: Failed to fetch x  Temporary failure\n"});
  auto debs = download(runner, {"busybox-static"}, dir.path());
  ASSERT_FALSE(debs);
  EXPECT_EQ(debs.error().code, Errc::command_failed);
  EXPECT_EQ(debs.error().message,
            "apt-get download busybox-static exited 100: E: Failed to fetch x  Temporary failure");
}

TEST(Apt, DownloadWithoutAptGetNamesThePackageToInstall) {
  testkit::TempDir dir;
  MissingToolRunner runner;
  auto debs = download(runner, {"busybox-static"}, dir.path());
  ASSERT_FALSE(debs);
  EXPECT_EQ(debs.error().code, Errc::not_found);
  EXPECT_EQ(debs.error().message,
            "apt-get not found: install the apt package (apt-get install apt)");
}

TEST(Apt, DownloadOfNothingIsInvalid) {
  testkit::TempDir dir;
  testkit::FakeCommandRunner runner;
  auto debs = download(runner, {}, dir.path());
  ASSERT_FALSE(debs);
  EXPECT_EQ(debs.error().code, Errc::invalid_argument);
  EXPECT_EQ(debs.error().message, "no packages to download");
  EXPECT_TRUE(runner.ran().empty());
}

TEST(Apt, PackageOfDebIsTheNameBeforeTheFirstUnderscore) {
  EXPECT_EQ(package_of_deb("/x/busybox-static_1%3a1.35_amd64.deb"), "busybox-static");
  EXPECT_EQ(package_of_deb("plain.deb"), "");
}

}  // namespace
}  // namespace banger::debpkg
