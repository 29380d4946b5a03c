// The guest commands: POSIX sh scripts that run under busybox sh/tar and dash/bash + GNU tar.
// Every value reaches them as a positional argument, never spliced into the script text.
#include <fmt/format.h>

#include <algorithm>
#include <charconv>

#include "banger/base/expected.hpp"
#include "banger/base/strings.hpp"
#include "banger/workspace/workspace.hpp"

namespace banger::workspace {
namespace {

// Shared by all three commands. $state is the sidecar file next to the guest directory:
//   line 1: "git <HEAD when copied>" or "plain"
//   line 2: the fingerprint at the last prepare or export
constexpr const char* kPrelude = R"SH(set -u
say() { printf 'banger workspace: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }
dest=$1
case $dest in /*) ;; *) die "the guest directory must be an absolute path: $dest" ;; esac
while [ "${dest%/}" != "$dest" ]; do dest=${dest%/}; done
[ -n "$dest" ] || die "refusing to use / as the workspace"
parent=${dest%/*}
[ -n "$parent" ] || parent=/
name=${dest##*/}
state="$parent/.$name.banger-workspace"
# "<HEAD> <tree of the working tree, untracked non-ignored files included>", from a
# throw-away index (the real one is not touched).
# $1: HEAD when the caller knows it.
git_fingerprint() {
  fp_head=${1:-$(git rev-parse -q --verify HEAD)}
  fp_index=$(mktemp) || return 1
  cp .git/index "$fp_index" 2>/dev/null || rm -f "$fp_index"
  fp_tree=$(GIT_INDEX_FILE=$fp_index git add -A >/dev/null 2>&1 &&
            GIT_INDEX_FILE=$fp_index git write-tree 2>/dev/null)
  fp_rc=$?
  rm -f "$fp_index"
  [ "$fp_rc" = 0 ] || return 1
  printf '%s %s\n' "$fp_head" "$fp_tree"
}
# A plain (no git) workspace: its entry count and whether anything is newer than $state.
plain_fingerprint() {
  printf '%s %s\n' "$(find . | wc -l | tr -d ' ')" "$(find . -newer "$state" | head -n 1 | wc -l | tr -d ' ')"
}
fingerprint() {
  if [ -d .git ]; then git_fingerprint; else plain_fingerprint; fi
}
)SH";

constexpr const char* kPrepare = R"SH(force=$2 use_git=$3 head=$4
command -v tar >/dev/null 2>&1 || die "the image has no tar: add tar (or busybox) to the image"
if [ "$use_git" = 1 ]; then
  command -v git >/dev/null 2>&1 ||
    die "the image has no git: add git to the image, or copy the files without git metadata (--no-git)"
fi
if [ -e "$dest" ] || [ -L "$dest" ]; then
  if [ "$force" != 1 ]; then
    if [ ! -d "$dest" ] || [ -L "$dest" ]; then
      say "$dest exists and is not a workspace directory: remove it, or replace it with --force"
      exit 3
    elif [ -f "$state" ]; then
      recorded=$(sed -n 2p "$state")
      now=$(cd "$dest" && fingerprint) || now=unknown
      if [ "$now" != "$recorded" ]; then
        say "$dest has changes that were not exported (uncommitted changes or commits since the last prepare or export): export them first (banger vm workspace export), or replace them with --force"
        exit 3
      fi
    elif [ -n "$(ls -A "$dest")" ]; then
      say "$dest exists and was not made by banger: remove it, or replace it with --force"
      exit 3
    fi
  fi
fi
stage="$parent/.$name.banger-new"
mkdir -p "$parent" || die "cannot create $parent"
rm -rf "$stage" && mkdir "$stage" || die "cannot create $stage"
trap 'rm -rf "$stage"' EXIT
trap 'exit 130' INT TERM HUP
tar -xf - -C "$stage" || die "extracting the workspace stream into $stage failed"
cd "$stage" || die "cannot enter $stage"
[ -f .git/banger/end ] || die "the workspace stream ended early (the host stopped sending)"
if [ "$use_git" != 1 ]; then
  rm -rf .git || die "cannot clean up $stage"
fi
if [ "$use_git" = 1 ]; then
  # The stream carried the repository skeleton (HEAD, config, refs, shallow, info/exclude) and
  # an index without stat data; what is left is the objects, the fingerprint and the refresh.
  [ -f .git/index ] && [ -f .git/banger/index ] && [ -f .git/banger/tree ] ||
    die "the workspace stream carried no git metadata"
  # A small pack arrived indexed in .git/objects/pack; a large one in blocks, indexed here.
  if [ -d .git/banger/pack ]; then
    cat .git/banger/pack/* | git index-pack --stdin >/dev/null ||
      die "git index-pack failed on the workspace's objects"
  fi
  # `git add -A` refreshes the index (hashing every file; the objects are in place, so it writes
  # none) and stages what differs from it. It prints nothing when the working tree holds exactly
  # the index's content (nothing unstaged, untracked or deleted): the index is then the refreshed
  # one and its tree, computed on the host, is the fingerprint's. Otherwise the fingerprint is
  # the tree of what it staged, and the host's index is put back and refreshed.
  fp_added=$(git add -A -v 2>/dev/null) || die "git cannot read the new workspace"
  fp_tree=
  [ -n "$fp_added" ] || read -r fp_tree < .git/banger/tree || fp_tree=
  if [ -z "$fp_tree" ]; then
    fp_tree=$(git write-tree 2>/dev/null) || die "git cannot read the new workspace"
  fi
  if [ -n "$fp_added" ]; then
    mv -f .git/banger/index .git/index || die "cannot restore the index in $stage"
    git update-index -q --refresh >/dev/null 2>&1
  fi
  rm -rf .git/banger
  fp="$head $fp_tree"
  record="git $head"
fi
cd / || die "cannot leave $stage"
if [ -e "$dest" ] || [ -L "$dest" ]; then
  rm -rf "$dest" || die "cannot remove the old $dest"
fi
mv "$stage" "$dest" || die "cannot move $stage to $dest"
trap - EXIT
if [ "$use_git" = 1 ]; then
  printf '%s\n%s\n' "$record" "$fp" > "$state"
else
  printf 'plain\n\n' > "$state"
  fp=$(cd "$dest" && plain_fingerprint)
  printf 'plain\n%s\n' "$fp" > "$state"
fi
)SH";

constexpr const char* kExport = R"SH(base=$2
cd "$dest" 2>/dev/null && [ -d .git ] || { say "no git workspace in $dest"; exit 4; }
command -v git >/dev/null 2>&1 || die "the image has no git"
[ -n "$base" ] || base=$(git rev-parse -q --verify HEAD) || die "the guest repository has no HEAD"
git rev-parse -q --verify "$base^{commit}" >/dev/null ||
  die "the base commit $base is not in the guest repository (it holds the history copied at prepare; HEAD is $(git rev-parse -q --verify HEAD))"
ex_index=$(mktemp) || die "mktemp failed"
cp .git/index "$ex_index" 2>/dev/null || rm -f "$ex_index"
ex_tree=$(GIT_INDEX_FILE=$ex_index git add -A >/dev/null && GIT_INDEX_FILE=$ex_index git write-tree)
ex_rc=$?
rm -f "$ex_index"
[ "$ex_rc" = 0 ] || die "cannot snapshot the working tree"
git -c core.quotePath=true diff --binary --full-index -M --no-color --no-ext-diff --no-textconv \
  --no-relative --submodule=short --src-prefix=a/ --dst-prefix=b/ "$base" "$ex_tree" ||
  die "git diff failed"
if [ -f "$state" ]; then
  first=$(sed -n 1p "$state")
  printf '%s\n%s %s\n' "$first" "$(git rev-parse -q --verify HEAD)" "$ex_tree" > "$state"
fi
)SH";

constexpr const char* kStatus = R"SH([ -d "$dest" ] || { say "no workspace at $dest"; exit 4; }
cd "$dest" || exit 4
echo 'banger-workspace-status 1'
base=
if [ -f "$state" ]; then
  base=$(sed -n 1p "$state")
  base=${base#git}
  base=${base# }
  [ "$base" != plain ] || base=
  recorded=$(sed -n 2p "$state")
  now=$(fingerprint) || now=unknown
  if [ "$now" = "$recorded" ]; then echo 'unexported 0'; else echo 'unexported 1'; fi
else
  echo 'unexported 1'
fi
if [ -d .git ] && command -v git >/dev/null 2>&1; then
  echo 'git 1'
  echo "head $(git rev-parse -q --verify HEAD)"
  echo "branch $(git symbolic-ref -q --short HEAD)"
  echo "base $base"
  echo "changed $(git status --porcelain=v1 -uno | wc -l | tr -d ' ')"
  echo "untracked $(git ls-files -o --exclude-standard | wc -l | tr -d ' ')"
else
  echo 'git 0'
fi
)SH";

GuestCommand shell(const char* name, const char* body, std::vector<std::string> args) {
  GuestCommand command{.argv = {"sh", "-c", std::string(kPrelude) + body, name}, .cwd = "/"};
  command.argv.insert(command.argv.end(), args.begin(), args.end());
  return command;
}

}  // namespace

GuestCommand guest_prepare_command(const Plan& plan, const std::string& guest_dir) {
  // The branch and the origin remote travel in the stream's .git/ skeleton (stream.cpp).
  return shell(
      "banger-workspace-prepare", kPrepare,
      {guest_dir, plan.options.force ? "1" : "0", plan.git ? "1" : "0", plan.git ? plan.head : ""});
}

GuestCommand guest_export_command(const std::optional<std::string>& base_commit,
                                  const std::string& guest_dir) {
  return shell("banger-workspace-export", kExport, {guest_dir, base_commit.value_or("")});
}

GuestCommand guest_status_command(const std::string& guest_dir) {
  return shell("banger-workspace-status", kStatus, {guest_dir});
}

namespace {

constexpr std::size_t kMaxStatusBytes = 64 << 10;

bool is_hex_id(std::string_view text) {
  return (text.size() == 40 || text.size() == 64) &&
         std::all_of(text.begin(), text.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

Expected<int> parse_count(std::string_view key, std::string_view value) {
  int out = 0;
  const auto* end = value.data() + value.size();
  auto [ptr, ec] = std::from_chars(value.data(), end, out);
  if (ec != std::errc() || ptr != end || out < 0) {
    return fail(Errc::invalid_argument,
                fmt::format("guest workspace status: {} is not a count", key));
  }
  return out;
}

}  // namespace

Expected<GuestStatus> parse_guest_status(std::string_view out) {
  if (out.size() > kMaxStatusBytes) {
    return fail(Errc::invalid_argument, "guest workspace status: output too large");
  }
  const auto lines = base::split(out, '\n');
  if (lines.empty() || lines[0] != "banger-workspace-status 1") {
    return fail(Errc::invalid_argument, "guest workspace status: not a banger status report");
  }
  GuestStatus status;
  bool saw_git = false;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const std::string_view line = lines[i];
    if (line.empty() && i + 1 == lines.size()) {
      break;
    }
    const auto space = line.find(' ');
    if (space == std::string_view::npos) {
      return fail(Errc::invalid_argument, "guest workspace status: malformed line");
    }
    const auto key = line.substr(0, space);
    const auto value = line.substr(space + 1);
    if (key == "git") {
      if (value != "0" && value != "1") {
        return fail(Errc::invalid_argument, "guest workspace status: git is not 0 or 1");
      }
      status.git = value == "1";
      saw_git = true;
    } else if (key == "unexported") {
      if (value != "0" && value != "1") {
        return fail(Errc::invalid_argument, "guest workspace status: unexported is not 0 or 1");
      }
      status.unexported = value == "1";
    } else if (key == "head" || key == "base") {
      if (!value.empty() && !is_hex_id(value)) {
        return fail(Errc::invalid_argument,
                    fmt::format("guest workspace status: {} is not a commit id", key));
      }
      (key == "head" ? status.head : status.base) = std::string(value);
    } else if (key == "branch") {
      if (value.size() > 255 || std::any_of(value.begin(), value.end(), [](char c) {
            return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
          })) {
        return fail(Errc::invalid_argument, "guest workspace status: invalid branch name");
      }
      status.branch = std::string(value);
    } else if (key == "changed") {
      BANGER_TRY_ASSIGN(status.changed, parse_count(key, value));
    } else if (key == "untracked") {
      BANGER_TRY_ASSIGN(status.untracked, parse_count(key, value));
    } else {
      return fail(Errc::invalid_argument, "guest workspace status: unknown key");
    }
  }
  if (!saw_git) {
    return fail(Errc::invalid_argument, "guest workspace status: the git line is missing");
  }
  return status;
}

}  // namespace banger::workspace
