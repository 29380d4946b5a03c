// Builds ext4 images without mounting: mkfs.ext4 (optionally -d <dir>) into a sparse file.
#pragma once

#include <cstdint>
#include <string>

#include "banger/base/error.hpp"
#include "banger/sys/command_runner.hpp"

namespace banger::ext4 {

struct MkfsSpec {
  std::string image;           // output image file (created or truncated)
  std::uint64_t size_mib = 0;  // filesystem size in MiB
  std::string source_dir;      // tree copied in with -d; empty makes an empty filesystem
  std::string label;           // volume label (-L), at most 16 bytes; empty for none
  std::uint64_t inodes = 0;    // at least this many inodes (-N); 0 leaves it to mkfs.ext4
};

// Largest ext4 volume label, in bytes.
inline constexpr std::size_t kMaxLabelLength = 16;

// Pure: the mkfs.ext4 command for spec, e.g.
// mkfs.ext4 -q -F -d <dir> -E root_owner=0:0,lazy_itable_init=1,lazy_journal_init=1 -N <n>
// -L <label> <image> <size>M (no -d when source_dir is empty, no -N when inodes is 0, no -L when
// label is empty).
sys::Command plan_mkfs(const MkfsSpec& spec);

// Creates spec.image as a sparse file of spec.size_mib MiB and formats it with plan_mkfs(spec).
// invalid_argument: empty image path, size 0, label longer than 16 bytes; not_found: source_dir
// is not a directory; io: the file cannot be created or sized; command_failed: mkfs.ext4 failed
// (the partial image is removed). Every message names the image path.
Status make_ext4(sys::CommandRunner& runner, const MkfsSpec& spec);

}  // namespace banger::ext4
