// clang-format off
// FUZZ_SOURCES: src/banger/kernelcat/vmlinux_extract.cpp src/banger/base/error.cpp
// FUZZ_LIBS: -larchive
// clang-format on
// Feeds arbitrary bytes to extract_vmlinux (the bzImage parser: the LZ4 legacy, XZ and ZSTD
// stream walkers, libarchive, the ELF check) and is_x86_64_elf; nothing may crash or read
// outside the input. Output is capped small so decompression bombs stay cheap.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "banger/kernelcat/vmlinux_extract.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto out = banger::kernelcat::extract_vmlinux(input, std::size_t{1} << 20);
  if (out && !banger::kernelcat::is_x86_64_elf(*out)) {
    __builtin_trap();  // the contract: only an ELF comes back
  }
  return 0;
}
