#include "banger/oci/blob_cache.hpp"

#include <fmt/format.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>

#include "banger/base/expected.hpp"

namespace banger::oci {
namespace {

namespace fs = std::filesystem;
constexpr std::string_view kSha256Prefix = "sha256:";
constexpr std::string_view kPartial = ".partial-";

}  // namespace

std::string BlobCache::path_of(const std::string& digest) const {
  return dir_ + "/" + digest.substr(kSha256Prefix.size());
}

bool BlobCache::has(const Descriptor& blob) const {
  struct stat st{};
  return ::lstat(path_of(blob.digest).c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
         static_cast<std::uint64_t>(st.st_size) == blob.size;
}

Status BlobCache::ensure_dir() const {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) {
    return fail(Errc::io, fmt::format("creating blob cache {}: {}", dir_, ec.message()));
  }
  ::chmod(dir_.c_str(), 0700);
  return {};
}

Expected<std::string> BlobCache::fetch(RegistryClient& client, const Descriptor& blob,
                                       const BytesFn& on_bytes) {
  std::string final_path = path_of(blob.digest);
  if (has(blob)) {
    if (on_bytes) {
      on_bytes(blob.size);
    }
    return final_path;
  }
  BANGER_TRY(ensure_dir());
  std::string temp = final_path + std::string(kPartial) + "XXXXXX";
  int fd = ::mkstemp(temp.data());
  if (fd < 0) {
    return fail_errno(fmt::format("creating a download file in {}", dir_), errno);
  }
  ::close(fd);
  Status fetched = client.fetch_blob(blob, temp, on_bytes);
  if (!fetched) {
    ::unlink(temp.c_str());
    return tl::unexpected(fetched.error());
  }
  if (::rename(temp.c_str(), final_path.c_str()) != 0) {
    int err = errno;
    ::unlink(temp.c_str());
    return fail_errno(fmt::format("storing blob {} in {}", blob.digest, dir_), err);
  }
  return final_path;
}

Expected<std::vector<CachedBlob>> BlobCache::list() const {
  std::vector<CachedBlob> blobs;
  std::error_code ec;
  if (!fs::exists(dir_, ec)) {
    return blobs;
  }
  for (fs::directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec)) {
    std::string name = it->path().filename().string();
    std::string digest = std::string(kSha256Prefix) + name;
    struct stat st{};
    if (!is_sha256_digest(digest) || ::lstat(it->path().c_str(), &st) != 0 ||
        !S_ISREG(st.st_mode)) {
      continue;
    }
    blobs.push_back({.digest = digest,
                     .size = static_cast<std::uint64_t>(st.st_size),
                     .mtime = static_cast<std::int64_t>(st.st_mtime)});
  }
  if (ec) {
    return fail(Errc::io, fmt::format("reading blob cache {}: {}", dir_, ec.message()));
  }
  std::sort(blobs.begin(), blobs.end(),
            [](const CachedBlob& a, const CachedBlob& b) { return a.digest < b.digest; });
  return blobs;
}

Expected<std::vector<CachedBlob>> BlobCache::prune(const std::set<std::string>& keep,
                                                   bool dry_run) {
  BANGER_TRY_ASSIGN(auto blobs, list());
  std::vector<CachedBlob> removed;
  for (const auto& blob : blobs) {
    if (keep.count(blob.digest) != 0) {
      continue;
    }
    if (!dry_run && ::unlink(path_of(blob.digest).c_str()) != 0 && errno != ENOENT) {
      return fail_errno(fmt::format("removing blob {}", blob.digest), errno);
    }
    removed.push_back(blob);
  }
  return removed;
}

std::size_t BlobCache::remove_partials() {
  std::size_t removed = 0;
  std::error_code ec;
  for (fs::directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().filename().string().find(kPartial) != std::string::npos &&
        ::unlink(it->path().c_str()) == 0) {
      ++removed;
    }
  }
  return removed;
}

}  // namespace banger::oci
