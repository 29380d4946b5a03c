// Extracts the ELF vmlinux from a bzImage in-process (like the kernel's scripts/extract-vmlinux):
// find a compressed payload by its magic bytes and decompress it with libarchive.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "banger/base/error.hpp"

namespace banger::kernelcat {

// Upper bound for a decompressed kernel (guards against decompression bombs).
inline constexpr std::size_t kMaxVmlinuxSize = std::size_t{512} << 20;

// True when data is a complete x86_64 ELF64 little-endian image: valid header, e_phnum > 0, and
// every program header and PT_LOAD segment lies inside data.
bool is_x86_64_elf(std::string_view data);

// Returns the vmlinux ELF inside bzimage (or bzimage itself when it already is one). Tries each
// offset where an LZ4 legacy, XZ, ZSTD or gzip stream starts, in that order, and returns the
// first decompressed output that is_x86_64_elf(); output beyond max_output bytes disqualifies a
// candidate. invalid_argument "no compressed kernel found in bzImage (tried lz4, xz, zstd, gzip)"
// when no candidate yields an ELF.
Expected<std::string> extract_vmlinux(std::string_view bzimage,
                                      std::size_t max_output = kMaxVmlinuxSize);

}  // namespace banger::kernelcat
