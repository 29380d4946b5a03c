// Which VMM runs a VM, and the disk image formats the backends understand. The backend is part
// of the VM record (a VM started under QEMU is found again through QEMU); vmm:: and vmstorage::
// use these enums under their own names (vmm::Backend, vmm::DiskFormat).
#pragma once

#include <string_view>

#include "banger/base/enum_names.hpp"
#include "banger/base/error.hpp"

namespace banger::model {

// A VMM backend.
enum class VmmBackend {
  qemu,         // qemu-system-x86_64 -M microvm (the only one implemented)
  firecracker,  // Firecracker: recognised in config and records, refused until it exists
};

inline constexpr auto kVmmBackendNames = base::make_enum_names<VmmBackend>(
    {{VmmBackend::qemu, "qemu"}, {VmmBackend::firecracker, "firecracker"}});

// "qemu" | "firecracker": stored in the vms table and shown by `vm list` / `vm show`.
constexpr std::string_view to_string(VmmBackend backend) { return kVmmBackendNames.name(backend); }
// Parses a name produced by to_string(VmmBackend). invalid_argument naming the allowed values.
Expected<VmmBackend> parse_vmm_backend(std::string_view text);

// What the config's `vmm` key asks for; policy::decide_vmm turns it into a VmmBackend.
enum class VmmChoice {
  auto_detect,  // "auto": banger picks (QEMU, while it is the only backend)
  qemu,         // "qemu"
  firecracker,  // "firecracker": refused until the Firecracker backend exists
};

inline constexpr auto kVmmChoiceNames =
    base::make_enum_names<VmmChoice>({{VmmChoice::auto_detect, "auto"},
                                      {VmmChoice::qemu, "qemu"},
                                      {VmmChoice::firecracker, "firecracker"}});

// The config spelling: "auto" | "qemu" | "firecracker".
constexpr std::string_view to_string(VmmChoice choice) { return kVmmChoiceNames.name(choice); }

// The format of a disk image file.
enum class DiskFormat {
  raw,    // a plain ext4 image (sparse copy or reflink of the image's rootfs, the work disk)
  qcow2,  // a qcow2 overlay over the image's rootfs (QEMU only)
};

inline constexpr auto kDiskFormatNames =
    base::make_enum_names<DiskFormat>({{DiskFormat::raw, "raw"}, {DiskFormat::qcow2, "qcow2"}});

// "raw" | "qcow2".
constexpr std::string_view to_string(DiskFormat format) { return kDiskFormatNames.name(format); }

}  // namespace banger::model
