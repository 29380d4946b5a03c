// ImageService's catalog side (S11): `image bundle`, `image import <bundle>`, `image pull` of a
// catalog bundle and the catalog listing. Bundles are untrusted input: only the layout's
// regular files are extracted, the rootfs must match the manifest's sha256 and the manifest's
// fields are validated before anything is recorded.
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>

#include "banger/base/defer.hpp"
#include "banger/base/expected.hpp"
#include "banger/base/log.hpp"
#include "banger/base/printable.hpp"
#include "banger/catalog/bundle.hpp"
#include "banger/catalog/fetch.hpp"
#include "banger/imagecat/image_service.hpp"
#include "banger/model/kernel.hpp"
#include "banger/sys/fs.hpp"
#include "banger/sys/sha256.hpp"

namespace banger::imagecat {
namespace {

namespace fs = std::filesystem;

// Kernel arguments a bundle may carry: printable ASCII, bounded (they reach the VMM's
// command line).
constexpr std::size_t kMaxKernelArgs = 1024;

// Whether path holds an ext4 (or ext2/3) superblock magic at its offset.
bool has_ext4_magic(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return false;
  }
  unsigned char magic[2] = {0, 0};
  ssize_t n = ::pread(fd, magic, sizeof magic, 1024 + 56);
  ::close(fd);
  return n == 2 && magic[0] == 0x53 && magic[1] == 0xEF;
}

// The checks a bundle's manifest passes before its image is recorded (it is untrusted).
Status check_bundled_manifest(const Manifest& manifest, const std::string& rootfs,
                              const std::string& what, const base::ProgressFn& progress) {
  auto bad = [&what](const std::string& why) {
    return fail(Errc::invalid_argument, fmt::format("{}: {}", what, why));
  };
  if (auto kernel = model::validate_kernel_name(manifest.image.kernel_ref); !kernel) {
    return bad("manifest.json: kernel: " + kernel.error().message);
  }
  const auto& args = manifest.image.extra_kernel_args;
  if (args.size() > kMaxKernelArgs ||
      !std::all_of(args.begin(), args.end(), [](char c) { return c >= 0x20 && c < 0x7f; })) {
    return bad(
        fmt::format("manifest.json: extra_kernel_args must be printable ASCII of at most "
                    "{} bytes",
                    kMaxKernelArgs));
  }
  if (base::printable(manifest.image.distro, 200) != manifest.image.distro) {
    return bad("manifest.json: distro must be printable");
  }
  if (manifest.rootfs_sha256.empty()) {
    return bad("manifest.json has no rootfs_sha256: not a bundle `banger image bundle` wrote");
  }
  base::report(progress, {.stage = "verify", .message = "checking rootfs.ext4's sha256"});
  BANGER_TRY_ASSIGN(auto sha, sys::sha256_file(rootfs));
  if (sha != manifest.rootfs_sha256) {
    return bad(fmt::format("rootfs.ext4 has sha256 {}, its manifest says {}", sha,
                           base::printable(manifest.rootfs_sha256, 80)));
  }
  if (!has_ext4_magic(rootfs)) {
    return bad("rootfs.ext4 is not an ext4 file system");
  }
  return {};
}

bool looks_like_oci_reference(const std::string& reference) {
  return reference.find_first_of("/:@") != std::string::npos;
}

}  // namespace

Expected<BundleResult> ImageService::bundle(const BundleSpec& spec,
                                            const base::ProgressFn& progress,
                                            const base::CancelFn& cancel) {
  BANGER_TRY(sys::require_absolute("the output directory", spec.output_dir));
  if (!spec.catalog_file.empty()) {
    BANGER_TRY(sys::require_absolute("--catalog", spec.catalog_file));
  }
  BANGER_TRY_ASSIGN(auto image, deps_.images.get(spec.name));
  if (!image.work_seed_path.empty()) {
    return fail(Errc::invalid_argument,
                fmt::format("image \"{}\" has a work seed: bundles of such images are not "
                            "supported yet (a bundle holds rootfs.ext4 and manifest.json)",
                            image.name));
  }
  Manifest manifest{.image = image};
  if (image.managed) {
    if (auto stored = manifest_in(store_.live_dir(image.name))) {
      manifest = std::move(*stored);
      manifest.image = image;
    }
  }
  manifest.bundle.reset();  // where this copy came from is not where the new bundle is
  base::report(progress, {.stage = "hash", .message = "hashing " + image.rootfs_path});
  BANGER_TRY_ASSIGN(manifest.rootfs_sha256, sys::sha256_file(image.rootfs_path));
  BANGER_TRY(sys::make_dirs(deps_.paths.downloads_dir, 0700));
  std::string manifest_path = deps_.paths.downloads_dir + "/bundle-manifest-XXXXXX";
  int fd = ::mkstemp(manifest_path.data());
  if (fd < 0) {
    return fail_errno("creating a file in " + deps_.paths.downloads_dir, errno);
  }
  ::close(fd);
  base::Defer remove_manifest([&manifest_path] { ::unlink(manifest_path.c_str()); });
  BANGER_TRY(sys::write_file_atomic(manifest_path, render_manifest(manifest), 0600));
  catalog::BundleEntry entry{.name = image.name,
                             .description = "",
                             .distro = image.distro.empty() ? "unknown" : image.distro,
                             .kernel = image.kernel_ref};
  BANGER_TRY_ASSIGN(auto written,
                    catalog::write_bundle(catalog::BundleKind::image,
                                          {{std::string(kManifestFile), manifest_path},
                                           {std::string(kRootfsFile), image.rootfs_path}},
                                          entry, spec.output_dir, progress, cancel));
  BundleResult result{.path = written.path, .entry = written.entry, .catalog_file = ""};
  if (!spec.catalog_file.empty()) {
    BANGER_TRY_ASSIGN(result.entry,
                      catalog::record_in_catalog_file(spec.catalog_file, catalog::BundleKind::image,
                                                      written.entry, written.path));
    result.catalog_file = spec.catalog_file;
  }
  BANGER_LOG_INFO("bundled image {} into {} (sha256 {})", image.name, written.path,
                  written.entry.sha256);
  return result;
}

Expected<model::Image> ImageService::import_bundle(const ImportSpec& spec,
                                                   const base::ProgressFn& progress,
                                                   const base::CancelFn& cancel) {
  BANGER_TRY(sys::require_absolute("the bundle", spec.path));
  if (!sys::path_exists(spec.path)) {
    return fail(Errc::not_found, fmt::format("bundle {}: no such file", spec.path));
  }
  base::report(progress, {.stage = "hash", .message = "hashing " + spec.path});
  BANGER_TRY_ASSIGN(auto sha, sys::sha256_file(spec.path));
  return install_bundle({.bundle_path = spec.path,
                         .shown = spec.path,
                         .name = spec.name,
                         .kernel = spec.kernel,
                         .force = spec.force,
                         .origin = {.location = spec.path, .sha256 = sha}},
                        progress, cancel);
}

Expected<model::Image> ImageService::install_bundle(const Installing& job,
                                                    const base::ProgressFn& progress,
                                                    const base::CancelFn& cancel) {
  const std::string what = "bundle " + base::printable(job.shown, 200);
  std::string name = job.name;
  if (name.empty()) {
    BANGER_TRY_ASSIGN(auto text, catalog::read_bundle_manifest(catalog::BundleKind::image,
                                                               job.bundle_path, job.shown));
    auto described = parse_manifest(text);
    if (!described) {
      return tl::unexpected(with_context(described.error(), what));
    }
    name = described->image.name;
  }
  BANGER_TRY(model::validate_image_name(name));
  if (!job.kernel.empty()) {
    BANGER_TRY(model::validate_kernel_name(job.kernel));
  }
  BANGER_TRY_ASSIGN(auto claim, store_.claim(name));
  BANGER_TRY_ASSIGN(auto existing, replaceable(name, job.force));
  BANGER_TRY_ASSIGN(auto stage, store_.stage(claim));
  base::report(progress, {.stage = "extract", .message = "extracting " + job.shown});
  BANGER_TRY(catalog::extract_bundle(catalog::BundleKind::image, job.bundle_path, job.shown,
                                     stage.dir(), progress, cancel));
  auto manifest = manifest_in(stage.dir());
  if (!manifest) {
    return tl::unexpected(with_context(manifest.error(), what));
  }
  const std::string staged_rootfs = stage.dir() + "/" + std::string(kRootfsFile);
  BANGER_TRY(check_bundled_manifest(*manifest, staged_rootfs, what, progress));
  if (base::is_cancelled(cancel)) {
    return fail(Errc::cancelled, "cancelled");
  }
  model::Image image = manifest->image;
  image.name = name;
  if (!job.kernel.empty()) {
    image.kernel_ref = job.kernel;
  }
  image.rootfs_path = rootfs_of(name);
  image.work_seed_path = "";
  image.managed = true;
  std::error_code ec;
  image.size_bytes = static_cast<std::int64_t>(fs::file_size(staged_rootfs, ec));
  image.created_at =
      std::chrono::duration_cast<std::chrono::seconds>(deps_.clock.now().time_since_epoch())
          .count();
  manifest->image = image;
  manifest->bundle = job.origin;
  BANGER_TRY(sys::write_file_atomic(stage.dir() + "/" + std::string(kManifestFile),
                                    render_manifest(*manifest)));
  BANGER_TRY(publish(stage, image, existing.has_value()));
  base::report(progress, {.stage = "done",
                          .message = fmt::format("image {} installed from {} ({} MiB)", name,
                                                 job.shown, image.size_bytes >> 20)});
  BANGER_LOG_INFO("installed image {} from bundle {} (sha256 {})", name, job.shown,
                  job.origin.sha256);
  return image;
}

Expected<std::optional<catalog::BundleEntry>> ImageService::published_image(
    const std::string& reference, const base::ProgressFn& progress, const base::CancelFn& cancel) {
  if (deps_.catalog_url.empty()) {
    return std::optional<catalog::BundleEntry>{};
  }
  auto loaded = catalog::load_catalog(deps_.catalog_url, {}, cancel);
  if (!loaded) {
    if (loaded.error().code == Errc::cancelled) {
      return tl::unexpected(loaded.error());
    }
    if (!find_recipe(reference) && !looks_like_oci_reference(reference)) {
      return tl::unexpected(with_context(
          loaded.error(),
          fmt::format("looking up image \"{}\" in the catalog", base::printable(reference, 100))));
    }
    BANGER_LOG_WARN("catalog_url unusable, pulling {} without it: {}", reference,
                    loaded.error().message);
    base::report(progress, {.stage = "catalog",
                            .message = "warning: the catalog is unusable, going on without it: " +
                                       loaded.error().message});
    return std::optional<catalog::BundleEntry>{};
  }
  const auto* entry = catalog::find_entry(*loaded, catalog::BundleKind::image, reference);
  return entry ? std::optional<catalog::BundleEntry>(*entry) : std::nullopt;
}

Expected<PullResult> ImageService::pull_bundle(const catalog::BundleEntry& entry,
                                               const PullSpec& spec,
                                               const base::ProgressFn& progress,
                                               const base::CancelFn& cancel) {
  if (!spec.platform.empty() || spec.size_mib ||
      (spec.credentials && spec.credentials_from_flags)) {
    return fail(Errc::invalid_argument,
                fmt::format("\"{}\" is a bundle of the catalog: --platform, --size and registry "
                            "credentials are for OCI images",
                            entry.name));
  }
  const std::string name = spec.name.empty() ? entry.name : spec.name;
  BANGER_TRY(model::validate_image_name(name));
  PullResult result{
      .image = {}, .reference = entry.url, .digest = "sha256:" + entry.sha256, .up_to_date = false};
  if (!spec.force) {
    if (auto existing = deps_.images.get(name)) {
      auto manifest = manifest_in(store_.live_dir(name));
      // Any earlier bundle counts: a new version of a bundle has a new file name.
      if (manifest && manifest->bundle) {
        if (manifest->bundle->sha256 == entry.sha256) {
          base::report(progress, {.stage = "done",
                                  .message = fmt::format("image {} is up to date (sha256 {})", name,
                                                         entry.sha256)});
          result.image = std::move(*existing);
          result.up_to_date = true;
          return result;
        }
        return fail(
            Errc::already_exists,
            fmt::format("image \"{}\" was installed from {} with sha256 {}; the catalog "
                        "now has {}: use --force to replace it",
                        name, manifest->bundle->location, manifest->bundle->sha256, entry.sha256));
      }
    }
  }
  BANGER_TRY(sys::make_dirs(deps_.paths.downloads_dir, 0700));
  BANGER_TRY_ASSIGN(auto downloaded,
                    catalog::download_bundle(entry, deps_.paths.downloads_dir, progress, cancel));
  base::Defer remove_download([&downloaded] { ::unlink(downloaded.c_str()); });
  BANGER_TRY_ASSIGN(result.image,
                    install_bundle({.bundle_path = downloaded,
                                    .shown = entry.url,
                                    .name = name,
                                    .kernel = spec.kernel,
                                    .force = spec.force,
                                    .origin = {.location = entry.url, .sha256 = entry.sha256}},
                                   progress, cancel));
  return result;
}

Expected<std::vector<CatalogImage>> ImageService::catalog(const base::CancelFn& cancel) {
  std::map<std::string, CatalogImage> entries;
  for (const auto& recipe : recipes()) {
    entries[recipe.name] = {.name = recipe.name,
                            .kind = "recipe",
                            .description = recipe.summary,
                            .distro = recipe.distro,
                            .kernel = recipe.kernel,
                            .size = 0,
                            .location = "",
                            .pulled = false};
  }
  if (!deps_.catalog_url.empty()) {
    BANGER_TRY_ASSIGN(auto published, catalog::load_catalog(deps_.catalog_url, {}, cancel));
    for (const auto& entry : published.images) {
      entries[entry.name] = {.name = entry.name,
                             .kind = "bundle",
                             .description = entry.description,
                             .distro = entry.distro,
                             .kernel = entry.kernel,
                             .size = entry.size,
                             .location = entry.url,
                             .pulled = false};
    }
  }
  std::vector<CatalogImage> out;
  for (auto& [name, entry] : entries) {
    entry.pulled = deps_.images.get(name).has_value();
    out.push_back(std::move(entry));
  }
  return out;
}

bool ImageService::in_catalog(const std::string& name) {
  if (find_recipe(name)) {
    return true;
  }
  if (deps_.catalog_url.empty()) {
    return false;
  }
  auto loaded = catalog::load_catalog(deps_.catalog_url);
  return loaded && catalog::find_entry(*loaded, catalog::BundleKind::image, name) != nullptr;
}

}  // namespace banger::imagecat
