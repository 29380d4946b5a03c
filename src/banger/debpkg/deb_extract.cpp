#include <archive.h>
#include <archive_entry.h>
#include <fmt/format.h>

#include <array>
#include <filesystem>
#include <string_view>

#include "banger/base/defer.hpp"
#include "banger/base/expected.hpp"
#include "banger/debpkg/debpkg.hpp"
#include "banger/sys/fs.hpp"
#include "banger/unpack/tar.hpp"

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

// Advances outer (an ar archive) to its data.tar member; returns why not when the file is not
// a debian package or has no such member.
Expected<void> find_data_member(archive* outer, const std::string& why_prefix) {
  bool saw_debian_binary = false;
  archive_entry* member = nullptr;
  for (;;) {
    int rc = archive_read_next_header(outer, &member);
    if (rc == ARCHIVE_EOF) {
      return fail(Errc::invalid_argument,
                  why_prefix + (saw_debian_binary ? "no data.tar member" : "not a debian package"));
    }
    if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN) {
      return fail(Errc::invalid_argument, why_prefix + unpack::error_text(outer));
    }
    std::string_view member_name =
        archive_entry_pathname(member) != nullptr ? archive_entry_pathname(member) : "";
    if (member_name == "debian-binary") {
      saw_debian_binary = true;
    }
    if (member_name.starts_with("data.tar")) {
      break;
    }
  }
  if (!saw_debian_binary) {
    return fail(Errc::invalid_argument,
                why_prefix + "not a debian package (no debian-binary member)");
  }
  return {};
}

}  // namespace

Status extract_deb(const std::string& deb_path, const std::string& dest_dir) {
  const std::string name = std::filesystem::path(deb_path).filename().string();
  if (!sys::path_exists(deb_path)) {
    return fail(Errc::not_found, "package file " + deb_path + " not found");
  }
  const std::string corrupt = fmt::format("corrupt package {}: ", name);
  archive* outer = archive_read_new();
  base::Defer free_outer([outer] { archive_read_free(outer); });
  archive_read_support_format_ar(outer);
  if (archive_read_open_filename(outer, deb_path.c_str(), kBlockSize) != ARCHIVE_OK) {
    return fail(Errc::invalid_argument, corrupt + unpack::error_text(outer));
  }
  BANGER_TRY(find_data_member(outer, corrupt));

  MemberSource source{.outer = outer};
  archive* inner = archive_read_new();
  base::Defer free_inner([inner] { archive_read_free(inner); });
  archive_read_support_filter_all(inner);
  archive_read_support_format_tar(inner);
  if (archive_read_open(inner, &source, nullptr, read_member, nullptr) != ARCHIVE_OK) {
    return fail(Errc::invalid_argument, corrupt + unpack::error_text(inner));
  }
  return unpack::extract_tar(inner, dest_dir, {.kind = "package", .name = name, .on_entry = {}});
}

}  // namespace banger::debpkg
