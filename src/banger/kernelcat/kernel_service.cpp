#include "banger/kernelcat/kernel_service.hpp"

#include <fmt/format.h>

#include <filesystem>
#include <system_error>

#include "banger/base/defer.hpp"
#include "banger/base/expected.hpp"
#include "banger/base/log.hpp"
#include "banger/base/strings.hpp"
#include "banger/debpkg/debpkg.hpp"
#include "banger/hosttools/hosttools.hpp"
#include "banger/kernelcat/cpio.hpp"
#include "banger/kernelcat/decompress.hpp"
#include "banger/kernelcat/guest_modules.hpp"
#include "banger/kernelcat/initramfs_plan.hpp"
#include "banger/kernelcat/kernel_work.hpp"
#include "banger/kernelcat/modules_order.hpp"
#include "banger/kernelcat/vmlinux_extract.hpp"
#include "banger/sys/fs.hpp"
#include "banger/sys/sha256.hpp"

namespace banger::kernelcat {
namespace {

namespace fs = std::filesystem;

constexpr auto kDepmodTimeout = std::chrono::minutes(2);

bool is_dir(const std::string& path) {
  std::error_code ec;
  return fs::is_directory(path, ec);
}

// "Linux version 6.1.0-28-cloud-amd64 (...)" inside a kernel image -> "6.1.0-28-cloud-amd64".
std::string linux_version_in(std::string_view image) {
  constexpr std::string_view kMarker = "Linux version ";
  for (auto pos = image.find(kMarker); pos != std::string_view::npos;
       pos = image.find(kMarker, pos + 1)) {
    std::size_t start = pos + kMarker.size();
    std::size_t end = start;
    while (end < image.size() && end - start < 64 && image[end] > ' ' && image[end] < 0x7f) {
      ++end;
    }
    // Skip format strings such as "Linux version %s".
    if (end > start && image[start] >= '0' && image[start] <= '9') {
      return std::string(image.substr(start, end - start));
    }
  }
  return {};
}

Error corrupt_package(const std::string& deb, const std::string& why) {
  return Error{Errc::invalid_argument,
               fmt::format("corrupt package {}: {}", fs::path(deb).filename().string(), why),
               0,
               {}};
}

// The package a catalog entry resolves to on this host today.
struct Resolved {
  std::string package;  // "linux-image-6.1.0-28-cloud-amd64"
  std::string release;  // "6.1.0-28-cloud-amd64"
  std::string version;  // the package version
  std::string source;   // "<name>: <package> <version>" (the manifest's source)
};

Expected<Resolved> resolve(sys::CommandRunner& runner, const CatalogKernel& entry,
                           const base::ProgressFn& progress) {
  base::report(progress, {.stage = "resolve", .message = "resolving " + entry.meta_package});
  BANGER_TRY_ASSIGN(auto package,
                    debpkg::resolve_dependency(runner, entry.meta_package, entry.package_prefix));
  BANGER_TRY_ASSIGN(auto version, debpkg::candidate_version(runner, package));
  Resolved out{.package = package,
               .release = package.substr(entry.package_prefix.size()),
               .version = version,
               .source = fmt::format("{}: {} {}", entry.name, package, version)};
  base::report(progress, {.stage = "resolve", .message = out.source});
  return out;
}

// The kernel and busybox packages, downloaded and unpacked in a work directory.
struct Unpacked {
  std::string kernel_deb;
  std::string busybox_deb;
  std::string kernel_root;   // <work>/kernel
  std::string busybox_root;  // <work>/busybox
  std::string guest_root;    // <work>/guest: the guest module tree is built below it
};

Expected<Unpacked> download_and_unpack(sys::CommandRunner& runner, const CatalogKernel& entry,
                                       const Resolved& resolved, const std::string& work,
                                       const base::ProgressFn& progress,
                                       const base::CancelFn& cancelled) {
  const std::string debs_dir = work + "/debs";
  BANGER_TRY(sys::make_dirs(debs_dir));
  BANGER_TRY_ASSIGN(auto debs, debpkg::download(runner, {resolved.package, entry.busybox_package},
                                                debs_dir, progress));
  BANGER_TRY(check_cancelled(cancelled));
  Unpacked out{.kernel_deb = debs[0],
               .busybox_deb = debs[1],
               .kernel_root = work + "/kernel",
               .busybox_root = work + "/busybox",
               .guest_root = work + "/guest"};
  base::report(progress, {.stage = "extract", .message = "unpacking " + resolved.package});
  BANGER_TRY(debpkg::extract_deb(out.kernel_deb, out.kernel_root));
  base::report(progress, {.stage = "extract", .message = "unpacking " + entry.busybox_package});
  BANGER_TRY(debpkg::extract_deb(out.busybox_deb, out.busybox_root));
  BANGER_TRY(check_cancelled(cancelled));
  return out;
}

// boot/vmlinuz-<release> of the kernel package -> <staging>/vmlinux (an ELF).
Status stage_vmlinux(const Unpacked& unpacked, const std::string& release,
                     const std::string& staging, const base::ProgressFn& progress) {
  base::report(progress,
               {.stage = "vmlinux", .message = "extracting vmlinux from vmlinuz-" + release});
  auto bzimage = sys::read_file(unpacked.kernel_root + "/boot/vmlinuz-" + release);
  if (!bzimage) {
    return tl::unexpected(corrupt_package(unpacked.kernel_deb, "no boot/vmlinuz-" + release));
  }
  auto vmlinux = extract_vmlinux(*bzimage);
  if (!vmlinux) {
    return tl::unexpected(corrupt_package(unpacked.kernel_deb, vmlinux.error().message));
  }
  bzimage->clear();
  BANGER_TRY(sys::write_file_atomic(staging + "/vmlinux", *vmlinux, 0644));
  const auto size = static_cast<std::int64_t>(vmlinux->size());
  base::report(
      progress,
      {.stage = "vmlinux", .message = fmt::format("{} bytes", size), .done = size, .total = size});
  return {};
}

// What the initramfs carries from the kernel package: the boot modules, decompressed, in load
// order, and the guest module tree (depmod computes modules.dep on the unpacked tree first).
struct InitramfsModules {
  std::vector<InitramfsModule> boot;
  GuestModuleTree guest;
};

Expected<InitramfsModules> load_initramfs_modules(const KernelServiceDeps& deps,
                                                  const Unpacked& unpacked,
                                                  const Resolved& resolved) {
  const std::string& release = resolved.release;
  const std::string& root = unpacked.kernel_root;
  std::string depmod_base = root;
  if (!is_dir(root + "/lib/modules/" + release) && is_dir(root + "/usr/lib/modules/" + release)) {
    depmod_base = root + "/usr";  // a usr-merged package
  }
  const std::string modules_dir = depmod_base + "/lib/modules/" + release;
  if (!is_dir(modules_dir)) {
    return tl::unexpected(corrupt_package(unpacked.kernel_deb, "no lib/modules/" + release));
  }
  const std::string depmod_tool = deps.find_tool("depmod");
  sys::Command depmod{.argv = {depmod_tool, "-b", depmod_base, release}, .timeout = kDepmodTimeout};
  BANGER_TRY(sys::run_checked(deps.runner, depmod));
  BANGER_TRY_ASSIGN(auto modules_dep, sys::read_file(modules_dir + "/modules.dep"));
  std::vector<std::string> wanted(kInitramfsModules.begin(), kInitramfsModules.end());
  InitramfsModules out;
  for (auto& relative : modules_load_order(modules_dep, wanted)) {
    auto content = read_decompressed(modules_dir + "/" + relative);
    if (!content) {
      return tl::unexpected(corrupt_package(unpacked.kernel_deb, content.error().message));
    }
    out.boot.push_back({.relative = std::move(relative), .content = std::move(*content)});
  }
  auto guest = stage_guest_modules(deps.runner,
                                   {.depmod = depmod_tool,
                                    .modules_dir = modules_dir,
                                    .release = release,
                                    .source = resolved.package + " " + resolved.version,
                                    .work_root = unpacked.guest_root},
                                   modules_dep);
  if (!guest) {
    return tl::unexpected(with_context(guest.error(), "preparing the guest modules"));
  }
  out.guest = std::move(*guest);
  return out;
}

// busybox + the ordered modules + the guest module tree -> <staging>/initrd.img.
Status stage_initramfs(const KernelServiceDeps& deps, const Unpacked& unpacked,
                       const Resolved& resolved, const std::string& staging,
                       const base::ProgressFn& progress) {
  base::report(progress, {.stage = "initramfs", .message = "ordering modules with depmod"});
  BANGER_TRY_ASSIGN(auto modules, load_initramfs_modules(deps, unpacked, resolved));
  const std::string busybox = unpacked.busybox_root + "/bin/busybox";
  if (!sys::path_exists(busybox)) {
    return tl::unexpected(corrupt_package(unpacked.busybox_deb, "no bin/busybox"));
  }
  const auto count = static_cast<std::int64_t>(modules.boot.size());
  const auto guest_count = modules.guest.files.size();
  BANGER_TRY(
      write_initramfs(staging + "/initrd.img",
                      plan_initramfs_entries(busybox, std::move(modules.boot), modules.guest)));
  base::report(progress,
               {.stage = "initramfs",
                .message = fmt::format("busybox + {} boot modules + {} guest module files", count,
                                       guest_count),
                .done = count,
                .total = count});
  return {};
}

// Downloads and unpacks the packages in work, and writes vmlinux and initrd.img to staging.
Status stage_kernel(const KernelServiceDeps& deps, const CatalogKernel& entry,
                    const Resolved& resolved, const std::string& work, const std::string& staging,
                    const base::ProgressFn& progress, const base::CancelFn& cancelled) {
  BANGER_TRY_ASSIGN(auto unpacked,
                    download_and_unpack(deps.runner, entry, resolved, work, progress, cancelled));
  BANGER_TRY(stage_vmlinux(unpacked, resolved.release, staging, progress));
  BANGER_TRY(check_cancelled(cancelled));
  BANGER_TRY(stage_initramfs(deps, unpacked, resolved, staging, progress));
  return check_cancelled(cancelled);
}

// Removes the pull work directories downloads_dir/kernel-*/ a stopped daemon left.
Status remove_work_dirs(const std::string& downloads_dir) {
  std::vector<std::string> leftovers;
  std::error_code ec;
  for (fs::directory_iterator it(downloads_dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().filename().string().starts_with(kWorkPrefix)) {
      leftovers.push_back(it->path().string());
    }
  }
  for (const auto& path : leftovers) {
    BANGER_TRY(sys::remove_all(path));
  }
  return {};
}

}  // namespace

KernelService::KernelService(KernelServiceDeps deps)
    : deps_(std::move(deps)),
      store_({.root = deps_.paths.kernels_dir,
              .kind = "kernel",
              .operations = "pull, import or removal",
              .unknown = artifactstore::UnknownDirs::keep}) {}

Status KernelService::check_name(const std::string& name) const {
  BANGER_TRY(model::validate_kernel_name(name));
  return store_.check_name(name);
}

std::string KernelService::dir_of(const std::string& name) const { return store_.live_dir(name); }

std::vector<CatalogKernel> KernelService::list_available() const { return builtin_catalog(); }

Status KernelService::reconcile() {
  BANGER_TRY(remove_work_dirs(deps_.paths.downloads_dir));
  BANGER_TRY_ASSIGN(auto records, deps_.kernels.list());
  for (const auto& kernel : records) {
    if (!sys::path_exists(kernel.vmlinux_path)) {
      BANGER_LOG_WARN("dropping the record of kernel {}: {} is gone", kernel.name,
                      kernel.vmlinux_path);
      BANGER_TRY(deps_.kernels.remove(kernel.name));
    }
  }
  return store_.reconcile(
      {.is_recorded = [&](const std::string& name) { return deps_.kernels.get(name).has_value(); },
       .adopt = [&](const std::string& name, const std::string& dir) { return adopt(name, dir); },
       .refresh = [&](const std::string& name,
                      const std::string& dir) { return refresh(name, dir); }});
}

Status KernelService::refresh(const std::string& name, const std::string& dir) {
  auto text = sys::read_file(dir + "/manifest.json");
  auto manifest =
      text ? parse_manifest(*text) : Expected<KernelManifest>(tl::unexpected(text.error()));
  if (!manifest || manifest->name != name) {
    return {};  // not one of ours to judge; verify() reports it
  }
  BANGER_TRY_ASSIGN(auto stored, deps_.kernels.get(name));
  model::Kernel described = to_record(*manifest, dir);
  if (stored == described) {
    return {};
  }
  BANGER_LOG_WARN(
      "reconcile: the record of kernel {} ({}) did not describe its files ({}): "
      "recording them from their manifest (a pull was interrupted after publishing)",
      name, stored.sha256, described.sha256);
  return deps_.kernels.update(described);
}

Expected<bool> KernelService::adopt(const std::string& name, const std::string& dir) {
  auto text = sys::read_file(dir + "/manifest.json");
  auto manifest =
      text ? parse_manifest(*text) : Expected<KernelManifest>(tl::unexpected(text.error()));
  if (!manifest || manifest->name != name || !sys::path_exists(dir + "/vmlinux")) {
    return false;  // no matching manifest.json and vmlinux
  }
  BANGER_TRY(deps_.kernels.insert(to_record(*manifest, dir)));
  return true;
}

Expected<PullResult> KernelService::pull(const std::string& name, bool force,
                                         const base::ProgressFn& progress,
                                         const base::CancelFn& cancelled) {
  BANGER_TRY(check_name(name));
  // A bundle of the catalog at catalog_url comes first (it wins over a built-in entry).
  BANGER_TRY_ASSIGN(auto published, published_kernel(name, progress, cancelled));
  if (published) {
    auto pulled = pull_bundle(*published, force, progress, cancelled);
    if (!pulled) {
      return tl::unexpected(with_context(pulled.error(), "pulling kernel " + name));
    }
    return pulled;
  }
  BANGER_TRY_ASSIGN(auto entry, find_catalog_kernel(name));
  auto result = store_.claim(name).and_then(
      [&](const Claim& claim) { return pull_claimed(claim, entry, force, progress, cancelled); });
  if (!result) {
    return tl::unexpected(with_context(result.error(), "pulling kernel " + name));
  }
  return result;
}

Expected<std::optional<model::Kernel>> KernelService::up_to_date(const std::string& name,
                                                                 const std::string& package,
                                                                 const std::string& version,
                                                                 bool force) {
  auto existing = deps_.kernels.get(name);
  if (!existing) {
    return std::nullopt;
  }
  auto stored = manifest(name);
  bool ours = stored && !stored->package.empty() && stored->source.starts_with(name + ":");
  if (!ours && !force) {
    return fail(Errc::already_exists,
                fmt::format("kernel \"{}\" exists and was not pulled from the catalog: remove "
                            "it with `banger kernel rm {}` or pull with --force",
                            name, name));
  }
  if (!ours || force || stored->package != package || stored->package_version != version) {
    return std::nullopt;
  }
  if (auto intact = verify(name); !intact) {
    BANGER_LOG_WARN("rebuilding kernel {}: {}", name, intact.error().message);
    return std::nullopt;
  }
  return *existing;
}

Expected<PullResult> KernelService::pull_claimed(const Claim& claim, const CatalogKernel& entry,
                                                 bool force, const base::ProgressFn& progress,
                                                 const base::CancelFn& cancelled) {
  const std::string& name = entry.name;
  for (const char* tool : {"apt-get", "depmod"}) {
    BANGER_TRY(hosttools::require_tool(tool, deps_.find_tool));
  }
  BANGER_TRY_ASSIGN(auto resolved, resolve(deps_.runner, entry, progress));
  // Caching: the same package version again is a no-op when the files are intact.
  BANGER_TRY_ASSIGN(auto cached, up_to_date(name, resolved.package, resolved.version, force));
  if (cached) {
    base::report(progress, {.stage = "publish",
                            .message = fmt::format("kernel {} is up to date ({} {})", name,
                                                   resolved.package, resolved.version)});
    return PullResult{std::move(*cached), true};
  }
  BANGER_TRY(check_cancelled(cancelled));
  BANGER_TRY_ASSIGN(auto work, make_work_dir(deps_.paths.downloads_dir, name));
  base::Defer remove_work([&] { remove_work_dir(work); });
  BANGER_TRY_ASSIGN(auto stage, store_.stage(claim));
  BANGER_TRY(stage_kernel(deps_, entry, resolved, work, stage.dir(), progress, cancelled));
  base::report(progress, {.stage = "publish", .message = "publishing kernel " + name});
  KernelManifest m{.name = name,
                   .distro = entry.distro,
                   .arch = entry.arch,
                   .version = resolved.release,
                   .sha256 = {},
                   .initrd_sha256 = {},
                   .source = resolved.source,
                   .imported_at = base::to_unix_seconds(deps_.clock.now()),
                   .package = resolved.package,
                   .package_version = resolved.version};
  BANGER_TRY_ASSIGN(m.sha256, sys::sha256_file(stage.dir() + "/vmlinux"));
  BANGER_TRY_ASSIGN(m.initrd_sha256, sys::sha256_file(stage.dir() + "/initrd.img"));
  BANGER_TRY_ASSIGN(auto kernel, publish(stage, m));
  return PullResult{std::move(kernel), false};
}

Expected<model::Kernel> KernelService::publish(artifactstore::StagedStore::Stage& stage,
                                               const KernelManifest& manifest) {
  BANGER_TRY(sys::write_file_atomic(stage.dir() + "/manifest.json", to_json(manifest), 0644));
  model::Kernel record = to_record(manifest, dir_of(manifest.name));
  BANGER_TRY(store_.publish(stage, [&]() -> Status {
    Status recorded = deps_.kernels.get(manifest.name) ? deps_.kernels.update(record)
                                                       : deps_.kernels.insert(record);
    if (!recorded) {
      return tl::unexpected(with_context(recorded.error(), "recording kernel " + manifest.name));
    }
    return {};
  }));
  return record;
}

Expected<model::Kernel> KernelService::import_dir(const std::string& name,
                                                  const std::string& from_dir) {
  if (from_dir.empty() || from_dir.front() != '/') {
    return fail(Errc::invalid_argument,
                fmt::format("import directory \"{}\" must be an absolute path", from_dir));
  }
  if (!is_dir(from_dir)) {
    return fail(Errc::not_found, fmt::format("import directory {} not found", from_dir));
  }
  std::string initrd = from_dir + "/initrd.img";
  if (!sys::path_exists(initrd)) {
    initrd.clear();
  }
  BANGER_TRY(check_name(name));
  BANGER_TRY_ASSIGN(auto claim, store_.claim(name));
  return import_claimed(claim, from_dir + "/vmlinux", initrd, "import:" + from_dir);
}

Expected<model::Kernel> KernelService::import_files(const std::string& name,
                                                    const std::string& vmlinux_path,
                                                    const std::string& initrd_path) {
  for (const auto* path : {&vmlinux_path, &initrd_path}) {
    if (!path->empty() && path->front() != '/') {
      return fail(Errc::invalid_argument,
                  fmt::format("kernel file \"{}\" must be an absolute path", *path));
    }
  }
  BANGER_TRY(check_name(name));
  BANGER_TRY_ASSIGN(auto claim, store_.claim(name));
  return import_claimed(claim, vmlinux_path, initrd_path, "import:" + vmlinux_path);
}

Expected<model::Kernel> KernelService::import_claimed(const Claim& claim,
                                                      const std::string& vmlinux_path,
                                                      const std::string& initrd_path,
                                                      std::string source) {
  const std::string& name = claim.name();
  if (deps_.kernels.get(name) || sys::path_exists(dir_of(name))) {
    return fail(Errc::already_exists,
                fmt::format("kernel \"{}\" already exists: remove it first with `banger kernel "
                            "rm {}`",
                            name, name));
  }
  if (!sys::path_exists(vmlinux_path)) {
    return fail(Errc::not_found, fmt::format("kernel file {} not found", vmlinux_path));
  }
  if (!initrd_path.empty() && !sys::path_exists(initrd_path)) {
    return fail(Errc::not_found, fmt::format("initrd file {} not found", initrd_path));
  }
  BANGER_TRY_ASSIGN(auto image, sys::read_file(vmlinux_path));
  if (!is_x86_64_elf(image)) {
    return fail(Errc::invalid_argument,
                fmt::format("{} is not an x86_64 ELF vmlinux: import an uncompressed kernel "
                            "(`banger kernel pull` extracts one from a bzImage)",
                            vmlinux_path));
  }
  BANGER_TRY_ASSIGN(auto stage, store_.stage(claim));
  KernelManifest m{.name = name,
                   .distro = "unknown",
                   .arch = "x86_64",
                   .version = linux_version_in(image),
                   .sha256 = sys::sha256_hex(image),
                   .initrd_sha256 = {},
                   .source = std::move(source),
                   .imported_at = base::to_unix_seconds(deps_.clock.now()),
                   .package = {},
                   .package_version = {}};
  BANGER_TRY(sys::write_file_atomic(stage.dir() + "/vmlinux", image, 0644));
  image.clear();
  if (!initrd_path.empty()) {
    BANGER_TRY(copy_file(initrd_path, stage.dir() + "/initrd.img"));
    BANGER_TRY_ASSIGN(m.initrd_sha256, sys::sha256_file(stage.dir() + "/initrd.img"));
  }
  return publish(stage, m);
}

Expected<std::vector<model::Kernel>> KernelService::list() { return deps_.kernels.list(); }

Expected<model::Kernel> KernelService::show(const std::string& name) {
  BANGER_TRY(model::validate_kernel_name(name));
  return deps_.kernels.get(name);
}

Expected<KernelManifest> KernelService::manifest(const std::string& name) {
  BANGER_TRY_ASSIGN(auto kernel, show(name));
  const std::string path = dir_of(name) + "/manifest.json";
  BANGER_TRY_ASSIGN(auto text, sys::read_file(path));
  auto parsed = parse_manifest(text);
  if (!parsed) {
    return tl::unexpected(with_context(parsed.error(), path));
  }
  return parsed;
}

Status KernelService::verify(const std::string& name) {
  BANGER_TRY_ASSIGN(auto kernel, show(name));
  BANGER_TRY_ASSIGN(auto vmlinux_sha, sys::sha256_file(kernel.vmlinux_path));
  if (vmlinux_sha != kernel.sha256) {
    return fail(Errc::failed_precondition,
                fmt::format("kernel \"{}\" is corrupt: vmlinux sha256 is {}, expected {}", name,
                            vmlinux_sha, kernel.sha256));
  }
  if (!kernel.initrd_path.empty()) {
    BANGER_TRY_ASSIGN(auto m, manifest(name));
    BANGER_TRY_ASSIGN(auto initrd_sha, sys::sha256_file(kernel.initrd_path));
    if (initrd_sha != m.initrd_sha256) {
      return fail(Errc::failed_precondition,
                  fmt::format("kernel \"{}\" is corrupt: initrd.img sha256 is {}, expected {}",
                              name, initrd_sha, m.initrd_sha256));
    }
  }
  return {};
}

std::int64_t KernelService::size_bytes(const model::Kernel& kernel) {
  std::int64_t total = 0;
  for (const auto* path : {&kernel.vmlinux_path, &kernel.initrd_path}) {
    std::error_code ec;
    if (path->empty()) {
      continue;
    }
    auto size = fs::file_size(*path, ec);
    if (!ec) {
      total += static_cast<std::int64_t>(size);
    }
  }
  return total;
}

Status KernelService::remove(const std::string& name) {
  BANGER_TRY(model::validate_kernel_name(name));
  BANGER_TRY_ASSIGN(auto claim, store_.claim(name));
  BANGER_TRY(deps_.kernels.get(name));
  if (deps_.users_of) {
    BANGER_TRY_ASSIGN(auto users, deps_.users_of(name));
    if (!users.empty()) {
      return fail(Errc::failed_precondition,
                  fmt::format("kernel \"{}\" is used by: {}: delete those first", name,
                              base::join(users, ", ")));
    }
  }
  // Files first, record second: a crash in between leaves a record without files (dropped by
  // reconcile) rather than a live directory without a record (which reconcile would adopt).
  BANGER_TRY(store_.trash(claim));
  return deps_.kernels.remove(name);
}

}  // namespace banger::kernelcat
