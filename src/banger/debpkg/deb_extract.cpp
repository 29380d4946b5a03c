#include <archive.h>
#include <archive_entry.h>
#include <fmt/format.h>

#include <array>
#include <filesystem>
#include <optional>
#include <string_view>
#include <system_error>
#include <vector>

#include "banger/base/defer.hpp"
#include "banger/base/expected.hpp"
#include "banger/base/strings.hpp"
#include "banger/debpkg/debpkg.hpp"
#include "banger/sys/fs.hpp"

namespace banger::debpkg {
namespace {

constexpr std::size_t kBlockSize = 64 * 1024;

// Feeds the data.tar member of the outer ar archive to the inner tar reader.
struct MemberSource {
  archive* outer = nullptr;
  std::array<char, kBlockSize> buffer{};
};

la_ssize_t read_member(archive* inner, void* client, const void** block) {
  auto* source = static_cast<MemberSource*>(client);
  la_ssize_t n = archive_read_data(source->outer, source->buffer.data(), source->buffer.size());
  if (n < 0) {
    archive_set_error(inner, ARCHIVE_FATAL, "%s", archive_error_string(source->outer));
    return -1;
  }
  *block = source->buffer.data();
  return n;
}

std::string archive_message(archive* a) {
  const char* text = archive_error_string(a);
  return text != nullptr ? base::to_lower(text) : "unknown libarchive error";
}

// Entry path relative to the package root ("./usr/bin/x" -> "usr/bin/x"); empty for the root
// itself; nullopt when absolute or containing "..".
std::optional<std::string> safe_relative(std::string_view path) {
  if (path.empty() || path.front() == '/') {
    return std::nullopt;
  }
  std::vector<std::string> parts;
  for (const auto& part : base::split(path, '/')) {
    if (part.empty() || part == ".") {
      continue;
    }
    if (part == "..") {
      return std::nullopt;
    }
    parts.push_back(part);
  }
  return base::join(parts, "/");
}

}  // namespace

Status extract_deb(const std::string& deb_path, const std::string& dest_dir) {
  const std::string name = std::filesystem::path(deb_path).filename().string();
  if (!sys::path_exists(deb_path)) {
    return fail(Errc::not_found, "package file " + deb_path + " not found");
  }
  BANGER_TRY(sys::make_dirs(dest_dir));
  // archive_write_disk's symlink check walks every component of the path, so resolve
  // symlinks in dest_dir itself first.
  std::error_code ec;
  std::string root = std::filesystem::canonical(dest_dir, ec).string();
  if (ec) {
    return fail_errno("resolving " + dest_dir, ec.value());
  }
  auto corrupt = [&](const std::string& why) {
    return fail(Errc::invalid_argument, fmt::format("corrupt package {}: {}", name, why));
  };

  archive* outer = archive_read_new();
  base::Defer free_outer([outer] { archive_read_free(outer); });
  archive_read_support_format_ar(outer);
  if (archive_read_open_filename(outer, deb_path.c_str(), kBlockSize) != ARCHIVE_OK) {
    return corrupt(archive_message(outer));
  }
  bool saw_debian_binary = false;
  archive_entry* member = nullptr;
  for (;;) {
    int rc = archive_read_next_header(outer, &member);
    if (rc == ARCHIVE_EOF) {
      return corrupt(saw_debian_binary ? "no data.tar member" : "not a debian package");
    }
    if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN) {
      return corrupt(archive_message(outer));
    }
    std::string_view member_name =
        archive_entry_pathname(member) != nullptr ? archive_entry_pathname(member) : "";
    if (member_name == "debian-binary") {
      saw_debian_binary = true;
    }
    if (member_name.substr(0, 8) == "data.tar") {
      break;
    }
  }
  if (!saw_debian_binary) {
    return corrupt("not a debian package (no debian-binary member)");
  }

  MemberSource source{.outer = outer};
  archive* inner = archive_read_new();
  base::Defer free_inner([inner] { archive_read_free(inner); });
  archive_read_support_filter_all(inner);
  archive_read_support_format_tar(inner);
  if (archive_read_open(inner, &source, nullptr, read_member, nullptr) != ARCHIVE_OK) {
    return corrupt(archive_message(inner));
  }

  archive* disk = archive_write_disk_new();
  base::Defer free_disk([disk] { archive_write_free(disk); });
  // No ARCHIVE_EXTRACT_OWNER: the daemon may run unprivileged and callers re-own files when
  // they pack them (see the header).
  archive_write_disk_set_options(disk, ARCHIVE_EXTRACT_SECURE_NODOTDOT |
                                           ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_PERM |
                                           ARCHIVE_EXTRACT_TIME);
  archive_write_disk_set_standard_lookup(disk);

  archive_entry* entry = nullptr;
  for (;;) {
    int rc = archive_read_next_header(inner, &entry);
    if (rc == ARCHIVE_EOF) {
      break;
    }
    if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN) {
      return corrupt(archive_message(inner));
    }
    const char* raw_path = archive_entry_pathname(entry);
    std::string entry_path = raw_path != nullptr ? raw_path : "";
    auto relative = safe_relative(entry_path);
    if (!relative) {
      return fail(Errc::invalid_argument,
                  fmt::format("unsafe path {} in package {}: entries must stay inside the "
                              "package root",
                              entry_path, name));
    }
    if (relative->empty()) {
      continue;  // the package root "./" is dest_dir itself
    }
    std::string target = root + "/" + *relative;
    archive_entry_set_pathname(entry, target.c_str());
    if (const char* link = archive_entry_hardlink(entry); link != nullptr) {
      auto link_relative = safe_relative(link);
      if (!link_relative || link_relative->empty()) {
        return fail(Errc::invalid_argument,
                    fmt::format("unsafe hard link {} -> {} in package {}: links must stay "
                                "inside the package root",
                                entry_path, link, name));
      }
      std::string link_target = root + "/" + *link_relative;
      archive_entry_set_hardlink(entry, link_target.c_str());
    }
    rc = archive_write_header(disk, entry);
    if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN) {
      return fail(Errc::io, fmt::format("extracting {} from {}: {}", entry_path, name,
                                        archive_message(disk)));
    }
    if (archive_entry_size(entry) > 0) {
      const void* block = nullptr;
      std::size_t size = 0;
      la_int64_t offset = 0;
      for (;;) {
        rc = archive_read_data_block(inner, &block, &size, &offset);
        if (rc == ARCHIVE_EOF) {
          break;
        }
        if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN) {
          return corrupt(archive_message(inner));
        }
        if (archive_write_data_block(disk, block, size, offset) < ARCHIVE_OK) {
          return fail(Errc::io, fmt::format("writing {} from {}: {}", entry_path, name,
                                            archive_message(disk)));
        }
      }
    }
    rc = archive_write_finish_entry(disk);
    if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN) {
      return fail(Errc::io,
                  fmt::format("finishing {} from {}: {}", entry_path, name, archive_message(disk)));
    }
  }
  if (archive_write_close(disk) != ARCHIVE_OK) {
    return fail(Errc::io, fmt::format("extracting {}: {}", name, archive_message(disk)));
  }
  return {};
}

}  // namespace banger::debpkg
