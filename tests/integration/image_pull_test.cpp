// `banger image pull` against Debian's docker-registry on loopback (issue 12): images built
// and pushed by tests/oci/registry_fixture.py (several layers in gzip, zstd and plain tar,
// whiteouts, opaque directories, setuid files, hard links, symlinks, fifos, devices,
// security.capability; OCI and Docker manifests, an OCI index and a Docker manifest list);
// each pulled image's ext4 tree, read back with debugfs (tests/oci/ext4_tree.py), must equal
// the tree the fixture computed independently. Hostile images must be refused, naming what is
// wrong, with nothing registered and nothing half-written in the blob cache; an htpasswd
// registry takes credentials from --password-stdin and ~/.docker/config.json.
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "harness.hpp"
#include <nlohmann/json.hpp>

#include "banger/posix/env.hpp"
#include "banger/posix/fd.hpp"
#include "banger/posix/io.hpp"
#include "banger/posix/subprocess.hpp"
#include "banger/sys/fs.hpp"
#include "banger/testkit/eventually.hpp"

namespace banger::itest {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

const std::string kFixtures = std::string(BANGER_SOURCE_DIR) + "/tests/oci";
// What banger adds to a pulled image (docs/images.md "Pulling OCI images").
const std::vector<std::string> kInjected = {"/usr/local/lib/banger", "/usr/local/bin/banger-agent",
                                            "/etc/banger",           "/etc/hosts",
                                            "/etc/resolv.conf",      "/etc/hostname"};

sys::PosixCommandRunner& runner() {
  static sys::PosixCommandRunner instance;
  return instance;
}

sys::CommandResult python(const std::vector<std::string>& args) {
  sys::Command command{.argv = {"python3"}, .timeout = std::chrono::seconds(120)};
  command.argv.insert(command.argv.end(), args.begin(), args.end());
  auto result = runner().run(command);
  return result ? *result : sys::CommandResult{-1, "", result.error().message};
}

// One docker-registry started by the fixture script, stopped (by its pid) at the end.
struct Registry {
  std::string workdir;
  std::string host;  // "127.0.0.1:PORT"
  std::string error;

  Registry(const std::string& dir, const std::string& auth) : workdir(dir) {
    std::vector<std::string> start = {kFixtures + "/registry_fixture.py", "start", "--workdir",
                                      workdir};
    if (!auth.empty()) {
      start.insert(start.end(), {"--auth", auth});
    }
    auto started = python(start);
    if (started.exit_code != 0) {
      error = "starting docker-registry: " + started.out + started.err;
      return;
    }
    auto info = nlohmann::json::parse(started.out, nullptr, false);
    std::string url = info.is_object() ? info.value("url", "") : "";
    host = url.substr(url.find("://") + 3);
    std::vector<std::string> push = {kFixtures + "/registry_fixture.py",
                                     "push-suite",
                                     "--url",
                                     url,
                                     "--registry-workdir",
                                     workdir,
                                     "--out",
                                     workdir + "/expected.json"};
    if (!auth.empty()) {
      push.insert(push.end(), {"--auth", auth});
    }
    auto pushed = python(push);
    if (pushed.exit_code != 0) {
      error = "pushing the test images: " + pushed.out + pushed.err;
    }
  }
  ~Registry() { python({kFixtures + "/registry_fixture.py", "stop", "--workdir", workdir}); }
  std::string expected() const { return workdir + "/expected.json"; }
};

class ImagePull : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (sys::find_executable("docker-registry").empty()) {
      skip_reason_ = "docker-registry is not installed (scripts/install-deps.sh installs it)";
      return;
    }
    if (sys::find_executable("htpasswd").empty() || sys::find_executable("debugfs").empty() ||
        sys::find_executable("zstd").empty()) {
      skip_reason_ = "htpasswd (apache2-utils), debugfs or zstd is missing";
      return;
    }
    dir_ = new testkit::TempDir();
    open_ = new Registry(dir_->path() + "/open", "");
    locked_ = new Registry(dir_->path() + "/locked", "tester:s3cret pass");
    setup_error_ = open_->error.empty() ? locked_->error : open_->error;
  }
  static void TearDownTestSuite() {
    delete open_;
    delete locked_;
    delete dir_;
    open_ = locked_ = nullptr;
    dir_ = nullptr;
  }
  void SetUp() override { BANGER_ITEST_SUITE_GATE(skip_reason_, setup_error_); }

  // Pulls ref from reg into home and compares the result with the fixture's tree.
  void expect_pulled_tree(BangerHome& home, const Registry& reg, const std::string& repo_tag,
                          const std::string& name) {
    auto pulled = home.banger({"image", "pull", reg.host + "/" + repo_tag, "--name", name});
    ASSERT_EQ(pulled.exit_code, 0) << pulled.out << pulled.err;
    EXPECT_THAT(pulled.out, HasSubstr("as image " + name));
    std::vector<std::string> compare = {kFixtures + "/ext4_tree.py", "compare",
                                        home.dir() + "/state/images/" + name + "/rootfs.ext4",
                                        reg.expected(), repo_tag};
    for (const auto& prefix : kInjected) {
      compare.insert(compare.end(), {"--ignore-prefix", prefix});
    }
    auto compared = python(compare);
    EXPECT_EQ(compared.exit_code, 0) << repo_tag << ":\n" << compared.out << compared.err;
  }

  static std::vector<std::string> leftovers(const std::string& dir, std::string_view marker) {
    std::vector<std::string> found;
    std::error_code ec;
    for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      if (it->path().filename().string().find(marker) != std::string::npos) {
        found.push_back(it->path().string());
      }
    }
    return found;
  }

  static inline std::string skip_reason_;
  static inline std::string setup_error_;
  static inline testkit::TempDir* dir_ = nullptr;
  static inline Registry* open_ = nullptr;
  static inline Registry* locked_ = nullptr;
};

TEST_F(ImagePull, EveryManifestKindGivesTheExpectedExt4Tree) {
  BangerHome home;
  expect_pulled_tree(home, *open_, "banger-test/layers:oci", "layers-oci");
  expect_pulled_tree(home, *open_, "banger-test/layers:docker", "layers-docker");
  expect_pulled_tree(home, *open_, "banger-test/layers:index", "layers-index");
  expect_pulled_tree(home, *open_, "banger-test/layers:manifest-list", "layers-list");
  expect_pulled_tree(home, *open_, "banger-test/tiny:latest", "tiny-oci");

  // The record: banger's init for an image without systemd, and its origin in manifest.json.
  auto shown = home.banger({"image", "show", "layers-oci", "--json"});
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  auto image = nlohmann::json::parse(shown.out);
  EXPECT_EQ(image["init_flavour"], "busybox");
  EXPECT_EQ(image["extra_kernel_args"], "init=/usr/local/lib/banger/init");
  auto manifest = nlohmann::json::parse(
      sys::read_file(home.dir() + "/state/images/layers-oci/manifest.json").value_or("{}"));
  auto expected = nlohmann::json::parse(sys::read_file(open_->expected()).value_or("{}"));
  EXPECT_EQ(manifest["oci"]["reference"], open_->host + "/banger-test/layers:oci");
  EXPECT_EQ(manifest["oci"]["digest"], expected["manifests"]["banger-test/layers:oci"]["digest"]);
  EXPECT_EQ(manifest["oci"]["layers"].size(), 4u);
  EXPECT_EQ(manifest["oci"]["working_dir"],
            expected["configs"]["banger-test/layers:oci"]["WorkingDir"]);
  // image show reports the origin and the recorded (never run) entrypoint.
  EXPECT_EQ(image["source"],
            open_->host + "/banger-test/layers:oci@" +
                expected["manifests"]["banger-test/layers:oci"]["digest"].get<std::string>());
  EXPECT_EQ(image["entrypoint"], expected["configs"]["banger-test/layers:oci"]["Entrypoint"]);
  auto text = home.banger({"image", "show", "layers-oci"});
  EXPECT_THAT(text.out, HasSubstr("(not run by banger)"));

  // A second pull of the same image downloads nothing: its blobs stay as they were.
  std::string cache = home.dir() + "/cache/oci/blobs/sha256";
  std::map<std::string, std::int64_t> before;
  for (const auto& entry : fs::directory_iterator(cache)) {
    struct stat st{};
    ::stat(entry.path().c_str(), &st);
    before[entry.path().filename().string()] = st.st_mtim.tv_nsec + st.st_mtim.tv_sec * 1000000000;
  }
  auto again = home.banger({"image", "pull", open_->host + "/banger-test/layers:oci", "--name",
                            "layers-oci", "--force"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  for (const auto& [name, mtime] : before) {
    struct stat st{};
    ASSERT_EQ(::stat((cache + "/" + name).c_str(), &st), 0) << name;
    EXPECT_EQ(st.st_mtim.tv_nsec + st.st_mtim.tv_sec * 1000000000, mtime) << name;
  }
  // Without --force, the same reference at the same digest is up to date: nothing is done.
  auto current = home.banger(
      {"image", "pull", open_->host + "/banger-test/layers:oci", "--name", "layers-oci"});
  EXPECT_EQ(current.exit_code, 0) << current.err;
  EXPECT_THAT(current.out, HasSubstr("image layers-oci is up to date (" + open_->host +
                                     "/banger-test/layers:oci@sha256:"));
  // Another image of that name is not replaced without --force.
  auto taken = home.banger(
      {"image", "pull", open_->host + "/banger-test/tiny:latest", "--name", "layers-oci"});
  EXPECT_EQ(taken.exit_code, 1);
  EXPECT_THAT(taken.err, HasSubstr("already exists"));
}

TEST_F(ImagePull, CacheListNamesTheUsersAndPruneRemovesOnlyUnusedBlobs) {
  BangerHome home;
  ASSERT_EQ(home.banger({"image", "pull", open_->host + "/banger-test/layers:oci", "--name", "big"})
                .exit_code,
            0);
  ASSERT_EQ(
      home.banger({"image", "pull", open_->host + "/banger-test/tiny:latest", "--name", "small"})
          .exit_code,
      0);
  auto listed = home.banger({"image", "cache", "list", "--json"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  auto blobs = nlohmann::json::parse(listed.out)["blobs"];
  ASSERT_EQ(blobs.size(), 5u) << listed.out;  // 4 layers + tiny's one
  std::string small_layer;
  for (const auto& blob : blobs) {
    ASSERT_EQ(blob["images"].size(), 1u) << blob;
    if (blob["images"][0] == "small") {
      small_layer = blob["digest"];
    }
  }
  ASSERT_FALSE(small_layer.empty());
  std::string small_file = home.dir() + "/cache/oci/blobs/sha256/" + small_layer.substr(7);
  ASSERT_EQ(home.banger({"image", "delete", "small"}).exit_code, 0);
  auto dry = home.banger({"image", "cache", "prune", "--dry-run"});
  ASSERT_EQ(dry.exit_code, 0) << dry.err;
  EXPECT_THAT(dry.out, HasSubstr("would remove " + small_layer));
  EXPECT_THAT(dry.out, HasSubstr("would free 1 blobs"));
  EXPECT_TRUE(fs::exists(small_file));
  auto pruned = home.banger({"image", "cache", "prune"});
  ASSERT_EQ(pruned.exit_code, 0) << pruned.err;
  EXPECT_THAT(pruned.out, HasSubstr("removed " + small_layer));
  EXPECT_FALSE(fs::exists(small_file));
  auto after = nlohmann::json::parse(home.banger({"image", "cache", "list", "--json"}).out);
  EXPECT_EQ(after["blobs"].size(), 4u);
}

TEST_F(ImagePull, HostileImagesAreRefusedAndNothingIsRegistered) {
  BangerHome home;
  auto expected = nlohmann::json::parse(sys::read_file(open_->expected()).value_or("{}"));
  ASSERT_TRUE(expected.contains("evil"));
  std::map<std::string, std::string> messages = {
      {"banger-test/evil:absolute", "unsafe path /abs/path"},
      {"banger-test/evil:dotdot", "unsafe path ../../escape"},
      {"banger-test/evil:symlink-write", "a parent directory is a symlink"},
      {"banger-test/evil:symlink-write-abs", "a parent directory is a symlink"},
      {"banger-test/evil:hardlink-outside", "unsafe hard link etc/evil -> ../../etc/passwd"},
      {"banger-test/evil:hardlink-missing", "hard link to etc/does-not-exist"},
      {"banger-test/evil:whiteout-dotdot", "a whiteout must name an entry of its directory"},
      {"banger-test/evil:whiteout-escape", "a whiteout must name an entry of its directory"},
      {"banger-test/evil:digest-mismatch", "content does not match its digest"},
      {"banger-test/evil:size-lie", "registry sent more than the"},
      {"banger-test/evil:size-too-big", "the manifest declares"}};
  for (const auto& [tag, _] : expected["evil"].items()) {
    ASSERT_TRUE(messages.count(tag)) << "no expected message for " << tag;
  }
  for (const auto& [tag, message] : messages) {
    auto pulled = home.banger({"image", "pull", open_->host + "/" + tag});
    EXPECT_EQ(pulled.exit_code, 1) << tag << ": " << pulled.out;
    EXPECT_THAT(pulled.err, HasSubstr(message)) << tag;
    if (tag.find("size") == std::string::npos && tag.find("digest") == std::string::npos) {
      EXPECT_THAT(pulled.err, HasSubstr("layer 1/1 (sha256:")) << tag;
    }
  }
  auto list = home.banger({"image", "list", "--json"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_EQ(nlohmann::json::parse(list.out).size(), 0u) << list.out;
  EXPECT_THAT(leftovers(home.dir() + "/state", ".staging"), ::testing::IsEmpty());
  EXPECT_THAT(leftovers(home.dir() + "/cache", ".partial"), ::testing::IsEmpty());
  // Nothing escaped the staging area: the fixture's targets outside it do not exist.
  EXPECT_FALSE(fs::exists(home.dir() + "/escape"));
  EXPECT_FALSE(fs::exists(home.dir() + "/state/escape"));
  EXPECT_FALSE(fs::exists("/abs/path"));
}

TEST_F(ImagePull, CredentialsComeFromPasswordStdinOrTheDockerConfig) {
  BangerHome home;
  std::string ref = locked_->host + "/banger-test/tiny:latest";
  auto anonymous = home.banger({"image", "pull", ref, "--name", "anon"});
  EXPECT_EQ(anonymous.exit_code, 1);
  EXPECT_THAT(anonymous.err, HasSubstr("requires a login"));
  auto wrong = home.banger(
      {"image", "pull", ref, "--name", "wrong", "--username", "tester", "--password-stdin"},
      "nope\n");
  EXPECT_EQ(wrong.exit_code, 1);
  EXPECT_THAT(wrong.err, HasSubstr("refused the credentials for " + locked_->host));
  auto no_stdin_flag = home.banger({"image", "pull", ref, "--username", "tester"});
  EXPECT_EQ(no_stdin_flag.exit_code, 1);
  EXPECT_THAT(no_stdin_flag.err, HasSubstr("--username needs --password-stdin"));
  auto stdin_pull = home.banger(
      {"image", "pull", ref, "--name", "via-stdin", "--username", "tester", "--password-stdin"},
      "s3cret pass\n");
  EXPECT_EQ(stdin_pull.exit_code, 0) << stdin_pull.err;

  // ~/.docker/config.json: auths.<host>.auth = base64("tester:s3cret pass").
  ASSERT_TRUE(sys::make_dirs(home.dir() + "/home/.docker", 0700));
  ASSERT_TRUE(sys::write_file_atomic(
      home.dir() + "/home/.docker/config.json",
      R"({"auths": {")" + locked_->host + R"(": {"auth": "dGVzdGVyOnMzY3JldCBwYXNz"}}})", 0600));
  auto config_pull = home.banger({"image", "pull", ref, "--name", "via-config"});
  EXPECT_EQ(config_pull.exit_code, 0) << config_pull.err;
  auto shown = home.banger({"image", "show", "via-config"});
  EXPECT_EQ(shown.exit_code, 0) << shown.err;
}

TEST_F(ImagePull, BadReferencesAndFlagsAreRefusedBeforeAnythingIsFetched) {
  BangerHome home;
  auto upper = home.banger({"image", "pull", "Debian:12"});
  EXPECT_EQ(upper.exit_code, 1);
  EXPECT_THAT(upper.err, HasSubstr("repository part \"Debian\""));
  auto platform = home.banger(
      {"image", "pull", open_->host + "/banger-test/tiny:latest", "--platform", "linux/arm64"});
  EXPECT_EQ(platform.exit_code, 1);
  EXPECT_THAT(platform.err, HasSubstr("platform linux/arm64 is not supported"));
  auto missing = home.banger({"image", "pull", open_->host + "/banger-test/nothing:here"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.err, HasSubstr("not found in " + open_->host + "/banger-test/nothing"));
}

// Ctrl-C in the middle of a pull (the registry sent the blob's headers and then nothing, like a
// stalled network): the CLI goes away, the daemon cancels the transfer, and nothing remains:
// no image, no staging directory, no partial blob.
TEST_F(ImagePull, CtrlCDuringAPullLeavesNoImageAndNoPartialBlob) {
  BangerHome home;
  auto in = posix::make_pipe();
  auto out = posix::make_pipe();
  ASSERT_TRUE(in && out);
  auto server =
      posix::Subprocess::spawn({.argv = {"python3", kFixtures + "/hostile_registry.py"},
                                .env = posix::current_env(),
                                .new_session = true,
                                .stdio = posix::Stdio::redirect,
                                .redirect = {in->read.get(), out->write.get(), STDERR_FILENO}});
  ASSERT_TRUE(server) << server.error().what;
  in->read.reset();
  out->write.reset();
  std::string line;
  ASSERT_TRUE(posix::read_until(out->read.get(), '\n', line, 256,
                                posix::deadline_in(std::chrono::seconds(30))));
  auto port = nlohmann::json::parse(line, nullptr, false).value("port", 0);
  ASSERT_NE(port, 0) << line;
  ASSERT_EQ(home.banger({"daemon", "start"}).exit_code, 0);

  std::vector<std::string> env = posix::current_env();
  env.push_back("BANGER_HOME=" + home.dir());
  env.push_back("HOME=" + home.dir() + "/home");
  env.push_back("NO_COLOR=1");
  auto pull = posix::Subprocess::spawn(
      {.argv = {bin("banger"), "image", "pull", fmt::format("127.0.0.1:{}/layerhang/image", port),
                "--name", "cut"},
       .env = env,
       .stdio = posix::Stdio::pipes});
  ASSERT_TRUE(pull) << pull.error().what;
  std::string cache = home.dir() + "/cache/oci/blobs/sha256";
  // The layer download has begun when its partial file exists.
  EXPECT_TRUE(testkit::eventually([&] { return !leftovers(cache, ".partial").empty(); },
                                  std::chrono::seconds(30)));
  pull->kill(SIGINT);
  auto ended = pull->pump({.deadline = posix::deadline_in(std::chrono::seconds(30))});
  ASSERT_TRUE(ended) << ended.error().what;
  EXPECT_NE(ended->exit.code, 0);
  // The daemon notices the hang-up and cleans up (asynchronously).
  EXPECT_TRUE(testkit::eventually(
      [&] {
        return leftovers(cache, ".partial").empty() &&
               leftovers(home.dir() + "/state", ".staging").empty();
      },
      std::chrono::seconds(30)))
      << "left: " << ::testing::PrintToString(leftovers(home.dir(), ".partial"))
      << ::testing::PrintToString(leftovers(home.dir() + "/state", ".staging"));
  auto list = home.banger({"image", "list", "--json"});
  EXPECT_EQ(nlohmann::json::parse(list.out, nullptr, false).size(), 0u) << list.out;
  EXPECT_THAT(sys::read_file(home.log_file()).value_or(""), HasSubstr("pull cancelled"));
}

}  // namespace
}  // namespace banger::itest
