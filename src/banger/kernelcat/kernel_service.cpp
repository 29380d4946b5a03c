#include "banger/kernelcat/kernel_service.hpp"

#include <fmt/format.h>
#include <stdlib.h>

#include <cerrno>
#include <filesystem>
#include <system_error>

#include "banger/base/defer.hpp"
#include "banger/base/expected.hpp"
#include "banger/base/log.hpp"
#include "banger/base/strings.hpp"
#include "banger/debpkg/debpkg.hpp"
#include "banger/kernelcat/cpio.hpp"
#include "banger/kernelcat/decompress.hpp"
#include "banger/kernelcat/initramfs_init.hpp"
#include "banger/kernelcat/modules_order.hpp"
#include "banger/kernelcat/sha256.hpp"
#include "banger/kernelcat/vmlinux_extract.hpp"
#include "banger/sys/fs.hpp"
#include "banger/toolingplan/toolingplan.hpp"

namespace banger::kernelcat {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kStagingSuffix = ".staging";
constexpr std::string_view kOldSuffix = ".old";
constexpr std::string_view kWorkPrefix = "kernel-";
constexpr auto kDepmodTimeout = std::chrono::minutes(2);

bool ends_with(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

bool starts_with(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

Status rename_path(const std::string& from, const std::string& to) {
  std::error_code ec;
  fs::rename(from, to, ec);
  if (ec) {
    return fail_errno(fmt::format("renaming {} to {}", from, to), ec.value());
  }
  return {};
}

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

// A fresh private directory downloads_dir/kernel-<name>-XXXXXX.
Expected<std::string> make_work_dir(const std::string& downloads_dir, const std::string& name) {
  BANGER_TRY(sys::make_dirs(downloads_dir));
  std::string pattern = fmt::format("{}/{}{}-XXXXXX", downloads_dir, kWorkPrefix, name);
  if (::mkdtemp(pattern.data()) == nullptr) {
    return fail_errno("creating a work directory in " + downloads_dir, errno);
  }
  return pattern;
}

Status copy_file(const std::string& from, const std::string& to) {
  std::error_code ec;
  fs::copy_file(from, to, fs::copy_options::overwrite_existing, ec);
  if (ec) {
    return fail_errno(fmt::format("copying {} to {}", from, to), ec.value());
  }
  fs::permissions(to, fs::perms(0644), ec);
  return {};
}

Error corrupt_package(const std::string& deb, const std::string& why) {
  return Error{Errc::invalid_argument,
               fmt::format("corrupt package {}: {}", fs::path(deb).filename().string(), why),
               0,
               {}};
}

}  // namespace

KernelService::KernelService(KernelServiceDeps deps) : deps_(std::move(deps)) {}

std::shared_ptr<std::mutex> KernelService::name_lock(const std::string& name) {
  std::lock_guard guard(locks_mutex_);
  auto& lock = locks_[name];
  if (!lock) {
    lock = std::make_shared<std::mutex>();
  }
  return lock;
}

Status KernelService::check_name(const std::string& name) const {
  BANGER_TRY(model::validate_kernel_name(name));
  if (ends_with(name, kStagingSuffix) || ends_with(name, kOldSuffix)) {
    return fail(Errc::invalid_argument,
                fmt::format("invalid kernel name \"{}\": names ending in .staging or .old are "
                            "reserved",
                            name));
  }
  return {};
}

std::string KernelService::dir_of(const std::string& name) const {
  return deps_.paths.kernels_dir + "/" + name;
}

std::vector<CatalogKernel> KernelService::list_available() const { return builtin_catalog(); }

Status KernelService::reconcile() {
  const std::string& root = deps_.paths.kernels_dir;
  BANGER_TRY(sys::make_dirs(root, 0700));
  std::vector<std::string> names;
  std::error_code ec;
  for (fs::directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
    names.push_back(it->path().filename().string());
  }
  if (ec) {
    return fail_errno("listing " + root, ec.value());
  }
  // Interrupted publications first: staging dirs are never live, .old dirs are restored when
  // the swap did not complete.
  for (const auto& name : names) {
    std::string path = root + "/" + name;
    if (ends_with(name, kStagingSuffix)) {
      BANGER_LOG_INFO("removing interrupted kernel work {}", path);
      BANGER_TRY(sys::remove_all(path));
    } else if (ends_with(name, kOldSuffix)) {
      std::string live = path.substr(0, path.size() - kOldSuffix.size());
      if (!sys::path_exists(live)) {
        BANGER_LOG_WARN("restoring {} from {} (an update was interrupted)", live, path);
        BANGER_TRY(rename_path(path, live));
      } else {
        BANGER_TRY(sys::remove_all(path));
      }
    }
  }
  // Pull work directories left by a daemon that died mid-pull.
  for (fs::directory_iterator it(deps_.paths.downloads_dir, ec), end; !ec && it != end;
       it.increment(ec)) {
    if (starts_with(it->path().filename().string(), kWorkPrefix)) {
      BANGER_TRY(sys::remove_all(it->path().string()));
    }
  }
  // Records without files.
  BANGER_TRY_ASSIGN(auto records, deps_.kernels.list());
  for (const auto& kernel : records) {
    if (!sys::path_exists(kernel.vmlinux_path)) {
      BANGER_LOG_WARN("dropping the record of kernel {}: {} is gone", kernel.name,
                      kernel.vmlinux_path);
      BANGER_TRY(deps_.kernels.remove(kernel.name));
    }
  }
  // Published directories without a record (the daemon stopped between rename and record).
  names.clear();
  for (fs::directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_directory(ec)) {
      names.push_back(it->path().filename().string());
    }
  }
  for (const auto& name : names) {
    if (deps_.kernels.get(name)) {
      continue;
    }
    std::string dir = root + "/" + name;
    auto text = sys::read_file(dir + "/manifest.json");
    auto manifest =
        text ? parse_manifest(*text) : Expected<KernelManifest>(tl::unexpected(text.error()));
    if (!manifest || manifest->name != name || !sys::path_exists(dir + "/vmlinux")) {
      BANGER_LOG_WARN("ignoring {}: not a complete kernel (no matching manifest.json and vmlinux)",
                      dir);
      continue;
    }
    BANGER_LOG_INFO("recording kernel {} from {}", name, dir + "/manifest.json");
    BANGER_TRY(deps_.kernels.insert(to_record(*manifest, dir)));
  }
  return {};
}

Expected<PullResult> KernelService::pull(const std::string& name, bool force,
                                         const base::ProgressFn& progress,
                                         const base::CancelFn& cancelled) {
  BANGER_TRY(check_name(name));
  BANGER_TRY_ASSIGN(auto entry, find_catalog_kernel(name));
  auto lock = name_lock(name);
  std::lock_guard guard(*lock);
  auto result = pull_locked(entry, force, progress, cancelled);
  if (!result) {
    return tl::unexpected(with_context(result.error(), "pulling kernel " + name));
  }
  return result;
}

Expected<PullResult> KernelService::pull_locked(const CatalogKernel& entry, bool force,
                                                const base::ProgressFn& progress,
                                                const base::CancelFn& cancelled) {
  const std::string& name = entry.name;
  auto check_cancelled = [&]() -> Status {
    if (base::is_cancelled(cancelled)) {
      return fail(Errc::cancelled, "cancelled");
    }
    return {};
  };
  for (const char* tool : {"apt-get", "depmod"}) {
    BANGER_TRY(toolingplan::require_tool(tool, deps_.find_tool));
  }

  base::report(progress, {.stage = "resolve", .message = "resolving " + entry.meta_package});
  BANGER_TRY_ASSIGN(auto package, debpkg::resolve_dependency(deps_.runner, entry.meta_package,
                                                             entry.package_prefix));
  const std::string release = package.substr(entry.package_prefix.size());
  BANGER_TRY_ASSIGN(auto package_version, debpkg::candidate_version(deps_.runner, package));
  const std::string source = fmt::format("{}: {} {}", name, package, package_version);
  base::report(progress, {.stage = "resolve", .message = source});

  // Caching: the same package version again is a no-op when the files are intact.
  if (auto existing = deps_.kernels.get(name); existing) {
    auto stored = manifest(name);
    bool ours = stored && !stored->package.empty() && starts_with(stored->source, name + ":");
    if (!ours && !force) {
      return fail(Errc::already_exists,
                  fmt::format("kernel \"{}\" exists and was not pulled from the catalog: remove "
                              "it with `banger kernel rm {}` or pull with --force",
                              name, name));
    }
    if (ours && !force && stored->package == package &&
        stored->package_version == package_version) {
      if (auto intact = verify(name); intact) {
        base::report(progress, {.stage = "publish",
                                .message = fmt::format("kernel {} is up to date ({} {})", name,
                                                       package, package_version)});
        return PullResult{*existing, true};
      } else {
        BANGER_LOG_WARN("rebuilding kernel {}: {}", name, intact.error().message);
      }
    }
  }
  BANGER_TRY(check_cancelled());

  BANGER_TRY_ASSIGN(auto work, make_work_dir(deps_.paths.downloads_dir, name));
  base::Defer remove_work([&] {
    if (auto removed = sys::remove_all(work); !removed) {
      BANGER_LOG_WARN("leaving {}: {}", work, removed.error().message);
    }
  });
  BANGER_TRY(sys::make_dirs(deps_.paths.kernels_dir, 0700));
  const std::string staging = dir_of(name) + std::string(kStagingSuffix);
  BANGER_TRY(sys::remove_all(staging));
  BANGER_TRY(sys::make_dirs(staging, 0755));
  base::Defer remove_staging([&] {
    if (auto removed = sys::remove_all(staging); !removed) {
      BANGER_LOG_WARN("leaving {}: {}", staging, removed.error().message);
    }
  });

  // Download.
  const std::string debs_dir = work + "/debs";
  BANGER_TRY(sys::make_dirs(debs_dir));
  BANGER_TRY_ASSIGN(auto debs, debpkg::download(deps_.runner, {package, entry.busybox_package},
                                                debs_dir, progress));
  BANGER_TRY(check_cancelled());

  // Extract.
  const std::string kernel_root = work + "/kernel";
  const std::string busybox_root = work + "/busybox";
  base::report(progress, {.stage = "extract", .message = "unpacking " + package});
  BANGER_TRY(debpkg::extract_deb(debs[0], kernel_root));
  base::report(progress, {.stage = "extract", .message = "unpacking " + entry.busybox_package});
  BANGER_TRY(debpkg::extract_deb(debs[1], busybox_root));
  BANGER_TRY(check_cancelled());

  // vmlinux.
  base::report(progress,
               {.stage = "vmlinux", .message = "extracting vmlinux from vmlinuz-" + release});
  auto bzimage = sys::read_file(kernel_root + "/boot/vmlinuz-" + release);
  if (!bzimage) {
    return tl::unexpected(corrupt_package(debs[0], "no boot/vmlinuz-" + release));
  }
  auto vmlinux = extract_vmlinux(*bzimage);
  if (!vmlinux) {
    return tl::unexpected(corrupt_package(debs[0], vmlinux.error().message));
  }
  bzimage->clear();
  BANGER_TRY(sys::write_file_atomic(staging + "/vmlinux", *vmlinux, 0644));
  base::report(progress, {.stage = "vmlinux",
                          .message = fmt::format("{} bytes", vmlinux->size()),
                          .done = static_cast<std::int64_t>(vmlinux->size()),
                          .total = static_cast<std::int64_t>(vmlinux->size())});
  vmlinux->clear();
  BANGER_TRY(check_cancelled());

  // Modules in dependency order (depmod computes modules.dep on the unpacked tree).
  base::report(progress, {.stage = "initramfs", .message = "ordering modules with depmod"});
  std::string depmod_base = kernel_root;
  if (!is_dir(kernel_root + "/lib/modules/" + release) &&
      is_dir(kernel_root + "/usr/lib/modules/" + release)) {
    depmod_base = kernel_root + "/usr";  // a usr-merged package
  }
  const std::string modules_dir = depmod_base + "/lib/modules/" + release;
  if (!is_dir(modules_dir)) {
    return tl::unexpected(corrupt_package(debs[0], "no lib/modules/" + release));
  }
  sys::Command depmod{.argv = {deps_.find_tool("depmod"), "-b", depmod_base, release},
                      .timeout = kDepmodTimeout};
  BANGER_TRY(sys::run_checked(deps_.runner, depmod));
  BANGER_TRY_ASSIGN(auto modules_dep, sys::read_file(modules_dir + "/modules.dep"));
  std::vector<std::string> wanted(kInitramfsModules.begin(), kInitramfsModules.end());
  auto order = modules_load_order(modules_dep, wanted);

  auto busybox = busybox_root + "/bin/busybox";
  if (!sys::path_exists(busybox)) {
    return tl::unexpected(corrupt_package(debs[1], "no bin/busybox"));
  }
  std::vector<CpioEntry> entries = {
      CpioEntry::dir("bin"),
      CpioEntry::dir("dev"),
      CpioEntry::dir("proc"),
      CpioEntry::dir("sys"),
      CpioEntry::dir("newroot"),
      CpioEntry::dir("lib"),
      CpioEntry::dir("lib/modules"),
      CpioEntry::host_file("bin/busybox", busybox, 0755),
      CpioEntry::file("init", std::string(initramfs_init_script()), 0755),
      CpioEntry::char_device("dev/console", 5, 1, 0600),
  };
  std::string load_order;
  for (const auto& relative : order) {
    auto content = read_decompressed(modules_dir + "/" + relative);
    if (!content) {
      return tl::unexpected(corrupt_package(debs[0], content.error().message));
    }
    std::string file = module_file_name(relative);
    entries.push_back(CpioEntry::file("lib/modules/" + file, std::move(*content), 0644));
    load_order += file + "\n";
  }
  entries.push_back(CpioEntry::file(std::string(kModulesLoadOrderPath), load_order, 0644));
  BANGER_TRY(write_initramfs(staging + "/initrd.img", entries));
  base::report(progress, {.stage = "initramfs",
                          .message = fmt::format("busybox + {} modules", order.size()),
                          .done = static_cast<std::int64_t>(order.size()),
                          .total = static_cast<std::int64_t>(order.size())});
  BANGER_TRY(check_cancelled());

  // Publish.
  base::report(progress, {.stage = "publish", .message = "publishing kernel " + name});
  KernelManifest m{.name = name,
                   .distro = entry.distro,
                   .arch = entry.arch,
                   .version = release,
                   .sha256 = {},
                   .initrd_sha256 = {},
                   .source = source,
                   .imported_at = base::to_unix_seconds(deps_.clock.now()),
                   .package = package,
                   .package_version = package_version};
  BANGER_TRY_ASSIGN(m.sha256, sha256_file(staging + "/vmlinux"));
  BANGER_TRY_ASSIGN(m.initrd_sha256, sha256_file(staging + "/initrd.img"));
  BANGER_TRY(sys::write_file_atomic(staging + "/manifest.json", to_json(m), 0644));
  BANGER_TRY_ASSIGN(auto kernel, publish(staging, m));
  return PullResult{std::move(kernel), false};
}

Expected<model::Kernel> KernelService::publish(const std::string& staging,
                                               const KernelManifest& manifest) {
  const std::string live = dir_of(manifest.name);
  const std::string old = live + std::string(kOldSuffix);
  BANGER_TRY(sys::remove_all(old));
  bool replaced = false;
  if (sys::path_exists(live)) {
    BANGER_TRY(rename_path(live, old));
    replaced = true;
  }
  if (auto moved = rename_path(staging, live); !moved) {
    if (replaced) {
      (void)rename_path(old, live);
    }
    return tl::unexpected(moved.error());
  }
  model::Kernel record = to_record(manifest, live);
  Status recorded = deps_.kernels.get(manifest.name) ? deps_.kernels.update(record)
                                                     : deps_.kernels.insert(record);
  if (!recorded) {
    // The files are complete; reconcile() records them from the manifest at the next start.
    return tl::unexpected(with_context(recorded.error(), "recording kernel " + manifest.name));
  }
  if (replaced) {
    if (auto removed = sys::remove_all(old); !removed) {
      BANGER_LOG_WARN("leaving {}: {}", old, removed.error().message);
    }
  }
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
  auto lock = name_lock(name);
  std::lock_guard guard(*lock);
  return import_locked(name, from_dir + "/vmlinux", initrd, "import:" + from_dir);
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
  auto lock = name_lock(name);
  std::lock_guard guard(*lock);
  return import_locked(name, vmlinux_path, initrd_path, "import:" + vmlinux_path);
}

Expected<model::Kernel> KernelService::import_locked(const std::string& name,
                                                     const std::string& vmlinux_path,
                                                     const std::string& initrd_path,
                                                     std::string source) {
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
  BANGER_TRY(sys::make_dirs(deps_.paths.kernels_dir, 0700));
  const std::string staging = dir_of(name) + std::string(kStagingSuffix);
  BANGER_TRY(sys::remove_all(staging));
  BANGER_TRY(sys::make_dirs(staging, 0755));
  base::Defer remove_staging([&] { (void)sys::remove_all(staging); });

  KernelManifest m{.name = name,
                   .distro = "unknown",
                   .arch = "x86_64",
                   .version = linux_version_in(image),
                   .sha256 = sha256_hex(image),
                   .initrd_sha256 = {},
                   .source = std::move(source),
                   .imported_at = base::to_unix_seconds(deps_.clock.now()),
                   .package = {},
                   .package_version = {}};
  BANGER_TRY(sys::write_file_atomic(staging + "/vmlinux", image, 0644));
  image.clear();
  if (!initrd_path.empty()) {
    BANGER_TRY(copy_file(initrd_path, staging + "/initrd.img"));
    BANGER_TRY_ASSIGN(m.initrd_sha256, sha256_file(staging + "/initrd.img"));
  }
  BANGER_TRY(sys::write_file_atomic(staging + "/manifest.json", to_json(m), 0644));
  return publish(staging, m);
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
  BANGER_TRY_ASSIGN(auto vmlinux_sha, sha256_file(kernel.vmlinux_path));
  if (vmlinux_sha != kernel.sha256) {
    return fail(Errc::failed_precondition,
                fmt::format("kernel \"{}\" is corrupt: vmlinux sha256 is {}, expected {}", name,
                            vmlinux_sha, kernel.sha256));
  }
  if (!kernel.initrd_path.empty()) {
    BANGER_TRY_ASSIGN(auto m, manifest(name));
    BANGER_TRY_ASSIGN(auto initrd_sha, sha256_file(kernel.initrd_path));
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
  auto lock = name_lock(name);
  std::lock_guard guard(*lock);
  BANGER_TRY(deps_.kernels.get(name));
  if (deps_.users_of) {
    BANGER_TRY_ASSIGN(auto users, deps_.users_of(name));
    if (!users.empty()) {
      return fail(Errc::failed_precondition,
                  fmt::format("kernel \"{}\" is used by: {}: delete those first", name,
                              base::join(users, ", ")));
    }
  }
  // Move the files out of the live name first, so a crash leaves a staging dir (removed by
  // reconcile) rather than a live directory without a record (which reconcile would record).
  const std::string live = dir_of(name);
  const std::string doomed = live + std::string(kStagingSuffix);
  BANGER_TRY(sys::remove_all(doomed));
  if (sys::path_exists(live)) {
    BANGER_TRY(rename_path(live, doomed));
  }
  BANGER_TRY(deps_.kernels.remove(name));
  BANGER_TRY(sys::remove_all(doomed));
  return {};
}

}  // namespace banger::kernelcat
