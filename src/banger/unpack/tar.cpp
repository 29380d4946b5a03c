#include "banger/unpack/tar.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fmt/format.h>
#include <sys/stat.h>

#include <cerrno>
#include <filesystem>
#include <memory>
#include <optional>
#include <string_view>
#include <system_error>
#include <vector>

#include "banger/base/defer.hpp"
#include "banger/base/expected.hpp"
#include "banger/base/strings.hpp"

namespace banger::unpack {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kBlockSize = 64 * 1024;

bool failed(int rc) { return rc != ARCHIVE_OK && rc != ARCHIVE_WARN; }

// Entry path relative to the archive root ("./usr/bin/x" -> "usr/bin/x"); empty for the root
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

bool crosses_symlink(const std::string& root, const std::string& relative) {
  std::string path = root;
  auto parts = base::split(relative, '/');
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    path += "/" + parts[i];
    struct stat st{};
    if (::lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode)) {
      return true;
    }
  }
  return false;
}

namespace {

EntryType type_of(archive_entry* entry) {
  if (archive_entry_hardlink(entry) != nullptr) {
    return EntryType::hardlink;
  }
  switch (archive_entry_filetype(entry)) {
    case AE_IFREG:
      return EntryType::file;
    case AE_IFDIR:
      return EntryType::directory;
    case AE_IFLNK:
      return EntryType::symlink;
    case AE_IFIFO:
      return EntryType::fifo;
    case AE_IFCHR:
      return EntryType::char_device;
    case AE_IFBLK:
      return EntryType::block_device;
    default:
      return EntryType::other;
  }
}

// The entry as hooks and readers see it: path and hard-link target validated and normalized
// (relative, no ".."), nullopt for the archive root itself.
Expected<std::optional<Entry>> to_entry(archive_entry* entry, const std::string& kind,
                                        const std::string& name) {
  const char* raw = archive_entry_pathname(entry);
  std::string path = raw != nullptr ? raw : "";
  auto relative = safe_relative(path);
  if (!relative) {
    return fail(Errc::invalid_argument,
                fmt::format("unsafe path {} in {} {}: entries must stay inside the {} root", path,
                            kind, name, kind));
  }
  if (relative->empty()) {
    return std::optional<Entry>{};  // the archive root "./" is the destination itself
  }
  Entry out{
      .path = *relative,
      .type = type_of(entry),
      .link = {},
      .mode = static_cast<unsigned>(archive_entry_perm(entry)) & 07777u,
      .uid = archive_entry_uid(entry),
      .gid = archive_entry_gid(entry),
      .mtime = static_cast<std::int64_t>(archive_entry_mtime(entry)),
      .rdev_major = static_cast<unsigned>(archive_entry_rdevmajor(entry)),
      .rdev_minor = static_cast<unsigned>(archive_entry_rdevminor(entry)),
      .xattrs = {},
      .size = archive_entry_size_is_set(entry) != 0
                  ? static_cast<std::uint64_t>(std::max<la_int64_t>(0, archive_entry_size(entry)))
                  : 0};
  archive_entry_xattr_reset(entry);
  const char* xattr_name = nullptr;
  const void* xattr_value = nullptr;
  std::size_t xattr_size = 0;
  while (archive_entry_xattr_next(entry, &xattr_name, &xattr_value, &xattr_size) == ARCHIVE_OK) {
    out.xattrs.emplace_back(xattr_name != nullptr ? xattr_name : "",
                            std::string(static_cast<const char*>(xattr_value), xattr_size));
  }
  if (out.type == EntryType::symlink && archive_entry_symlink(entry) != nullptr) {
    out.link = archive_entry_symlink(entry);
  }
  if (const char* link = archive_entry_hardlink(entry); link != nullptr) {
    auto link_relative = safe_relative(link);
    if (!link_relative || link_relative->empty()) {
      return fail(Errc::invalid_argument,
                  fmt::format("unsafe hard link {} -> {} in {} {}: links must stay inside the "
                              "{} root",
                              path, link, kind, name, kind));
    }
    out.link = *link_relative;
  }
  return std::optional<Entry>{std::move(out)};
}

// One extraction: the reader, the disk writer and the names used in messages.
class Extraction {
 public:
  Extraction(::archive* reader, std::string root, const ExtractOptions& options)
      : reader_(reader), root_(std::move(root)), options_(options) {}

  Status run(::archive* disk) {
    for (;;) {
      archive_entry* entry = nullptr;
      int rc = archive_read_next_header(reader_, &entry);
      if (rc == ARCHIVE_EOF) {
        return {};
      }
      if (failed(rc)) {
        return corrupt(error_text(reader_));
      }
      BANGER_TRY(one_entry(disk, entry));
    }
  }

 private:
  Status corrupt(const std::string& why) const {
    return fail(Errc::invalid_argument,
                fmt::format("corrupt {} {}: {}", options_.kind, options_.name, why));
  }
  Status io(std::string_view doing, const std::string& path, ::archive* a) const {
    return fail(Errc::io,
                fmt::format("{} {} from {}: {}", doing, path, options_.name, error_text(a)));
  }

  // Validates and re-roots entry's path and hard-link target; nullopt for the root itself.
  Expected<std::optional<Entry>> rebase(archive_entry* entry) {
    BANGER_TRY_ASSIGN(auto out, to_entry(entry, options_.kind, options_.name));
    if (!out) {
      return out;
    }
    if (out->type == EntryType::hardlink && crosses_symlink(root_, out->link)) {
      return fail(Errc::invalid_argument,
                  fmt::format("unsafe hard link {} -> {} in {} {}: links must stay inside the "
                              "{} root",
                              archive_entry_pathname(entry), archive_entry_hardlink(entry),
                              options_.kind, options_.name, options_.kind));
    }
    std::string target = root_ + "/" + out->path;
    archive_entry_set_pathname(entry, target.c_str());
    if (out->type == EntryType::hardlink) {
      std::string link_target = root_ + "/" + out->link;
      archive_entry_set_hardlink(entry, link_target.c_str());
    }
    return out;
  }

  Status one_entry(::archive* disk, archive_entry* entry) {
    const char* raw = archive_entry_pathname(entry);
    const std::string path = raw != nullptr ? raw : "";  // as stored, for messages
    BANGER_TRY_ASSIGN(auto rebased, rebase(entry));
    if (!rebased) {
      return {};
    }
    if (options_.on_entry) {
      BANGER_TRY_ASSIGN(auto action, options_.on_entry(*rebased, root_));
      if (action == EntryAction::skip) {
        return {};  // the next read_next_header skips this entry's data
      }
    }
    if (failed(archive_write_header(disk, entry))) {
      return io("extracting", path, disk);
    }
    if (archive_entry_size(entry) > 0) {
      BANGER_TRY(copy_data(disk, path));
    }
    if (failed(archive_write_finish_entry(disk))) {
      return io("finishing", path, disk);
    }
    return {};
  }

  Status copy_data(::archive* disk, const std::string& path) {
    for (;;) {
      const void* block = nullptr;
      std::size_t size = 0;
      la_int64_t offset = 0;
      int rc = archive_read_data_block(reader_, &block, &size, &offset);
      if (rc == ARCHIVE_EOF) {
        return {};
      }
      if (failed(rc)) {
        return corrupt(error_text(reader_));
      }
      if (archive_write_data_block(disk, block, size, offset) < ARCHIVE_OK) {
        return io("writing", path, disk);
      }
    }
  }

  ::archive* reader_;
  std::string root_;
  const ExtractOptions& options_;
};

}  // namespace

std::string error_text(::archive* a) {
  const char* text = archive_error_string(a);
  return text != nullptr ? base::to_lower(text) : "unknown libarchive error";
}

Status extract_tar(::archive* reader, const std::string& dest_dir, const ExtractOptions& options) {
  std::error_code ec;
  fs::create_directories(dest_dir, ec);
  if (ec) {
    return fail_errno("creating " + dest_dir, ec.value());
  }
  // archive_write_disk's symlink check walks every component of the path, so resolve
  // symlinks in dest_dir itself first.
  std::string root = fs::canonical(dest_dir, ec).string();
  if (ec) {
    return fail_errno("resolving " + dest_dir, ec.value());
  }
  ::archive* disk = archive_write_disk_new();
  base::Defer free_disk([disk] { archive_write_free(disk); });
  // No ARCHIVE_EXTRACT_OWNER: the daemon may run unprivileged and callers re-own files when
  // they pack them.
  archive_write_disk_set_options(disk, ARCHIVE_EXTRACT_SECURE_NODOTDOT |
                                           ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_PERM |
                                           ARCHIVE_EXTRACT_TIME);
  archive_write_disk_set_standard_lookup(disk);
  BANGER_TRY(Extraction(reader, root, options).run(disk));
  if (archive_write_close(disk) != ARCHIVE_OK) {
    return fail(Errc::io, fmt::format("extracting {}: {}", options.name, error_text(disk)));
  }
  return {};
}

namespace {

using Reader = std::unique_ptr<::archive, int (*)(::archive*)>;

// The tar file at path opened for reading (any compression libarchive reads): not_found when
// it is missing, invalid_argument ("corrupt <kind> <name>: ...") when it cannot be opened.
Expected<Reader> open_tar(const std::string& path, const std::string& kind,
                          const std::string& name) {
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    return fail(Errc::not_found, fmt::format("{} file {} not found", kind, path));
  }
  Reader reader(archive_read_new(), archive_read_free);
  archive_read_support_filter_all(reader.get());
  archive_read_support_format_tar(reader.get());
  if (archive_read_open_filename(reader.get(), path.c_str(), kBlockSize) != ARCHIVE_OK) {
    return fail(Errc::invalid_argument,
                fmt::format("corrupt {} {}: {}", kind, name, error_text(reader.get())));
  }
  return reader;
}

}  // namespace

Status extract_tar_file(const std::string& path, const std::string& dest_dir,
                        const ExtractOptions& options) {
  BANGER_TRY_ASSIGN(auto reader, open_tar(path, options.kind, options.name));
  return extract_tar(reader.get(), dest_dir, options);
}

Status read_tar_file(const std::string& path, const ReadOptions& options,
                     const EntryVisitor& visit) {
  BANGER_TRY_ASSIGN(auto opened, open_tar(path, options.kind, options.name));
  ::archive* reader = opened.get();
  auto corrupt = [&] {
    return fail(Errc::invalid_argument,
                fmt::format("corrupt {} {}: {}", options.kind, options.name, error_text(reader)));
  };
  const DataReader read_data = [&](const DataSink& sink) -> Status {
    for (;;) {
      const void* block = nullptr;
      std::size_t size = 0;
      la_int64_t offset = 0;
      int rc = archive_read_data_block(reader, &block, &size, &offset);
      if (rc == ARCHIVE_EOF) {
        return {};
      }
      if (failed(rc)) {
        return corrupt();
      }
      BANGER_TRY(sink(block, size));
    }
  };
  for (;;) {
    archive_entry* entry = nullptr;
    int rc = archive_read_next_header(reader, &entry);
    if (rc == ARCHIVE_EOF) {
      return {};
    }
    if (failed(rc)) {
      return corrupt();
    }
    BANGER_TRY_ASSIGN(auto parsed, to_entry(entry, options.kind, options.name));
    if (parsed) {
      BANGER_TRY(visit(*parsed, read_data));
    }
  }
}

}  // namespace banger::unpack
