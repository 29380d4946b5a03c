// StagedStore: one directory of named artifacts (kernels, images, later OCI blobs) that are
// built aside and published atomically. The mechanism is shared; what an artifact is (its
// files, its record, whether a directory is complete) stays with the service that owns it.
#pragma once

#include <functional>
#include <set>
#include <string>
#include <string_view>

#include "banger/base/error.hpp"
#include "banger/base/guarded.hpp"

namespace banger::artifactstore {

// The one naming rule: under root,
//   <root>/<name>/          a published artifact (what records point at),
//   <root>/<name>.staging/  a build, pull or import in progress; never live, removed on failure
//                           and at reconcile;
//   <root>.trash/<name>-*/  a replaced or deleted artifact on its way out.
inline constexpr std::string_view kStagingSuffix = ".staging";

// What reconcile does with an entry under root that is neither staging nor recorded and that
// adopt() does not accept.
enum class UnknownDirs { keep, trash };

struct StagedStoreOptions {
  std::string root;  // e.g. paths.kernels_dir; created by reconcile() and stage()
  std::string kind;  // "kernel", "image": used in messages
  // Which operations a claim stands for, for the busy message ("build, promote or delete").
  std::string operations;
  UnknownDirs unknown = UnknownDirs::keep;
};

// rm -rf that refuses (failed_precondition) to descend into a tree with a mount point below
// it: an interrupted mmdebstrap may leave proc/sys/dev mounted there, and removing through
// them could delete host files. Absent paths are fine.
Status remove_tree(const std::string& path);

// Concurrency policy (one for every artifact kind): a changing operation claims the name for
// its whole run; a second claim of a held name fails at once with failed_precondition
// `<kind> "x" is busy: another <operations> of it is running` instead of waiting. Builds and
// pulls take minutes and the waiting client would see no progress; the caller can retry, and
// a retried pull finds the result up to date. Different names proceed in parallel.
//
// Publication order (crash-safe, rollback on failure): files are written to <name>.staging;
// publish() swaps it with the live directory in one renameat2(RENAME_EXCHANGE) (or renames it
// when there is none), then runs the caller's record step; when that fails the swap is undone.
// The replaced tree is moved to the trash and deleted. A crash leaves at worst a staging dir
// (removed at reconcile), a published directory without a record (adopted at reconcile from
// its manifest by the owning service), or a republished directory under the previous record
// (which reconcile's refresh hook rewrites from the directory's manifest). The manifest inside
// a published directory is written before the swap, so it always describes the live files.
//
// Thread-safety: every method may be called concurrently; the files of one name are touched
// only while that name is claimed (reconcile() runs before serving, without claims).
class StagedStore {
 public:
  // Holds a name for one changing operation; releases it when destroyed.
  class Claim {
   public:
    Claim(Claim&& other) noexcept;
    Claim(const Claim&) = delete;
    Claim& operator=(const Claim&) = delete;
    Claim& operator=(Claim&&) = delete;
    ~Claim();
    const std::string& name() const { return name_; }

   private:
    friend class StagedStore;
    Claim(StagedStore& store, std::string name) : store_(&store), name_(std::move(name)) {}
    StagedStore* store_;
    std::string name_;
  };

  // A fresh, empty <name>.staging directory; removed when the Stage is destroyed unless it
  // was published.
  class Stage {
   public:
    Stage(Stage&& other) noexcept;
    Stage(const Stage&) = delete;
    Stage& operator=(const Stage&) = delete;
    Stage& operator=(Stage&&) = delete;
    ~Stage();
    const std::string& dir() const { return dir_; }
    const std::string& name() const { return name_; }

   private:
    friend class StagedStore;
    Stage(std::string name, std::string dir) : name_(std::move(name)), dir_(std::move(dir)) {}
    std::string name_;
    std::string dir_;  // "" once published
  };

  explicit StagedStore(StagedStoreOptions options);

  // invalid_argument `invalid <kind> name "x": names ending in .staging are reserved` for a
  // name that would collide with a staging directory. Other name rules belong to the model.
  Status check_name(std::string_view name) const;

  // <root>/<name>: where a published artifact of that name lives.
  std::string live_dir(std::string_view name) const;
  const std::string& root() const { return options_.root; }

  // Claims name (see the concurrency policy); failed_precondition while it is held.
  Expected<Claim> claim(const std::string& name);

  // Removes any leftover <name>.staging and creates it empty (mode 0700 below a 0700 root).
  // Errors: io; failed_precondition when a leftover has mounts below it.
  Expected<Stage> stage(const Claim& claim);

  // Makes stage the live <name> (replacing an existing one atomically) and then calls
  // record(), which writes the owning service's record. When record() fails, the previous
  // live directory (if any) is put back, the stage is removed and record's error is returned.
  // On success the replaced tree is trashed (a failure there is only logged). Errors: io
  // from the renames; record's errors.
  Status publish(Stage& stage, const std::function<Status()>& record);

  // Moves the live <name> (when present) to the trash and deletes it there. Errors: io when
  // it cannot be moved; a failure to delete it in the trash is logged (reconcile retries).
  Status trash(const Claim& claim);

  struct ReconcileHooks {
    // Whether name has a record.
    std::function<bool(const std::string& name)> is_recorded;
    // Records the unrecorded published directory dir as artifact name when it is complete
    // (a crash between publish and record); returns false when it is not (then the
    // UnknownDirs policy applies). Errors (store failures) abort reconcile.
    std::function<Expected<bool>(const std::string& name, const std::string& dir)> adopt;
    // Optional. Brings the record of the recorded published directory dir in line with the
    // directory's own manifest: a crash between the swap and the record step of a republish
    // leaves the previous record over the new files. Errors abort reconcile.
    std::function<Status(const std::string& name, const std::string& dir)> refresh;
  };

  // At daemon start, before serving: creates root, removes every <name>.staging and
  // everything in the trash, passes each recorded entry to refresh() (when set) and each
  // other unrecorded entry to adopt(). Removal
  // failures (mounts below) are logged and left for the next start. Errors: io when root
  // cannot be listed; adopt's errors.
  Status reconcile(const ReconcileHooks& hooks);

 private:
  void release(const std::string& name);
  std::string trash_dir() const;
  // Moves path into the trash (a fresh <root>.trash/<base>-XXXXXX) and deletes it there.
  Status move_to_trash(const std::string& path, std::string_view base);

  StagedStoreOptions options_;
  base::Guarded<std::set<std::string>> claimed_;
};

}  // namespace banger::artifactstore
