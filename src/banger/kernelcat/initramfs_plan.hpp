// What goes into banger's initramfs (pure): the member list that write_initramfs() packs.
#pragma once

#include <string>
#include <vector>

#include "banger/kernelcat/cpio.hpp"

namespace banger::kernelcat {

// A kernel module for the initramfs: its path as modules.dep names it (relative to
// lib/modules/<release>, e.g. "kernel/drivers/block/virtio_blk.ko.xz") and its decompressed
// bytes.
struct InitramfsModule {
  std::string relative;
  std::string content;
};

// The guest module tree (kGuestModules and their dependencies, with depmod's index files) that
// /init copies to /lib/modules/<release> of the new root. Empty files: no tree.
struct GuestModuleTree {
  std::string release;  // "6.1.0-28-cloud-amd64"
  std::string source;   // what the modules came from ("linux-image-... 6.1.119-1"), for the stamp
  struct File {
    std::string relative;     // below lib/modules/<release>/, e.g. "kernel/fs/overlayfs/overlay.ko"
    std::string source_path;  // the host file packed as it is
  };
  std::vector<File> files;  // in write order
};

// Pure: the stamp /init compares (kGuestModulesStamp): release, source and the file list.
std::string guest_modules_stamp(const GuestModuleTree& tree);

// The initramfs members in write order (parents before children): the directory skeleton,
// bin/busybox copied from busybox_path, the init script, dev/console, every module as
// lib/modules/<file name> ("virtio_blk.ko") in the order given (the load order), and
// lib/modules/load.order listing those file names, one per line; then, when guest has files,
// lib/modules/<release>/ with every file of guest below it (parent directories first) and the
// stamp file last.
std::vector<CpioEntry> plan_initramfs_entries(const std::string& busybox_path,
                                              std::vector<InitramfsModule> modules,
                                              const GuestModuleTree& guest = {});

}  // namespace banger::kernelcat
