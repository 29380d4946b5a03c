// A VM's disks under vms/<id>/: the private root disk (from the image's read-only rootfs.ext4,
// by strategy) and the work disk (raw ext4 at /dev/vdb, mounted at /root) carrying the guest
// configuration from guestconfig/. The contract with the image is in docs/guest-config.md.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "banger/base/error.hpp"
#include "banger/guestconfig/guestconfig.hpp"
#include "banger/model/vmm_backend.hpp"
#include "banger/sys/command_runner.hpp"
#include "banger/vmstorage/file_sync.hpp"
#include "banger/vmstorage/strategy.hpp"
#include "banger/vmstorage/unprivileged_runner.hpp"

namespace banger::vmstorage {

using DiskFormat = model::DiskFormat;  // "raw" or "qcow2" (model::to_string)

// Pure: the format of the root disk a strategy makes (qcow2 for qcow2_overlay, else raw).
DiskFormat root_disk_format(RootfsStrategy strategy);

struct RootDisk {
  std::string path;  // <vm_dir>/root.qcow2 or <vm_dir>/root.ext4
  DiskFormat format = DiskFormat::raw;
  RootfsStrategy strategy = RootfsStrategy::sparse_copy;

  friend bool operator==(const RootDisk&, const RootDisk&) = default;
};

// File names inside the VM directory.
inline constexpr std::string_view kRootQcow2Name = "root.qcow2";
inline constexpr std::string_view kRootRawName = "root.ext4";
inline constexpr std::string_view kWorkDiskName = "work.ext4";

// Pure: the root disk path a strategy produces in vm_dir.
std::string root_disk_path(const std::string& vm_dir, RootfsStrategy strategy);
// Pure: <vm_dir>/work.ext4.
std::string work_disk_path(const std::string& vm_dir);

// Creates the VM's root disk in vm_dir (created 0700 if missing) from the image's base rootfs:
// - qcow2_overlay: `qemu-img create -q -f qcow2 -b <absolute base> -F raw <vm_dir>/root.qcow2
//   [<size_mib>M]`; the base is never written.
// - reflink: FICLONE of the base into <vm_dir>/root.ext4.
// - sparse_copy: in-process copy into <vm_dir>/root.ext4 that keeps holes (SEEK_DATA/SEEK_HOLE)
//   and leaves all-zero 4 KiB blocks unwritten.
// - dm_snapshot: always unavailable ("not supported yet").
// size_mib, when set, grows the disk (the guest grows the filesystem, see the docs).
// Errors: not_found when the base is missing; already_exists when the root disk exists (left
// alone); invalid_argument when size_mib is smaller than the base; unavailable for dm_snapshot;
// io (with errno, e.g. EOPNOTSUPP for reflink on ext4) / command_failed (qemu-img) naming the
// paths. A partly created disk is removed on failure.
Expected<RootDisk> create_root_disk(sys::CommandRunner& runner, RootfsStrategy strategy,
                                    const std::string& base_rootfs_path, const std::string& vm_dir,
                                    std::optional<std::uint64_t> size_mib);

// Creates <vm_dir>/work.ext4 (size_mib MiB, sparse) with mkfs.ext4 -d of a staging directory
// holding guestconfig::render_work_disk_files(spec), so a first start needs no debugfs. The
// filesystem root is root:root 0700; every entry is root:root (when not running as root the
// owners are fixed with one debugfs batch). Returns the path. Errors: invalid_argument from the
// spec or a zero size; already_exists when the work disk exists (left alone); io for the
// staging tree; command_failed from mkfs.ext4/debugfs. Partial files are removed on failure.
Expected<std::string> create_work_disk(sys::CommandRunner& runner, const std::string& vm_dir,
                                       std::uint64_t size_mib,
                                       const guestconfig::GuestConfigSpec& spec);

// Rewrites every file of render_work_disk_files(spec) (authorized_keys included, S9) on an
// existing work disk in one `debugfs -w` batch, recreating the directories with their modes.
// Call only while the VM is not running. Errors: invalid_argument from the spec; not_found
// when the work disk is missing; command_failed naming the disk and the failing file.
// With as_identity (a root daemon: security review M11) every debugfs run on the disk, whose
// bytes the guest controls, runs as that unprivileged identity (UnprivilegedImageRunner); the
// disk is owned by it for the edit and handed back to its owner afterwards.
// sync (file_sync, may be null) goes into the same batch before banger's own files, which
// therefore win (authorized_keys, the modes of .ssh/); invalid_argument naming file_sync when
// its files need more than the disk's free space.
Status refresh_work_disk(sys::CommandRunner& runner, const std::string& work_disk_path,
                         const guestconfig::GuestConfigSpec& spec,
                         std::optional<EditIdentity> as_identity = std::nullopt,
                         const FileSyncPlan* sync = nullptr);

// Optional extra for raw root disks (reflink, sparse_copy): writes
// guestconfig::render_root_etc_files(spec) straight into the root filesystem's /etc, so images
// without the boot hook still get hostname, hosts and resolv.conf. Errors: failed_precondition
// for a qcow2 root (it cannot be edited offline); otherwise as refresh_work_disk().
Status write_root_etc(sys::CommandRunner& runner, const RootDisk& root,
                      const guestconfig::GuestConfigSpec& spec);

// Removes the disks banger made in vm_dir (root.qcow2, root.ext4, work.ext4 and leftover
// staging directories); missing files are fine, other files and vm_dir itself are kept.
// io naming the path that could not be removed.
Status remove_vm_disks(const std::string& vm_dir);

}  // namespace banger::vmstorage
