// kernels/<name>/manifest.json (SPEC S10): what a stored kernel is and where it came from.
#pragma once

#include <cstdint>
#include <string>

#include "banger/base/error.hpp"
#include "banger/model/kernel.hpp"

namespace banger::kernelcat {

struct KernelManifest {
  std::string name;
  std::string distro;            // "debian", "unknown"
  std::string arch;              // "x86_64"
  std::string version;           // kernel release, "6.1.0-28-cloud-amd64" ("" if unknown)
  std::string sha256;            // of vmlinux
  std::string initrd_sha256;     // of initrd.img ("" = no initrd)
  std::string source;            // "debian-cloud: linux-image-6.1.0-28-cloud-amd64 6.1.119-1"
  std::int64_t imported_at = 0;  // unix seconds
  std::string package;           // Debian package the kernel came from ("" = imported)
  std::string package_version;   // its version; a pull of the same version is a no-op
  std::string bundle_sha256;     // of the .tar.zst it was installed from ("" = not a bundle)
  std::string build_key;         // kernel build: the inputs' key (kernel_build.hpp; "" = not built)

  friend bool operator==(const KernelManifest&, const KernelManifest&) = default;
};

// Pretty-printed JSON with every field (stable key order).
std::string to_json(const KernelManifest& manifest);

// Parses manifest JSON; unknown keys are ignored, missing optional ones are "".
// invalid_argument "bad kernel manifest: ..." for malformed JSON, a missing name or sha256, or
// a field of the wrong type.
Expected<KernelManifest> parse_manifest(std::string_view text);

// The store record of the manifest of the kernel stored in dir (vmlinux [+ initrd.img]).
model::Kernel to_record(const KernelManifest& manifest, const std::string& dir);

}  // namespace banger::kernelcat
