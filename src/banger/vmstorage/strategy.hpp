// Per-VM writable root disk strategies (SPEC S6): what the host supports (probe_storage) and
// which one a VM gets (choose_strategy, pure). See docs/guest-config.md for the table.
#pragma once

#include <string>
#include <string_view>

#include "banger/base/error.hpp"
#include "banger/model/vmm_backend.hpp"
#include "banger/sys/command_runner.hpp"

namespace banger::vmstorage {

// How a VM's private root disk is made from the image's read-only rootfs.ext4.
enum class RootfsStrategy {
  qcow2_overlay,  // qcow2 file backed by the raw image (QEMU only); needs qemu-img
  dm_snapshot,    // device-mapper snapshot; not implemented yet, never chosen (see below)
  reflink,        // FICLONE clone of the image (XFS, btrfs): instant, shares blocks
  sparse_copy,    // in-process copy that skips holes and zero blocks: always works
};

// Whether dm_snapshot can be created by this build; false until device-mapper support lands.
inline constexpr bool kDmSnapshotImplemented = false;

// Stable lower-case name ("qcow2_overlay"), used in logs, `vm show`, doctor and the store.
std::string_view to_string(RootfsStrategy strategy);

// Parses a name produced by to_string(); invalid_argument listing the known names otherwise.
Expected<RootfsStrategy> parse_rootfs_strategy(std::string_view text);

// Host facts that decide the strategy. The *_detail strings say why a capability is missing.
struct StorageProbe {
  bool reflink = false;        // FICLONE works in the VM directory's filesystem
  bool device_mapper = false;  // /dev/mapper/control exists and `dmsetup version` works
  bool qemu_img = false;       // qemu-img is on PATH
  std::string reflink_detail;  // e.g. "FICLONE in /var/lib/banger/vms: Operation not supported"
  std::string device_mapper_detail;
  std::string qemu_img_detail;
};

// Pure: qcow2_overlay for QEMU when qemu-img exists; else dm_snapshot when device-mapper works
// and kDmSnapshotImplemented; else reflink when supported; else sparse_copy.
RootfsStrategy choose_strategy(const StorageProbe& probe, model::VmmBackend vmm);

// Pure: one line explaining the choice for logs and doctor, e.g.
// "sparse_copy (no reflink: FICLONE in /x: Operation not supported; no device-mapper: ...)".
std::string explain_strategy(const StorageProbe& probe, model::VmmBackend vmm);

// Probes the host: reflink by cloning a small unlinked temp file inside vms_dir (or its nearest
// existing parent; nothing is left behind), device-mapper by /dev/mapper/control plus
// `dmsetup version` through runner, qemu-img by PATH lookup. Never fails: a failed probe is a
// missing capability with its reason in the matching *_detail.
StorageProbe probe_storage(sys::CommandRunner& runner, const std::string& vms_dir);

}  // namespace banger::vmstorage
