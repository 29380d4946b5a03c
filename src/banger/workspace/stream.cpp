// write_upload_stream(): one GNU-format tar stream, produced while it is written. Layout (the guest
// script of guest_script.cpp depends on it; docs/workspaces.md):
//   .git/HEAD, .git/config,      git: the repository skeleton `git init`, `git update-ref` and
//   .git/refs/..., .git/shallow, `git remote add` would make, written here so that the guest
//   .git/info/exclude,           runs none of them (each git process costs ~50 ms in a guest
//   .git/objects/{pack,info}/    under TCG); the exclude lines hide the submodules' directories
//   .git/index                   git: the index, built on the host (plain: version 2, no
//                                extensions), with no stat data: the guest refreshes it
//   .git/banger/index            git: a copy, put back when the guest's `git add -A` staged
//   .git/banger/tree             anything; the index's tree (the fingerprint's when it did not)
//   .git/objects/pack/pack-H.*   git: the objects, when their pack fits in one kPackBlock: the
//                                pack and its .idx from `git index-pack` on the host
//   .git/banger/pack/NNNNNN      git: otherwise the pack in blocks of kPackBlock, which the
//                                guest indexes (bounded memory, no copy on the host's disk)
//   <entries of the plan>        directories, files and symlinks, in the plan's order
//   .git/banger/end              last: tar accepts a stream cut at an entry boundary as complete,
//                                so the guest takes the stream only when this arrived
// A repository cannot track a path under .git/, so the metadata never collides with a file.
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <memory>
#include <optional>
#include <utility>

#include "banger/base/expected.hpp"
#include "banger/base/strings.hpp"
#include "banger/posix/env.hpp"
#include "banger/posix/io.hpp"
#include "banger/posix/subprocess.hpp"
#include "banger/sys/fs.hpp"
#include "banger/workspace/host.hpp"
#include "banger/workspace/workspace.hpp"

namespace banger::workspace {
namespace {

constexpr std::size_t kPackBlock = 1 << 20;  // bounds the memory of the pack pass
constexpr std::size_t kCopyBlock = 256 << 10;
constexpr std::size_t kMaxLinkTarget = 4096;
constexpr std::size_t kReadBuffer = 64 << 10;
constexpr std::string_view kEndMarker = ".git/banger/end";

Error cancelled_error() { return Error{Errc::cancelled, "workspace upload cancelled", 0, {}}; }

// The libarchive writer over fd. Writes block until the reader takes the bytes; EPIPE means
// the guest command stopped reading.
class TarWriter {
 public:
  TarWriter(int fd, std::atomic<std::uint64_t>* content_bytes)
      : fd_(fd), archive_(archive_write_new()), content_bytes_(content_bytes) {}
  TarWriter(const TarWriter&) = delete;
  TarWriter& operator=(const TarWriter&) = delete;
  ~TarWriter() { archive_write_free(archive_); }

  Status open() {
    // GNU format: names and link targets of any length (././@LongLink) and any bytes, written
    // raw (pax converts names to UTF-8 through the host's locale and marks the ones it cannot
    // with hdrcharset, which GNU tar 1.34 warns about on every entry), symlinks as links, modes,
    // sizes past 8 GiB in base-256. GNU tar and busybox tar both read it (tested).
    if (archive_write_set_format_gnutar(archive_) != ARCHIVE_OK ||
        archive_write_set_bytes_per_block(archive_, 10240) != ARCHIVE_OK ||
        archive_write_open2(archive_, this, nullptr, &TarWriter::on_write, nullptr, nullptr) !=
            ARCHIVE_OK) {
      return failure("starting the workspace stream");
    }
    return {};
  }

  // A header; for a file, exactly `size` bytes of data() must follow.
  Status header(const std::string& path, Entry::Kind kind, std::uint32_t mode, std::uint64_t size,
                std::int64_t mtime, const std::string& link = {}) {
    if (!host::is_safe_relative(path)) {
      return fail(Errc::invalid_argument,
                  fmt::format("refusing to stream the unsafe path {}", host::escape_name(path)));
    }
    std::unique_ptr<archive_entry, decltype(&archive_entry_free)> entry(archive_entry_new(),
                                                                        archive_entry_free);
    archive_entry_copy_pathname(entry.get(), path.c_str());
    archive_entry_set_uid(entry.get(), 0);
    archive_entry_set_gid(entry.get(), 0);
    archive_entry_set_mtime(entry.get(), mtime, 0);
    archive_entry_set_perm(entry.get(), static_cast<mode_t>(mode & 07777));
    switch (kind) {
      case Entry::Kind::file:
        archive_entry_set_filetype(entry.get(), AE_IFREG);
        archive_entry_set_size(entry.get(), static_cast<la_int64_t>(size));
        break;
      case Entry::Kind::symlink:
        archive_entry_set_filetype(entry.get(), AE_IFLNK);
        archive_entry_copy_symlink(entry.get(), link.c_str());
        break;
      case Entry::Kind::directory:
        archive_entry_set_filetype(entry.get(), AE_IFDIR);
        break;
    }
    if (archive_write_header(archive_, entry.get()) < ARCHIVE_WARN) {
      return failure("streaming " + host::escape_name(path));
    }
    return {};
  }

  Status data(const char* bytes, std::size_t size) {
    if (size > 0 && archive_write_data(archive_, bytes, size) < 0) {
      return failure("streaming file data");
    }
    if (content_bytes_ != nullptr) {
      content_bytes_->fetch_add(size, std::memory_order_relaxed);
    }
    return {};
  }

  Status file(const std::string& path, std::string_view content, std::int64_t mtime) {
    BANGER_TRY(header(path, Entry::Kind::file, 0644, content.size(), mtime));
    return data(content.data(), content.size());
  }

  Status close() {
    if (archive_write_close(archive_) != ARCHIVE_OK) {
      return failure("finishing the workspace stream");
    }
    return {};
  }

 private:
  static la_ssize_t on_write(struct archive* /*a*/, void* self, const void* buffer, size_t length) {
    auto* writer = static_cast<TarWriter*>(self);
    auto written =
        posix::write_all(writer->fd_, std::string_view(static_cast<const char*>(buffer), length));
    if (!written) {
      writer->write_error_ = written.error();
      return -1;
    }
    return static_cast<la_ssize_t>(length);
  }

  tl::unexpected<Error> failure(std::string_view doing) {
    if (write_error_) {
      if (write_error_->sys_errno == EPIPE) {
        return fail(Errc::io,
                    fmt::format("{}: the guest stopped reading the workspace stream", doing));
      }
      return tl::unexpected(from_sys(*write_error_, doing));
    }
    const char* why = archive_error_string(archive_);
    return fail(Errc::io, fmt::format("{}: {}", doing, why ? why : "libarchive failed"));
  }

  int fd_;
  struct archive* archive_;
  std::atomic<std::uint64_t>* content_bytes_;  // may be null
  std::optional<posix::SysError> write_error_;
};

// A child `git -C root <args>` whose stdin is `input` (held in a memfd, so no pipe deadlock)
// and whose stdout the caller reads from out(); stderr is kept in a memfd for the message.
class GitReader {
 public:
  static Expected<GitReader> start(const std::string& root, std::vector<std::string> args,
                                   std::string_view input) {
    GitReader reader;
    reader.what_ = args.empty() ? "git" : "git " + args[0];
    BANGER_TRY_ASSIGN(auto in, memfd_with("banger-git-in", input));
    BANGER_TRY_ASSIGN(reader.err_, memfd_with("banger-git-err", {}));
    auto pipe = posix::make_pipe();
    if (!pipe) {
      return tl::unexpected(from_sys(pipe.error()));
    }
    std::vector<std::string> argv{"git", "--no-pager", "-C", root};
    argv.insert(argv.end(), args.begin(), args.end());
    auto child = posix::Subprocess::spawn({
        .argv = argv,
        .env = posix::build_env(posix::current_env(), {{"LC_ALL", "C"}}),
        .new_session = true,
        .stdio = posix::Stdio::redirect,
        .redirect = {in.get(), pipe->write.get(), reader.err_.get()},
    });
    if (!child) {
      return tl::unexpected(from_sys(child.error(), "running " + reader.what_));
    }
    reader.child_.emplace(std::move(*child));
    reader.out_ = std::move(pipe->read);
    return reader;
  }

  // Up to size bytes; 0 at the end of git's output. Buffered, so line reads stay cheap.
  Expected<std::size_t> read(char* buffer, std::size_t size) {
    if (pending_begin_ == pending_.size()) {
      pending_.resize(kReadBuffer);
      auto n = posix::read_some(out_.get(), pending_.data(), pending_.size());
      if (!n) {
        pending_.clear();
        pending_begin_ = 0;
        return tl::unexpected(from_sys(n.error(), "reading " + what_));
      }
      pending_.resize(*n);
      pending_begin_ = 0;
      if (*n == 0) {
        return 0;
      }
    }
    const std::size_t n = std::min(size, pending_.size() - pending_begin_);
    std::copy_n(pending_.data() + pending_begin_, n, buffer);
    pending_begin_ += n;
    return n;
  }

  // Reads exactly size bytes (an early end of output is an error).
  Status read_exact(char* buffer, std::size_t size) {
    while (size > 0) {
      BANGER_TRY_ASSIGN(const auto n, read(buffer, size));
      if (n == 0) {
        return fail(Errc::command_failed, what_ + " ended its output early");
      }
      buffer += n;
      size -= n;
    }
    return {};
  }

  // One line (without its '\n'), at most max bytes.
  Expected<std::string> read_line(std::size_t max) {
    std::string line;
    char c = 0;
    while (line.size() <= max) {
      BANGER_TRY(read_exact(&c, 1));
      if (c == '\n') {
        return line;
      }
      line += c;
    }
    return fail(Errc::command_failed, what_ + " printed an unexpected line");
  }

  // Waits for git to exit; command_failed with its stderr when it did not exit 0.
  Status finish() {
    auto status = child_->wait();
    child_.reset();
    if (!status) {
      return tl::unexpected(from_sys(status.error(), "waiting for " + what_));
    }
    if (status->code != 0) {
      std::string err(4096, '\0');
      const auto n = ::pread(err_.get(), err.data(), err.size(), 0);
      err.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
      return fail(Errc::command_failed,
                  fmt::format("{} exited {}: {}", what_, status->code, base::trim(err)));
    }
    return {};
  }

 private:
  GitReader() = default;

  static Expected<posix::Fd> memfd_with(const char* name, std::string_view content) {
    posix::Fd fd(::memfd_create(name, MFD_CLOEXEC));
    if (!fd) {
      return fail_errno("memfd_create", errno);
    }
    if (auto written = posix::write_all(fd.get(), content); !written) {
      return tl::unexpected(from_sys(written.error(), "writing git's input"));
    }
    if (::lseek(fd.get(), 0, SEEK_SET) != 0) {
      return fail_errno("lseek", errno);
    }
    return fd;
  }

  std::string what_;
  std::optional<posix::Subprocess> child_;  // killed and reaped when we return early
  posix::Fd out_;
  posix::Fd err_;
  std::string pending_;
  std::size_t pending_begin_ = 0;
};

// .git/info/exclude lines for the submodules: in the guest a submodule is a plain directory
// of files (no repository of its own), and without these lines `git add -A` (export, the
// dirty check) would turn its files into files of the superproject. A path git's patterns
// cannot spell (a newline in it) is left out.
std::string submodule_excludes(const Plan& plan) {
  std::string out;
  for (const auto& path : plan.submodules) {
    if (path.find('\n') != std::string::npos) {
      continue;
    }
    std::string pattern = "/";
    for (const char c : path) {
      if (c == '*' || c == '?' || c == '[' || c == '\\' || c == ' ' || c == '!' || c == '#') {
        pattern += '\\';
      }
      pattern += c;
    }
    out += pattern + "/\n";
  }
  return out;
}

std::int64_t now_seconds() { return static_cast<std::int64_t>(::time(nullptr)); }

// A value for a git config file: double-quoted (leading/trailing spaces, ';' and '#' are data),
// with '\\', '"', newline, tab and backspace escaped as git's config parser reads them. Other
// bytes are taken as they are (inside quotes a '\r' is data: the next byte is never a newline).
std::string config_value(std::string_view value) {
  std::string out = "\"";
  for (const char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      default:
        out += c;
        break;
    }
  }
  return out + "\"";
}

// .git/config as `git init` (and `git remote add origin`) would write it.
std::string git_config(const Plan& plan) {
  const bool sha256 = plan.head.size() == 64;
  std::string out = fmt::format(
      "[core]\n\trepositoryformatversion = {}\n\tfilemode = true\n\tbare = false\n"
      "\tlogallrefupdates = true\n",
      sha256 ? 1 : 0);
  if (sha256) {
    out += "[extensions]\n\tobjectformat = sha256\n";
  }
  if (!plan.origin_url.empty()) {
    out += "[remote \"origin\"]\n\turl = " + config_value(plan.origin_url) +
           "\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n";
  }
  return out;
}

// The guest's branch: --branch, or the host's current one ("" when detached).
const std::string& guest_branch(const Plan& plan) {
  return plan.options.branch.empty() ? plan.branch : plan.options.branch;
}

// inspect() checked --branch with git check-ref-format and git named the host's branch; this is
// defence in depth, so that a branch can never put a file outside .git/refs/heads.
Status check_branch(const std::string& branch) {
  bool safe =
      host::is_safe_relative(branch) && std::none_of(branch.begin(), branch.end(), [](char c) {
        return static_cast<unsigned char>(c) <= ' ' || c == 0x7f;
      });
  for (const auto& part : base::split(branch, '/')) {
    safe = safe && !part.empty() && part.front() != '.';
  }
  if (!safe) {
    return fail(Errc::invalid_argument,
                fmt::format("invalid branch name {}", host::escape_name(branch)));
  }
  return {};
}

// A private temporary directory on the host (under $TMPDIR or /tmp), removed with everything in
// it when the object goes out of scope, on every path.
class ScratchDir {
 public:
  static Expected<ScratchDir> make() {
    const char* tmp = std::getenv("TMPDIR");
    std::string dir =
        std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/banger-workspace.XXXXXX";
    if (::mkdtemp(dir.data()) == nullptr) {
      return fail_errno("creating a temporary directory for the workspace stream", errno);
    }
    return ScratchDir(std::move(dir));
  }
  ScratchDir(ScratchDir&& other) noexcept : dir_(std::exchange(other.dir_, {})) {}
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  ScratchDir& operator=(ScratchDir&&) = delete;
  ~ScratchDir() {
    if (!dir_.empty()) {
      (void)sys::remove_all(dir_);  // std::filesystem: removes links, never follows them
    }
  }

  std::string path(std::string_view name) const { return dir_ + "/" + std::string(name); }

 private:
  explicit ScratchDir(std::string dir) : dir_(std::move(dir)) {}
  std::string dir_;
};

// A new private file (no fsync: it lives only as long as the scratch directory).
Status write_file(const std::string& path, std::string_view content) {
  posix::Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd) {
    return fail_errno("writing " + path, errno);
  }
  if (auto written = posix::write_all(fd.get(), content); !written) {
    return tl::unexpected(from_sys(written.error(), "writing " + path));
  }
  return {};
}

// A full object id (SHA-1 or SHA-256), lowercase hex.
bool is_object_id(std::string_view text) {
  return (text.size() == 40 || text.size() == 64) &&
         std::all_of(text.begin(), text.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// A whole pack (it fit in one block): indexed here by `git index-pack` (milliseconds on the
// host, ~60 ms in a TCG guest) and sent as .git/objects/pack/pack-<hash>.{pack,idx}, so that
// the guest runs no index-pack. The scratch copy is at most kPackBlock bytes.
Status write_indexed_pack(const Plan& plan, std::string_view pack, TarWriter& tar,
                          std::int64_t mtime) {
  BANGER_TRY_ASSIGN(const auto scratch, ScratchDir::make());
  BANGER_TRY(write_file(scratch.path("p.pack"), pack));
  BANGER_TRY_ASSIGN(
      auto out,
      host::git_checked(plan.root, {"-c", "pack.writeReverseIndex=false", "index-pack", "-o",
                                    scratch.path("p.idx"), scratch.path("p.pack")}));
  const std::string hash(base::trim(out));
  if (!is_object_id(hash)) {
    return fail(Errc::command_failed, "git index-pack printed no pack name");
  }
  BANGER_TRY_ASSIGN(const auto idx, sys::read_file(scratch.path("p.idx")));
  const std::string name = ".git/objects/pack/pack-" + hash;
  BANGER_TRY(tar.header(name + ".pack", Entry::Kind::file, 0444, pack.size(), mtime));
  BANGER_TRY(tar.data(pack.data(), pack.size()));
  BANGER_TRY(tar.header(name + ".idx", Entry::Kind::file, 0444, idx.size(), mtime));
  return tar.data(idx.data(), idx.size());
}

struct HostIndex {
  std::string index;  // the index file's bytes
  std::string tree;   // the tree it describes; "" when git could not write one (conflicts)
};

// The index the guest starts from: index_info loaded into a fresh index file by
// `git update-index --index-info` on the host, in the plainest format every git reads (version
// 2, no split index, untracked cache, fsmonitor, end-of-entries or offset-table extension, a
// real checksum), and its tree from `git write-tree`, whose tree objects go to the scratch
// directory (the user's repository is not written to).
Expected<HostIndex> build_index(const Plan& plan, const std::string& index_info) {
  BANGER_TRY_ASSIGN(const auto scratch, ScratchDir::make());
  const std::string index = scratch.path("index");
  BANGER_TRY(host::git_checked(
      plan.root,
      {"-c", "core.splitIndex=false", "-c", "core.untrackedCache=false", "-c", "index.version=2",
       "-c", "feature.manyFiles=false", "-c", "index.skipHash=false", "-c",
       "index.recordEndOfIndexEntries=false", "-c", "index.recordOffsetTable=false", "-c",
       "index.sparse=false", "update-index", "-z", "--index-info"},
      index_info, {{"GIT_INDEX_FILE", index}}));
  HostIndex out;
  BANGER_TRY_ASSIGN(out.index, sys::read_file(index));  // before write-tree adds its cache tree
  const std::string objects = scratch.path("objects");
  if (::mkdir(objects.c_str(), 0700) != 0) {
    return fail_errno("creating " + objects, errno);
  }
  BANGER_TRY_ASSIGN(auto tree,
                    host::git(plan.root, {"write-tree", "--missing-ok"}, {},
                              {{"GIT_INDEX_FILE", index}, {"GIT_OBJECT_DIRECTORY", objects}}));
  if (tree.exit_code == 0) {
    out.tree = std::string(base::trim(tree.out));
  }
  return out;
}

// The skeleton of the guest's repository and its index (the header comment's list).
Status write_git_skeleton(const Plan& plan, const HostIndex& index, TarWriter& tar,
                          std::int64_t mtime) {
  const std::string& branch = guest_branch(plan);
  if (!branch.empty()) {
    BANGER_TRY(check_branch(branch));
  }
  for (const char* dir : {".git", ".git/objects", ".git/objects/pack", ".git/objects/info",
                          ".git/refs", ".git/refs/heads", ".git/refs/tags", ".git/info"}) {
    BANGER_TRY(tar.header(dir, Entry::Kind::directory, 0755, 0, mtime));
  }
  BANGER_TRY(tar.file(".git/config", git_config(plan), mtime));
  if (branch.empty()) {
    BANGER_TRY(tar.file(".git/HEAD", plan.head + "\n", mtime));
  } else {
    BANGER_TRY(tar.file(".git/HEAD", "ref: refs/heads/" + branch + "\n", mtime));
    BANGER_TRY(tar.file(".git/refs/heads/" + branch, plan.head + "\n", mtime));
  }
  BANGER_TRY(tar.file(".git/shallow", plan.head + "\n", mtime));
  BANGER_TRY(tar.file(".git/info/exclude", submodule_excludes(plan), mtime));
  BANGER_TRY(tar.file(".git/index", index.index, mtime));
  // The guest stages into .git/index and restores this copy when that staged anything.
  BANGER_TRY(tar.file(".git/banger/index", index.index, mtime));
  BANGER_TRY(
      tar.file(".git/banger/tree", is_object_id(index.tree) ? index.tree + "\n" : "", mtime));
  return {};
}

// The repository skeleton, the staged (or, with --from, the commit's) index and the objects the
// guest needs: HEAD's commit, its trees and blobs, and every blob the index names.
Status write_git_metadata(const Plan& plan, TarWriter& tar, const base::CancelFn& cancel) {
  std::string index_info;
  std::string objects;
  BANGER_TRY_ASSIGN(
      objects, host::git_checked(plan.root, {"rev-list", "--objects", "--max-count=1", plan.head}));
  if (plan.from_commit.empty()) {
    index_info = plan.index_info;
    for (const auto& record : host::split_nul(index_info)) {
      // "<mode> <oid> <stage>\t<path>"
      const auto fields = base::split(record.substr(0, record.find('\t')), ' ');
      if (fields.size() == 3 && fields[0] != "160000") {
        objects += fields[1] + "\n";
      }
    }
  } else {
    BANGER_TRY_ASSIGN(index_info, host::git_checked(plan.root, {"ls-tree", "-r", "-z",
                                                                "--full-tree", plan.head}));
  }
  const auto mtime = now_seconds();
  // pack-objects runs while the index is built (its output waits in the pipe).
  BANGER_TRY_ASSIGN(auto pack,
                    GitReader::start(plan.root, {"pack-objects", "--stdout", "-q"}, objects));
  BANGER_TRY_ASSIGN(const auto index, build_index(plan, index_info));
  BANGER_TRY(write_git_skeleton(plan, index, tar, mtime));
  std::vector<char> block(kPackBlock);
  for (int number = 0;; ++number) {
    std::size_t filled = 0;
    while (filled < block.size()) {
      BANGER_TRY_ASSIGN(const auto n, pack.read(block.data() + filled, block.size() - filled));
      if (n == 0) {
        break;
      }
      filled += n;
    }
    if (base::is_cancelled(cancel)) {
      return tl::unexpected(cancelled_error());
    }
    if (filled == 0) {
      break;
    }
    if (number == 0 && filled < block.size()) {
      BANGER_TRY(pack.finish());
      return write_indexed_pack(plan, std::string_view(block.data(), filled), tar, mtime);
    }
    BANGER_TRY(tar.header(fmt::format(".git/banger/pack/{:06}", number), Entry::Kind::file, 0644,
                          filled, mtime));
    BANGER_TRY(tar.data(block.data(), filled));
    if (filled < block.size()) {
      break;
    }
  }
  return pack.finish();
}

tl::unexpected<Error> changed_while_copying(const std::string& path, std::string_view how) {
  return fail(Errc::failed_precondition,
              fmt::format("{} {} while it was being copied: copy again once nothing writes to it",
                          host::escape_name(path), how));
}

// A working-tree file: the size in its header is the one fstat reports once it is open; fewer
// or more bytes than that fail the copy (the stream is never padded or cut silently).
Status write_worktree_file(int root, const Entry& entry, TarWriter& tar, std::vector<char>& buffer,
                           const base::CancelFn& cancel) {
  auto fd = host::open_beneath(root, entry.path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  if (!fd) {
    const int err = fd.error().sys_errno;
    if (err == ENOENT || err == ENOTDIR) {
      return {};  // deleted since inspect(): the guest shows it deleted, as git does here
    }
    if (err == ELOOP || err == EXDEV) {
      return changed_while_copying(entry.path, "became a symlink");
    }
    return tl::unexpected(from_sys(fd.error(), "copying " + host::escape_name(entry.path)));
  }
  struct stat st{};
  if (::fstat(fd->get(), &st) != 0) {
    return fail_errno("stat " + host::escape_name(entry.path), errno);
  }
  if (!S_ISREG(st.st_mode)) {
    return changed_while_copying(entry.path, "stopped being a regular file");
  }
  auto remaining = static_cast<std::uint64_t>(st.st_size);
  BANGER_TRY(
      tar.header(entry.path, Entry::Kind::file, st.st_mode & 07777, remaining, st.st_mtim.tv_sec));
  while (remaining > 0) {
    if (base::is_cancelled(cancel)) {
      return tl::unexpected(cancelled_error());
    }
    const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(remaining, buffer.size()));
    const auto n = ::read(fd->get(), buffer.data(), want);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      return fail_errno("reading " + host::escape_name(entry.path), errno);
    }
    if (n == 0) {
      return changed_while_copying(entry.path, "shrank");
    }
    BANGER_TRY(tar.data(buffer.data(), static_cast<std::size_t>(n)));
    remaining -= static_cast<std::uint64_t>(n);
  }
  char extra = 0;
  if (::read(fd->get(), &extra, 1) > 0) {
    return changed_while_copying(entry.path, "grew");
  }
  return {};
}

Status write_worktree_entries(const Plan& plan, TarWriter& tar, const base::CancelFn& cancel) {
  posix::Fd root(::open(plan.root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) {
    return fail_errno("opening " + plan.root, errno);
  }
  std::vector<char> buffer(kCopyBlock);
  const auto mtime = now_seconds();
  for (const auto& entry : plan.entries) {
    if (base::is_cancelled(cancel)) {
      return tl::unexpected(cancelled_error());
    }
    switch (entry.kind) {
      case Entry::Kind::directory:
        BANGER_TRY(tar.header(entry.path, entry.kind, entry.mode, 0, mtime));
        break;
      case Entry::Kind::symlink: {
        auto target = host::read_link_beneath(root.get(), entry.path);
        if (!target) {
          if (target.error().code == Errc::not_found) {
            break;  // deleted since inspect()
          }
          return changed_while_copying(entry.path, "stopped being a symlink");
        }
        BANGER_TRY(tar.header(entry.path, entry.kind, 0777, 0, mtime, *target));
        break;
      }
      case Entry::Kind::file:
        BANGER_TRY(write_worktree_file(root.get(), entry, tar, buffer, cancel));
        break;
    }
  }
  return {};
}

// --from: contents come from git's objects, streamed by one `git cat-file --batch`.
Status write_commit_entries(const Plan& plan, TarWriter& tar, const base::CancelFn& cancel) {
  std::string oids;
  for (const auto& entry : plan.entries) {
    if (entry.kind != Entry::Kind::directory) {
      oids += entry.oid + "\n";
    }
  }
  BANGER_TRY_ASSIGN(auto batch, GitReader::start(plan.root, {"cat-file", "--batch"}, oids));
  std::vector<char> buffer(kCopyBlock);
  const auto mtime = now_seconds();
  for (const auto& entry : plan.entries) {
    if (base::is_cancelled(cancel)) {
      return tl::unexpected(cancelled_error());
    }
    if (entry.kind == Entry::Kind::directory) {
      BANGER_TRY(tar.header(entry.path, entry.kind, entry.mode, 0, mtime));
      continue;
    }
    // "<oid> blob <size>"
    BANGER_TRY_ASSIGN(const auto line, batch.read_line(256));
    const auto fields = base::split(line, ' ');
    if (fields.size() != 3 || fields[0] != entry.oid || fields[1] != "blob") {
      return fail(Errc::command_failed, fmt::format("git cat-file: unexpected answer for {}",
                                                    host::escape_name(entry.path)));
    }
    std::uint64_t remaining = std::strtoull(fields[2].c_str(), nullptr, 10);
    if (entry.kind == Entry::Kind::symlink) {
      if (remaining > kMaxLinkTarget) {
        return fail(Errc::invalid_argument,
                    fmt::format("symlink {} has a target over {} bytes",
                                host::escape_name(entry.path), kMaxLinkTarget));
      }
      std::string target(remaining, '\0');
      BANGER_TRY(batch.read_exact(target.data(), target.size()));
      BANGER_TRY(tar.header(entry.path, entry.kind, 0777, 0, mtime, target));
    } else {
      BANGER_TRY(tar.header(entry.path, entry.kind, entry.mode, remaining, mtime));
      while (remaining > 0) {
        const auto want =
            static_cast<std::size_t>(std::min<std::uint64_t>(remaining, buffer.size()));
        BANGER_TRY(batch.read_exact(buffer.data(), want));
        BANGER_TRY(tar.data(buffer.data(), want));
        remaining -= want;
      }
    }
    char newline = 0;
    BANGER_TRY(batch.read_exact(&newline, 1));
  }
  return batch.finish();
}

}  // namespace

Status write_upload_stream(const Plan& plan, int fd, const base::CancelFn& cancel,
                           std::atomic<std::uint64_t>* content_bytes) {
  TarWriter tar(fd, content_bytes);
  BANGER_TRY(tar.open());
  if (plan.git) {
    BANGER_TRY(write_git_metadata(plan, tar, cancel));
  }
  if (plan.git && !plan.from_commit.empty()) {
    BANGER_TRY(write_commit_entries(plan, tar, cancel));
  } else {
    BANGER_TRY(write_worktree_entries(plan, tar, cancel));
  }
  BANGER_TRY(tar.file(std::string(kEndMarker), "end\n", now_seconds()));
  return tar.close();
}

}  // namespace banger::workspace
