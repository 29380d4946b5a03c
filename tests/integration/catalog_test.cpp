// Catalogs and bundles end to end (issue 12, S11) with the real binaries: `image bundle` and
// `kernel bundle --catalog` write a directory that `python3 -m http.server` serves on
// loopback; a fresh BANGER_HOME whose catalog_url points there lists the entries (`list
// --available`) and pulls them by name; hostile bundles (an extra entry, a symlink, a device,
// traversal, gzip instead of zstd, a wrong sha256, a truncated download) are refused, naming
// what is wrong, with nothing registered and nothing left in the downloads directory.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "harness.hpp"
#include <nlohmann/json.hpp>

#include "banger/posix/subprocess.hpp"
#include "banger/sys/fs.hpp"
#include "banger/sys/sha256.hpp"
#include "banger/testkit/fake_vmlinux.hpp"

namespace banger::itest {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

const std::string kHostileBundle =
    std::string(BANGER_SOURCE_DIR) + "/tests/integration/hostile_bundle.py";

sys::PosixCommandRunner& runner() {
  static sys::PosixCommandRunner instance;
  return instance;
}

sys::CommandResult run(const std::vector<std::string>& argv) {
  auto result = runner().run({.argv = argv, .timeout = std::chrono::seconds(120)});
  return result ? *result : sys::CommandResult{-1, "", result.error().message};
}

// A free loopback TCP port (bound, read, released: the server binds it next).
int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

bool accepts(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

// `python3 -m http.server` serving dir on loopback; killed (our child, by pid) at the end.
struct StaticServer {
  explicit StaticServer(const std::string& dir) : port(free_port()) {
    int log =
        ::open((dir + "/../http.log").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    auto spawned =
        posix::Subprocess::spawn({.argv = {"python3", "-m", "http.server", std::to_string(port),
                                           "--bind", "127.0.0.1", "--directory", dir},
                                  .env = {"PATH=/usr/bin:/bin"},
                                  .stdio = posix::Stdio::redirect,
                                  .redirect = {-1, log, log}});
    ::close(log);
    if (!spawned) {
      return;
    }
    child.emplace(std::move(*spawned));
    for (int i = 0; i < 100 && !accepts(port); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port) + "/" + path;
  }
  int port;
  std::optional<posix::Subprocess> child;
};

nlohmann::json json_of(const sys::CommandResult& result) {
  auto doc = nlohmann::json::parse(result.out, nullptr, false);
  EXPECT_FALSE(doc.is_discarded()) << result.out << result.err;
  return doc;
}

class ImageCatalog : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* tool : {"mkfs.ext4", "zstd", "python3"}) {
      if (sys::find_executable(tool).empty()) {
        GTEST_SKIP() << tool << " is missing (scripts/install-deps.sh installs it)";
      }
    }
    pub_ = dir_.path() + "/pub";
    fs::create_directories(pub_);
    fs::create_directories(dir_.path() + "/tree/sbin");
    ASSERT_TRUE(sys::write_file_atomic(dir_.path() + "/tree/sbin/init", "#!/bin/sh\n", 0755));
    auto made = run({"mkfs.ext4", "-q", "-F", "-L", "team", "-d", dir_.path() + "/tree",
                     dir_.path() + "/rootfs.ext4", "8M"});
    ASSERT_EQ(made.exit_code, 0) << made.err;
    fs::create_directories(dir_.path() + "/kernel");
    ASSERT_TRUE(sys::write_file_atomic(dir_.path() + "/kernel/vmlinux", testkit::fake_vmlinux()));
  }

  // On home: kernel k1 and image team (registered from the files above), bundled into pub/
  // with pub/catalog.json.
  void publish(BangerHome& home) {
    auto kernel = home.banger({"kernel", "import", "k1", "--from", dir_.path() + "/kernel"});
    ASSERT_EQ(kernel.exit_code, 0) << kernel.err;
    auto image = home.banger({"image", "register", "--name", "team", "--rootfs",
                              dir_.path() + "/rootfs.ext4", "--kernel-ref", "k1", "--distro",
                              "debian", "--init", "busybox"});
    ASSERT_EQ(image.exit_code, 0) << image.err;
    auto bundled =
        home.banger({"image", "bundle", "team", "-o", pub_, "--catalog", pub_ + "/catalog.json"});
    ASSERT_EQ(bundled.exit_code, 0) << bundled.err;
    EXPECT_THAT(bundled.out, HasSubstr("added image team to " + pub_ + "/catalog.json"));
    EXPECT_THAT(bundled.out, HasSubstr("\"url\": \"team-x86_64-"));
    auto kernel_bundled =
        home.banger({"kernel", "bundle", "k1", "-o", pub_, "--catalog", pub_ + "/catalog.json"});
    ASSERT_EQ(kernel_bundled.exit_code, 0) << kernel_bundled.err;
  }

  std::string image_bundle() const {
    for (const auto& entry : fs::directory_iterator(pub_)) {
      if (entry.path().filename().string().starts_with("team-x86_64-")) {
        return entry.path().string();
      }
    }
    return "";
  }

  // Writes pub/<name>.json: a catalog with one image entry for the bundle file `file`.
  std::string catalog_for(const std::string& name, const std::string& file,
                          const std::string& sha256, std::uint64_t size) {
    nlohmann::json doc = {{"version", 1},
                          {"images",
                           {{{"name", name},
                             {"distro", "debian"},
                             {"arch", "x86_64"},
                             {"kernel", "k1"},
                             {"url", file},
                             {"sha256", sha256},
                             {"size", size}}}}};
    std::string path = pub_ + "/" + name + ".json";
    EXPECT_TRUE(sys::write_file_atomic(path, doc.dump()));
    return path;
  }

  testkit::TempDir dir_;
  std::string pub_;
};

TEST_F(ImageCatalog, ABundleServedOverHttpIsPulledByNameOnAFreshHome) {
  BangerHome a;
  ASSERT_NO_FATAL_FAILURE(publish(a));
  auto catalog = nlohmann::json::parse(*sys::read_file(pub_ + "/catalog.json"));
  ASSERT_EQ(catalog["images"].size(), 1u);
  EXPECT_EQ(catalog["images"][0]["name"], "team");
  EXPECT_EQ(catalog["images"][0]["kernel"], "k1");
  ASSERT_EQ(catalog["kernels"].size(), 1u);
  EXPECT_EQ(catalog["kernels"][0]["name"], "k1");

  StaticServer server(pub_);
  ASSERT_TRUE(server.child.has_value());
  BangerHome b;
  b.write_config("catalog_url = \"" + server.url("catalog.json") + "\"\n");
  auto available = json_of(b.banger({"image", "list", "--available", "--json"}));
  bool listed = false;
  for (const auto& e : available) {
    if (e["name"] == "team") {
      listed = true;
      EXPECT_EQ(e["kind"], "bundle");
      EXPECT_EQ(e["pulled"], false);
      EXPECT_EQ(e["url"], server.url(catalog["images"][0]["url"]));
    }
  }
  EXPECT_TRUE(listed) << available.dump();

  auto pulled = b.banger({"image", "pull", "team"});
  ASSERT_EQ(pulled.exit_code, 0) << pulled.err;
  EXPECT_THAT(pulled.out, HasSubstr("as image team"));
  auto shown = json_of(b.banger({"image", "show", "team", "--json"}));
  EXPECT_EQ(shown["managed"], true);
  EXPECT_EQ(shown["kernel"], "k1");
  EXPECT_EQ(shown["init_flavour"], "busybox");
  EXPECT_THAT(shown["source"].get<std::string>(),
              HasSubstr("bundle " + server.url("team-x86_64-")));
  EXPECT_EQ(*sys::sha256_file(shown["rootfs_path"]),
            *sys::sha256_file(dir_.path() + "/rootfs.ext4"))
      << "the pulled rootfs is the published one, byte for byte";
  auto again = b.banger({"image", "pull", "team"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_THAT(again.out, HasSubstr("up to date"));

  auto kernels = json_of(b.banger({"kernel", "list", "--available", "--json"}));
  bool k1 = false;
  for (const auto& e : kernels) {
    k1 = k1 || (e["name"] == "k1" && e["source"].get<std::string>().starts_with("bundle http"));
  }
  EXPECT_TRUE(k1) << kernels.dump();
  auto kernel = b.banger({"kernel", "pull", "k1"});
  ASSERT_EQ(kernel.exit_code, 0) << kernel.err;
  auto kernel_shown = json_of(b.banger({"kernel", "show", "k1", "--json"}));
  EXPECT_EQ(kernel_shown["sha256"], sys::sha256_hex(testkit::fake_vmlinux()));
  EXPECT_TRUE(fs::is_empty(b.dir() + "/cache/downloads") ||
              !fs::exists(b.dir() + "/cache/downloads"));
}

TEST_F(ImageCatalog, HostileBundlesAreRefusedWithNothingRegistered) {
  BangerHome a;
  ASSERT_NO_FATAL_FAILURE(publish(a));
  std::string good = image_bundle();
  ASSERT_FALSE(good.empty());
  BangerHome b;
  struct Case {
    std::string mode;
    std::string error;
  };
  for (const Case& c : std::vector<Case>{
           {"extra",
            "entry \"payload.sh\" is not allowed (a bundle holds exactly: manifest.json, "
            "rootfs.ext4)"},
           {"symlink", "entry \"rootfs.ext4\" is not a regular file"},
           {"device", "entry \"rootfs.ext4\" is not a regular file"},
           {"traversal", "entry \"../rootfs.ext4\" is not allowed"},
           {"gzip", "not a readable .tar.zst"}}) {
    std::string bad = pub_ + "/" + c.mode + ".tar.zst";
    auto made = run({"python3", kHostileBundle, "--from", good, "--out", bad, "--mode", c.mode});
    ASSERT_EQ(made.exit_code, 0) << made.err;
    auto imported = b.banger({"image", "import", bad, "--name", "evil"});
    EXPECT_EQ(imported.exit_code, 1) << c.mode;
    EXPECT_THAT(imported.err, HasSubstr("bundle " + bad + ": " + c.error)) << c.mode;
    // The same bundle through a catalog (its sha256 right): refused the same way.
    auto meta = nlohmann::json::parse(made.out);
    std::string catalog =
        catalog_for(c.mode, c.mode + ".tar.zst", meta["sha256"], meta["size"].get<std::uint64_t>());
    b.write_config("catalog_url = \"" + catalog + "\"\n");
    b.banger({"daemon", "stop"});  // the config is read at daemon start
    auto pulled = b.banger({"image", "pull", c.mode});
    EXPECT_EQ(pulled.exit_code, 1) << c.mode;
    EXPECT_THAT(pulled.err, HasSubstr(c.error)) << c.mode;
  }
  // A catalog whose sha256 or size do not match what is served.
  std::string file = fs::path(good).filename().string();
  auto size = static_cast<std::uint64_t>(fs::file_size(good));
  std::string wrong_sha = catalog_for("wrong-sha", file, std::string(64, '0'), size);
  StaticServer server(pub_);
  ASSERT_TRUE(server.child.has_value());
  b.write_config("catalog_url = \"" + server.url("wrong-sha.json") + "\"\n");
  b.banger({"daemon", "stop"});
  auto sha = b.banger({"image", "pull", "wrong-sha"});
  EXPECT_EQ(sha.exit_code, 1);
  EXPECT_THAT(sha.err, HasSubstr("the catalog says " + std::string(64, '0')));
  catalog_for("truncated", file, *sys::sha256_file(good), size + 100);
  b.write_config("catalog_url = \"" + server.url("truncated.json") + "\"\n");
  b.banger({"daemon", "stop"});
  auto cut = b.banger({"image", "pull", "truncated"});
  EXPECT_EQ(cut.exit_code, 1);
  EXPECT_THAT(cut.err, HasSubstr("the catalog says " + std::to_string(size + 100)));

  auto images = json_of(b.banger({"image", "list", "--json"}));
  EXPECT_TRUE(images.empty()) << images.dump();
  EXPECT_TRUE(!fs::exists(b.dir() + "/cache/downloads") ||
              fs::is_empty(b.dir() + "/cache/downloads"))
      << "no partial download is left";
  for (const auto& entry : fs::directory_iterator(b.dir() + "/state/images")) {
    ADD_FAILURE() << "left in the image store: " << entry.path();
  }
}

}  // namespace
}  // namespace banger::itest
