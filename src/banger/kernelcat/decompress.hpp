// Reads a file that may be xz/zstd/gzip-compressed (kernel modules: .ko, .ko.xz, .ko.zst,
// .ko.gz) and returns its plain contents, in-process with libarchive.
#pragma once

#include <cstddef>
#include <string>

#include "banger/base/error.hpp"

namespace banger::kernelcat {

// Upper bound for one decompressed module.
inline constexpr std::size_t kMaxModuleSize = std::size_t{64} << 20;

// The contents of path, decompressed when it is an xz, zstd or gzip stream (detected from the
// data, not the name). not_found when path is missing; invalid_argument "corrupt <path>: ..."
// for a broken stream or output beyond max_size.
Expected<std::string> read_decompressed(const std::string& path,
                                        std::size_t max_size = kMaxModuleSize);

}  // namespace banger::kernelcat
