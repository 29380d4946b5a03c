#include "banger/kernelcat/cpio.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <set>

#include "banger/base/defer.hpp"
#include "banger/base/expected.hpp"
#include "banger/base/fd.hpp"
#include "banger/base/strings.hpp"

namespace banger::kernelcat {
namespace {

struct ArchiveFree {
  void operator()(archive* a) const { archive_write_free(a); }
};
struct EntryFree {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};

Status check_entries(const std::vector<CpioEntry>& entries) {
  std::set<std::string> dirs;
  std::set<std::string> seen;
  for (const auto& e : entries) {
    if (e.path.empty() || e.path.front() == '/' || e.path.back() == '/') {
      return fail(
          Errc::invalid_argument,
          fmt::format("initramfs entry \"{}\": path must be relative and not end in /", e.path));
    }
    for (const auto& part : base::split(e.path, '/')) {
      if (part.empty() || part == "." || part == "..") {
        return fail(Errc::invalid_argument,
                    fmt::format("initramfs entry \"{}\": path must not contain empty, \".\" or "
                                "\"..\" components",
                                e.path));
      }
    }
    if ((e.mode & ~mode_t{07777}) != 0) {
      return fail(
          Errc::invalid_argument,
          fmt::format("initramfs entry {}: mode 0{:o} has bits outside 07777", e.path, e.mode));
    }
    if (!seen.insert(e.path).second) {
      return fail(Errc::invalid_argument,
                  fmt::format("initramfs entry {} is listed twice", e.path));
    }
    auto slash = e.path.rfind('/');
    if (slash != std::string::npos && !dirs.contains(e.path.substr(0, slash))) {
      return fail(Errc::invalid_argument,
                  fmt::format("initramfs entry {}: parent directory {} must be listed before it",
                              e.path, e.path.substr(0, slash)));
    }
    if (e.type == CpioEntry::Type::directory) {
      dirs.insert(e.path);
    }
    if (e.type == CpioEntry::Type::symlink && e.target.empty()) {
      return fail(Errc::invalid_argument,
                  fmt::format("initramfs entry {}: symlink target is empty", e.path));
    }
  }
  return {};
}

Error archive_error(archive* a, const std::string& out_path, std::string_view doing) {
  const char* msg = archive_error_string(a);
  return Error{Errc::io,
               fmt::format("writing initramfs {}: {}: {}", out_path, doing,
                           msg != nullptr ? msg : "unknown libarchive error"),
               archive_errno(a),
               {}};
}

Status write_data(archive* a, const std::string& out_path, const CpioEntry& e, const char* data,
                  std::size_t size) {
  if (size == 0) {
    return {};
  }
  la_ssize_t n = archive_write_data(a, data, size);
  if (n < 0 || static_cast<std::size_t>(n) != size) {
    return tl::unexpected(archive_error(a, out_path, e.path));
  }
  return {};
}

// Copies a host file's bytes, which must match the size recorded in the header.
Status copy_host_file(archive* a, const std::string& out_path, const CpioEntry& e, int fd,
                      std::uint64_t size) {
  std::array<char, 1 << 16> buf{};
  std::uint64_t done = 0;
  while (done < size) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      return fail_errno(fmt::format("reading {} for initramfs entry {}", e.source_path, e.path),
                        errno);
    }
    if (n == 0) {
      return fail(Errc::io, fmt::format("reading {} for initramfs entry {}: file shrank while "
                                        "being copied",
                                        e.source_path, e.path));
    }
    auto len = std::min<std::uint64_t>(static_cast<std::uint64_t>(n), size - done);
    BANGER_TRY(write_data(a, out_path, e, buf.data(), len));
    done += len;
  }
  return {};
}

Status write_entry(archive* a, const std::string& out_path, const CpioEntry& e, std::int64_t ino) {
  std::unique_ptr<archive_entry, EntryFree> entry(archive_entry_new());
  archive_entry* ae = entry.get();
  archive_entry_set_pathname(ae, e.path.c_str());
  archive_entry_set_uid(ae, 0);
  archive_entry_set_gid(ae, 0);
  archive_entry_set_mtime(ae, 0, 0);
  archive_entry_set_ino64(ae, ino);
  archive_entry_set_perm(ae, e.mode);
  archive_entry_set_size(ae, 0);
  base::UniqueFd source;
  std::uint64_t size = 0;
  switch (e.type) {
    case CpioEntry::Type::directory:
      archive_entry_set_filetype(ae, AE_IFDIR);
      archive_entry_set_nlink(ae, 2);
      break;
    case CpioEntry::Type::symlink:
      archive_entry_set_filetype(ae, AE_IFLNK);
      archive_entry_set_perm(ae, 0777);
      archive_entry_set_symlink(ae, e.target.c_str());
      archive_entry_set_nlink(ae, 1);
      break;
    case CpioEntry::Type::char_device:
      archive_entry_set_filetype(ae, AE_IFCHR);
      archive_entry_set_rdev(ae, makedev(e.dev_major, e.dev_minor));
      archive_entry_set_nlink(ae, 1);
      break;
    case CpioEntry::Type::regular:
      archive_entry_set_filetype(ae, AE_IFREG);
      archive_entry_set_nlink(ae, 1);
      size = e.content.size();
      if (!e.source_path.empty()) {
        source.reset(::open(e.source_path.c_str(), O_RDONLY | O_CLOEXEC));
        struct stat st{};
        if (!source || ::fstat(source.get(), &st) != 0) {
          return fail_errno(fmt::format("reading {} for initramfs entry {}", e.source_path, e.path),
                            errno);
        }
        if (!S_ISREG(st.st_mode)) {
          return fail(Errc::invalid_argument,
                      fmt::format("initramfs entry {}: source {} is not a regular file", e.path,
                                  e.source_path));
        }
        size = static_cast<std::uint64_t>(st.st_size);
      }
      archive_entry_set_size(ae, static_cast<la_int64_t>(size));
      break;
  }
  if (archive_write_header(a, ae) != ARCHIVE_OK) {
    return tl::unexpected(archive_error(a, out_path, e.path));
  }
  if (e.type == CpioEntry::Type::regular) {
    if (source) {
      BANGER_TRY(copy_host_file(a, out_path, e, source.get(), size));
    } else {
      BANGER_TRY(write_data(a, out_path, e, e.content.data(), e.content.size()));
    }
  }
  return {};
}

}  // namespace

CpioEntry CpioEntry::dir(std::string path, mode_t mode) {
  return CpioEntry{.type = Type::directory, .path = std::move(path), .mode = mode};
}

CpioEntry CpioEntry::file(std::string path, std::string content, mode_t mode) {
  return CpioEntry{
      .type = Type::regular, .path = std::move(path), .mode = mode, .content = std::move(content)};
}

CpioEntry CpioEntry::host_file(std::string path, std::string source_path, mode_t mode) {
  return CpioEntry{.type = Type::regular,
                   .path = std::move(path),
                   .mode = mode,
                   .source_path = std::move(source_path)};
}

CpioEntry CpioEntry::symlink(std::string path, std::string target) {
  return CpioEntry{
      .type = Type::symlink, .path = std::move(path), .mode = 0777, .target = std::move(target)};
}

CpioEntry CpioEntry::char_device(std::string path, unsigned major, unsigned minor, mode_t mode) {
  return CpioEntry{.type = Type::char_device,
                   .path = std::move(path),
                   .mode = mode,
                   .dev_major = major,
                   .dev_minor = minor};
}

Status write_initramfs(const std::string& out_path, const std::vector<CpioEntry>& entries) {
  BANGER_TRY(check_entries(entries));
  std::string tmp = out_path + ".tmp-XXXXXX";
  base::UniqueFd fd(::mkstemp(tmp.data()));
  if (!fd) {
    return fail_errno(fmt::format("writing initramfs {}", out_path), errno);
  }
  base::Defer remove_tmp([&] { ::unlink(tmp.c_str()); });
  if (::fchmod(fd.get(), 0644) != 0) {
    return fail_errno(fmt::format("writing initramfs {}", out_path), errno);
  }

  std::unique_ptr<archive, ArchiveFree> writer(archive_write_new());
  archive* a = writer.get();
  if (archive_write_add_filter_gzip(a) != ARCHIVE_OK ||
      archive_write_set_format_cpio_newc(a) != ARCHIVE_OK ||
      archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK ||
      archive_write_open_fd(a, fd.get()) != ARCHIVE_OK) {
    return tl::unexpected(archive_error(a, out_path, "opening"));
  }
  std::int64_t ino = 1;
  for (const auto& e : entries) {
    BANGER_TRY(write_entry(a, out_path, e, ino++));
  }
  if (archive_write_close(a) != ARCHIVE_OK) {
    return tl::unexpected(archive_error(a, out_path, "finishing"));
  }
  if (::fsync(fd.get()) != 0) {
    return fail_errno(fmt::format("writing initramfs {}", out_path), errno);
  }
  if (::rename(tmp.c_str(), out_path.c_str()) != 0) {
    return fail_errno(fmt::format("writing initramfs {}", out_path), errno);
  }
  remove_tmp.dismiss();
  return {};
}

}  // namespace banger::kernelcat
