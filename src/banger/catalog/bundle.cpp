#include "banger/catalog/bundle.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <set>

#include "banger/base/expected.hpp"
#include "banger/base/fd.hpp"
#include "banger/base/printable.hpp"
#include "banger/sys/fs.hpp"
#include "banger/sys/sha256.hpp"

namespace banger::catalog {
namespace {

constexpr std::size_t kChunk = 1 << 20;
// Zero runs of this size are skipped (left as holes) when a bundle's file is written.
constexpr std::size_t kHoleBlock = 64 * 1024;
// Extraction reports progress at most once per this many bytes.
constexpr std::int64_t kProgressStep = 32LL << 20;

struct ArchiveWriteFree {
  void operator()(::archive* a) const { archive_write_free(a); }
};
struct ArchiveReadFree {
  void operator()(::archive* a) const { archive_read_free(a); }
};
struct EntryFree {
  void operator()(::archive_entry* e) const { archive_entry_free(e); }
};

std::string archive_text(::archive* a) {
  const char* text = archive_error_string(a);
  return text ? text : "unknown error";
}

bool allowed_in(const BundleLayout& layout, std::string_view name) {
  auto is = [name](const std::string& n) { return n == name; };
  return std::any_of(layout.required.begin(), layout.required.end(), is) ||
         std::any_of(layout.optional.begin(), layout.optional.end(), is);
}

std::string allowed_list(const BundleLayout& layout) {
  std::string out;
  for (const auto& name : layout.required) {
    out += (out.empty() ? "" : ", ") + name;
  }
  for (const auto& name : layout.optional) {
    out += (out.empty() ? "" : ", ") + name + " (optional)";
  }
  return out;
}

// The output side of write_bundle: the compressed bytes go to fd and through the hash.
struct Output {
  int fd = -1;
  sys::Sha256Stream hash;
  std::uint64_t size = 0;
  std::optional<Error> error;
};

la_ssize_t write_output(::archive* /*a*/, void* client, const void* buffer, std::size_t length) {
  auto* out = static_cast<Output*>(client);
  std::string_view bytes(static_cast<const char*>(buffer), length);
  for (std::string_view rest = bytes; !rest.empty();) {
    ssize_t n = ::write(out->fd, rest.data(), rest.size());
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      out->error = Error{Errc::io, fmt::format("writing the bundle: {}", std::strerror(errno))};
      return -1;
    }
    rest.remove_prefix(static_cast<std::size_t>(n));
  }
  out->hash.update(bytes);
  out->size += length;
  return static_cast<la_ssize_t>(length);
}

Status check_files(BundleKind kind, const std::vector<BundleFile>& files) {
  const auto& layout = bundle_layout(kind);
  std::set<std::string> names;
  for (const auto& file : files) {
    if (!allowed_in(layout, file.name) || !names.insert(file.name).second) {
      return fail(Errc::invalid_argument,
                  fmt::format("{} bundle: \"{}\" is not allowed (allowed: {})", to_string(kind),
                              file.name, allowed_list(layout)));
    }
  }
  for (const auto& name : layout.required) {
    if (!names.contains(name)) {
      return fail(Errc::invalid_argument,
                  fmt::format("{} bundle: {} is missing", to_string(kind), name));
    }
  }
  return {};
}

// Appends the file at path as name (a regular file, 0644, owner 0:0, mtime 0).
Status append_file(::archive* a, Output& out, const BundleFile& file, std::int64_t& done,
                   std::int64_t total, const base::ProgressFn& progress,
                   const base::CancelFn& cancel) {
  base::UniqueFd in(::open(file.path.c_str(), O_RDONLY | O_CLOEXEC));
  struct stat st{};
  if (!in || ::fstat(in.get(), &st) != 0) {
    return fail_errno("opening " + file.path, errno);
  }
  if (!S_ISREG(st.st_mode)) {
    return fail(Errc::invalid_argument, file.path + " is not a regular file");
  }
  std::unique_ptr<::archive_entry, EntryFree> entry(archive_entry_new());
  archive_entry_set_pathname(entry.get(), file.name.c_str());
  archive_entry_set_filetype(entry.get(), AE_IFREG);
  archive_entry_set_perm(entry.get(), 0644);
  archive_entry_set_size(entry.get(), st.st_size);
  archive_entry_set_mtime(entry.get(), 0, 0);
  archive_entry_set_uid(entry.get(), 0);
  archive_entry_set_gid(entry.get(), 0);
  if (archive_write_header(a, entry.get()) != ARCHIVE_OK) {
    return out.error ? tl::unexpected(*out.error)
                     : fail(Errc::io, "writing the bundle: " + archive_text(a));
  }
  std::string buffer(kChunk, '\0');
  std::int64_t left = st.st_size;
  while (left > 0) {
    if (base::is_cancelled(cancel)) {
      return fail(Errc::cancelled, "cancelled");
    }
    ssize_t n = ::read(in.get(), buffer.data(),
                       static_cast<std::size_t>(std::min<std::int64_t>(left, kChunk)));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return n == 0 ? fail(Errc::io, file.path + " shrank while it was bundled")
                    : fail_errno("reading " + file.path, errno);
    }
    if (archive_write_data(a, buffer.data(), static_cast<std::size_t>(n)) != n) {
      return out.error ? tl::unexpected(*out.error)
                       : fail(Errc::io, "writing the bundle: " + archive_text(a));
    }
    left -= n;
    done += n;
    if (done % kProgressStep < n || left == 0) {
      base::report(progress, {"bundle", "bundling " + file.name, done, total, "", base::kBytes});
    }
  }
  return {};
}

// Writes the non-zero kHoleBlock pieces of data at offset to fd (zero pieces stay holes).
Status write_sparse(int fd, std::string_view data, std::int64_t offset, const std::string& name) {
  static const std::string kZeros(kHoleBlock, '\0');
  while (!data.empty()) {
    std::size_t piece = std::min(data.size(), kHoleBlock);
    std::string_view bytes = data.substr(0, piece);
    if (bytes != std::string_view(kZeros).substr(0, piece)) {
      for (std::string_view rest = bytes; !rest.empty();) {
        ssize_t n = ::pwrite(fd, rest.data(), rest.size(), offset);
        if (n < 0 && errno == EINTR) {
          continue;
        }
        if (n < 0) {
          return fail_errno("writing " + name, errno);
        }
        rest.remove_prefix(static_cast<std::size_t>(n));
        offset += n;
      }
    } else {
      offset += static_cast<std::int64_t>(piece);
    }
    data.remove_prefix(piece);
  }
  return {};
}

struct Extraction {
  ::archive* a = nullptr;
  const BundleLayout* layout = nullptr;
  std::string what;  // "bundle <name>"
  int dir_fd = -1;
  std::set<std::string> seen;
  const base::ProgressFn* progress = nullptr;
  const base::CancelFn* cancel = nullptr;
};

tl::unexpected<Error> refuse(const Extraction& x, const std::string& why) {
  return fail(Errc::invalid_argument, fmt::format("{}: {}", x.what, why));
}

// The name an entry's path stands for ("./vmlinux" is "vmlinux"), "" for the root directory.
std::string entry_name(std::string_view path) {
  while (path.starts_with("./")) {
    path.remove_prefix(2);
  }
  while (path.size() > 1 && path.ends_with('/')) {
    path.remove_suffix(1);  // "rootfs.ext4/": a directory of an allowed name
  }
  return path == "." ? std::string() : std::string(path);
}

// The layout name entry stands for after the checks every entry gets; "" for the root
// directory entry ("./"), which is skipped.
Expected<std::string> check_entry(Extraction& x, ::archive_entry* entry) {
  const char* raw = archive_entry_pathname(entry);
  std::string name = entry_name(raw ? raw : "");
  auto type = archive_entry_filetype(entry);
  if (name.empty() && type == AE_IFDIR) {
    return std::string();  // "./": the root a tar of a directory starts with
  }
  std::string shown = base::printable(raw ? raw : "", 120);
  if (!allowed_in(*x.layout, name)) {
    return refuse(x, fmt::format("entry \"{}\" is not allowed (a bundle holds exactly: {})", shown,
                                 allowed_list(*x.layout)));
  }
  if (type != AE_IFREG || archive_entry_hardlink(entry) != nullptr ||
      archive_entry_symlink(entry) != nullptr) {
    return refuse(x, fmt::format("entry \"{}\" is not a regular file", shown));
  }
  if (!x.seen.insert(name).second) {
    return refuse(x, fmt::format("entry \"{}\" appears twice", shown));
  }
  if (!archive_entry_size_is_set(entry) || archive_entry_size(entry) < 0) {
    return refuse(x, fmt::format("entry \"{}\" has no size", shown));
  }
  if (name == "manifest.json" &&
      static_cast<std::uint64_t>(archive_entry_size(entry)) > kMaxBundleManifestBytes) {
    return refuse(
        x, fmt::format("manifest.json is larger than {} KiB", kMaxBundleManifestBytes >> 10));
  }
  return name;
}

// Writes the data of the checked entry name into x.dir_fd/name (created exclusively).
Status write_entry(Extraction& x, ::archive_entry* entry, const std::string& name) {
  std::int64_t size = archive_entry_size(entry);
  base::UniqueFd out(
      ::openat(x.dir_fd, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
  if (!out) {
    return fail_errno("creating " + name, errno);
  }
  std::int64_t reported = 0;
  for (;;) {
    if (base::is_cancelled(*x.cancel)) {
      return fail(Errc::cancelled, "cancelled");
    }
    const void* block = nullptr;
    std::size_t length = 0;
    la_int64_t offset = 0;
    int rc = archive_read_data_block(x.a, &block, &length, &offset);
    if (rc == ARCHIVE_EOF) {
      break;
    }
    if (rc != ARCHIVE_OK) {
      return refuse(
          x, fmt::format("corrupt or truncated stream in \"{}\": {}", name, archive_text(x.a)));
    }
    if (offset < 0 || offset + static_cast<std::int64_t>(length) > size) {
      return refuse(x, fmt::format("entry \"{}\" holds more data than its size", name));
    }
    BANGER_TRY(write_sparse(out.get(), std::string_view(static_cast<const char*>(block), length),
                            offset, name));
    std::int64_t end = offset + static_cast<std::int64_t>(length);
    if (end - reported >= kProgressStep) {
      reported = end;
      base::report(*x.progress, {"extract", "extracting " + name, end, size, "", base::kBytes});
    }
  }
  if (::ftruncate(out.get(), size) != 0 || ::fsync(out.get()) != 0) {
    return fail_errno("writing " + name, errno);
  }
  return {};
}

}  // namespace

const BundleLayout& bundle_layout(BundleKind kind) {
  static const BundleLayout kImage{.required = {"manifest.json", "rootfs.ext4"}, .optional = {}};
  static const BundleLayout kKernel{.required = {"manifest.json", "vmlinux"},
                                    .optional = {"initrd.img"}};
  return kind == BundleKind::image ? kImage : kKernel;
}

Expected<WrittenBundle> write_bundle(BundleKind kind, const std::vector<BundleFile>& files,
                                     BundleEntry entry, const std::string& out_dir,
                                     const base::ProgressFn& progress,
                                     const base::CancelFn& cancel) {
  BANGER_TRY(check_files(kind, files));
  std::int64_t total = 0;
  for (const auto& file : files) {
    struct stat st{};
    if (::stat(file.path.c_str(), &st) != 0) {
      return fail_errno(file.path, errno);
    }
    total += st.st_size;
  }
  std::string partial = out_dir + "/.bundle-XXXXXX.partial";
  Output out;
  out.fd = ::mkstemps(partial.data(), 8);
  if (out.fd < 0) {
    return fail_errno("creating a file in " + out_dir, errno);
  }
  base::UniqueFd owned(out.fd);
  bool kept = false;
  auto cleanup = [&] {
    if (!kept) {
      ::unlink(partial.c_str());
    }
  };
  std::unique_ptr<::archive, ArchiveWriteFree> a(archive_write_new());
  archive_write_set_format_pax_restricted(a.get());
  archive_write_add_filter_zstd(a.get());
  // Multi-threaded zstd where libzstd has it; the level is zstd's default.
  archive_write_set_filter_option(a.get(), "zstd", "threads", "0");
  archive_write_set_bytes_in_last_block(a.get(), 1);
  if (archive_write_open(a.get(), &out, nullptr, write_output, nullptr) != ARCHIVE_OK) {
    cleanup();
    return fail(Errc::io, "writing the bundle: " + archive_text(a.get()));
  }
  std::int64_t done = 0;
  for (const auto& file : files) {
    if (auto appended = append_file(a.get(), out, file, done, total, progress, cancel); !appended) {
      cleanup();
      return tl::unexpected(appended.error());
    }
  }
  if (archive_write_close(a.get()) != ARCHIVE_OK) {
    cleanup();
    return out.error ? tl::unexpected(*out.error)
                     : fail(Errc::io, "writing the bundle: " + archive_text(a.get()));
  }
  if (::fchmod(out.fd, 0644) != 0 || ::fsync(out.fd) != 0) {
    cleanup();
    return fail_errno("writing the bundle", errno);
  }
  entry.arch = std::string(kArch);
  entry.sha256 = out.hash.finish_hex();
  entry.size = out.size;
  entry.url = bundle_file_name(entry);
  std::string path = out_dir + "/" + entry.url;
  if (::rename(partial.c_str(), path.c_str()) != 0) {
    cleanup();
    return fail_errno("renaming the bundle to " + path, errno);
  }
  kept = true;
  return WrittenBundle{.path = path, .entry = std::move(entry)};
}

namespace {

// Opens bundle_path for reading and calls on_entry for each header until it returns false,
// after the checks every entry gets (the layout, regular files only, once each). The first
// header also proves the compression is zstd.
Status walk_bundle(
    Extraction& x, const std::string& bundle_path,
    const std::function<Expected<bool>(::archive_entry*, const std::string&)>& on_entry) {
  if (archive_read_open_filename(x.a, bundle_path.c_str(), kChunk) != ARCHIVE_OK) {
    return refuse(x, "not a readable .tar.zst: " + archive_text(x.a));
  }
  for (bool first = true;; first = false) {
    ::archive_entry* entry = nullptr;
    int rc = archive_read_next_header(x.a, &entry);
    if (rc == ARCHIVE_EOF) {
      return {};
    }
    if (rc != ARCHIVE_OK) {
      return refuse(x, "corrupt or truncated stream: " + archive_text(x.a));
    }
    if (first &&
        (archive_filter_count(x.a) != 2 || archive_filter_code(x.a, 0) != ARCHIVE_FILTER_ZSTD)) {
      return refuse(x, "not a readable .tar.zst: not zstd-compressed");
    }
    BANGER_TRY_ASSIGN(auto name, check_entry(x, entry));
    if (name.empty()) {
      continue;
    }
    BANGER_TRY_ASSIGN(bool more, on_entry(entry, name));
    if (!more) {
      return {};
    }
  }
}

std::unique_ptr<::archive, ArchiveReadFree> open_reader() {
  std::unique_ptr<::archive, ArchiveReadFree> a(archive_read_new());
  archive_read_support_filter_zstd(a.get());
  archive_read_support_format_tar(a.get());
  return a;
}

}  // namespace

Status extract_bundle(BundleKind kind, const std::string& bundle_path,
                      const std::string& bundle_name, const std::string& dest_dir,
                      const base::ProgressFn& progress, const base::CancelFn& cancel) {
  auto a = open_reader();
  Extraction x{.a = a.get(),
               .layout = &bundle_layout(kind),
               .what = "bundle " + base::printable(bundle_name, 200),
               .dir_fd = -1,
               .seen = {},
               .progress = &progress,
               .cancel = &cancel};
  base::UniqueFd dir(::open(dest_dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dir) {
    return fail_errno("opening " + dest_dir, errno);
  }
  x.dir_fd = dir.get();
  auto write_each = [&x](::archive_entry* entry, const std::string& name) -> Expected<bool> {
    BANGER_TRY(write_entry(x, entry, name));
    return true;
  };
  BANGER_TRY(walk_bundle(x, bundle_path, write_each));
  for (const auto& name : x.layout->required) {
    if (!x.seen.contains(name)) {
      return refuse(x, fmt::format("{} is missing ({} bundle holds exactly: {})", name,
                                   kind == BundleKind::image ? "an image" : "a kernel",
                                   allowed_list(*x.layout)));
    }
  }
  return {};
}

Expected<std::string> read_bundle_manifest(BundleKind kind, const std::string& bundle_path,
                                           const std::string& bundle_name) {
  auto a = open_reader();
  base::CancelFn never;
  base::ProgressFn nobody;
  Extraction x{.a = a.get(),
               .layout = &bundle_layout(kind),
               .what = "bundle " + base::printable(bundle_name, 200),
               .dir_fd = -1,
               .seen = {},
               .progress = &nobody,
               .cancel = &never};
  std::optional<std::string> text;
  auto take_manifest = [&](::archive_entry* entry, const std::string& name) -> Expected<bool> {
    if (name != "manifest.json") {
      return true;  // its data is skipped by the next header read
    }
    std::string body(static_cast<std::size_t>(archive_entry_size(entry)), '\0');
    la_ssize_t n = archive_read_data(a.get(), body.data(), body.size());
    if (n != static_cast<la_ssize_t>(body.size())) {
      return refuse(x, "corrupt or truncated stream in manifest.json: " + archive_text(a.get()));
    }
    text = std::move(body);
    return false;
  };
  BANGER_TRY(walk_bundle(x, bundle_path, take_manifest));
  if (!text) {
    return refuse(x, fmt::format("manifest.json is missing ({} bundle holds exactly: {})",
                                 kind == BundleKind::image ? "an image" : "a kernel",
                                 allowed_list(*x.layout)));
  }
  return std::move(*text);
}

Expected<BundleEntry> record_in_catalog_file(const std::string& catalog_file, BundleKind kind,
                                             BundleEntry entry, const std::string& bundle_path) {
  std::string dir = std::filesystem::path(catalog_file).parent_path().lexically_normal().string();
  if (!dir.ends_with('/')) {
    dir += '/';
  }
  std::string bundle = std::filesystem::path(bundle_path).lexically_normal().string();
  entry.url = bundle.starts_with(dir) ? bundle.substr(dir.size()) : bundle;
  Catalog doc;
  if (sys::path_exists(catalog_file)) {
    BANGER_TRY_ASSIGN(auto text, sys::read_file(catalog_file));
    BANGER_TRY_ASSIGN(doc, parse_catalog(text, catalog_file));
  }
  upsert(doc, kind, entry);
  BANGER_TRY(sys::write_file_atomic(catalog_file, render_catalog(doc), 0644));
  return entry;
}

}  // namespace banger::catalog
