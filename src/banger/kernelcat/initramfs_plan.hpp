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

// The initramfs members in write order (parents before children): the directory skeleton,
// bin/busybox copied from busybox_path, the init script, dev/console, every module as
// lib/modules/<file name> ("virtio_blk.ko") in the order given (the load order), and
// lib/modules/load.order listing those file names, one per line.
std::vector<CpioEntry> plan_initramfs_entries(const std::string& busybox_path,
                                              std::vector<InitramfsModule> modules);

}  // namespace banger::kernelcat
