// KernelService (SPEC S10): the kernel store under paths.kernels_dir and its records, `kernel
// pull` from the built-in catalog (Debian packages through the host's apt), `kernel import`,
// list/show/verify/remove, and startup reconciliation of files and records.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "banger/artifactstore/staged_store.hpp"
#include "banger/base/clock.hpp"
#include "banger/base/error.hpp"
#include "banger/base/progress.hpp"
#include "banger/catalog/catalog.hpp"
#include "banger/kernelcat/kernel_catalog.hpp"
#include "banger/kernelcat/kernel_manifest.hpp"
#include "banger/model/kernel.hpp"
#include "banger/paths/paths.hpp"
#include "banger/store/kernel_repository.hpp"
#include "banger/sys/command_runner.hpp"

namespace banger::kernelcat {

struct KernelServiceDeps {
  store::KernelRepository& kernels;
  sys::CommandRunner& runner;  // apt-cache, apt-get, depmod
  const paths::Paths& paths;   // kernels_dir (store; read at construction), downloads_dir
  base::Clock& clock;          // imported_at
  // Names of the images and VMs that reference the given kernel (remove refuses while any do);
  // its error (e.g. the store's) is returned by remove as is.
  std::function<Expected<std::vector<std::string>>(const std::string& kernel)> users_of;
  // PATH lookup for host tools (sys::find_executable in production).
  std::function<std::string(const std::string&)> find_tool;
  std::string catalog_url;  // config catalog_url ("" = the built-in catalog only)
};

// kernel bundle <kernel> (S11).
struct KernelBundleSpec {
  std::string name;
  std::string output_dir;    // absolute
  std::string catalog_file;  // absolute or "" (see imagecat::BundleSpec)
};

struct KernelBundleResult {
  std::string path;
  catalog::BundleEntry entry;
  std::string catalog_file;
};

// kernel build <name> (SPEC S10).
struct KernelBuildSpec {
  std::string name;
  std::string from = "debian-source";  // kDebianSource, or an absolute path to a Linux tarball
  std::string config = "firecracker";  // kFirecrackerConfigName, or an absolute kconfig path
  int jobs = 0;                        // make -j; 0 = the host's CPU count
  bool force = false;  // compile again even when cached; replace a kernel of that name
};

struct PullResult {
  model::Kernel kernel;
  bool up_to_date = false;  // true: the stored kernel already had this package version
  bool from_cache = false;  // build: the vmlinux came from the build cache (no compile)
};

// Owns: the kernel records (store::KernelRepository) and everything under paths.kernels_dir,
//   an artifactstore::StagedStore: kernels/<name>/{vmlinux, initrd.img?, manifest.json} (a
//   published kernel), kernels/<name>.staging/ (a pull or import in progress; never a live
//   kernel), kernels.trash/ (replaced or removed kernels on their way out), and the pull work
//   directories downloads_dir/kernel-<name>-*/ (removed when the pull ends).
//   Publication: build in <name>.staging, swap it with kernels/<name> atomically, then record
//   (undone when recording fails).
// Does not own: images and VMs (asked through users_of), the host's apt configuration.
// Thread-safety: every method may be called concurrently. Operations that change a kernel
//   (pull, import, remove) claim its name for their whole run; a second one on the same name
//   fails at once with failed_precondition `kernel "x" is busy: another pull, import or
//   removal of it is running` (the StagedStore policy); different names run in parallel.
// Names ending in ".staging" are refused (they would collide with work dirs).
class KernelService {
 public:
  explicit KernelService(KernelServiceDeps deps);

  // Startup repair (call before serving): removes leftover *.staging dirs, the trash and work
  // dirs, drops records whose vmlinux is gone, and records directories whose manifest.json and
  // vmlinux are present but whose record is missing (a crash between rename and record:
  // publication had completed). Directories without a readable manifest are left alone and
  // logged. Errors: io when kernels_dir cannot be listed; store errors.
  Status reconcile();

  // The built-in catalog entries.
  std::vector<CatalogKernel> list_available() const;
  // One catalog entry (built-in, or a bundle of the catalog at catalog_url, which wins over a
  // built-in entry of its name) and whether a kernel of its name is stored.
  struct CatalogStatus {
    CatalogKernel entry;  // name, description, distro, arch (package fields empty for bundles)
    std::optional<catalog::BundleEntry> bundle;
    bool pulled = false;
  };
  // Every catalog entry with its pulled flag, by name; the catalog's fetch and parse errors
  // and store errors other than not_found pass through.
  Expected<std::vector<CatalogStatus>> catalog(const base::CancelFn& cancel = {});
  // Whether `kernel pull name` would find it (built-in, or a bundle of a reachable catalog).
  bool in_catalog(const std::string& name);

  // Writes kernel spec.name (manifest.json, vmlinux, initrd.img when it has one) as a bundle
  // into spec.output_dir, and with catalog_file records its entry there. Errors: not_found,
  // invalid_argument (relative paths), the catalog file's, io, cancelled.
  Expected<KernelBundleResult> bundle(const KernelBundleSpec& spec,
                                      const base::ProgressFn& progress = {},
                                      const base::CancelFn& cancel = {});

  // Installs the kernel bundle at path (absolute) as kernel name ("" = the bundle's): only
  // manifest.json, vmlinux and initrd.img are extracted, vmlinux must be an x86_64 ELF and both
  // files must match the manifest's sha256. Errors: invalid_argument (a refused bundle naming
  // what is wrong), not_found, already_exists (without force), failed_precondition (busy or,
  // with force, in use), cancelled. Nothing is recorded and the stage is removed on failure.
  Expected<model::Kernel> import_bundle(const std::string& path, const std::string& name,
                                        bool force, const base::ProgressFn& progress = {},
                                        const base::CancelFn& cancel = {});

  // Pulls catalog entry `name` into kernels/<name>: resolves the package through apt; when
  // the stored kernel came from the same package version, its files still hash to the
  // manifest and !force, returns it with up_to_date (no download). Otherwise downloads the
  // kernel and busybox packages, extracts the ELF vmlinux, builds the initramfs and publishes.
  // Reports stages resolve, download, extract, vmlinux, initramfs, publish; checks cancelled
  // between steps. On any failure or cancellation the staging and work dirs are removed and
  // the previously stored kernel (if any) stays as it was.
  // Errors: invalid_argument (bad name, corrupt package: "corrupt package ..."); not_found
  // (unknown catalog name listing the available ones, missing host tool naming its package,
  // package unknown to apt); already_exists (a kernel of that name exists that was not pulled
  // from this catalog entry, and !force); failed_precondition (the name is busy); cancelled;
  // command_failed/timeout (apt, depmod); io.
  Expected<PullResult> pull(const std::string& name, bool force,
                            const base::ProgressFn& progress = {},
                            const base::CancelFn& cancelled = {});

  // Builds kernel spec.name (an all-built-in vmlinux, no initramfs) from Debian's linux-source
  // or a Linux tarball with Firecracker's guest config (or the given file) plus banger's
  // additions: resolve, download, extract, configure (`make olddefconfig`, then every
  // required_builtins() symbol must be y), compile (`make -jN vmlinux`, stage "compile" with
  // the objects built so far), publish. A compiled vmlinux is kept in the build cache
  // (paths.kernel_builds_dir/<build_key>/, the newest kMaxCachedBuilds entries) and reused for
  // the same source and config unless force. When the stored kernel of that name came from the
  // same build key and its files are intact, returns it with up_to_date (unless force).
  // Cancellation stops make at its next output line; the work directory
  // (downloads_dir/kernel-<name>-*/) is removed on every exit.
  // Errors: invalid_argument (bad name, from/config not one of the names nor an absolute path,
  // jobs outside 0..256, a config that is not kconfig text or leaves a required symbol unset,
  // a tarball that is not a Linux source tree or holds unsafe paths); not_found (a missing
  // file or host tool, naming its package; linux-source unknown to apt); already_exists (a
  // kernel of that name that was not built from these inputs, without force);
  // failed_precondition (busy name, too little disk space); command_failed (make, with the
  // tail of its errors); cancelled; io.
  Expected<PullResult> build(const KernelBuildSpec& spec, const base::ProgressFn& progress = {},
                             const base::CancelFn& cancelled = {});

  // The kernel `kernel build` made most recently (by imported_at, then name), nullopt when
  // none is stored; store errors pass through.
  Expected<std::optional<std::string>> newest_built_kernel();

  // Imports from_dir/vmlinux (an x86_64 ELF) and optional from_dir/initrd.img as kernel
  // `name` (files are copied). Errors: invalid_argument (bad name, relative from_dir,
  // "<path> is not an x86_64 ELF vmlinux ..."); not_found (from_dir or its vmlinux missing);
  // already_exists (name taken: remove it first); io.
  Expected<model::Kernel> import_dir(const std::string& name, const std::string& from_dir);

  // Like import_dir with explicit files (initrd_path may be ""); used by `image register
  // --kernel`. source defaults to "import:<vmlinux_path>".
  Expected<model::Kernel> import_files(const std::string& name, const std::string& vmlinux_path,
                                       const std::string& initrd_path);

  // Every kernel, ordered by name (store errors pass through).
  Expected<std::vector<model::Kernel>> list();

  // The kernel called name; invalid_argument for a bad name, not_found `kernel "x" not found`.
  Expected<model::Kernel> show(const std::string& name);

  // The stored manifest of kernel name; not_found as show(); invalid_argument for a manifest
  // that cannot be parsed.
  Expected<KernelManifest> manifest(const std::string& name);

  // Re-hashes vmlinux (and initrd.img) and compares with the record/manifest.
  // failed_precondition "kernel \"x\" is corrupt: vmlinux sha256 is <a>, expected <b>";
  // not_found when the kernel or one of its files is missing.
  Status verify(const std::string& name);

  // Bytes of vmlinux plus initrd.img of kernel (0 for missing files).
  static std::int64_t size_bytes(const model::Kernel& kernel);

  // Deletes the record and kernels/<name>. failed_precondition "kernel \"x\" is used by:
  // a, b" while users_of(name) is not empty; not_found for an unknown kernel.
  Status remove(const std::string& name);

 private:
  using Claim = artifactstore::StagedStore::Claim;
  Status check_name(const std::string& name) const;
  std::string dir_of(const std::string& name) const;
  // Records the unrecorded published directory dir when its manifest names it (reconcile).
  Expected<bool> adopt(const std::string& name, const std::string& dir);
  // Reconcile: rewrites the record of a published kernel from its manifest.json when they
  // differ (a crash between the directory swap and the record update of a re-pull).
  Status refresh(const std::string& name, const std::string& dir);
  // The stored kernel when it came from this package version, its files are intact and
  // !force; nullopt when a pull must build. already_exists for a kernel not pulled from the
  // catalog (unless force).
  Expected<std::optional<model::Kernel>> up_to_date(const std::string& name,
                                                    const std::string& package,
                                                    const std::string& version, bool force);
  // The bundle entry called name in the catalog at catalog_url, nullopt when none; an
  // unusable catalog is an error unless name is built in (then a progress warning).
  Expected<std::optional<catalog::BundleEntry>> published_kernel(const std::string& name,
                                                                 const base::ProgressFn& progress,
                                                                 const base::CancelFn& cancel);
  Expected<PullResult> pull_bundle(const catalog::BundleEntry& entry, bool force,
                                   const base::ProgressFn& progress, const base::CancelFn& cancel);
  // Extracts, checks and publishes the bundle at bundle_path as kernel name (claimed).
  Expected<model::Kernel> install_bundle(const Claim& claim, const std::string& bundle_path,
                                         const std::string& shown, const std::string& bundle_sha256,
                                         bool force, const base::ProgressFn& progress,
                                         const base::CancelFn& cancel);
  // The stored kernel when it was built with key, is intact and !force; nullopt when the build
  // must publish; already_exists for a kernel of that name not built by `kernel build`.
  Expected<std::optional<model::Kernel>> built_up_to_date(const std::string& name,
                                                          const std::string& key, bool force);
  Expected<PullResult> pull_claimed(const Claim& claim, const CatalogKernel& entry, bool force,
                                    const base::ProgressFn& progress,
                                    const base::CancelFn& cancelled);
  Expected<model::Kernel> import_claimed(const Claim& claim, const std::string& vmlinux_path,
                                         const std::string& initrd_path, std::string source);
  // Writes manifest.json into stage, publishes it as kernels/<name> and records it.
  Expected<model::Kernel> publish(artifactstore::StagedStore::Stage& stage,
                                  const KernelManifest& manifest);

  KernelServiceDeps deps_;
  artifactstore::StagedStore store_;
};

}  // namespace banger::kernelcat
