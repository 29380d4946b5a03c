#include "banger/ext4/image_builder.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>

#include "banger/base/defer.hpp"
#include "banger/base/expected.hpp"
#include "banger/base/fd.hpp"

namespace banger::ext4 {
namespace {

constexpr std::chrono::minutes kMkfsTimeout{10};  // -d copies whole trees (GiBs on slow disks)

Status create_sparse_file(const std::string& path, std::uint64_t size_bytes) {
  base::UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd) {
    return fail_errno(fmt::format("creating ext4 image {}", path), errno);
  }
  if (::ftruncate(fd.get(), static_cast<off_t>(size_bytes)) != 0) {
    return fail_errno(fmt::format("sizing ext4 image {}", path), errno);
  }
  return {};
}

}  // namespace

sys::Command plan_mkfs(const MkfsSpec& spec) {
  sys::Command cmd;
  cmd.argv = {"mkfs.ext4", "-q", "-F"};
  if (!spec.source_dir.empty()) {
    cmd.argv.insert(cmd.argv.end(), {"-d", spec.source_dir});
  }
  cmd.argv.insert(cmd.argv.end(), {"-E", "root_owner=0:0,lazy_itable_init=1,lazy_journal_init=1"});
  if (spec.inodes != 0) {
    cmd.argv.insert(cmd.argv.end(), {"-N", std::to_string(spec.inodes)});
  }
  if (!spec.label.empty()) {
    cmd.argv.insert(cmd.argv.end(), {"-L", spec.label});
  }
  cmd.argv.push_back(spec.image);
  cmd.argv.push_back(fmt::format("{}M", spec.size_mib));
  cmd.timeout = kMkfsTimeout;
  return cmd;
}

Status make_ext4(sys::CommandRunner& runner, const MkfsSpec& spec) {
  if (spec.image.empty()) {
    return fail(Errc::invalid_argument, "ext4 image path is empty");
  }
  if (spec.size_mib == 0) {
    return fail(Errc::invalid_argument,
                fmt::format("ext4 image {}: size must be at least 1 MiB", spec.image));
  }
  if (spec.label.size() > kMaxLabelLength) {
    return fail(Errc::invalid_argument,
                fmt::format("ext4 image {}: label \"{}\" is longer than {} bytes", spec.image,
                            spec.label, kMaxLabelLength));
  }
  if (!spec.source_dir.empty()) {
    struct stat st{};
    if (::stat(spec.source_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      return fail(Errc::not_found, fmt::format("ext4 image {}: source directory {} does not exist",
                                               spec.image, spec.source_dir));
    }
  }
  BANGER_TRY(create_sparse_file(spec.image, spec.size_mib * 1024 * 1024));
  base::Defer remove_partial([&] { ::unlink(spec.image.c_str()); });
  auto out = sys::run_checked(runner, plan_mkfs(spec));
  if (!out) {
    return tl::unexpected(
        with_context(out.error(), fmt::format("formatting ext4 image {}", spec.image)));
  }
  remove_partial.dismiss();
  return {};
}

}  // namespace banger::ext4
