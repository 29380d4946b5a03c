#include "banger/kernelcat/decompress.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fmt/format.h>

#include <array>

#include "banger/base/defer.hpp"
#include "banger/base/strings.hpp"
#include "banger/sys/fs.hpp"

namespace banger::kernelcat {

Expected<std::string> read_decompressed(const std::string& path, std::size_t max_size) {
  if (!sys::path_exists(path)) {
    return fail(Errc::not_found, path + " not found");
  }
  archive* a = archive_read_new();
  base::Defer free_archive([a] { archive_read_free(a); });
  archive_read_support_filter_xz(a);
  archive_read_support_filter_zstd(a);
  archive_read_support_filter_gzip(a);
  archive_read_support_format_raw(a);
  auto broken = [&](const std::string& why) {
    return fail(Errc::invalid_argument, fmt::format("corrupt {}: {}", path, why));
  };
  auto message = [a] {
    const char* text = archive_error_string(a);
    return text != nullptr ? base::to_lower(text) : std::string("unknown libarchive error");
  };
  if (archive_read_open_filename(a, path.c_str(), 1 << 16) != ARCHIVE_OK) {
    return broken(message());
  }
  archive_entry* entry = nullptr;
  int rc = archive_read_next_header(a, &entry);
  if (rc == ARCHIVE_EOF) {
    return std::string();  // an empty file
  }
  if (rc != ARCHIVE_OK) {
    return broken(message());
  }
  std::string out;
  std::array<char, 1 << 16> buf{};
  for (;;) {
    la_ssize_t n = archive_read_data(a, buf.data(), buf.size());
    if (n == 0) {
      break;
    }
    if (n < 0) {
      return broken(message());
    }
    if (out.size() + static_cast<std::size_t>(n) > max_size) {
      return broken(fmt::format("larger than {} bytes", max_size));
    }
    out.append(buf.data(), static_cast<std::size_t>(n));
  }
  return out;
}

}  // namespace banger::kernelcat
