#include "banger/artifactstore/staged_store.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <stdio.h>
#include <stdlib.h>

#include <cerrno>
#include <filesystem>
#include <system_error>
#include <utility>
#include <vector>

#include "banger/base/expected.hpp"
#include "banger/base/log.hpp"
#include "banger/base/strings.hpp"
#include "banger/sys/fs.hpp"

namespace banger::artifactstore {
namespace {

namespace fs = std::filesystem;

Status rename_path(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) {
    return fail_errno(fmt::format("renaming {} to {}", from, to), errno);
  }
  return {};
}

// Atomically swaps two existing paths (both stay present throughout).
Status exchange_paths(const std::string& a, const std::string& b) {
  if (::renameat2(AT_FDCWD, a.c_str(), AT_FDCWD, b.c_str(), RENAME_EXCHANGE) != 0) {
    return fail_errno(fmt::format("exchanging {} and {}", a, b), errno);
  }
  return {};
}

// Whether anything (even a dangling symlink) is at path.
bool occupied(const std::string& path) {
  std::error_code ec;
  return fs::exists(fs::symlink_status(path, ec));
}

void remove_or_log(const std::string& path, std::string_view what) {
  if (auto removed = remove_tree(path); !removed) {
    BANGER_LOG_WARN("leaving {} ({}): {}", path, what, removed.error().message);
  }
}

}  // namespace

Status remove_tree(const std::string& path) {
  auto mountinfo = sys::read_file("/proc/self/mountinfo");
  if (!mountinfo) {
    return tl::unexpected(with_context(mountinfo.error(), "not removing " + path));
  }
  if (auto mounts = sys::mounts_below(*mountinfo, path); !mounts.empty()) {
    return fail(Errc::failed_precondition,
                fmt::format("not removing {}: {} is mounted below it (an interrupted build may "
                            "still run); unmount it first",
                            path, mounts.front()));
  }
  return sys::remove_all(path);
}

StagedStore::Claim::Claim(Claim&& other) noexcept
    : store_(std::exchange(other.store_, nullptr)), name_(std::move(other.name_)) {}

StagedStore::Claim::~Claim() {
  if (store_ != nullptr) {
    store_->release(name_);
  }
}

StagedStore::Stage::Stage(Stage&& other) noexcept
    : name_(std::move(other.name_)), dir_(std::exchange(other.dir_, {})) {}

StagedStore::Stage::~Stage() {
  if (!dir_.empty()) {
    remove_or_log(dir_, "an unpublished stage");
  }
}

StagedStore::StagedStore(StagedStoreOptions options) : options_(std::move(options)) {}

Status StagedStore::check_name(std::string_view name) const {
  if (name.ends_with(kStagingSuffix)) {
    return fail(Errc::invalid_argument,
                fmt::format("invalid {} name \"{}\": names ending in {} are reserved",
                            options_.kind, name, kStagingSuffix));
  }
  return {};
}

std::string StagedStore::live_dir(std::string_view name) const {
  return fmt::format("{}/{}", options_.root, name);
}

std::string StagedStore::trash_dir() const { return options_.root + ".trash"; }

void StagedStore::release(const std::string& name) {
  claimed_.with_lock([&](std::set<std::string>& claimed) { claimed.erase(name); });
}

Expected<StagedStore::Claim> StagedStore::claim(const std::string& name) {
  bool taken = claimed_.with_lock(
      [&](std::set<std::string>& claimed) { return !claimed.insert(name).second; });
  if (taken) {
    return fail(Errc::failed_precondition,
                fmt::format("{} \"{}\" is busy: another {} of it is running", options_.kind, name,
                            options_.operations));
  }
  return Claim(*this, name);
}

Expected<StagedStore::Stage> StagedStore::stage(const Claim& claim) {
  std::string dir = live_dir(claim.name()) + std::string(kStagingSuffix);
  BANGER_TRY(sys::make_dirs(options_.root, 0700));
  BANGER_TRY(remove_tree(dir));
  BANGER_TRY(sys::make_dirs(dir, 0700));
  return Stage(claim.name(), std::move(dir));
}

Status StagedStore::publish(Stage& stage, const std::function<Status()>& record) {
  const std::string live = live_dir(stage.name());
  const bool replacing = occupied(live);
  if (replacing) {
    BANGER_TRY(exchange_paths(stage.dir(), live));
  } else {
    BANGER_TRY(rename_path(stage.dir(), live));
  }
  // From here stage.dir() holds the replaced tree, or nothing.
  if (auto recorded = record(); !recorded) {
    Status undone = replacing ? exchange_paths(stage.dir(), live) : rename_path(live, stage.dir());
    if (!undone) {
      BANGER_LOG_WARN("could not undo publishing {}: {}", live, undone.error().message);
    }
    return recorded;
  }
  if (replacing) {
    if (auto trashed = move_to_trash(stage.dir(), stage.name()); !trashed) {
      BANGER_LOG_WARN("leaving the replaced {}: {}", stage.dir(), trashed.error().message);
    }
  }
  stage.dir_.clear();
  return {};
}

Status StagedStore::trash(const Claim& claim) {
  const std::string live = live_dir(claim.name());
  if (!occupied(live)) {
    return {};
  }
  return move_to_trash(live, claim.name());
}

Status StagedStore::move_to_trash(const std::string& path, std::string_view base) {
  BANGER_TRY(sys::make_dirs(trash_dir(), 0700));
  // rename() replaces the empty directory mkdtemp made, so the target name is unique.
  std::string target = fmt::format("{}/{}-XXXXXX", trash_dir(), base);
  if (::mkdtemp(target.data()) == nullptr) {
    return fail_errno("creating a directory in " + trash_dir(), errno);
  }
  BANGER_TRY(rename_path(path, target));
  remove_or_log(target, "in the trash");
  return {};
}

Status StagedStore::reconcile(const ReconcileHooks& hooks) {
  const std::string& root = options_.root;
  BANGER_TRY(sys::make_dirs(root, 0700));
  std::vector<std::string> names;
  std::error_code ec;
  for (fs::directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
    names.push_back(it->path().filename().string());
  }
  if (ec) {
    return fail_errno("listing " + root, ec.value());
  }
  for (const auto& name : names) {
    const std::string dir = root + "/" + name;
    if (name.ends_with(kStagingSuffix)) {
      BANGER_LOG_INFO("reconcile: removing interrupted {} work {}", options_.kind, dir);
      remove_or_log(dir, "interrupted work");
      continue;
    }
    if (hooks.is_recorded(name)) {
      if (hooks.refresh) {
        BANGER_TRY(hooks.refresh(name, dir));
      }
      continue;
    }
    BANGER_TRY_ASSIGN(bool adopted, hooks.adopt(name, dir));
    if (adopted) {
      BANGER_LOG_INFO("reconcile: recorded published {} {} from its manifest", options_.kind, name);
    } else if (options_.unknown == UnknownDirs::trash) {
      BANGER_LOG_WARN("reconcile: moving {} to the trash: not a complete {}", dir, options_.kind);
      if (auto trashed = move_to_trash(dir, name); !trashed) {
        BANGER_LOG_WARN("reconcile: {}", trashed.error().message);
      }
    } else {
      BANGER_LOG_WARN("reconcile: ignoring {}: not a complete {}", dir, options_.kind);
    }
  }
  std::vector<std::string> trashed;
  for (fs::directory_iterator it(trash_dir(), ec), end; !ec && it != end; it.increment(ec)) {
    trashed.push_back(it->path().string());
  }
  for (const auto& path : trashed) {
    remove_or_log(path, "in the trash");
  }
  return {};
}

}  // namespace banger::artifactstore
