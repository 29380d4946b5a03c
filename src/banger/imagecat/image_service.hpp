// ImageService (S11, local part): the image store under paths.images_dir, the recipe
// builders (tiny, debian-bookworm), register/promote/list/show/remove and startup reconcile.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <utility>
#include <vector>

#include "banger/artifactstore/staged_store.hpp"
#include "banger/base/clock.hpp"
#include "banger/base/error.hpp"
#include "banger/base/progress.hpp"
#include "banger/catalog/catalog.hpp"
#include "banger/imagecat/manifest.hpp"
#include "banger/imagecat/recipes.hpp"
#include "banger/imagecat/rootfs_builder.hpp"
#include "banger/model/image.hpp"
#include "banger/oci/auth.hpp"
#include "banger/oci/reference.hpp"
#include "banger/oci/registry.hpp"
#include "banger/paths/paths.hpp"
#include "banger/store/image_repository.hpp"
#include "banger/sys/command_runner.hpp"

namespace banger::imagecat {

struct BuildSpec {
  std::string recipe;                 // "tiny", "debian-bookworm"
  std::string name;                   // "" = the recipe name
  std::vector<std::string> packages;  // extra packages (debian recipes only)
  bool force = false;                 // replace an existing image of that name
};

// image pull <oci-ref> (S11).
struct PullSpec {
  std::string reference;                  // "debian:bookworm", "ghcr.io/acme/runner:v1"
  std::string name;                       // "" = oci::default_image_name
  std::string kernel;                     // "" = kDefaultPulledKernel
  std::string platform;                   // "" or "linux/amd64" (the only platform banger boots)
  std::optional<std::uint64_t> size_mib;  // "" = content x 1.5, at least 1 GiB
  std::optional<oci::Credentials> credentials;  // else anonymous
  // credentials came from the user's flags: refused for catalog names (recipes, bundles);
  // otherwise (~/.docker/config.json) they are only used for registries.
  bool credentials_from_flags = false;
  bool force = false;  // replace an image of that name
};

// One blob of the pull cache and the images whose manifest lists it.
struct CachedBlobInfo {
  std::string digest;
  std::uint64_t size = 0;
  std::int64_t downloaded_at = 0;   // unix seconds
  std::vector<std::string> images;  // empty: no image uses it (prune removes it)
};

// ImageService::source_of.
struct ImageSource {
  std::string source;  // "recipe tiny", "docker.io/library/python:3.12@sha256:...", ""
  std::vector<std::string> entrypoint;
  std::vector<std::string> cmd;
};

struct PullResult {
  model::Image image;
  std::string reference;    // canonical
  std::string digest;       // the linux/amd64 image manifest
  bool up_to_date = false;  // the image was pulled from this digest already: nothing was done
};

// The kernel pulled images boot when none is given: its initramfs configures the network
// before banger's init runs.
inline constexpr std::string_view kDefaultPulledKernel = "debian-cloud";
// The smallest --size a pull accepts.
inline constexpr std::uint64_t kMinPulledImageMib = 64;

// image bundle <image> (S11).
struct BundleSpec {
  std::string name;        // the image
  std::string output_dir;  // absolute; the bundle is written here
  // absolute or "": a catalog file to add the entry to (created when missing); the entry's
  // url is then the bundle's path relative to the catalog's directory when the bundle is
  // below it, its absolute path otherwise.
  std::string catalog_file;
};

struct BundleResult {
  std::string path;            // the .tar.zst written
  catalog::BundleEntry entry;  // its catalog entry (url as written into catalog_file)
  std::string catalog_file;    // "" when none was given
};

// image import <bundle> (S11).
struct ImportSpec {
  std::string path;    // absolute path of a .tar.zst
  std::string name;    // "" = the name in the bundle's manifest
  std::string kernel;  // "" = the kernel the bundle's manifest names
  bool force = false;  // replace an image of that name
};

// One image `image pull <name>` can make without a registry: an embedded recipe or a bundle
// of the catalog at catalog_url (`image list --available`).
struct CatalogImage {
  std::string name;
  std::string kind;  // "recipe" or "bundle"
  std::string description;
  std::string distro;
  std::string kernel;
  std::uint64_t size = 0;  // bundle bytes (0 for recipes)
  std::string location;    // the bundle's url ("" for recipes)
  bool pulled = false;     // an image of this name is stored
};

struct RegisterSpec {
  std::string name;
  std::string rootfs_path;  // an existing ext4 image, left where it is (unmanaged)
  std::string kernel_path;  // a vmlinux to register as kernel "<name>" ...
  std::string initrd_path;  // ... with this optional initrd
  std::string kernel_ref;   // ... or an existing kernel's name (exactly one of the two)
  std::string distro;       // "" = "unknown"
  model::InitFlavour init_flavour = model::InitFlavour::systemd;
  std::string extra_kernel_args;
};

struct ImageServiceDeps {
  store::ImageRepository& images;
  sys::CommandRunner& runner;
  const paths::Paths& paths;  // images_dir: the store root, read at construction
  base::Clock& clock;
  // Names of the VMs whose image is the given name (remove/--force refuse while any exist);
  // its error (e.g. the store's) is returned by them as is.
  std::function<Expected<std::vector<std::string>>(const std::string& image)> users_of;
  // Registers the kernel files of `image register --kernel` as a kernel named after the image
  // and returns the kernel's name; errors pass through.
  std::function<Expected<std::string>(const std::string& name, const std::string& vmlinux,
                                      const std::string& initrd)>
      register_kernel;
  // PATH lookup for host tools (sys::find_executable in production).
  std::function<std::string(const std::string&)> find_tool;
  // The static banger-agent binary built images get (S8); see locate_agent_binary().
  std::string agent_binary;
  // Registries reached over plain http besides loopback ones (config insecure_registries).
  std::vector<std::string> insecure_registries;
  double pull_size_headroom = 1.5;  // config pull_size_headroom
  std::string catalog_url;          // config catalog_url ("" = the embedded catalog only)
};

// Owns: the image records (store::ImageRepository) and everything under paths.images_dir, an
//   artifactstore::StagedStore: images/<name>/{rootfs.ext4,manifest.json} (managed),
//   images/<name>.staging/ (a build or promote in progress; never a live image) and
//   images.trash/ (replaced or deleted images on their way out). Trees come from a
//   RootfsBuilder per recipe.
// Does not own: kernels (only referenced by name), the rootfs files of unmanaged images,
//   VMs (asked through users_of).
// Thread-safety: every method may be called concurrently. Operations that change an image
//   (build, register, promote, remove) claim that name while they run; a second one on the
//   same name fails with failed_precondition instead of waiting (the StagedStore policy).
class ImageService {
 public:
  explicit ImageService(ImageServiceDeps deps);

  // Builds spec.recipe into images/<name>.staging, renames it to images/<name> and records it.
  // Errors: not_found for an unknown recipe (listing the recipes) or a missing host tool
  // (naming the package); invalid_argument for a bad name or package name, or --packages with
  // the tiny recipe; already_exists unless force; failed_precondition while the name is busy
  // or (with force) a VM uses the old image; cancelled once cancel() says so; command_failed/io
  // from the tools. On any failure the staging directory is removed and nothing is recorded.
  Expected<model::Image> build(const BuildSpec& spec, const base::ProgressFn& progress = {},
                               const base::CancelFn& cancel = {});

  // Pulls an image: a recipe name (tiny, debian-bookworm) is built as by build() (catalog
  // names come first, S11; the OCI-only fields are then refused); anything else is an OCI
  // image (any registry, ADR 0010) pulled into images/<name>: layers through the blob
  // cache under paths.oci_blobs_dir, flattened, packed, the guest kit added, recorded with its
  // origin in manifest.json. Errors: invalid_argument (reference, name, --size, platform, a
  // refused layer naming the layer and path, a manifest that does not match its digest or
  // size); not_found (repository, tag, no linux/amd64 image); permission_denied (the
  // registry refused the credentials); unavailable (network, 5xx after retries);
  // already_exists/failed_precondition as for build; cancelled. On any failure nothing is
  // recorded and the staging directory is removed; the blob cache keeps only verified blobs.
  // Without force, an image of that name pulled from the same reference is checked against
  // the registry: the same manifest digest is up to date (nothing is done), another one is
  // already_exists naming both digests.
  Expected<PullResult> pull(const PullSpec& spec, const base::ProgressFn& progress = {},
                            const base::CancelFn& cancel = {});

  // The blob cache (<cache>/oci/blobs/sha256), by digest, with the images using each blob.
  // io when the cache cannot be read.
  Expected<std::vector<CachedBlobInfo>> cache_list();
  // Removes (or with dry_run lists) the cached blobs no image's manifest lists. Waits for
  // pulls in progress (they hold the cache shared) and holds off new ones while it runs, so
  // a blob a pull has fetched but not yet recorded is never removed under it.
  Expected<std::vector<CachedBlobInfo>> cache_prune(bool dry_run);

  // Writes image spec.name as a bundle (manifest.json with the rootfs's sha256 + rootfs.ext4)
  // into spec.output_dir and, with spec.catalog_file, adds or replaces its entry there.
  // Reports stages "hash" and "bundle". Errors: not_found (image, output dir), invalid_argument
  // (relative paths, an image with a work seed), the catalog file's parse errors, io,
  // cancelled. Nothing is left in output_dir on failure.
  Expected<BundleResult> bundle(const BundleSpec& spec, const base::ProgressFn& progress = {},
                                const base::CancelFn& cancel = {});

  // Installs the bundle at spec.path as a managed image: extracted (only manifest.json and
  // rootfs.ext4, regular files) into a stage, rootfs.ext4 checked against the manifest's
  // rootfs_sha256 and for the ext4 magic, the manifest's fields validated, then published and
  // recorded. Errors: invalid_argument (a refused bundle naming what is wrong, a bad name,
  // kernel or kernel arguments in its manifest), not_found, already_exists (without force),
  // failed_precondition (busy, or in use with force), cancelled. On failure nothing is
  // recorded and the stage is removed.
  Expected<model::Image> import_bundle(const ImportSpec& spec,
                                       const base::ProgressFn& progress = {},
                                       const base::CancelFn& cancel = {});

  // The embedded recipes and the bundles of the catalog at catalog_url (which win over a
  // recipe of the same name), with whether each is pulled, ordered by name. The catalog's
  // fetch and parse errors pass through.
  Expected<std::vector<CatalogImage>> catalog(const base::CancelFn& cancel = {});

  // Whether `image pull name` would find it in the catalog (a recipe or a published bundle);
  // an unreachable catalog counts only the recipes.
  bool in_catalog(const std::string& name);

  // Records an existing rootfs as an unmanaged image (the file stays where it is). Errors:
  // invalid_argument (name, relative path, neither or both of kernel_path/kernel_ref),
  // not_found (rootfs or kernel file missing), already_exists; register_kernel's errors.
  Expected<model::Image> register_image(const RegisterSpec& spec);

  // Makes an unmanaged image managed: copies its rootfs (sparse) into images/<name>/ with a
  // manifest and points the record there; the original file is left alone. Errors: not_found,
  // failed_precondition when it is already managed or busy, io/command_failed from the copy.
  Expected<model::Image> promote(const std::string& name);

  // Every image, ordered by name.
  Expected<std::vector<model::Image>> list();

  // One image; not_found `image "x" not found`.
  Expected<model::Image> show(const std::string& name);

  // Where a managed image came from, from its manifest.json: "recipe tiny", or the pulled
  // reference with its digest and the config's Entrypoint/Cmd. Empty for registered images or
  // an unreadable manifest (never an error: show() is what fails for a missing image).
  ImageSource source_of(const model::Image& image);

  // Deletes the record and, for managed images, images/<name>/. failed_precondition
  // `image "x" is used by vm a, b: delete those vms first` while VMs use it; not_found.
  Status remove(const std::string& name);

  // At daemon start: removes leftover images/*.staging and images.trash/ contents, drops
  // managed records whose rootfs is gone, re-registers published images/<name>/ directories
  // that have a valid manifest but no record (a crash between rename and record) and moves
  // other unknown directories to the trash. Logs what it did; errors only for store failures.
  Status reconcile();

 private:
  std::string rootfs_of(const std::string& name) const;
  // <cache>/oci/blobs/sha256: the layers and configs of pulls (S3).
  std::string blob_cache_dir() const { return deps_.paths.oci_cache_dir + "/blobs/sha256"; }
  // One image made by a builder: how build and pull differ.
  struct Produce {
    std::string name;
    bool force = false;
    std::string origin;  // "recipe tiny", "docker.io/library/debian:bookworm": for messages
    // Fills the record's kernel/distro/init fields and the manifest's extras after the build.
    std::function<void(model::Image&, Manifest&)> describe;
  };
  // Claims the name, builds into a stage, packs, records and publishes (build's contract).
  Expected<model::Image> produce(RootfsBuilder& builder, const Produce& job,
                                 const base::ProgressFn& progress, const base::CancelFn& cancel);
  // The existing record of name when force allows replacing it, nullopt when there is none.
  // already_exists without force; failed_precondition while VMs use it.
  Expected<std::optional<model::Image>> replaceable(const std::string& name, bool force);
  // make_rootfs for builders that write the image themselves (RootfsBuilder::writes_image):
  // the builder's image, plus the agent, checked for its init.
  Expected<std::string> make_image_directly(RootfsBuilder& builder, const std::string& name,
                                            const std::string& staging,
                                            const base::ProgressFn& progress,
                                            const base::CancelFn& cancel);
  // builder's tree in <staging>/tree, plus the agent, packed into <staging>/rootfs.ext4 and
  // checked for /sbin/init; returns the rootfs path. The tree is removed afterwards.
  Expected<std::string> make_rootfs(RootfsBuilder& builder, const std::string& name,
                                    const std::string& staging, const base::ProgressFn& progress,
                                    const base::CancelFn& cancel);
  // Publishes stage as images/<image.name> and writes the record (update when recorded).
  Status publish(artifactstore::StagedStore::Stage& stage, const model::Image& image,
                 bool recorded);
  // Records the unrecorded published directory dir when its manifest names it (reconcile).
  Expected<bool> adopt(const std::string& name, const std::string& dir);
  // Reconcile: rewrites the record of a published image from its manifest.json when they
  // differ (a crash between the directory swap and the record update of build --force or
  // promote).
  Status refresh(const std::string& name, const std::string& dir);
  // The record the published directory's manifest describes; nullopt when it is incomplete.
  std::optional<model::Image> described_by_manifest(const std::string& name,
                                                    const std::string& dir);

  // The up-to-date check of pull (see there); nullopt when the existing image (if any) is not
  // from this reference and the ordinary already_exists applies.
  Expected<std::optional<PullResult>> check_up_to_date(const std::string& name,
                                                       const oci::Reference& reference,
                                                       const oci::RegistryOptions& registry,
                                                       const base::ProgressFn& progress,
                                                       const base::CancelFn& cancel);
  // The bundle entry called reference in the catalog at catalog_url, nullopt when there is none
  // or no catalog. An unreachable or broken catalog is an error only for a plain name that
  // is not a recipe (it could only have come from the catalog); otherwise it is reported
  // as a progress warning and the pull goes on without it.
  Expected<std::optional<catalog::BundleEntry>> published_image(const std::string& reference,
                                                                const base::ProgressFn& progress,
                                                                const base::CancelFn& cancel);
  // image pull <catalog bundle name>: up to date when the stored image came from a bundle of
  // the same sha256, otherwise downloaded (verified) and installed.
  Expected<PullResult> pull_bundle(const catalog::BundleEntry& entry, const PullSpec& spec,
                                   const base::ProgressFn& progress, const base::CancelFn& cancel);
  // What install_bundle() is asked to do.
  struct Installing {
    std::string bundle_path;  // the .tar.zst on disk
    std::string shown;        // the bundle in messages (url or path)
    std::string name;         // "" = the manifest's
    std::string kernel;       // "" = the manifest's
    bool force = false;
    BundleRecord origin;  // recorded in the installed manifest
  };
  Expected<model::Image> install_bundle(const Installing& job, const base::ProgressFn& progress,
                                        const base::CancelFn& cancel);
  // Digest -> the images whose manifest.json lists it as a layer.
  std::map<std::string, std::vector<std::string>> blob_users();

  ImageServiceDeps deps_;
  artifactstore::StagedStore store_;
  // Pulls hold it shared for their whole run; cache_prune exclusively.
  std::shared_mutex cache_mutex_;
};

}  // namespace banger::imagecat
