#include "banger/ext4/editor.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <optional>
#include <string_view>

#include "banger/base/defer.hpp"
#include "banger/base/expected.hpp"
#include "banger/base/fd.hpp"
#include "banger/base/strings.hpp"
#include "banger/sys/fs.hpp"

namespace banger::ext4 {
namespace {

constexpr std::chrono::minutes kEditTimeout{5};
constexpr std::chrono::minutes kQueryTimeout{1};
constexpr std::string_view kBeginMarker = "banger-begin";
constexpr std::string_view kNotFound = "File not found by ext2_lookup";
constexpr std::string_view kNotADirectory = "Ext2 inode is not a directory";
// debugfs reads script lines into an 8 KiB buffer and runs the rest of a longer line as a new
// command; a path (ours are two per line at most) stays far below that.
constexpr std::size_t kMaxPathLength = 3000;

std::string octal_mode(mode_t mode) { return fmt::format("0{:o}", mode); }

// One argument of a debugfs command line. libss (debugfs's parser) splits on whitespace and
// treats only '"' specially: inside "..." whitespace is kept and "" is one '"'; backslashes and
// single quotes are literal. Lines themselves cannot carry '\n' or '\r' (debugfs cuts a line
// at either), which the callers refuse before quoting.
std::string arg(std::string_view s) {
  bool plain = !s.empty();
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f || c == '"') {
      plain = false;
    }
  }
  if (plain) {
    return std::string(s);
  }
  std::string out = "\"";
  for (char c : s) {
    out += c;
    if (c == '"') {
      out += '"';
    }
  }
  out += '"';
  return out;
}

// A validated absolute guest path split into components ({} for "/").
struct GuestPath {
  std::vector<std::string> parts;

  std::string full() const { return parts.empty() ? "/" : "/" + base::join(parts, "/"); }
  // "<parent>/./<name>": debugfs resolves the parent without following its last component, so
  // the "/." makes a symlinked parent (/lib -> usr/lib) resolve like the kernel would.
  std::string for_create() const {
    std::vector<std::string> parent(parts.begin(), parts.end() - 1);
    std::string p = parent.empty() ? "" : "/" + base::join(parent, "/");
    return p + "/./" + parts.back();
  }
  // Path that only resolves when it is a directory.
  std::string as_dir() const { return parts.empty() ? "/." : full() + "/."; }
};

// text with control bytes shown as \xNN, for error messages.
std::string printable(std::string_view text) {
  std::string out;
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      out += fmt::format("\\x{:02x}", u);
    } else {
      out += c;
    }
  }
  return out;
}

// Bytes that cannot appear inside one debugfs command line: it ends a line at '\n' or '\r'
// (the rest would run as a second command), and NUL ends the C string.
bool has_line_break(std::string_view s) {
  return s.find_first_of(std::string_view("\n\r\0", 3)) != std::string_view::npos;
}

Expected<GuestPath> parse_guest_path(std::string_view what, const std::string& path) {
  if (path.empty() || path.front() != '/') {
    return fail(Errc::invalid_argument,
                fmt::format("{} \"{}\": guest path must be absolute", what, path));
  }
  if (has_line_break(path)) {
    return fail(Errc::invalid_argument,
                fmt::format("{} \"{}\": guest path must not contain a newline, carriage return "
                            "or NUL",
                            what, printable(path)));
  }
  if (path.size() > kMaxPathLength) {
    return fail(Errc::invalid_argument,
                fmt::format("{} \"{}...\": guest path is longer than {} bytes", what,
                            printable(path.substr(0, 40)), kMaxPathLength));
  }
  GuestPath out;
  for (auto& part : base::split(path, '/')) {
    if (part.empty() || part == ".") {
      continue;
    }
    if (part == "..") {
      return fail(Errc::invalid_argument,
                  fmt::format("{} \"{}\": guest path must not contain \"..\"", what, path));
    }
    out.parts.push_back(std::move(part));
  }
  return out;
}

bool valid_xattr_name(std::string_view name) {
  std::string_view rest;
  for (std::string_view prefix : {"user.", "security.", "trusted."}) {
    if (name.starts_with(prefix)) {
      rest = name.substr(prefix.size());
    }
  }
  return !rest.empty() && rest.size() <= 200 && std::all_of(rest.begin(), rest.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
  });
}

// The debugfs commands that create op's fifo or device node at path, mode included (the owner
// is the caller's). debugfs's mknod takes its name literally in the current directory (a "/"
// in it becomes part of the name), so it runs from the parent.
std::vector<std::string> make_node_commands(const EditOp& op, const GuestPath& path) {
  GuestPath parent{std::vector<std::string>(path.parts.begin(), path.parts.end() - 1)};
  std::string spec = op.node == NodeType::fifo
                         ? std::string("p")
                         : fmt::format("{} {} {}", op.node == NodeType::char_device ? 'c' : 'b',
                                       op.major, op.minor);
  mode_t type = op.node == NodeType::fifo          ? S_IFIFO
                : op.node == NodeType::char_device ? S_IFCHR
                                                   : S_IFBLK;
  return {fmt::format("cd {}", arg(parent.as_dir())),
          fmt::format("mknod {} {}", arg(path.parts.back()), spec), "cd /",
          fmt::format("set_inode_field {} mode {}", arg(path.full()), octal_mode(type | op.mode))};
}

Status check_xattr_name(const EditOp& op) {
  if (!valid_xattr_name(op.xattr)) {
    return fail(Errc::invalid_argument,
                fmt::format("set_xattr {}: attribute name \"{}\" must be [A-Za-z0-9._-] after a "
                            "user., security. or trusted. prefix",
                            printable(op.path), printable(op.xattr)));
  }
  return {};
}

Status check_mode(std::string_view what, const std::string& path, mode_t mode) {
  if ((mode & ~mode_t{07777}) != 0) {
    return fail(Errc::invalid_argument,
                fmt::format("{} {}: mode {} has bits outside 07777 (give permission bits only)",
                            what, path, octal_mode(mode)));
  }
  return {};
}

mode_t type_bits(FileType type) {
  switch (type) {
    case FileType::directory:
      return S_IFDIR;
    case FileType::symlink:
      return S_IFLNK;
    case FileType::regular:
    case FileType::other:
      break;
  }
  return S_IFREG;
}

std::string_view tolerate_text(Tolerate t) {
  switch (t) {
    case Tolerate::already_exists:
      return "already exists";
    case Tolerate::not_found:
      return kNotFound;
    case Tolerate::none:
    case Tolerate::any:
      break;
  }
  return "";
}

bool is_tolerated(Tolerate t, const std::vector<std::string>& lines) {
  if (t == Tolerate::any) {
    return true;
  }
  if (t == Tolerate::none) {
    return lines.empty();
  }
  for (const auto& line : lines) {
    if (line.find(tolerate_text(t)) == std::string::npos) {
      return false;
    }
  }
  return true;
}

bool is_banner(std::string_view line) { return line.starts_with("debugfs ") && !line.empty(); }

// stderr lines that are not blank and not the version banner.
std::vector<std::string> error_lines(std::string_view text) {
  std::vector<std::string> out;
  for (auto& line : base::split(text, '\n')) {
    std::string trimmed(base::trim(line));
    if (!trimmed.empty() && !is_banner(trimmed)) {
      out.push_back(std::move(trimmed));
    }
  }
  return out;
}

sys::Command debugfs_command(std::vector<std::string> argv, std::chrono::milliseconds timeout) {
  sys::Command cmd;
  cmd.argv = std::move(argv);
  cmd.timeout = timeout;
  cmd.env_overrides = {{"DEBUGFS_PAGER", "__none__"}, {"PAGER", "__none__"}};
  return cmd;
}

Status check_image(const std::string& image) {
  struct stat st{};
  if (::stat(image.c_str(), &st) != 0) {
    return fail(Errc::not_found, fmt::format("ext4 image {} does not exist", image));
  }
  return {};
}

Status write_staged(const std::string& path, const std::string& content) {
  base::UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd) {
    return fail_errno(fmt::format("staging {}", path), errno);
  }
  std::size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd.get(), content.data() + done, content.size() - done);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return fail_errno(fmt::format("staging {}", path), errno);
    }
    done += static_cast<std::size_t>(n);
  }
  return {};
}

Expected<std::string> make_staging_dir() {
  std::error_code ec;
  auto tmp = std::filesystem::temp_directory_path(ec);
  std::string pattern = (ec ? std::string("/tmp") : tmp.string()) + "/banger-ext4-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) {
    return fail_errno("creating staging directory for debugfs", errno);
  }
  return pattern;
}

// Runs a read-only debugfs request; returns stdout, or the error lines on stderr.
struct QueryResult {
  std::string out;
  std::vector<std::string> errors;
};

Expected<QueryResult> query(sys::CommandRunner& runner, const std::string& image,
                            const std::string& request) {
  BANGER_TRY(check_image(image));
  BANGER_TRY_ASSIGN(auto result,
                    runner.run(debugfs_command({"debugfs", "-R", request, image}, kQueryTimeout)));
  QueryResult q{std::move(result.out), error_lines(result.err)};
  if (result.exit_code != 0 && q.errors.empty()) {
    q.errors.push_back(fmt::format("debugfs exited {}", result.exit_code));
  }
  return q;
}

bool all_contain(const std::vector<std::string>& lines, std::string_view what) {
  for (const auto& l : lines) {
    if (l.find(what) == std::string::npos) {
      return false;
    }
  }
  return !lines.empty();
}

Error query_error(const std::string& image, const std::string& path,
                  const std::vector<std::string>& errors) {
  if (all_contain(errors, kNotFound) || all_contain(errors, kNotADirectory)) {
    return Error{Errc::not_found, fmt::format("{} does not exist in ext4 image {}", path, image)};
  }
  return Error{Errc::command_failed, fmt::format("reading {} from ext4 image {}: debugfs: {}", path,
                                                 image, base::join(errors, "; "))};
}

FileType parse_type(std::string_view word) {
  if (word == "regular") {
    return FileType::regular;
  }
  if (word == "directory") {
    return FileType::directory;
  }
  if (word == "symlink") {
    return FileType::symlink;
  }
  return FileType::other;
}

// Value of "<key>:" in debugfs stat output (the next whitespace-separated word).
std::optional<std::string> stat_field(std::string_view out, std::string_view key) {
  std::string needle = std::string(key) + ":";
  std::size_t pos = 0;
  while ((pos = out.find(needle, pos)) != std::string_view::npos) {
    bool at_word_start = pos == 0 || out[pos - 1] == ' ' || out[pos - 1] == '\n';
    pos += needle.size();
    if (!at_word_start) {
      continue;
    }
    std::size_t start = out.find_first_not_of(' ', pos);
    if (start == std::string_view::npos) {
      return std::nullopt;
    }
    std::size_t end = out.find_first_of(" \n", start);
    return std::string(out.substr(start, end == std::string_view::npos ? end : end - start));
  }
  return std::nullopt;
}

// Parses `debugfs -R "stat <path>"` output.
Expected<InodeInfo> parse_stat(std::string_view out, const std::string& image,
                               const std::string& path) {
  auto type = stat_field(out, "Type");
  auto mode = stat_field(out, "Mode");
  auto user = stat_field(out, "User");
  auto group = stat_field(out, "Group");
  auto size = stat_field(out, "Size");
  if (!type || !mode || !user || !group || !size) {
    return fail(Errc::command_failed,
                fmt::format("reading {} from ext4 image {}: unexpected debugfs stat output: {}",
                            path, image, base::tail_lines(out, 3)));
  }
  InodeInfo info;
  info.type = parse_type(*type);
  info.mode = static_cast<mode_t>(std::strtoul(mode->c_str(), nullptr, 8));
  if (info.type != FileType::other) {
    info.mode |= type_bits(info.type);
  }
  info.uid = static_cast<uid_t>(std::strtoul(user->c_str(), nullptr, 10));
  info.gid = static_cast<gid_t>(std::strtoul(group->c_str(), nullptr, 10));
  info.size = std::strtoull(size->c_str(), nullptr, 10);
  return info;
}

}  // namespace

std::string_view op_name(EditOp::Kind kind) {
  switch (kind) {
    case EditOp::Kind::write_file:
      return "write_file";
    case EditOp::Kind::mkdir_p:
      return "mkdir_p";
    case EditOp::Kind::symlink:
      return "symlink";
    case EditOp::Kind::remove:
      return "remove";
    case EditOp::Kind::chmod:
      return "chmod";
    case EditOp::Kind::chown:
      return "chown";
    case EditOp::Kind::make_node:
      return "make_node";
    case EditOp::Kind::set_xattr:
      return "set_xattr";
  }
  return "unknown";
}

Ext4Edit& Ext4Edit::write_file(std::string path, std::string content, mode_t mode, uid_t uid,
                               gid_t gid) {
  ops_.push_back(EditOp{.kind = EditOp::Kind::write_file,
                        .path = std::move(path),
                        .content = std::move(content),
                        .mode = mode,
                        .uid = uid,
                        .gid = gid});
  return *this;
}

Ext4Edit& Ext4Edit::mkdir_p(std::string path, mode_t mode, uid_t uid, gid_t gid) {
  ops_.push_back(EditOp{.kind = EditOp::Kind::mkdir_p,
                        .path = std::move(path),
                        .mode = mode,
                        .uid = uid,
                        .gid = gid});
  return *this;
}

Ext4Edit& Ext4Edit::append(const Ext4Edit& other) {
  ops_.insert(ops_.end(), other.ops_.begin(), other.ops_.end());
  return *this;
}

Ext4Edit& Ext4Edit::ensure_dir(std::string path, mode_t mode) {
  ops_.push_back(EditOp{
      .kind = EditOp::Kind::mkdir_p, .path = std::move(path), .mode = mode, .keep_existing = true});
  return *this;
}

Ext4Edit& Ext4Edit::symlink(std::string path, std::string target) {
  ops_.push_back(
      EditOp{.kind = EditOp::Kind::symlink, .path = std::move(path), .target = std::move(target)});
  return *this;
}

Ext4Edit& Ext4Edit::remove(std::string path) {
  ops_.push_back(EditOp{.kind = EditOp::Kind::remove, .path = std::move(path)});
  return *this;
}

Ext4Edit& Ext4Edit::chmod(std::string path, mode_t mode, FileType type) {
  ops_.push_back(
      EditOp{.kind = EditOp::Kind::chmod, .path = std::move(path), .mode = mode, .type = type});
  return *this;
}

Ext4Edit& Ext4Edit::chown(std::string path, uid_t uid, gid_t gid) {
  ops_.push_back(
      EditOp{.kind = EditOp::Kind::chown, .path = std::move(path), .uid = uid, .gid = gid});
  return *this;
}

Ext4Edit& Ext4Edit::make_node(std::string path, NodeType node, unsigned major, unsigned minor,
                              mode_t mode, uid_t uid, gid_t gid) {
  ops_.push_back(EditOp{.kind = EditOp::Kind::make_node,
                        .path = std::move(path),
                        .mode = mode,
                        .uid = uid,
                        .gid = gid,
                        .node = node,
                        .major = major,
                        .minor = minor});
  return *this;
}

Ext4Edit& Ext4Edit::set_xattr(std::string path, std::string name, std::string value) {
  ops_.push_back(EditOp{.kind = EditOp::Kind::set_xattr,
                        .path = std::move(path),
                        .content = std::move(value),
                        .xattr = std::move(name)});
  return *this;
}

std::string step_marker(std::size_t n) { return fmt::format("banger-step-{}", n); }

namespace {

// A symlink target debugfs can take: non-empty, bounded, on one line.
Status check_symlink_target(const EditOp& op) {
  if (op.target.empty() || has_line_break(op.target) || op.target.size() > kMaxPathLength) {
    return fail(Errc::invalid_argument,
                fmt::format("symlink {}: target \"{}\" must be non-empty, at most {} bytes "
                            "and without a newline, carriage return or NUL",
                            printable(op.path), printable(op.target), kMaxPathLength));
  }
  return {};
}

// The debugfs script of steps: the begin marker, then each command followed by its marker.
std::string render_script(const std::vector<DebugfsStep>& steps) {
  std::string script = std::string(kBeginMarker) + "\n";
  for (std::size_t n = 0; n < steps.size(); ++n) {
    script += steps[n].command + "\n" + step_marker(n) + "\n";
  }
  return script;
}

}  // namespace

Expected<DebugfsPlan> plan_debugfs_script(const Ext4Edit& edit, const std::string& staging_dir,
                                          const std::set<std::string>& existing_dirs) {
  DebugfsPlan plan;
  std::set<std::string> made;  // directories this batch creates
  const auto& ops = edit.ops();
  for (std::size_t i = 0; i < ops.size(); ++i) {
    const EditOp& op = ops[i];
    std::string_view name = op_name(op.kind);
    BANGER_TRY_ASSIGN(GuestPath path, parse_guest_path(name, op.path));
    auto add = [&](std::string command, Tolerate tolerate = Tolerate::none) {
      plan.steps.push_back(DebugfsStep{std::move(command), i, tolerate});
    };
    auto set_owner = [&](const std::string& p) {
      add(fmt::format("set_inode_field {} uid {}", arg(p), op.uid));
      add(fmt::format("set_inode_field {} gid {}", arg(p), op.gid));
    };
    bool names_root = path.parts.empty();
    if (names_root && (op.kind == EditOp::Kind::write_file || op.kind == EditOp::Kind::symlink ||
                       op.kind == EditOp::Kind::make_node || op.kind == EditOp::Kind::remove)) {
      return fail(Errc::invalid_argument,
                  fmt::format("{} \"{}\": guest path must name something below /", name, op.path));
    }
    switch (op.kind) {
      case EditOp::Kind::write_file: {
        BANGER_TRY(check_mode(name, op.path, op.mode));
        std::string staged = fmt::format("{}/{}", staging_dir, i);
        plan.staged_files.emplace_back(staged, op.content);
        add(fmt::format("rm {}", arg(path.full())), Tolerate::any);
        add(fmt::format("write {} {}", arg(staged), arg(path.for_create())));
        add(fmt::format("set_inode_field {} mode {}", arg(path.full()),
                        octal_mode(S_IFREG | op.mode)));
        set_owner(path.full());
        break;
      }
      case EditOp::Kind::mkdir_p: {
        BANGER_TRY(check_mode(name, op.path, op.mode));
        // ensure_dir leaves a directory alone that exists or an earlier op of this batch made.
        bool existed = existing_dirs.contains(path.full()) || made.contains(path.full());
        GuestPath prefix;
        for (const auto& part : path.parts) {
          prefix.parts.push_back(part);
          if (existing_dirs.contains(prefix.full()) || !made.insert(prefix.full()).second) {
            continue;
          }
          add(fmt::format("mkdir {}", arg(prefix.for_create())), Tolerate::already_exists);
        }
        if (op.keep_existing && existed) {
          break;
        }
        add(fmt::format("set_inode_field {} mode {}", arg(path.as_dir()),
                        octal_mode(S_IFDIR | op.mode)));
        set_owner(path.as_dir());
        break;
      }
      case EditOp::Kind::symlink: {
        BANGER_TRY(check_symlink_target(op));
        add(fmt::format("rm {}", arg(path.full())), Tolerate::any);
        add(fmt::format("symlink {} {}", arg(path.for_create()), arg(op.target)));
        break;
      }
      case EditOp::Kind::remove:
        add(fmt::format("rm {}", arg(path.full())), Tolerate::not_found);
        break;
      case EditOp::Kind::chmod: {
        BANGER_TRY(check_mode(name, op.path, op.mode));
        std::string p = op.type == FileType::directory ? path.as_dir() : path.full();
        add(fmt::format("set_inode_field {} mode {}", arg(p),
                        octal_mode(type_bits(op.type) | op.mode)));
        break;
      }
      case EditOp::Kind::chown:
        set_owner(path.full());
        break;
      case EditOp::Kind::make_node: {
        BANGER_TRY(check_mode(name, op.path, op.mode));
        for (auto& command : make_node_commands(op, path)) {
          add(std::move(command));
        }
        set_owner(path.full());
        break;
      }
      case EditOp::Kind::set_xattr: {
        BANGER_TRY(check_xattr_name(op));
        std::string staged = fmt::format("{}/{}", staging_dir, i);
        plan.staged_files.emplace_back(staged, op.content);
        add(fmt::format("ea_set -f {} {} {}", arg(staged), arg(path.full()), op.xattr));
        break;
      }
    }
  }
  plan.script = render_script(plan.steps);
  return plan;
}

namespace {

// Makes the staging directory and its files the unprivileged editor's (it reads them as that
// id; the directory stays 0700).
Status hand_over_staging(const std::string& staging, const DebugfsPlan& plan,
                         std::pair<uid_t, gid_t> owner) {
  for (const auto& staged : plan.staged_files) {
    if (::chown(staged.first.c_str(), owner.first, owner.second) != 0) {
      return fail_errno("handing " + staged.first + " to the unprivileged editor", errno);
    }
  }
  if (::chown(staging.c_str(), owner.first, owner.second) != 0) {
    return fail_errno("handing " + staging + " to the unprivileged editor", errno);
  }
  return {};
}

}  // namespace

namespace {

bool is_marker(std::string_view line, std::string_view marker) {
  return line.starts_with("debugfs: ") && line.ends_with(marker) && line.size() > marker.size() &&
         line[line.size() - marker.size() - 1] == ' ';
}

// The stderr of a marked script (plan_debugfs_script's shape: begin marker, then each step
// followed by its marker) cut into one segment of error lines per step. Error lines before
// the begin marker fail the whole run; a step whose marker never came gets nullopt (debugfs
// died), with what it printed in the error.
struct Segments {
  std::vector<std::vector<std::string>> steps;  // steps.size() <= n; shorter when debugfs died
  std::vector<std::string> unfinished;          // lines after the last marker seen
};

Expected<Segments> split_segments(const std::string& image, const sys::CommandResult& result,
                                  std::size_t n) {
  auto lines = base::split(result.err, '\n');
  std::size_t li = 0;
  std::vector<std::string> pre;
  for (; li < lines.size(); ++li) {
    std::string line(base::trim(lines[li]));
    if (is_marker(line, kBeginMarker)) {
      break;
    }
    if (!line.empty() && !is_banner(line)) {
      pre.push_back(line);
    }
  }
  if (li == lines.size() || !pre.empty()) {
    if (pre.empty()) {
      pre = error_lines(result.err);
    }
    return fail(Errc::command_failed, fmt::format("editing ext4 image {}: debugfs exited {}: {}",
                                                  image, result.exit_code, base::join(pre, "; ")));
  }
  ++li;
  Segments out;
  for (std::size_t step = 0; step < n; ++step) {
    std::string marker = step_marker(step);
    std::vector<std::string> segment;
    bool found = false;
    for (; li < lines.size(); ++li) {
      std::string line(base::trim(lines[li]));
      if (is_marker(line, marker)) {
        found = true;
        ++li;
        break;
      }
      if (!line.empty()) {
        segment.push_back(line);
      }
    }
    if (!found) {
      out.unfinished = std::move(segment);
      break;
    }
    out.steps.push_back(std::move(segment));
  }
  return out;
}

// Which of dirs (absolute, validated) are directories in image, asked in one read-only debugfs
// run (`cd` prints nothing for a directory and an error otherwise).
Expected<std::set<std::string>> existing_directories(sys::CommandRunner& runner,
                                                     const std::string& image,
                                                     const std::vector<std::string>& dirs) {
  std::set<std::string> out;
  if (dirs.empty()) {
    return out;
  }
  std::string script = std::string(kBeginMarker) + "\n";
  for (std::size_t n = 0; n < dirs.size(); ++n) {
    script += "cd " + arg(dirs[n]) + "\n" + step_marker(n) + "\n";
  }
  sys::Command cmd = debugfs_command({"debugfs", "-f", "-", image}, kQueryTimeout);
  cmd.stdin_data = std::move(script);
  BANGER_TRY_ASSIGN(auto result, runner.run(cmd));
  BANGER_TRY_ASSIGN(Segments segments, split_segments(image, result, dirs.size()));
  if (segments.steps.size() != dirs.size()) {
    return fail(Errc::command_failed,
                fmt::format("reading ext4 image {}: debugfs exited {} before finishing{}{}", image,
                            result.exit_code, segments.unfinished.empty() ? "" : ": ",
                            base::join(segments.unfinished, "; ")));
  }
  for (std::size_t n = 0; n < dirs.size(); ++n) {
    if (segments.steps[n].empty()) {
      out.insert(dirs[n]);
    } else if (!all_contain(segments.steps[n], kNotFound) &&
               !all_contain(segments.steps[n], kNotADirectory)) {
      return tl::unexpected(query_error(image, dirs[n], segments.steps[n]));
    }
  }
  return out;
}

}  // namespace

Status apply(sys::CommandRunner& runner, const std::string& image, const Ext4Edit& edit,
             std::optional<std::pair<uid_t, gid_t>> staging_owner) {
  if (edit.empty()) {
    return {};
  }
  BANGER_TRY(check_image(image));
  BANGER_TRY_ASSIGN(std::string staging, make_staging_dir());
  base::Defer cleanup([&] { (void)sys::remove_all(staging); });
  // Which mkdir_p prefixes exist already (see plan_debugfs_script), asked in one batch.
  std::set<std::string> candidates;
  for (const auto& op : edit.ops()) {
    if (op.kind != EditOp::Kind::mkdir_p) {
      continue;
    }
    BANGER_TRY_ASSIGN(GuestPath dir, parse_guest_path("mkdir_p", op.path));
    for (; !dir.parts.empty(); dir.parts.pop_back()) {
      candidates.insert(dir.full());
    }
  }
  BANGER_TRY_ASSIGN(std::set<std::string> existing_dirs,
                    existing_directories(runner, image, {candidates.begin(), candidates.end()}));
  BANGER_TRY_ASSIGN(DebugfsPlan plan, plan_debugfs_script(edit, staging, existing_dirs));
  for (const auto& [path, content] : plan.staged_files) {
    BANGER_TRY(write_staged(path, content));
  }
  if (staging_owner) {
    BANGER_TRY(hand_over_staging(staging, plan, *staging_owner));
  }
  sys::Command cmd = debugfs_command({"debugfs", "-w", "-f", "-", image}, kEditTimeout);
  cmd.stdin_data = plan.script;
  auto result = runner.run(cmd);
  if (!result) {
    return tl::unexpected(with_context(result.error(), "editing ext4 image " + image));
  }
  BANGER_TRY_ASSIGN(Segments segments, split_segments(image, *result, plan.steps.size()));
  for (std::size_t n = 0; n < plan.steps.size(); ++n) {
    const DebugfsStep& step = plan.steps[n];
    const EditOp& op = edit.ops()[step.op_index];
    if (n == segments.steps.size()) {
      return fail(Errc::command_failed,
                  fmt::format("editing ext4 image {}: {} {}: debugfs exited {} before finishing "
                              "the script{}{}",
                              image, op_name(op.kind), printable(op.path), result->exit_code,
                              segments.unfinished.empty() ? "" : ": ",
                              base::join(segments.unfinished, "; ")));
    }
    if (!is_tolerated(step.tolerate, segments.steps[n])) {
      return fail(Errc::command_failed,
                  fmt::format("editing ext4 image {}: {} {}: {}", image, op_name(op.kind),
                              printable(op.path), base::join(segments.steps[n], "; ")));
    }
  }
  return {};
}

Expected<std::uint64_t> free_bytes(sys::CommandRunner& runner, const std::string& image) {
  BANGER_TRY(check_image(image));
  BANGER_TRY_ASSIGN(QueryResult q, query(runner, image, "stats -h"));
  auto free_blocks = stat_field(q.out, "Free blocks");
  auto block_size = stat_field(q.out, "Block size");
  if (!q.errors.empty() || !free_blocks || !block_size) {
    return fail(
        Errc::command_failed,
        fmt::format("reading the free space of ext4 image {}: debugfs: {}", image,
                    q.errors.empty() ? base::tail_lines(q.out, 3) : base::join(q.errors, "; ")));
  }
  return std::strtoull(free_blocks->c_str(), nullptr, 10) *
         std::strtoull(block_size->c_str(), nullptr, 10);
}

Expected<InodeInfo> stat(sys::CommandRunner& runner, const std::string& image,
                         const std::string& guest_path) {
  BANGER_TRY_ASSIGN(GuestPath path, parse_guest_path("stat", guest_path));
  BANGER_TRY_ASSIGN(QueryResult q, query(runner, image, "stat " + arg(path.full())));
  if (!q.errors.empty()) {
    return tl::unexpected(query_error(image, path.full(), q.errors));
  }
  BANGER_TRY_ASSIGN(InodeInfo info, parse_stat(q.out, image, path.full()));
  return info;
}

Expected<bool> exists(sys::CommandRunner& runner, const std::string& image,
                      const std::string& guest_path) {
  auto info = stat(runner, image, guest_path);
  if (info) {
    return true;
  }
  if (info.error().code == Errc::not_found) {
    if (auto present = check_image(image); !present) {
      return tl::unexpected(present.error());
    }
    return false;
  }
  return tl::unexpected(info.error());
}

Expected<std::string> read_file(sys::CommandRunner& runner, const std::string& image,
                                const std::string& guest_path) {
  BANGER_TRY_ASSIGN(InodeInfo info, stat(runner, image, guest_path));
  BANGER_TRY_ASSIGN(GuestPath path, parse_guest_path("read_file", guest_path));
  if (info.type != FileType::regular) {
    return fail(Errc::failed_precondition,
                fmt::format("{} in ext4 image {} is not a regular file", path.full(), image));
  }
  BANGER_TRY_ASSIGN(QueryResult q, query(runner, image, "cat " + arg(path.full())));
  if (!q.errors.empty()) {
    return tl::unexpected(query_error(image, path.full(), q.errors));
  }
  if (q.out.size() != info.size) {
    return fail(Errc::command_failed,
                fmt::format("reading {} from ext4 image {}: got {} bytes, expected {}", path.full(),
                            image, q.out.size(), info.size));
  }
  return std::move(q.out);
}

Expected<std::string> read_link(sys::CommandRunner& runner, const std::string& image,
                                const std::string& guest_path) {
  BANGER_TRY_ASSIGN(GuestPath path, parse_guest_path("read_link", guest_path));
  BANGER_TRY_ASSIGN(QueryResult q, query(runner, image, "stat " + arg(path.full())));
  if (!q.errors.empty()) {
    return tl::unexpected(query_error(image, path.full(), q.errors));
  }
  BANGER_TRY_ASSIGN(InodeInfo info, parse_stat(q.out, image, path.full()));
  if (info.type != FileType::symlink) {
    return fail(Errc::failed_precondition,
                fmt::format("{} in ext4 image {} is not a symlink", path.full(), image));
  }
  constexpr std::string_view kFast = "Fast link dest: \"";
  if (auto pos = q.out.find(kFast); pos != std::string::npos) {
    auto begin = pos + kFast.size();
    auto end = q.out.find('\n', begin);
    std::string rest = q.out.substr(begin, end == std::string::npos ? end : end - begin);
    if (auto quote = rest.rfind('"'); quote != std::string::npos) {
      rest.resize(quote);
    }
    return rest;
  }
  // Slow symlink: the target is the inode's data.
  BANGER_TRY_ASSIGN(QueryResult data, query(runner, image, "cat " + arg(path.full())));
  if (!data.errors.empty()) {
    return tl::unexpected(query_error(image, path.full(), data.errors));
  }
  return std::move(data.out);
}

}  // namespace banger::ext4
