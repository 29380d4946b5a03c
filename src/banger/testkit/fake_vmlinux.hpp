// fake_vmlinux(): the smallest file kernelcat accepts as a kernel, for tests that import one.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

namespace banger::testkit {

// A minimal x86_64 ELF64 with one PT_LOAD covering the file and a "Linux version" banner.
inline std::string fake_vmlinux(
    const std::string& banner = "Linux version 6.1.0-28-cloud-amd64 (gcc)") {
  auto put_le = [](std::string& buf, std::size_t offset, auto value) {
    std::memcpy(buf.data() + offset, &value, sizeof(value));
  };
  std::string elf(64 + 56, '\0');
  std::memcpy(elf.data(),
              "\x7F"
              "ELF",
              4);
  elf[4] = 2;
  elf[5] = 1;
  elf[6] = 1;
  put_le(elf, 16, std::uint16_t{2});
  put_le(elf, 18, std::uint16_t{62});
  put_le(elf, 20, std::uint32_t{1});
  put_le(elf, 32, std::uint64_t{64});
  put_le(elf, 52, std::uint16_t{64});
  put_le(elf, 54, std::uint16_t{56});
  put_le(elf, 56, std::uint16_t{1});
  elf += banner + std::string(1000, 'k');
  put_le(elf, 64, std::uint32_t{1});
  put_le(elf, 64 + 32, std::uint64_t{elf.size()});
  return elf;
}

}  // namespace banger::testkit
