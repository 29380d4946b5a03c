#include "banger/vmstorage/vm_disks.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <vector>

#include "banger/base/assert.hpp"
#include "banger/base/defer.hpp"
#include "banger/base/expected.hpp"
#include "banger/base/fd.hpp"
#include "banger/base/log.hpp"
#include "banger/base/strings.hpp"
#include "banger/ext4/editor.hpp"
#include "banger/ext4/image_builder.hpp"
#include "banger/sys/fs.hpp"

namespace banger::vmstorage {
namespace {

constexpr std::uint64_t kMiB = 1024 * 1024;
constexpr std::size_t kCopyChunk = 1024 * 1024;
constexpr std::size_t kZeroBlock = 4096;
constexpr std::chrono::minutes kQemuImgTimeout{2};
constexpr std::string_view kStagingPrefix = ".work-staging-";
constexpr const char* kWorkDiskLabel = "banger-work";

std::string join_path(const std::string& dir, std::string_view name) {
  std::string out = dir;
  if (out.empty() || out.back() != '/') {
    out += '/';
  }
  out += name;
  return out;
}

// Removes path; a missing file is fine.
Status remove_file(const std::string& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return fail_errno("removing " + path, errno);
  }
  return {};
}

Expected<struct stat> stat_base(const std::string& base) {
  struct stat st{};
  if (::stat(base.c_str(), &st) != 0) {
    if (errno == ENOENT) {
      return fail(Errc::not_found, fmt::format("image rootfs {} does not exist", base));
    }
    return fail_errno("reading image rootfs " + base, errno);
  }
  if (!S_ISREG(st.st_mode)) {
    return fail(Errc::invalid_argument, fmt::format("image rootfs {} is not a regular file", base));
  }
  return st;
}

Status write_all(int fd, const char* data, std::size_t len, off_t offset, const std::string& path) {
  while (len > 0) {
    ssize_t w = ::pwrite(fd, data, len, offset);
    if (w < 0) {
      if (errno == EINTR) {
        continue;
      }
      return fail_errno("writing " + path, errno);
    }
    data += w;
    len -= static_cast<std::size_t>(w);
    offset += w;
  }
  return {};
}

bool all_zero(const char* data, std::size_t len) {
  return std::all_of(data, data + len, [](char c) { return c == 0; });
}

// Writes the non-zero kZeroBlock blocks of buf (file offset `offset`) to dst, merging runs.
Status write_nonzero_blocks(int dst, const char* buf, std::size_t len, off_t offset,
                            const std::string& dst_path) {
  std::size_t run_start = 0;
  bool in_run = false;
  for (std::size_t b = 0; b < len; b += kZeroBlock) {
    std::size_t n = std::min(kZeroBlock, len - b);
    bool zero = all_zero(buf + b, n);
    if (!zero && !in_run) {
      run_start = b;
      in_run = true;
    } else if (zero && in_run) {
      BANGER_TRY(write_all(dst, buf + run_start, b - run_start,
                           offset + static_cast<off_t>(run_start), dst_path));
      in_run = false;
    }
  }
  if (in_run) {
    BANGER_TRY(write_all(dst, buf + run_start, len - run_start,
                         offset + static_cast<off_t>(run_start), dst_path));
  }
  return {};
}

// Copies [begin, end) of src into dst at the same offsets, skipping all-zero blocks.
Status copy_range(int src, int dst, off_t begin, off_t end, std::vector<char>& buf,
                  const std::string& src_path, const std::string& dst_path) {
  off_t pos = begin;
  while (pos < end) {
    std::size_t want = std::min<std::size_t>(buf.size(), static_cast<std::size_t>(end - pos));
    ssize_t r = ::pread(src, buf.data(), want, pos);
    if (r < 0) {
      if (errno == EINTR) {
        continue;
      }
      return fail_errno("reading " + src_path, errno);
    }
    if (r == 0) {
      return {};  // the source shrank: nothing more to copy
    }
    BANGER_TRY(write_nonzero_blocks(dst, buf.data(), static_cast<std::size_t>(r), pos, dst_path));
    pos += r;
  }
  return {};
}

// Copies src to dst (already sized) data segment by data segment.
Status sparse_copy_fd(int src, int dst, off_t size, const std::string& src_path,
                      const std::string& dst_path) {
  std::vector<char> buf(kCopyChunk);
  off_t pos = 0;
  while (pos < size) {
    off_t data = ::lseek(src, pos, SEEK_DATA);
    off_t hole = size;
    if (data < 0) {
      if (errno == ENXIO) {
        return {};  // only a hole remains
      }
      if (errno != EINVAL && errno != EOPNOTSUPP) {
        return fail_errno("seeking in " + src_path, errno);
      }
      data = pos;  // no SEEK_DATA support: treat the rest as data
    } else {
      hole = ::lseek(src, data, SEEK_HOLE);
      if (hole < 0) {
        hole = size;
      }
    }
    BANGER_TRY(copy_range(src, dst, data, std::min(hole, size), buf, src_path, dst_path));
    pos = hole;
  }
  return {};
}

Status check_size(std::optional<std::uint64_t> size_mib, const struct stat& base_st,
                  const std::string& base) {
  if (size_mib && *size_mib * kMiB < static_cast<std::uint64_t>(base_st.st_size)) {
    return fail(
        Errc::invalid_argument,
        fmt::format("root disk size {} MiB is smaller than the image rootfs {} ({} MiB)", *size_mib,
                    base, (static_cast<std::uint64_t>(base_st.st_size) + kMiB - 1) / kMiB));
  }
  return {};
}

Status create_qcow2(sys::CommandRunner& runner, const std::string& base, const std::string& path,
                    std::optional<std::uint64_t> size_mib) {
  std::error_code ec;
  std::filesystem::path abs = std::filesystem::absolute(base, ec);
  if (ec) {
    return fail(Errc::io, fmt::format("resolving image rootfs {}: {}", base, ec.message()));
  }
  sys::Command cmd;
  cmd.argv = {"qemu-img", "create", "-q", "-f", "qcow2", "-b", abs.lexically_normal().string(),
              "-F",       "raw",    path};
  if (size_mib) {
    cmd.argv.push_back(fmt::format("{}M", *size_mib));
  }
  cmd.timeout = kQemuImgTimeout;
  auto r = sys::run_checked(runner, cmd);
  if (!r) {
    return tl::unexpected(with_context(r.error(), "creating root disk " + path));
  }
  return {};
}

// Opens base for reading and creates path exclusively (0600).
Expected<std::pair<base::UniqueFd, base::UniqueFd>> open_pair(const std::string& base,
                                                              const std::string& path) {
  base::UniqueFd src(::open(base.c_str(), O_RDONLY | O_CLOEXEC));
  if (!src) {
    return fail_errno("opening image rootfs " + base, errno);
  }
  base::UniqueFd dst(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!dst) {
    return fail_errno("creating root disk " + path, errno);
  }
  return std::make_pair(std::move(src), std::move(dst));
}

Status grow(int fd, std::optional<std::uint64_t> size_mib, const std::string& path) {
  if (size_mib && ::ftruncate(fd, static_cast<off_t>(*size_mib * kMiB)) != 0) {
    return fail_errno("growing root disk " + path, errno);
  }
  return {};
}

Status create_reflink(const std::string& base, const std::string& path,
                      std::optional<std::uint64_t> size_mib) {
  BANGER_TRY_ASSIGN(auto fds, open_pair(base, path));
  if (::ioctl(fds.second.get(), FICLONE, fds.first.get()) != 0) {
    return fail_errno(fmt::format("cloning {} to {} (reflink)", base, path), errno);
  }
  return grow(fds.second.get(), size_mib, path);
}

Status create_sparse_copy(const std::string& base, const std::string& path, off_t base_size,
                          std::optional<std::uint64_t> size_mib) {
  BANGER_TRY_ASSIGN(auto fds, open_pair(base, path));
  if (::ftruncate(fds.second.get(), base_size) != 0) {
    return fail_errno("sizing root disk " + path, errno);
  }
  BANGER_TRY(sparse_copy_fd(fds.first.get(), fds.second.get(), base_size, base, path));
  return grow(fds.second.get(), size_mib, path);
}

// Writes the rendered layout under dir (which exists) with exact modes.
Status write_staging_tree(const std::string& dir,
                          const std::vector<guestconfig::GuestFile>& files) {
  for (const auto& f : files) {
    std::string path = join_path(dir, f.path);
    if (f.type == guestconfig::GuestFile::Type::directory) {
      if (::mkdir(path.c_str(), f.mode) != 0 && errno != EEXIST) {
        return fail_errno("creating staging directory " + path, errno);
      }
    } else {
      base::UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, f.mode));
      if (!fd) {
        return fail_errno("creating staging file " + path, errno);
      }
      BANGER_TRY(write_all(fd.get(), f.content.data(), f.content.size(), 0, path));
    }
    if (::chmod(path.c_str(), f.mode) != 0) {  // the umask may have cut bits
      return fail_errno("setting mode of " + path, errno);
    }
  }
  return {};
}

// Makes sure every directory of files exists on image as a directory, creating the missing ones
// (parents first) with one plain `debugfs -w -R "mkdir <path>"` each. Existing directories are
// never passed to debugfs mkdir: e2fsprogs 1.47.0 leaks an inode and corrupts link counts when
// asked to mkdir an existing directory (so Ext4Edit::mkdir_p is not used here).
Status ensure_dirs(sys::CommandRunner& runner, const std::string& image,
                   const std::vector<guestconfig::GuestFile>& files) {
  for (const auto& f : files) {
    if (f.type != guestconfig::GuestFile::Type::directory) {
      continue;
    }
    std::string guest_path = "/" + f.path;
    auto info = ext4::stat(runner, image, guest_path);
    if (info && info->type == ext4::FileType::directory) {
      continue;
    }
    if (!info && info.error().code != Errc::not_found) {
      return tl::unexpected(info.error());
    }
    if (info) {  // a file or symlink where banger's directory belongs
      BANGER_TRY(ext4::apply(runner, image, ext4::Ext4Edit().remove(guest_path)));
    }
    auto out = runner.run({.argv = {"debugfs", "-w", "-R", "mkdir " + guest_path, image}});
    if (!out) {
      return tl::unexpected(with_context(out.error(), "editing ext4 image " + image));
    }
    auto made = ext4::stat(runner, image, guest_path);
    if (!made || made->type != ext4::FileType::directory) {
      std::string err = out->err;
      while (!err.empty() && err.back() == '\n') {
        err.pop_back();
      }
      return fail(
          Errc::command_failed,
          fmt::format("editing ext4 image {}: creating directory {}: {}", image, guest_path, err));
    }
  }
  return {};
}

// The guest mounts the work disk with a journal and is stopped without unmounting it, so the
// journal may still hold metadata blocks (needs_recovery) that the kernel replays at the next
// mount, over the edits debugfs made without replaying it: a rewritten file came back with its
// old inode (a new "second\n" read back as "second", the old size). Replay it first.
Status replay_journal(sys::CommandRunner& runner, const std::string& image) {
  auto r = runner.run(
      {.argv = {"e2fsck", "-E", "journal_only", "-p", image}, .timeout = std::chrono::minutes(5)});
  if (!r) {
    return tl::unexpected(with_context(r.error(), "replaying the journal of " + image));
  }
  if (r->exit_code != 0 && r->exit_code != 1) {  // 1: the filesystem was changed (replayed)
    return fail(Errc::command_failed,
                fmt::format("replaying the journal of {}: e2fsck exited {}: {}", image,
                            r->exit_code, base::tail_lines(r->err + r->out, 3)));
  }
  return {};
}

// One batch (re)writing files and setting directory modes; the directories must exist.
ext4::Ext4Edit edit_for(const std::vector<guestconfig::GuestFile>& files) {
  ext4::Ext4Edit edit;
  for (const auto& f : files) {
    std::string guest_path = "/" + f.path;
    if (f.type == guestconfig::GuestFile::Type::directory) {
      edit.chmod(guest_path, f.mode, ext4::FileType::directory).chown(guest_path, 0, 0);
    } else {
      edit.write_file(guest_path, f.content, f.mode, 0, 0);
    }
  }
  return edit;
}

}  // namespace

DiskFormat root_disk_format(RootfsStrategy strategy) {
  return strategy == RootfsStrategy::qcow2_overlay ? DiskFormat::qcow2 : DiskFormat::raw;
}

std::string root_disk_path(const std::string& vm_dir, RootfsStrategy strategy) {
  return join_path(vm_dir,
                   strategy == RootfsStrategy::qcow2_overlay ? kRootQcow2Name : kRootRawName);
}

std::string work_disk_path(const std::string& vm_dir) { return join_path(vm_dir, kWorkDiskName); }

Expected<RootDisk> create_root_disk(sys::CommandRunner& runner, RootfsStrategy strategy,
                                    const std::string& base_rootfs_path, const std::string& vm_dir,
                                    std::optional<std::uint64_t> size_mib) {
  if (strategy == RootfsStrategy::dm_snapshot) {
    return fail(Errc::unavailable,
                "rootfs strategy dm_snapshot is not supported yet: use qcow2_overlay, reflink or "
                "sparse_copy");
  }
  BANGER_TRY_ASSIGN(struct stat base_st, stat_base(base_rootfs_path));
  BANGER_TRY(check_size(size_mib, base_st, base_rootfs_path));
  BANGER_TRY(sys::make_dirs(vm_dir, 0700));
  RootDisk disk{.path = root_disk_path(vm_dir, strategy),
                .format = root_disk_format(strategy),
                .strategy = strategy};
  if (sys::path_exists(disk.path)) {
    return fail(Errc::already_exists, fmt::format("root disk {} already exists", disk.path));
  }
  base::Defer cleanup([&] { (void)remove_file(disk.path); });
  switch (strategy) {
    case RootfsStrategy::qcow2_overlay:
      BANGER_TRY(create_qcow2(runner, base_rootfs_path, disk.path, size_mib));
      break;
    case RootfsStrategy::reflink:
      BANGER_TRY(create_reflink(base_rootfs_path, disk.path, size_mib));
      break;
    case RootfsStrategy::sparse_copy:
      BANGER_TRY(create_sparse_copy(base_rootfs_path, disk.path, base_st.st_size, size_mib));
      break;
    case RootfsStrategy::dm_snapshot:
      BANGER_ASSERT(false, "dm_snapshot is rejected above");
  }
  cleanup.dismiss();
  return disk;
}

Expected<std::string> create_work_disk(sys::CommandRunner& runner, const std::string& vm_dir,
                                       std::uint64_t size_mib,
                                       const guestconfig::GuestConfigSpec& spec) {
  BANGER_TRY_ASSIGN(auto files, guestconfig::render_work_disk_files(spec));
  std::string image = work_disk_path(vm_dir);
  if (size_mib == 0) {
    return fail(Errc::invalid_argument,
                fmt::format("work disk {}: size must be at least 1 MiB", image));
  }
  BANGER_TRY(sys::make_dirs(vm_dir, 0700));
  if (sys::path_exists(image)) {
    return fail(Errc::already_exists, fmt::format("work disk {} already exists", image));
  }
  std::string templ = join_path(vm_dir, std::string(kStagingPrefix) + "XXXXXX");
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) {
    return fail_errno("creating staging directory in " + vm_dir, errno);
  }
  std::string staging = buf.data();
  base::Defer remove_staging([&] { (void)sys::remove_all(staging); });
  BANGER_TRY(write_staging_tree(staging, files));

  BANGER_TRY(ext4::make_ext4(
      runner,
      {.image = image, .size_mib = size_mib, .source_dir = staging, .label = kWorkDiskLabel}));
  base::Defer remove_image([&] { (void)remove_file(image); });
  if (::geteuid() != 0) {
    // mkfs.ext4 -d copies the staging owners (our uid); the guest needs root:root.
    ext4::Ext4Edit chown;
    for (const auto& f : files) {
      chown.chown("/" + f.path, 0, 0);
    }
    auto r = ext4::apply(runner, image, chown);
    if (!r) {
      return tl::unexpected(with_context(r.error(), "creating work disk " + image));
    }
  }
  remove_image.dismiss();
  return image;
}

Status refresh_work_disk(sys::CommandRunner& runner, const std::string& work_disk_path,
                         const guestconfig::GuestConfigSpec& spec,
                         std::optional<EditIdentity> as_identity, const FileSyncPlan* sync) {
  BANGER_TRY_ASSIGN(auto files, guestconfig::render_work_disk_files(spec));
  if (!sys::path_exists(work_disk_path)) {
    return fail(Errc::not_found, fmt::format("work disk {} does not exist", work_disk_path));
  }
  ext4::Ext4Edit edit;
  if (sync != nullptr) {
    edit.append(sync->edit);
  }
  edit.append(edit_for(files));
  // Checked against the superblock's count before writing: a sync that cannot fit fails the
  // start with this message rather than halfway through the batch with debugfs's.
  auto check_space = [&](sys::CommandRunner& r) -> Status {
    if (sync == nullptr || sync->bytes == 0) {
      return {};
    }
    BANGER_TRY_ASSIGN(std::uint64_t free, ext4::free_bytes(r, work_disk_path));
    if (sync->bytes > free) {
      return fail(Errc::invalid_argument,
                  fmt::format("file_sync: the synced files need {} MiB but the work disk {} has "
                              "{} MiB free; sync less or give the VM a larger disk",
                              (sync->bytes + (1 << 20) - 1) >> 20, work_disk_path, free >> 20));
    }
    return {};
  };
  if (!as_identity) {
    BANGER_TRY(replay_journal(runner, work_disk_path));
    BANGER_TRY(check_space(runner));
    BANGER_TRY(ensure_dirs(runner, work_disk_path, files));
    return ext4::apply(runner, work_disk_path, edit);
  }
  // The guest wrote this disk: parse it only without privileges (security review M11).
  struct stat owner{};
  if (::stat(work_disk_path.c_str(), &owner) != 0) {
    return fail_errno("reading the owner of " + work_disk_path, errno);
  }
  if (::chown(work_disk_path.c_str(), as_identity->uid, as_identity->gid) != 0) {
    return fail_errno("handing " + work_disk_path + " to the unprivileged editor", errno);
  }
  base::Defer give_back([&] {
    if (::chown(work_disk_path.c_str(), owner.st_uid, owner.st_gid) != 0) {
      BANGER_LOG_WARN("giving {} back to uid {}: {}", work_disk_path, owner.st_uid,
                      std::strerror(errno));
    }
  });
  UnprivilegedImageRunner unprivileged(runner, work_disk_path, *as_identity);
  BANGER_TRY(replay_journal(unprivileged, work_disk_path));
  BANGER_TRY(check_space(unprivileged));
  BANGER_TRY(ensure_dirs(unprivileged, work_disk_path, files));
  return ext4::apply(unprivileged, work_disk_path, edit,
                     std::pair{as_identity->uid, as_identity->gid});
}

Status write_root_etc(sys::CommandRunner& runner, const RootDisk& root,
                      const guestconfig::GuestConfigSpec& spec) {
  if (root.format == DiskFormat::qcow2) {
    return fail(Errc::failed_precondition,
                fmt::format("root disk {} is a qcow2 overlay and cannot be edited offline: the "
                            "guest config goes on the work disk",
                            root.path));
  }
  BANGER_TRY_ASSIGN(auto files, guestconfig::render_root_etc_files(spec));
  if (!sys::path_exists(root.path)) {
    return fail(Errc::not_found, fmt::format("root disk {} does not exist", root.path));
  }
  return ext4::apply(runner, root.path, edit_for(files));
}

Status remove_vm_disks(const std::string& vm_dir) {
  for (std::string_view name : {kRootQcow2Name, kRootRawName, kWorkDiskName}) {
    BANGER_TRY(remove_file(join_path(vm_dir, name)));
  }
  std::error_code ec;
  std::filesystem::directory_iterator it(vm_dir, ec);
  if (ec) {
    if (ec == std::errc::no_such_file_or_directory) {
      return {};
    }
    return fail(Errc::io, fmt::format("listing {}: {}", vm_dir, ec.message()));
  }
  for (; it != std::filesystem::directory_iterator(); it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (name.rfind(kStagingPrefix, 0) == 0) {
      BANGER_TRY(sys::remove_all(it->path().string()));
    }
  }
  if (ec) {
    return fail(Errc::io, fmt::format("listing {}: {}", vm_dir, ec.message()));
  }
  return {};
}

}  // namespace banger::vmstorage
