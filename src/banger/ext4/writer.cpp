#include "banger/ext4/writer.hpp"

// com_err's header has no extern "C" of its own.
extern "C" {
#include <et/com_err.h>
}
#include <fmt/format.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <mutex>

#include <ext2fs/ext2_fs.h>
#include <ext2fs/ext2fs.h>

#include "banger/base/expected.hpp"
#include "banger/base/printable.hpp"

namespace banger::ext4 {
namespace {

constexpr std::size_t kMaxName = 255;
// ext4 keeps a file's link count in 16 bits (65000, like the kernel's EXT4_LINK_MAX).
constexpr unsigned kMaxLinks = 65000;

ext2_filsys fs_of(void* fs) { return static_cast<ext2_filsys>(fs); }

std::string shown(std::string_view name) { return base::printable(name, 300); }

Status check_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxName || name == "." || name == ".." ||
      name.find('/') != std::string_view::npos || name.find('\0') != std::string_view::npos) {
    return fail(Errc::invalid_argument,
                fmt::format("\"{}\" is not a file name an ext4 directory can hold", shown(name)));
  }
  return {};
}

void set_owner_and_times(ext2_inode& inode, const InodeMeta& meta) {
  inode.i_uid = static_cast<__u16>(meta.uid & 0xffff);
  ext2fs_set_i_uid_high(inode, static_cast<__u16>(meta.uid >> 16));
  inode.i_gid = static_cast<__u16>(meta.gid & 0xffff);
  ext2fs_set_i_gid_high(inode, static_cast<__u16>(meta.gid >> 16));
  const auto seconds = static_cast<__u32>(meta.mtime);
  inode.i_atime = inode.i_ctime = inode.i_mtime = seconds;
}

FileType type_of(__u16 mode) {
  if (LINUX_S_ISREG(mode)) {
    return FileType::regular;
  }
  if (LINUX_S_ISDIR(mode)) {
    return FileType::directory;
  }
  if (LINUX_S_ISLNK(mode)) {
    return FileType::symlink;
  }
  return FileType::other;
}

int dirent_type(__u16 mode) {
  if (LINUX_S_ISREG(mode)) {
    return EXT2_FT_REG_FILE;
  }
  if (LINUX_S_ISDIR(mode)) {
    return EXT2_FT_DIR;
  }
  if (LINUX_S_ISLNK(mode)) {
    return EXT2_FT_SYMLINK;
  }
  if (LINUX_S_ISCHR(mode)) {
    return EXT2_FT_CHRDEV;
  }
  if (LINUX_S_ISBLK(mode)) {
    return EXT2_FT_BLKDEV;
  }
  if (LINUX_S_ISFIFO(mode)) {
    return EXT2_FT_FIFO;
  }
  return EXT2_FT_UNKNOWN;
}

Error error_for(long code, const std::string& image, const std::string& doing) {
  const std::string what = error_message(code);
  if (code == EXT2_ET_BLOCK_ALLOC_FAIL || code == EXT2_ET_INODE_ALLOC_FAIL || code == ENOSPC) {
    return Error{Errc::io,
                 fmt::format("{} in ext4 image {}: the image is full ({})", doing, image, what),
                 ENOSPC,
                 {}};
  }
  Errc errc = code == EXT2_ET_FILE_NOT_FOUND || code == ENOENT            ? Errc::not_found
              : code == EXT2_ET_FILE_EXISTS || code == EXT2_ET_DIR_EXISTS ? Errc::already_exists
              : code == EXT2_ET_SYMLINK_LOOP                              ? Errc::invalid_argument
                                                                          : Errc::io;
  return Error{errc, fmt::format("{} in ext4 image {}: {}", doing, image, what), 0, {}};
}

}  // namespace

// --- Ext4FileWriter ---------------------------------------------------------------------------

Ext4FileWriter::Ext4FileWriter(Ext4FileWriter&& other) noexcept
    : file_(other.file_), image_(std::move(other.image_)) {
  other.file_ = nullptr;
}

Ext4FileWriter::~Ext4FileWriter() {
  if (file_ != nullptr) {
    ext2fs_file_close(static_cast<ext2_file_t>(file_));
  }
}

Status Ext4FileWriter::write(const void* data, std::size_t size) {
  const auto* bytes = static_cast<const char*>(data);
  while (size > 0) {
    unsigned int written = 0;
    const auto chunk = static_cast<unsigned int>(std::min<std::size_t>(size, 1U << 20));
    errcode_t rc = ext2fs_file_write(static_cast<ext2_file_t>(file_), bytes, chunk, &written);
    if (rc != 0) {
      return tl::unexpected(error_for(rc, image_, "writing a file"));
    }
    if (written == 0) {
      return fail(Errc::io, fmt::format("writing a file in ext4 image {}: no progress", image_));
    }
    bytes += written;
    size -= written;
  }
  return {};
}

Status Ext4FileWriter::close() {
  if (file_ == nullptr) {
    return {};
  }
  errcode_t rc = ext2fs_file_close(static_cast<ext2_file_t>(file_));
  file_ = nullptr;
  if (rc != 0) {
    return tl::unexpected(error_for(rc, image_, "finishing a file"));
  }
  return {};
}

// --- Ext4Writer -------------------------------------------------------------------------------

Expected<Ext4Writer> Ext4Writer::open(const std::string& image) {
  static std::once_flag tables;
  std::call_once(tables, [] { initialize_ext2_error_table(); });
  struct stat st{};
  if (::stat(image.c_str(), &st) != 0) {
    return fail(Errc::not_found, fmt::format("ext4 image {} not found", image));
  }
  ext2_filsys fs = nullptr;
  errcode_t rc =
      ext2fs_open(image.c_str(), EXT2_FLAG_RW | EXT2_FLAG_64BITS, 0, 0, unix_io_manager, &fs);
  if (rc != 0) {
    return tl::unexpected(error_for(rc, image, "opening"));
  }
  rc = ext2fs_read_bitmaps(fs);
  if (rc != 0) {
    ext2fs_free(fs);
    return tl::unexpected(error_for(rc, image, "reading the bitmaps"));
  }
  return Ext4Writer(fs, image);
}

Ext4Writer::Ext4Writer(Ext4Writer&& other) noexcept
    : fs_(other.fs_), image_(std::move(other.image_)) {
  other.fs_ = nullptr;
}

Ext4Writer& Ext4Writer::operator=(Ext4Writer&& other) noexcept {
  if (this != &other) {
    if (fs_ != nullptr) {
      ext2fs_free(fs_of(fs_));
    }
    fs_ = other.fs_;
    image_ = std::move(other.image_);
    other.fs_ = nullptr;
  }
  return *this;
}

Ext4Writer::~Ext4Writer() {
  if (fs_ != nullptr) {
    ext2fs_free(fs_of(fs_));  // no flush: see the header
  }
}

Status Ext4Writer::fail_with(long code, const std::string& doing) const {
  return tl::unexpected(error_for(code, image_, doing));
}

Status Ext4Writer::close() {
  if (fs_ == nullptr) {
    return {};
  }
  ext2_filsys fs = fs_of(fs_);
  fs_ = nullptr;
  errcode_t rc = ext2fs_close_free(&fs);
  if (rc != 0) {
    return tl::unexpected(error_for(rc, image_, "writing out"));
  }
  return {};
}

Expected<std::optional<Ino>> Ext4Writer::lookup(Ino dir, std::string_view name) {
  BANGER_TRY(check_name(name));
  ext2_ino_t ino = 0;
  errcode_t rc =
      ext2fs_lookup(fs_of(fs_), dir, name.data(), static_cast<int>(name.size()), nullptr, &ino);
  if (rc == EXT2_ET_FILE_NOT_FOUND) {
    return std::optional<Ino>{};
  }
  if (rc != 0) {
    return tl::unexpected(error_for(rc, image_, "looking up " + shown(name)));
  }
  return std::optional<Ino>{ino};
}

Expected<Ino> Ext4Writer::resolve(std::string_view path, bool follow_last) {
  if (path.empty() || path.front() != '/' || path.find('\0') != std::string_view::npos) {
    return fail(Errc::invalid_argument,
                fmt::format("\"{}\" is not an absolute guest path", shown(path)));
  }
  for (std::size_t start = 1; start <= path.size();) {
    auto end = path.find('/', start);
    auto part = path.substr(start, end == std::string_view::npos ? end : end - start);
    if (part == "." || part == "..") {
      return fail(Errc::invalid_argument,
                  fmt::format("guest path \"{}\" has a \".\" or \"..\" part", shown(path)));
    }
    if (end == std::string_view::npos) {
      break;
    }
    start = end + 1;
  }
  std::string text(path);
  ext2_ino_t ino = 0;
  errcode_t rc = follow_last
                     ? ext2fs_namei_follow(fs_of(fs_), kRootIno, kRootIno, text.c_str(), &ino)
                     : ext2fs_namei(fs_of(fs_), kRootIno, kRootIno, text.c_str(), &ino);
  if (rc != 0) {
    return tl::unexpected(error_for(rc, image_, "resolving " + shown(path)));
  }
  return ino;
}

Expected<InodeInfo> Ext4Writer::stat(Ino ino) {
  ext2_inode inode{};
  errcode_t rc = ext2fs_read_inode(fs_of(fs_), ino, &inode);
  if (rc != 0) {
    return tl::unexpected(error_for(rc, image_, fmt::format("reading inode {}", ino)));
  }
  return InodeInfo{.type = type_of(inode.i_mode),
                   .mode = static_cast<mode_t>(inode.i_mode),
                   .uid = inode_uid(inode),
                   .gid = inode_gid(inode),
                   .size = EXT2_I_SIZE(&inode)};
}

Expected<Ino> Ext4Writer::new_inode(Ino dir, unsigned type_bits) {
  ext2_ino_t ino = 0;
  errcode_t rc =
      ext2fs_new_inode(fs_of(fs_), dir, static_cast<int>(type_bits | 0755), nullptr, &ino);
  if (rc != 0) {
    return tl::unexpected(error_for(rc, image_, "allocating an inode"));
  }
  return ino;
}

Status Ext4Writer::add_entry(Ino dir, std::string_view name, Ino ino, int file_type) {
  const std::string text(name);
  ext2_filsys fs = fs_of(fs_);
  errcode_t rc = ext2fs_link(fs, dir, text.c_str(), ino, file_type);
  if (rc == EXT2_ET_DIR_NO_SPACE) {
    rc = ext2fs_expand_dir(fs, dir);
    if (rc == 0) {
      rc = ext2fs_link(fs, dir, text.c_str(), ino, file_type);
    }
  }
  if (rc != 0) {
    return tl::unexpected(error_for(rc, image_, "adding " + shown(name) + " to a directory"));
  }
  return {};
}

Expected<Ino> Ext4Writer::make_dir(Ino dir, std::string_view name, const InodeMeta& meta) {
  BANGER_TRY_ASSIGN(auto existing, lookup(dir, name));
  if (existing) {
    return fail(Errc::already_exists, fmt::format("{} exists", shown(name)));
  }
  BANGER_TRY_ASSIGN(Ino ino, new_inode(dir, LINUX_S_IFDIR));
  const std::string text(name);
  ext2_filsys fs = fs_of(fs_);
  errcode_t rc = ext2fs_mkdir(fs, dir, ino, text.c_str());
  if (rc == EXT2_ET_DIR_NO_SPACE) {
    rc = ext2fs_expand_dir(fs, dir);
    if (rc == 0) {
      rc = ext2fs_mkdir(fs, dir, ino, text.c_str());
    }
  }
  if (rc != 0) {
    return tl::unexpected(error_for(rc, image_, "making directory " + shown(name)));
  }
  BANGER_TRY(set_meta(ino, meta));
  return ino;
}

Expected<Ino> Ext4Writer::make_file(Ino dir, std::string_view name, const InodeMeta& meta) {
  BANGER_TRY(check_name(name));
  BANGER_TRY_ASSIGN(auto existing, lookup(dir, name));
  if (existing) {
    return fail(Errc::already_exists, fmt::format("{} exists", shown(name)));
  }
  ext2_filsys fs = fs_of(fs_);
  BANGER_TRY_ASSIGN(Ino ino, new_inode(dir, LINUX_S_IFREG));
  ext2_inode inode{};
  inode.i_mode = static_cast<__u16>(LINUX_S_IFREG | (meta.mode & 07777));
  set_owner_and_times(inode, meta);
  inode.i_links_count = 1;
  if (ext2fs_has_feature_extents(fs->super)) {
    ext2_extent_handle_t handle = nullptr;
    errcode_t rc = ext2fs_extent_open2(fs, ino, &inode, &handle);
    if (rc != 0) {
      return tl::unexpected(error_for(rc, image_, "creating " + shown(name)));
    }
    ext2fs_extent_free(handle);
  }
  BANGER_TRY(add_entry(dir, name, ino, EXT2_FT_REG_FILE));
  ext2fs_inode_alloc_stats2(fs, ino, +1, 0);
  errcode_t rc = ext2fs_write_new_inode(fs, ino, &inode);
  if (rc != 0) {
    return tl::unexpected(error_for(rc, image_, "creating " + shown(name)));
  }
  return ino;
}

Expected<Ino> Ext4Writer::make_symlink(Ino dir, std::string_view name, std::string_view target,
                                       const InodeMeta& meta) {
  BANGER_TRY(check_name(name));
  if (target.empty() || target.size() >= 4096 || target.find('\0') != std::string_view::npos) {
    return fail(
        Errc::invalid_argument,
        fmt::format("symlink {}: the target must be 1..4095 bytes without NUL", shown(name)));
  }
  BANGER_TRY_ASSIGN(auto existing, lookup(dir, name));
  if (existing) {
    return fail(Errc::already_exists, fmt::format("{} exists", shown(name)));
  }
  BANGER_TRY_ASSIGN(Ino ino, new_inode(dir, LINUX_S_IFLNK));
  const std::string text(name);
  const std::string to(target);
  ext2_filsys fs = fs_of(fs_);
  // ext2fs_symlink accounts the inode and its block only once the name is linked, so a retry
  // after growing the directory starts clean.
  errcode_t rc = ext2fs_symlink(fs, dir, ino, text.c_str(), to.c_str());
  if (rc == EXT2_ET_DIR_NO_SPACE) {
    rc = ext2fs_expand_dir(fs, dir);
    if (rc == 0) {
      rc = ext2fs_symlink(fs, dir, ino, text.c_str(), to.c_str());
    }
  }
  if (rc != 0) {
    return tl::unexpected(error_for(rc, image_, "making symlink " + shown(name)));
  }
  BANGER_TRY(set_meta(ino, {.mode = 0777, .uid = meta.uid, .gid = meta.gid, .mtime = meta.mtime}));
  return ino;
}

Expected<Ino> Ext4Writer::make_node(Ino dir, std::string_view name, NodeType type, unsigned major,
                                    unsigned minor, const InodeMeta& meta) {
  BANGER_TRY(check_name(name));
  BANGER_TRY_ASSIGN(auto existing, lookup(dir, name));
  if (existing) {
    return fail(Errc::already_exists, fmt::format("{} exists", shown(name)));
  }
  const unsigned bits = type == NodeType::fifo          ? LINUX_S_IFIFO
                        : type == NodeType::char_device ? LINUX_S_IFCHR
                                                        : LINUX_S_IFBLK;
  ext2_filsys fs = fs_of(fs_);
  BANGER_TRY_ASSIGN(Ino ino, new_inode(dir, bits));
  ext2_inode inode{};
  inode.i_mode = static_cast<__u16>(bits | (meta.mode & 07777));
  set_owner_and_times(inode, meta);
  inode.i_links_count = 1;
  if (type != NodeType::fifo) {
    // The kernel's encoding (old_encode_dev / new_encode_dev).
    if (major < 256 && minor < 256) {
      inode.i_block[0] = major * 256 + minor;
      inode.i_block[1] = 0;
    } else {
      inode.i_block[0] = 0;
      inode.i_block[1] = (minor & 0xff) | (major << 8) | ((minor & ~0xffU) << 12);
    }
  }
  BANGER_TRY(add_entry(dir, name, ino, dirent_type(inode.i_mode)));
  ext2fs_inode_alloc_stats2(fs, ino, +1, 0);
  errcode_t rc = ext2fs_write_new_inode(fs, ino, &inode);
  if (rc != 0) {
    return tl::unexpected(error_for(rc, image_, "creating " + shown(name)));
  }
  return ino;
}

Status Ext4Writer::link(Ino dir, std::string_view name, Ino ino) {
  BANGER_TRY(check_name(name));
  ext2_filsys fs = fs_of(fs_);
  ext2_inode inode{};
  errcode_t rc = ext2fs_read_inode(fs, ino, &inode);
  if (rc != 0) {
    return fail_with(rc, "linking " + shown(name));
  }
  if (LINUX_S_ISDIR(inode.i_mode)) {
    return fail(Errc::invalid_argument,
                fmt::format("hard link {}: directories cannot be hard-linked", shown(name)));
  }
  if (inode.i_links_count >= kMaxLinks) {
    return fail(Errc::invalid_argument,
                fmt::format("hard link {}: too many links to one file", shown(name)));
  }
  BANGER_TRY_ASSIGN(auto existing, lookup(dir, name));
  if (existing) {
    return fail(Errc::already_exists, fmt::format("{} exists", shown(name)));
  }
  BANGER_TRY(add_entry(dir, name, ino, dirent_type(inode.i_mode)));
  inode.i_links_count++;
  rc = ext2fs_write_inode(fs, ino, &inode);
  if (rc != 0) {
    return fail_with(rc, "linking " + shown(name));
  }
  return {};
}

Status Ext4Writer::release(Ino ino) {
  ext2_filsys fs = fs_of(fs_);
  ext2_inode inode{};
  errcode_t rc = ext2fs_read_inode(fs, ino, &inode);
  if (rc == 0 && ext2fs_inode_has_valid_blocks2(fs, &inode)) {
    rc = ext2fs_punch(fs, ino, &inode, nullptr, 0, ~0ULL);
    if (rc == 0) {
      rc = ext2fs_read_inode(fs, ino, &inode);
    }
  }
  if (rc == 0) {
    if (blk64_t block = ext2fs_file_acl_block(fs, &inode); block != 0) {
      __u32 count = 0;
      rc = ext2fs_adjust_ea_refcount3(fs, block, nullptr, -1, &count, ino);
      if (rc == 0 && count == 0) {
        ext2fs_block_alloc_stats2(fs, block, -1);
      }
      ext2fs_file_acl_block_set(fs, &inode, 0);
    }
  }
  if (rc != 0) {
    return fail_with(rc, fmt::format("freeing inode {}", ino));
  }
  inode.i_links_count = 0;
  inode.i_dtime = static_cast<__u32>(std::time(nullptr));
  rc = ext2fs_write_inode(fs, ino, &inode);
  if (rc != 0) {
    return fail_with(rc, fmt::format("freeing inode {}", ino));
  }
  ext2fs_inode_alloc_stats2(fs, ino, -1, LINUX_S_ISDIR(inode.i_mode) ? 1 : 0);
  return {};
}

Status Ext4Writer::remove(Ino dir, std::string_view name) {
  BANGER_TRY_ASSIGN(auto found, lookup(dir, name));
  if (!found) {
    return fail(Errc::not_found, fmt::format("{} not found", shown(name)));
  }
  const Ino ino = *found;
  ext2_filsys fs = fs_of(fs_);
  ext2_inode inode{};
  errcode_t rc = ext2fs_read_inode(fs, ino, &inode);
  if (rc != 0) {
    return fail_with(rc, "removing " + shown(name));
  }
  const bool is_dir = LINUX_S_ISDIR(inode.i_mode);
  if (is_dir) {
    BANGER_TRY_ASSIGN(auto children, list(ino));
    for (const auto& child : children) {
      BANGER_TRY(remove(ino, child));
    }
  }
  const std::string text(name);
  rc = ext2fs_unlink(fs, dir, text.c_str(), ino, 0);
  if (rc != 0) {
    return fail_with(rc, "removing " + shown(name));
  }
  if (is_dir) {
    ext2_inode parent{};
    rc = ext2fs_read_inode(fs, dir, &parent);
    if (rc == 0 && parent.i_links_count > 2) {
      parent.i_links_count--;  // the child's ".." is gone
      rc = ext2fs_write_inode(fs, dir, &parent);
    }
    if (rc != 0) {
      return fail_with(rc, "removing " + shown(name));
    }
    return release(ino);
  }
  rc = ext2fs_read_inode(fs, ino, &inode);
  if (rc != 0) {
    return fail_with(rc, "removing " + shown(name));
  }
  if (inode.i_links_count > 1) {
    inode.i_links_count--;
    rc = ext2fs_write_inode(fs, ino, &inode);
    return rc == 0 ? Status{} : fail_with(rc, "removing " + shown(name));
  }
  return release(ino);
}

Status Ext4Writer::set_meta(Ino ino, const InodeMeta& meta) {
  ext2_filsys fs = fs_of(fs_);
  ext2_inode inode{};
  errcode_t rc = ext2fs_read_inode(fs, ino, &inode);
  if (rc == 0) {
    inode.i_mode = static_cast<__u16>((inode.i_mode & LINUX_S_IFMT) | (meta.mode & 07777));
    set_owner_and_times(inode, meta);
    rc = ext2fs_write_inode(fs, ino, &inode);
  }
  if (rc != 0) {
    return fail_with(rc, fmt::format("setting the owner and mode of inode {}", ino));
  }
  return {};
}

Status Ext4Writer::chmod(Ino ino, mode_t mode) {
  ext2_filsys fs = fs_of(fs_);
  ext2_inode inode{};
  errcode_t rc = ext2fs_read_inode(fs, ino, &inode);
  if (rc == 0) {
    inode.i_mode = static_cast<__u16>((inode.i_mode & LINUX_S_IFMT) | (mode & 07777));
    rc = ext2fs_write_inode(fs, ino, &inode);
  }
  if (rc != 0) {
    return fail_with(rc, fmt::format("setting the mode of inode {}", ino));
  }
  return {};
}

Status Ext4Writer::set_xattr(Ino ino, const std::string& name, std::string_view value) {
  ext2_xattr_handle* handle = nullptr;
  errcode_t rc = ext2fs_xattrs_open(fs_of(fs_), ino, &handle);
  if (rc == 0) {
    rc = ext2fs_xattrs_read(handle);
    if (rc == 0) {
      rc = ext2fs_xattr_set(handle, name.c_str(), value.data(), value.size());
    }
    errcode_t closed = ext2fs_xattrs_close(&handle);
    rc = rc != 0 ? rc : closed;
  }
  if (rc != 0) {
    return fail_with(rc, fmt::format("setting extended attribute {}", shown(name)));
  }
  return {};
}

Expected<std::optional<std::string>> Ext4Writer::get_xattr(Ino ino, const std::string& name) {
  ext2_xattr_handle* handle = nullptr;
  errcode_t rc = ext2fs_xattrs_open(fs_of(fs_), ino, &handle);
  std::optional<std::string> value;
  if (rc == 0) {
    rc = ext2fs_xattrs_read(handle);
    void* data = nullptr;
    std::size_t size = 0;
    if (rc == 0) {
      rc = ext2fs_xattr_get(handle, name.c_str(), &data, &size);
      if (rc == 0) {
        value = std::string(static_cast<const char*>(data), size);
        ext2fs_free_mem(&data);
      } else if (rc == EXT2_ET_EA_KEY_NOT_FOUND) {
        rc = 0;
      }
    }
    ext2fs_xattrs_close(&handle);
  }
  if (rc != 0) {
    return tl::unexpected(
        error_for(rc, image_, fmt::format("reading extended attribute {}", shown(name))));
  }
  return value;
}

Expected<Ext4FileWriter> Ext4Writer::open_for_write(Ino ino) {
  ext2_file_t file = nullptr;
  errcode_t rc = ext2fs_file_open(fs_of(fs_), ino, EXT2_FILE_WRITE, &file);
  if (rc != 0) {
    return tl::unexpected(error_for(rc, image_, fmt::format("opening inode {}", ino)));
  }
  return Ext4FileWriter(file, image_);
}

Expected<std::string> Ext4Writer::read(Ino ino, std::size_t max_bytes) {
  ext2_file_t file = nullptr;
  errcode_t rc = ext2fs_file_open(fs_of(fs_), ino, 0, &file);
  if (rc != 0) {
    return tl::unexpected(error_for(rc, image_, fmt::format("opening inode {}", ino)));
  }
  std::string out;
  __u64 size = ext2fs_file_get_size(file);
  if (size > max_bytes) {
    ext2fs_file_close(file);
    return fail(
        Errc::invalid_argument,
        fmt::format("inode {} of ext4 image {} is larger than {} bytes", ino, image_, max_bytes));
  }
  out.resize(size);
  std::size_t done = 0;
  while (rc == 0 && done < size) {
    unsigned int got = 0;
    rc = ext2fs_file_read(file, out.data() + done, static_cast<unsigned int>(size - done), &got);
    if (got == 0) {
      break;
    }
    done += got;
  }
  errcode_t closed = ext2fs_file_close(file);
  rc = rc != 0 ? rc : closed;
  if (rc != 0) {
    return tl::unexpected(error_for(rc, image_, fmt::format("reading inode {}", ino)));
  }
  out.resize(done);
  return out;
}

Expected<std::string> Ext4Writer::read_link(Ino ino) {
  ext2_inode inode{};
  errcode_t rc = ext2fs_read_inode(fs_of(fs_), ino, &inode);
  if (rc != 0) {
    return tl::unexpected(error_for(rc, image_, fmt::format("reading inode {}", ino)));
  }
  if (!LINUX_S_ISLNK(inode.i_mode)) {
    return fail(Errc::failed_precondition, fmt::format("inode {} is not a symlink", ino));
  }
  if (ext2fs_is_fast_symlink(&inode) != 0) {
    const auto* text = reinterpret_cast<const char*>(inode.i_block);
    return std::string(
        text, strnlen(text, std::min<std::size_t>(EXT2_I_SIZE(&inode), sizeof(inode.i_block))));
  }
  return read(ino, 4096);
}

Expected<std::vector<std::string>> Ext4Writer::list(Ino dir) {
  std::vector<std::string> names;
  auto collect = [](ext2_dir_entry* entry, int, int, char*, void* data) -> int {
    auto* out = static_cast<std::vector<std::string>*>(data);
    std::string name(entry->name, static_cast<std::size_t>(ext2fs_dirent_name_len(entry)));
    if (name != "." && name != "..") {
      out->push_back(std::move(name));
    }
    return 0;
  };
  errcode_t rc = ext2fs_dir_iterate(fs_of(fs_), dir, 0, nullptr, collect, &names);
  if (rc != 0) {
    return tl::unexpected(error_for(rc, image_, fmt::format("listing directory inode {}", dir)));
  }
  return names;
}

}  // namespace banger::ext4
