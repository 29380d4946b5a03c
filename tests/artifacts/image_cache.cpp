#include "image_cache.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <vector>

#include "banger/sys/fs.hpp"
#include "banger/sys/sha256.hpp"

namespace banger::itest {
namespace {

namespace fs = std::filesystem;

constexpr const char* kEntryPrefix = "debian-bookworm-";

std::string cache_dir() {
  const char* dir = std::getenv("BANGER_TEST_IMAGE_CACHE");
  return dir == nullptr ? std::string() : std::string(dir);
}

bool copy_sparse(const std::string& from, const std::string& to) {
  sys::PosixCommandRunner runner;
  auto r = runner.run({.argv = {"cp", "--sparse=always", "--reflink=auto", from, to},
                       .timeout = std::chrono::minutes(5)});
  return r && r->exit_code == 0;
}

// Copies <from>/{rootfs.ext4,manifest.json} into a fresh <to> (created with mode 0700).
bool copy_image_dir(const std::string& from, const std::string& to) {
  if (!sys::make_dirs(to, 0700)) {
    return false;
  }
  return copy_sparse(from + "/rootfs.ext4", to + "/rootfs.ext4") &&
         copy_sparse(from + "/manifest.json", to + "/manifest.json");
}

void store(const std::string& cache, const std::string& key, const std::string& image_dir) {
  std::error_code ec;
  fs::create_directories(cache, ec);
  const std::string tmp = cache + "/.tmp-" + std::to_string(::getpid());
  fs::remove_all(tmp, ec);
  if (!copy_image_dir(image_dir, tmp)) {
    fs::remove_all(tmp, ec);
    std::printf("[ cache    ] could not store the image in %s\n", cache.c_str());
    return;
  }
  // Keep only the latest entry: images are about a gigabyte each.
  for (fs::directory_iterator it(cache, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().filename().string().starts_with(kEntryPrefix)) {
      std::error_code rm_ec;
      fs::remove_all(it->path(), rm_ec);
    }
  }
  fs::rename(tmp, cache + "/" + kEntryPrefix + key, ec);
  std::printf("[ cache    ] stored the image as %s%s\n", kEntryPrefix, key.c_str());
}

}  // namespace

std::string debian_image_cache_key() {
  std::string material;
  std::vector<std::string> sources;
  std::error_code ec;
  for (fs::directory_iterator it(BANGER_SOURCE_DIR "/src/banger/imagecat", ec), end;
       !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (!name.ends_with("_test.cpp")) {
      sources.push_back(it->path().string());
    }
  }
  if (ec || sources.empty()) {
    return "";
  }
  std::sort(sources.begin(), sources.end());
  for (const auto& path : sources) {
    auto text = sys::read_file(path);
    if (!text) {
      return "";
    }
    material += path.substr(path.rfind('/') + 1) + "\n" + *text + "\n";
  }
  auto agent = sys::sha256_file(bin("banger-agent"));
  if (!agent) {
    return "";
  }
  material += "agent " + *agent + "\n";
  sys::PosixCommandRunner runner;
  auto policy =
      runner.run({.argv = {"apt-cache", "policy", "systemd", "openssh-server", "docker.io",
                           "containerd", "runc", "build-essential", "python3", "git", "libc6"},
                  .timeout = std::chrono::minutes(1),
                  .env_overrides = {{"LC_ALL", "C"}}});
  if (!policy || policy->exit_code != 0) {
    return "";
  }
  // Candidate lines only: "Installed:" differs between hosts and says nothing about images.
  const std::string& text = policy->out;
  for (auto at = text.find("Candidate:"); at != std::string::npos;
       at = text.find("Candidate:", at + 1)) {
    material += text.substr(at, text.find('\n', at) - at) + "\n";
  }
  return sys::sha256_hex(material).substr(0, 16);
}

ObtainedImage obtain_debian_image(BangerHome& home, const std::string& name) {
  const std::string cache = cache_dir();
  const std::string key = cache.empty() ? "" : debian_image_cache_key();
  const std::string image_dir = home.dir() + "/state/images/" + name;
  if (!key.empty()) {
    const std::string entry = cache + "/" + kEntryPrefix + key;
    if (sys::path_exists(entry + "/rootfs.ext4") && sys::path_exists(entry + "/manifest.json")) {
      // The daemon creates the state layout; its next start adopts the published directory.
      home.banger({"image", "list"});
      home.banger({"daemon", "stop"});
      if (copy_image_dir(entry, image_dir)) {
        auto show = home.banger({"image", "show", name});
        home.banger({"daemon", "stop"});
        if (show.exit_code == 0) {
          std::printf("[ cache    ] using %s from %s\n", name.c_str(), entry.c_str());
          return {.from_cache = true, .error = ""};
        }
      }
      std::printf("[ cache    ] entry %s unusable; building\n", entry.c_str());
      std::error_code ec;
      fs::remove_all(image_dir, ec);
    }
  }
  sys::PosixCommandRunner runner;
  auto built =
      runner.run({.argv = {bin("banger"), "image", "build", "debian-bookworm", "--name", name},
                  .timeout = std::chrono::minutes(25),
                  .env_overrides = {{"BANGER_HOME", home.dir()}, {"NO_COLOR", "1"}}});
  home.banger({"daemon", "stop"});
  if (!built || built->exit_code != 0) {
    return {.from_cache = false,
            .error = "image build debian-bookworm failed: " +
                     (built ? built->out + built->err : built.error().message)};
  }
  if (!key.empty()) {
    store(cache, key, image_dir);
  }
  return {};
}

}  // namespace banger::itest
