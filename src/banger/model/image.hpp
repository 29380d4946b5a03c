// The image record (S11): a read-only rootfs plus its kernel reference and boot metadata.
// Plain data and name validation; no I/O and no JSON.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "banger/base/error.hpp"

namespace banger::model {

// How the guest boots userspace.
enum class InitFlavour {
  systemd,  // the image has systemd as /sbin/init
  busybox,  // busybox init (tiny images, or a first-boot wrapper used as init=)
};

// "systemd" or "busybox".
std::string_view to_string(InitFlavour flavour);

// Parses "systemd" or "busybox"; invalid_argument saying what is allowed otherwise.
Expected<InitFlavour> parse_init_flavour(std::string_view text);

// Maximum length of an image name.
inline constexpr std::size_t kMaxImageNameLength = 64;

struct Image {
  std::string name;            // unique; also its directory name under images/
  std::string rootfs_path;     // read-only rootfs.ext4
  std::string work_seed_path;  // optional seed for the writable work disk ("" = none)
  std::string kernel_ref;      // name of the kernel it boots with
  std::string distro;          // "debian-bookworm", "alpine", ...
  InitFlavour init_flavour = InitFlavour::systemd;
  std::string extra_kernel_args;  // appended to the kernel command line
  bool managed = false;           // lives in the state dir and is owned by banger
  std::int64_t size_bytes = 0;    // size of rootfs_path
  std::int64_t created_at = 0;    // unix seconds
  // Whether the image starts an ssh server at boot. Images without one (pulled OCI images)
  // are reached through the agent only: readiness is the agent, `vm run` opens its shell
  // through an agent PTY, `vm ssh` is refused naming `vm exec -it`.
  bool ssh = true;

  friend bool operator==(const Image&, const Image&) = default;
};

// OK for 1-64 characters of letters, digits, '.', '_' and '-', other than "." and "..", and
// not ending in ".staging" (the suffix of images being published). Otherwise invalid_argument:
// `invalid image name "a/b": use 1-64 characters: letters, digits, '.', '_' and '-', other
// than "." and ".."`.
Status validate_image_name(std::string_view name);

}  // namespace banger::model
