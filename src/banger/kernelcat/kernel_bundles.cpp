// KernelService's catalog side (S11): `kernel bundle`, `kernel import <bundle>`, `kernel pull`
// of a catalog bundle and the merged catalog listing. A bundle is untrusted: only
// manifest.json, vmlinux and initrd.img are extracted, and the files must match the manifest.
#include <fmt/format.h>
#include <unistd.h>

#include <map>

#include "banger/base/defer.hpp"
#include "banger/base/expected.hpp"
#include "banger/base/log.hpp"
#include "banger/base/printable.hpp"
#include "banger/base/strings.hpp"
#include "banger/catalog/bundle.hpp"
#include "banger/catalog/fetch.hpp"
#include "banger/kernelcat/kernel_service.hpp"
#include "banger/kernelcat/vmlinux_extract.hpp"
#include "banger/sys/fs.hpp"
#include "banger/sys/sha256.hpp"

namespace banger::kernelcat {
namespace {

// The checks the extracted files of a kernel bundle pass against its manifest.
Status check_bundled_kernel(const KernelManifest& m, const std::string& dir,
                            const std::string& what) {
  auto bad = [&what](const std::string& why) {
    return fail(Errc::invalid_argument, fmt::format("{}: {}", what, why));
  };
  BANGER_TRY_ASSIGN(auto vmlinux, sys::read_file(dir + "/vmlinux"));
  if (!is_x86_64_elf(vmlinux)) {
    return bad("vmlinux is not an x86_64 ELF kernel");
  }
  if (std::string sha = sys::sha256_hex(vmlinux); sha != m.sha256) {
    return bad(fmt::format("vmlinux has sha256 {}, its manifest says {}", sha,
                           base::printable(m.sha256, 80)));
  }
  bool has_initrd = sys::path_exists(dir + "/initrd.img");
  if (has_initrd != !m.initrd_sha256.empty()) {
    return bad(has_initrd ? "initrd.img is not in its manifest"
                          : "initrd.img is missing (its manifest lists one)");
  }
  if (has_initrd) {
    BANGER_TRY_ASSIGN(auto sha, sys::sha256_file(dir + "/initrd.img"));
    if (sha != m.initrd_sha256) {
      return bad(fmt::format("initrd.img has sha256 {}, its manifest says {}", sha,
                             base::printable(m.initrd_sha256, 80)));
    }
  }
  for (const std::string* text : {&m.distro, &m.version}) {
    if (base::printable(*text, 200) != *text) {
      return bad("manifest.json: distro and version must be printable");
    }
  }
  return {};
}

}  // namespace

Expected<std::vector<KernelService::CatalogStatus>> KernelService::catalog(
    const base::CancelFn& cancel) {
  std::map<std::string, CatalogStatus> entries;
  for (auto& entry : list_available()) {
    entries[entry.name] = {.entry = entry, .bundle = std::nullopt, .pulled = false};
  }
  if (!deps_.catalog_url.empty()) {
    BANGER_TRY_ASSIGN(auto published, catalog::load_catalog(deps_.catalog_url, {}, cancel));
    for (auto& bundle : published.kernels) {
      CatalogKernel entry{.name = bundle.name,
                          .description = bundle.description,
                          .distro = bundle.distro,
                          .arch = bundle.arch};
      entries[bundle.name] = {.entry = std::move(entry), .bundle = bundle, .pulled = false};
    }
  }
  std::vector<CatalogStatus> out;
  for (auto& [name, status] : entries) {
    auto stored = deps_.kernels.get(name);
    if (!stored && stored.error().code != Errc::not_found) {
      return tl::unexpected(stored.error());
    }
    status.pulled = stored.has_value();
    out.push_back(std::move(status));
  }
  return out;
}

bool KernelService::in_catalog(const std::string& name) {
  if (find_catalog_kernel(name)) {
    return true;
  }
  if (deps_.catalog_url.empty()) {
    return false;
  }
  auto loaded = catalog::load_catalog(deps_.catalog_url);
  return loaded && catalog::find_entry(*loaded, catalog::BundleKind::kernel, name) != nullptr;
}

Expected<std::optional<catalog::BundleEntry>> KernelService::published_kernel(
    const std::string& name, const base::ProgressFn& progress, const base::CancelFn& cancel) {
  if (deps_.catalog_url.empty()) {
    return std::optional<catalog::BundleEntry>{};
  }
  auto loaded = catalog::load_catalog(deps_.catalog_url, {}, cancel);
  if (!loaded) {
    if (loaded.error().code == Errc::cancelled || !find_catalog_kernel(name)) {
      return tl::unexpected(with_context(loaded.error(), "looking up the kernel in the catalog"));
    }
    BANGER_LOG_WARN("catalog_url unusable, pulling kernel {} without it: {}", name,
                    loaded.error().message);
    base::report(progress, {.stage = "catalog",
                            .message = "warning: the catalog is unusable, going on without it: " +
                                       loaded.error().message});
    return std::optional<catalog::BundleEntry>{};
  }
  const auto* entry = catalog::find_entry(*loaded, catalog::BundleKind::kernel, name);
  return entry ? std::optional<catalog::BundleEntry>(*entry) : std::nullopt;
}

Expected<PullResult> KernelService::pull_bundle(const catalog::BundleEntry& entry, bool force,
                                                const base::ProgressFn& progress,
                                                const base::CancelFn& cancel) {
  BANGER_TRY_ASSIGN(auto claim, store_.claim(entry.name));
  if (auto existing = deps_.kernels.get(entry.name); existing && !force) {
    auto stored = manifest(entry.name);
    if (stored && stored->bundle_sha256 == entry.sha256) {
      base::report(progress, {.stage = "publish",
                              .message = fmt::format("kernel {} is up to date (sha256 {})",
                                                     entry.name, entry.sha256)});
      return PullResult{std::move(*existing), true};
    }
    return fail(Errc::already_exists,
                fmt::format("kernel \"{}\" exists and was not installed from this bundle "
                            "(sha256 {}): pull with --force to replace it",
                            entry.name, entry.sha256));
  }
  BANGER_TRY(sys::make_dirs(deps_.paths.downloads_dir, 0700));
  BANGER_TRY_ASSIGN(auto downloaded,
                    catalog::download_bundle(entry, deps_.paths.downloads_dir, progress, cancel));
  base::Defer remove_download([&downloaded] { ::unlink(downloaded.c_str()); });
  BANGER_TRY_ASSIGN(auto kernel, install_bundle(claim, downloaded, entry.url, entry.sha256, force,
                                                progress, cancel));
  return PullResult{std::move(kernel), false};
}

Expected<model::Kernel> KernelService::import_bundle(const std::string& path,
                                                     const std::string& name, bool force,
                                                     const base::ProgressFn& progress,
                                                     const base::CancelFn& cancel) {
  BANGER_TRY(sys::require_absolute("the bundle", path));
  if (!sys::path_exists(path)) {
    return fail(Errc::not_found, fmt::format("bundle {}: no such file", path));
  }
  std::string target = name;
  if (target.empty()) {
    BANGER_TRY_ASSIGN(auto text,
                      catalog::read_bundle_manifest(catalog::BundleKind::kernel, path, path));
    auto described = parse_manifest(text);
    if (!described) {
      return tl::unexpected(with_context(described.error(), "bundle " + path));
    }
    target = described->name;
  }
  BANGER_TRY(check_name(target));
  base::report(progress, {.stage = "hash", .message = "hashing " + path});
  BANGER_TRY_ASSIGN(auto sha, sys::sha256_file(path));
  BANGER_TRY_ASSIGN(auto claim, store_.claim(target));
  return install_bundle(claim, path, path, sha, force, progress, cancel);
}

Expected<model::Kernel> KernelService::install_bundle(const Claim& claim,
                                                      const std::string& bundle_path,
                                                      const std::string& shown,
                                                      const std::string& bundle_sha256, bool force,
                                                      const base::ProgressFn& progress,
                                                      const base::CancelFn& cancel) {
  const std::string& name = claim.name();
  const std::string what = "bundle " + base::printable(shown, 200);
  if (deps_.kernels.get(name) && !force) {
    return fail(Errc::already_exists,
                fmt::format("kernel \"{}\" already exists: use --force to replace it", name));
  }
  if (force && deps_.users_of) {
    BANGER_TRY_ASSIGN(auto users, deps_.users_of(name));
    if (!users.empty() && deps_.kernels.get(name)) {
      return fail(Errc::failed_precondition,
                  fmt::format("kernel \"{}\" is used by: {}", name, base::join(users, ", ")));
    }
  }
  BANGER_TRY_ASSIGN(auto stage, store_.stage(claim));
  base::report(progress, {.stage = "extract", .message = "extracting " + shown});
  BANGER_TRY(catalog::extract_bundle(catalog::BundleKind::kernel, bundle_path, shown, stage.dir(),
                                     progress, cancel));
  auto text = sys::read_file(stage.dir() + "/manifest.json");
  auto m = text ? parse_manifest(*text) : Expected<KernelManifest>(tl::unexpected(text.error()));
  if (!m) {
    return tl::unexpected(with_context(m.error(), what));
  }
  BANGER_TRY(check_bundled_kernel(*m, stage.dir(), what));
  if (base::is_cancelled(cancel)) {
    return fail(Errc::cancelled, "cancelled");
  }
  m->name = name;
  m->arch = "x86_64";
  m->source = "bundle " + shown;
  m->package.clear();
  m->package_version.clear();
  m->bundle_sha256 = bundle_sha256;
  m->imported_at = base::to_unix_seconds(deps_.clock.now());
  BANGER_TRY_ASSIGN(auto kernel, publish(stage, *m));
  BANGER_LOG_INFO("installed kernel {} from bundle {} (sha256 {})", name, shown, bundle_sha256);
  return kernel;
}

Expected<KernelBundleResult> KernelService::bundle(const KernelBundleSpec& spec,
                                                   const base::ProgressFn& progress,
                                                   const base::CancelFn& cancel) {
  BANGER_TRY(sys::require_absolute("the output directory", spec.output_dir));
  if (!spec.catalog_file.empty()) {
    BANGER_TRY(sys::require_absolute("--catalog", spec.catalog_file));
  }
  BANGER_TRY_ASSIGN(auto kernel, show(spec.name));
  BANGER_TRY(verify(spec.name));  // a corrupt kernel is not published
  std::vector<catalog::BundleFile> files = {{"manifest.json", dir_of(spec.name) + "/manifest.json"},
                                            {"vmlinux", kernel.vmlinux_path}};
  if (!kernel.initrd_path.empty()) {
    files.push_back({"initrd.img", kernel.initrd_path});
  }
  catalog::BundleEntry entry{.name = kernel.name,
                             .description = "",
                             .distro = kernel.distro.empty() ? "unknown" : kernel.distro};
  BANGER_TRY_ASSIGN(auto written, catalog::write_bundle(catalog::BundleKind::kernel, files, entry,
                                                        spec.output_dir, progress, cancel));
  KernelBundleResult result{.path = written.path, .entry = written.entry, .catalog_file = ""};
  if (!spec.catalog_file.empty()) {
    BANGER_TRY_ASSIGN(result.entry, catalog::record_in_catalog_file(spec.catalog_file,
                                                                    catalog::BundleKind::kernel,
                                                                    written.entry, written.path));
    result.catalog_file = spec.catalog_file;
  }
  BANGER_LOG_INFO("bundled kernel {} into {} (sha256 {})", kernel.name, written.path,
                  written.entry.sha256);
  return result;
}

}  // namespace banger::kernelcat
