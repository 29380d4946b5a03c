// The kernel record (S10): a vmlinux (+ optional initrd) and the manifest that describes it.
// Plain data and name validation; no I/O and no JSON.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "banger/base/error.hpp"

namespace banger::model {

// Maximum length of a kernel name.
inline constexpr std::size_t kMaxKernelNameLength = 64;

struct Kernel {
  std::string name;              // unique; also its directory name under kernels/
  std::string distro;            // "debian"
  std::string arch;              // "x86_64"
  std::string version;           // "6.1.0-27-cloud-amd64"
  std::string vmlinux_path;      // uncompressed ELF kernel
  std::string initrd_path;       // optional initramfs ("" = none)
  std::string sha256;            // of vmlinux, lowercase hex
  std::string source;            // where it came from ("catalog:debian-cloud", "import:/dir", ...)
  std::int64_t imported_at = 0;  // unix seconds

  friend bool operator==(const Kernel&, const Kernel&) = default;
};

// OK for 1-64 characters of letters, digits, '.', '_' and '-', other than "." and "..".
// Otherwise invalid_argument: `invalid kernel name "a/b": use 1-64 characters: letters,
// digits, '.', '_' and '-', other than "." and ".."`.
Status validate_kernel_name(std::string_view name);

}  // namespace banger::model
