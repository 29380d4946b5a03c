#include "banger/kernelcat/vmlinux_extract.hpp"

#include <archive.h>
#include <archive_entry.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <optional>
#include <vector>

#include "banger/base/defer.hpp"

namespace banger::kernelcat {
namespace {

struct Format {
  std::string_view magic;
  int filter;  // ARCHIVE_FILTER_* that must have been detected
};

using namespace std::string_view_literals;

// Scanned in this order (Debian's amd64 kernels are LZ4 legacy).
constexpr std::array<Format, 4> kFormats = {{
    {"\x02\x21\x4C\x18"sv, ARCHIVE_FILTER_LZ4},
    {"\xFD\x37\x7A\x58\x5A\x00"sv, ARCHIVE_FILTER_XZ},
    {"\x28\xB5\x2F\xFD"sv, ARCHIVE_FILTER_ZSTD},
    {"\x1F\x8B\x08"sv, ARCHIVE_FILTER_GZIP},
}};

constexpr std::size_t kElfHeaderSize = 64;
constexpr std::size_t kPhdrSize = 56;
constexpr std::uint16_t kMachineAmd64 = 62;
constexpr std::uint32_t kPtLoad = 1;

template <class T>
T read_le(std::string_view data, std::size_t offset) {
  T value{};
  std::memcpy(&value, data.data() + offset, sizeof(T));  // x86_64 hosts only: little-endian
  return value;
}

// libarchive drops the last buffer of output when a stream is followed by garbage (as the
// payload in a bzImage is), so each stream is cut at its exact end before decompressing.

constexpr std::size_t kLz4LegacyBlock = std::size_t{8} << 20;
constexpr std::size_t kLz4LegacyBound = kLz4LegacyBlock + kLz4LegacyBlock / 255 + 16;
constexpr std::uint32_t kLz4LegacyMagic = 0x184C2102;
constexpr std::uint32_t kZstdMagic = 0xFD2FB528;

std::uint32_t crc32(std::string_view data) {
  std::uint32_t crc = 0xFFFFFFFF;
  for (char c : data) {
    crc ^= static_cast<std::uint8_t>(c);
    for (int k = 0; k < 8; ++k) {
      crc = (crc >> 1) ^ (0xEDB88320 & (0U - (crc & 1)));
    }
  }
  return ~crc;
}

// Candidate lengths of an LZ4 legacy stream: after the magic, blocks of <le32 size><data>; the
// stream has no end marker, so it ends where the next size is implausible or does not fit.
// Returns every block boundary, longest first (a trailer that looks like a block is undone by
// trying the next one).
std::vector<std::size_t> lz4_legacy_ends(std::string_view data) {
  std::vector<std::size_t> ends;
  if (data.size() < 4) {
    return ends;
  }
  std::size_t pos = 4;  // invariant: pos <= data.size()
  while (data.size() - pos >= 4) {
    auto size = read_le<std::uint32_t>(data, pos);
    if (size == kLz4LegacyMagic) {  // concatenated stream
      pos += 4;
      continue;
    }
    if (size == 0 || size > kLz4LegacyBound || size > data.size() - pos - 4) {
      break;
    }
    pos += 4 + size;
    ends.push_back(pos);
  }
  std::reverse(ends.begin(), ends.end());
  return ends;
}

// Length of the XZ stream at the start of data: up to the first stream footer ("YZ", 4-byte
// aligned) whose CRC32 and flags check out.
std::optional<std::size_t> xz_end(std::string_view data) {
  constexpr std::size_t kHeader = 12;
  if (data.size() < 2 * kHeader) {
    return std::nullopt;
  }
  std::string_view flags = data.substr(6, 2);
  for (std::size_t end = 2 * kHeader; end <= data.size(); end += 4) {
    std::string_view footer = data.substr(end - kHeader, kHeader);
    if (footer.substr(10) == "YZ" && footer.substr(8, 2) == flags &&
        read_le<std::uint32_t>(footer, 0) == crc32(footer.substr(4, 6))) {
      return end;
    }
  }
  return std::nullopt;
}

// Length of the ZSTD frame(s) at the start of data, from the frame and block headers; nullopt
// when a header or block does not fit in data. Invariant: pos <= data.size().
std::optional<std::size_t> zstd_end(std::string_view data) {
  std::size_t pos = 0;
  while (data.size() - pos >= 6 && read_le<std::uint32_t>(data, pos) == kZstdMagic) {
    auto fhd = static_cast<std::uint8_t>(data[pos + 4]);
    unsigned fcs_flag = fhd >> 6;
    bool single_segment = ((fhd >> 5) & 1) != 0;
    bool checksum = ((fhd >> 2) & 1) != 0;
    constexpr std::array<std::size_t, 4> kDictIdSize = {0, 1, 2, 4};
    constexpr std::array<std::size_t, 4> kFcsSize = {0, 2, 4, 8};
    std::size_t header = 1 + (single_segment ? 0 : 1) + kDictIdSize[fhd & 3] +
                         (fcs_flag == 0 && single_segment ? 1 : kFcsSize[fcs_flag]);
    // Every advance is checked against what is left, so pos never passes data.size() (the
    // subtractions below rely on it).
    if (4 + header > data.size() - pos) {
      return std::nullopt;
    }
    pos += 4 + header;
    for (bool last = false; !last;) {
      if (data.size() - pos < 3) {
        return std::nullopt;
      }
      std::uint32_t bh =
          static_cast<std::uint8_t>(data[pos]) |
          (static_cast<std::uint32_t>(static_cast<std::uint8_t>(data[pos + 1])) << 8) |
          (static_cast<std::uint32_t>(static_cast<std::uint8_t>(data[pos + 2])) << 16);
      last = (bh & 1) != 0;
      unsigned type = (bh >> 1) & 3;
      std::size_t size = type == 1 ? 1 : bh >> 3;
      if (type == 3 || size > data.size() - pos - 3) {
        return std::nullopt;
      }
      pos += 3 + size;
    }
    if (checksum) {
      if (data.size() - pos < 4) {
        return std::nullopt;
      }
      pos += 4;
    }
  }
  return pos == 0 ? std::nullopt : std::optional<std::size_t>(pos);
}

// Stream lengths worth trying for a candidate of `filter` at the start of data.
std::vector<std::size_t> stream_ends(std::string_view data, int filter) {
  switch (filter) {
    case ARCHIVE_FILTER_LZ4: {
      auto ends = lz4_legacy_ends(data);
      if (ends.size() > 2) {
        ends.resize(2);
      }
      return ends;
    }
    case ARCHIVE_FILTER_XZ:
      if (auto end = xz_end(data)) {
        return {*end};
      }
      return {};
    case ARCHIVE_FILTER_ZSTD:
      if (auto end = zstd_end(data)) {
        return {*end};
      }
      return {};
    default:
      return {data.size()};  // gzip: libarchive stops cleanly at the member's end
  }
}

// Decompresses data (which starts with a stream of `filter`) and returns what came out before
// the stream ended or broke; nullopt when libarchive did not detect `filter` or the output
// exceeded max_output.
std::optional<std::string> decompress(std::string_view data, int filter, std::size_t max_output) {
  archive* a = archive_read_new();
  if (a == nullptr) {
    return std::nullopt;
  }
  base::Defer free_archive([a] { archive_read_free(a); });
  archive_read_support_filter_lz4(a);
  archive_read_support_filter_xz(a);
  archive_read_support_filter_zstd(a);
  archive_read_support_filter_gzip(a);
  archive_read_support_format_raw(a);
  if (archive_read_open_memory(a, data.data(), data.size()) != ARCHIVE_OK) {
    return std::nullopt;
  }
  archive_entry* entry = nullptr;
  if (archive_read_next_header(a, &entry) != ARCHIVE_OK) {
    return std::nullopt;
  }
  if (archive_filter_count(a) < 2 || archive_filter_code(a, 0) != filter) {
    return std::nullopt;
  }
  std::string out;
  std::array<char, 1 << 16> buf{};
  for (;;) {
    la_ssize_t n = archive_read_data(a, buf.data(), buf.size());
    if (n <= 0) {
      break;  // end of stream, or trailing bytes after it (expected in a bzImage)
    }
    if (out.size() + static_cast<std::size_t>(n) > max_output) {
      return std::nullopt;
    }
    out.append(buf.data(), static_cast<std::size_t>(n));
  }
  return out;
}

}  // namespace

bool is_x86_64_elf(std::string_view data) {
  if (data.size() < kElfHeaderSize || data.substr(0, 4) !=
                                          "\x7F"
                                          "ELF"sv) {
    return false;
  }
  if (data[4] != 2 /* ELFCLASS64 */ || data[5] != 1 /* ELFDATA2LSB */) {
    return false;
  }
  if (read_le<std::uint16_t>(data, 18) != kMachineAmd64) {
    return false;
  }
  auto phoff = read_le<std::uint64_t>(data, 32);
  auto phentsize = read_le<std::uint16_t>(data, 54);
  auto phnum = read_le<std::uint16_t>(data, 56);
  if (phnum == 0 || phentsize < kPhdrSize || phoff > data.size() ||
      std::uint64_t{phnum} * phentsize > data.size() - phoff) {
    return false;
  }
  for (std::uint16_t i = 0; i < phnum; ++i) {
    std::size_t ph = phoff + std::size_t{i} * phentsize;
    if (read_le<std::uint32_t>(data, ph) != kPtLoad) {
      continue;
    }
    auto offset = read_le<std::uint64_t>(data, ph + 8);
    auto filesz = read_le<std::uint64_t>(data, ph + 32);
    if (offset > data.size() || filesz > data.size() - offset) {
      return false;  // truncated: the segment is not all there
    }
  }
  return true;
}

Expected<std::string> extract_vmlinux(std::string_view bzimage, std::size_t max_output) {
  if (is_x86_64_elf(bzimage)) {
    return std::string(bzimage);
  }
  for (const Format& format : kFormats) {
    for (std::size_t pos = bzimage.find(format.magic); pos != std::string_view::npos;
         pos = bzimage.find(format.magic, pos + 1)) {
      std::string_view candidate = bzimage.substr(pos);
      for (std::size_t end : stream_ends(candidate, format.filter)) {
        auto out = decompress(candidate.substr(0, end), format.filter, max_output);
        if (out && is_x86_64_elf(*out)) {
          return std::move(*out);
        }
      }
    }
  }
  return fail(Errc::invalid_argument,
              "no compressed kernel found in bzImage (tried lz4, xz, zstd, gzip)");
}

}  // namespace banger::kernelcat
