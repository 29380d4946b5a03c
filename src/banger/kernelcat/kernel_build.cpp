// KernelService::build (`kernel build`, SPEC S10) and the helpers of kernel_build.hpp.
#include "banger/kernelcat/kernel_build.hpp"

#include <fmt/format.h>
#include <stdlib.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <thread>
#include <tuple>

#include "banger/base/defer.hpp"
#include "banger/base/expected.hpp"
#include "banger/base/log.hpp"
#include "banger/base/printable.hpp"
#include "banger/base/strings.hpp"
#include "banger/debpkg/debpkg.hpp"
#include "banger/hosttools/hosttools.hpp"
#include "banger/kernelcat/kbuild_progress.hpp"
#include "banger/kernelcat/kernel_config.hpp"
#include "banger/kernelcat/kernel_service.hpp"
#include "banger/kernelcat/kernel_work.hpp"
#include "banger/kernelcat/vmlinux_extract.hpp"
#include "banger/sys/fs.hpp"
#include "banger/sys/sha256.hpp"
#include "banger/unpack/tar.hpp"

namespace banger::kernelcat {

namespace fs = std::filesystem;

std::string build_key(std::string_view source_identity, std::string_view merged_config) {
  // Bump the recipe version when the build steps change what comes out for the same inputs.
  return sys::sha256_hex(
      fmt::format("banger kernel build 1\n{}\n{}", source_identity, merged_config));
}

bool is_built_kernel(const model::Kernel& kernel) {
  return kernel.source.starts_with(kBuildSourcePrefix);
}

Expected<std::string> find_source_root(const std::string& dir, std::string_view shown) {
  auto is_tree = [](const fs::path& root) {
    std::error_code ec;
    return fs::is_regular_file(root / "Makefile", ec) &&
           fs::is_regular_file(root / "Kconfig", ec) && fs::is_directory(root / "arch" / "x86", ec);
  };
  if (is_tree(dir)) {
    return dir;
  }
  std::vector<fs::path> subdirs;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_directory(ec) && !it->is_symlink(ec)) {
      subdirs.push_back(it->path());
    }
  }
  if (subdirs.size() == 1 && is_tree(subdirs.front())) {
    return subdirs.front().string();
  }
  return fail(Errc::invalid_argument,
              fmt::format("{} is not a Linux source tree: expected one top-level directory "
                          "holding Makefile, Kconfig and arch/x86",
                          shown));
}

namespace {

// Build-cache entries kept (each a ~40 MB vmlinux plus its .config).
constexpr std::size_t kMaxCachedBuilds = 3;
// Free space the work directory needs (the unpacked tree and the objects of a vmlinux build).
constexpr std::uint64_t kWorkSpaceBytes = std::uint64_t{4} << 30;
constexpr auto kConfigureTimeout = std::chrono::minutes(10);
constexpr auto kCompileTimeout = std::chrono::hours(4);
constexpr std::string_view kSourceMeta = "linux-source";
constexpr std::string_view kSourcePrefix = "linux-source-";
// Host tools of a vmlinux build (objtool also needs libelf-dev's headers: make says so).
constexpr std::string_view kBuildTools[] = {"make", "gcc", "flex", "bison", "bc"};

// What is compiled: the source's identity and how to get the tree.
struct BuildSource {
  std::string identity;  // "linux-source-6.1 6.1.192-3" / "linux-6.1.9.tar.xz sha256:<hex>"
  std::string package;   // "linux-source-6.1" / "linux-6.1.9.tar.xz" (the manifest's package)
  std::string version;   // "6.1.192-3" / the tarball's sha256
  std::string tarball;   // "" for debian-source (downloaded), else the absolute path
};

// The config: base + banger's additions, and how the user named the base.
struct BuildConfig {
  std::string merged;
  std::string label;  // "firecracker" / the file's path
};

// A finished vmlinux in the build cache.
struct CachedBuild {
  std::string vmlinux;
  std::string release;
};

Status check_spec(const KernelBuildSpec& spec) {
  if (spec.from != kDebianSource && (spec.from.empty() || spec.from.front() != '/')) {
    return fail(Errc::invalid_argument,
                fmt::format("--from \"{}\": expected debian-source or an absolute path to a "
                            "Linux source tarball",
                            base::printable(spec.from, 120)));
  }
  if (spec.config != kFirecrackerConfigName &&
      (spec.config.empty() || spec.config.front() != '/')) {
    return fail(Errc::invalid_argument,
                fmt::format("--config \"{}\": expected firecracker or an absolute path to a "
                            "kernel config file",
                            base::printable(spec.config, 120)));
  }
  if (spec.jobs < 0 || spec.jobs > 256) {
    return fail(Errc::invalid_argument,
                fmt::format("--jobs {}: expected 1 to 256 (0 = one per CPU)", spec.jobs));
  }
  return {};
}

Expected<BuildSource> resolve_source(sys::CommandRunner& runner, const std::string& from,
                                     const base::ProgressFn& progress) {
  if (from == kDebianSource) {
    base::report(progress, {.stage = "resolve", .message = "resolving linux-source"});
    BANGER_TRY_ASSIGN(auto package, debpkg::resolve_dependency(runner, std::string(kSourceMeta),
                                                               std::string(kSourcePrefix)));
    BANGER_TRY_ASSIGN(auto version, debpkg::candidate_version(runner, package));
    BuildSource out{.identity = package + " " + version, .package = package, .version = version};
    base::report(progress, {.stage = "resolve", .message = out.identity});
    return out;
  }
  std::error_code ec;
  if (!fs::is_regular_file(from, ec)) {
    return fail(Errc::not_found, fmt::format("kernel source tarball {} not found", from));
  }
  base::report(progress, {.stage = "resolve", .message = "hashing " + from});
  BANGER_TRY_ASSIGN(auto sha, sys::sha256_file(from));
  const std::string name = fs::path(from).filename().string();
  return BuildSource{.identity = fmt::format("{} sha256:{}", name, sha),
                     .package = name,
                     .version = sha,
                     .tarball = from};
}

Expected<BuildConfig> load_config(const std::string& config) {
  if (config == kFirecrackerConfigName) {
    return BuildConfig{.merged = merge_config(firecracker_guest_config()), .label = config};
  }
  std::error_code ec;
  if (!fs::is_regular_file(config, ec)) {
    return fail(Errc::not_found, fmt::format("kernel config {} not found", config));
  }
  BANGER_TRY_ASSIGN(auto text, sys::read_file(config));
  BANGER_TRY(check_base_config(text, config));
  return BuildConfig{.merged = merge_config(text), .label = config};
}

Status check_free_space(const std::string& dir) {
  struct statvfs st{};
  if (::statvfs(dir.c_str(), &st) != 0) {
    return {};  // not knowing is not a reason to refuse; make reports a full disk itself
  }
  const std::uint64_t available = std::uint64_t{st.f_bavail} * st.f_frsize;
  if (available < kWorkSpaceBytes) {
    return fail(Errc::failed_precondition,
                fmt::format("kernel build needs about {} GiB free in {}: {} MiB available",
                            kWorkSpaceBytes >> 30, dir, available >> 20));
  }
  return {};
}

// The cache entry for key when it holds an ELF vmlinux and its release.
std::optional<CachedBuild> find_cached(const std::string& cache_dir, const std::string& key) {
  const std::string dir = cache_dir + "/" + key;
  auto release = sys::read_file(dir + "/release");
  if (!release || base::trim(*release).empty()) {
    return std::nullopt;
  }
  auto vmlinux = sys::read_file(dir + "/vmlinux");
  if (!vmlinux || !is_x86_64_elf(*vmlinux)) {
    return std::nullopt;
  }
  return CachedBuild{.vmlinux = dir + "/vmlinux", .release = std::string(base::trim(*release))};
}

// Keeps the newest kMaxCachedBuilds entries (by modification time); failures are logged.
void prune_cache(const std::string& cache_dir) {
  std::vector<std::pair<fs::file_time_type, fs::path>> entries;
  std::error_code ec;
  for (fs::directory_iterator it(cache_dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code time_ec;
    auto when = fs::last_write_time(it->path(), time_ec);
    if (!time_ec) {
      entries.emplace_back(when, it->path());
    }
  }
  std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) { return a > b; });
  for (std::size_t i = kMaxCachedBuilds; i < entries.size(); ++i) {
    if (auto removed = sys::remove_all(entries[i].second.string()); !removed) {
      BANGER_LOG_WARN("kernel build cache: leaving {}: {}", entries[i].second.string(),
                      removed.error().message);
    }
  }
}

// Publishes a build into the cache atomically: a private directory renamed to <key>.
Expected<CachedBuild> store_in_cache(const std::string& cache_dir, const std::string& key,
                                     const std::string& vmlinux, const std::string& release,
                                     const std::string& resolved_config) {
  BANGER_TRY(sys::make_dirs(cache_dir));
  std::string temp = fmt::format("{}/.{}-XXXXXX", cache_dir, key.substr(0, 12));
  if (::mkdtemp(temp.data()) == nullptr) {
    return fail_errno("creating a directory in " + cache_dir, errno);
  }
  base::Defer remove_temp([&] { (void)sys::remove_all(temp); });
  BANGER_TRY(copy_file(vmlinux, temp + "/vmlinux"));
  BANGER_TRY(sys::write_file_atomic(temp + "/release", release + "\n", 0644));
  BANGER_TRY(sys::write_file_atomic(temp + "/config", resolved_config, 0644));
  const std::string dir = cache_dir + "/" + key;
  (void)sys::remove_all(dir);  // a broken entry of the same key
  std::error_code ec;
  fs::rename(temp, dir, ec);
  if (ec) {
    return fail_errno(fmt::format("renaming {} to {}", temp, dir), ec.value());
  }
  prune_cache(cache_dir);
  return CachedBuild{.vmlinux = dir + "/vmlinux", .release = release};
}

// Unpacks the source into work/src and returns the tree's root.
Expected<std::string> unpack_source(sys::CommandRunner& runner, const BuildSource& source,
                                    const std::string& work, const base::ProgressFn& progress,
                                    const base::CancelFn& cancelled) {
  std::string tarball = source.tarball;
  if (tarball.empty()) {
    const std::string debs = work + "/debs";
    BANGER_TRY(sys::make_dirs(debs));
    BANGER_TRY_ASSIGN(auto downloaded, debpkg::download(runner, {source.package}, debs, progress));
    BANGER_TRY(check_cancelled(cancelled));
    base::report(progress, {.stage = "extract", .message = "unpacking " + source.package});
    BANGER_TRY(debpkg::extract_deb(downloaded.front(), work + "/package"));
    tarball = fmt::format("{}/package/usr/src/{}.tar.xz", work, source.package);
    if (!sys::path_exists(tarball)) {
      return fail(Errc::invalid_argument, fmt::format("corrupt package {}: no usr/src/{}.tar.xz",
                                                      source.package, source.package));
    }
  }
  const std::string shown = fs::path(tarball).filename().string();
  base::report(progress, {.stage = "extract", .message = "extracting " + shown});
  std::int64_t entries = 0;
  auto count = [&](const unpack::Entry&, const std::string&) -> Expected<unpack::EntryAction> {
    if (++entries % 5000 == 0) {
      BANGER_TRY(check_cancelled(cancelled));
      base::report(progress, {.stage = "extract",
                              .message = fmt::format("extracting {}: {} files", shown, entries),
                              .done = entries});
    }
    return unpack::EntryAction::extract;
  };
  const std::string src = work + "/src";
  BANGER_TRY(unpack::extract_tar_file(tarball, src,
                                      {.kind = "kernel source", .name = shown, .on_entry = count}));
  BANGER_TRY(check_cancelled(cancelled));
  return find_source_root(src, shown);
}

sys::Command make_command(const std::string& root, const std::string& out,
                          std::vector<std::string> targets, std::chrono::milliseconds timeout) {
  sys::Command command{.argv = {"make", "-C", root, "O=" + out}, .timeout = timeout};
  command.argv.insert(command.argv.end(), targets.begin(), targets.end());
  // Messages in English for the error tails; a fixed build user/host instead of this host's.
  command.env_overrides = {
      {"LC_ALL", "C"}, {"KBUILD_BUILD_USER", "banger"}, {"KBUILD_BUILD_HOST", "banger"}};
  return command;
}

Error make_failed(const std::string& step, const Error& error) {
  if (error.code != Errc::command_failed) {
    return with_context(error, step);
  }
  // make's stderr ends with what went wrong; warnings before it are noise here.
  return Error{Errc::command_failed,
               fmt::format("{} failed:\n{}", step, base::printable_lines(error.message, 20, 300)),
               0,
               {}};
}

// olddefconfig on the merged config, then the required-builtins check. Returns the resolved
// .config.
Expected<std::string> configure(sys::CommandRunner& runner, const std::string& root,
                                const std::string& out, const BuildConfig& config,
                                const base::ProgressFn& progress) {
  base::report(progress,
               {.stage = "configure", .message = "configuring (" + config.label + " + banger)"});
  BANGER_TRY(sys::make_dirs(out));
  BANGER_TRY(sys::write_file_atomic(out + "/.config", config.merged, 0644));
  if (auto ran =
          sys::run_checked(runner, make_command(root, out, {"olddefconfig"}, kConfigureTimeout));
      !ran) {
    return tl::unexpected(make_failed("make olddefconfig", ran.error()));
  }
  BANGER_TRY_ASSIGN(auto resolved, sys::read_file(out + "/.config"));
  BANGER_TRY(check_required_builtins(resolved));
  return resolved;
}

Status compile(sys::CommandRunner& runner, const std::string& root, const std::string& out,
               int jobs, const base::ProgressFn& progress, const base::CancelFn& cancelled) {
  base::report(progress,
               {.stage = "compile", .message = fmt::format("make -j{} vmlinux (minutes)", jobs)});
  KbuildProgress steps;
  auto last_report = std::chrono::steady_clock::now();
  auto command = make_command(root, out, {fmt::format("-j{}", jobs), "vmlinux"}, kCompileTimeout);
  command.on_stdout = [&](std::string_view chunk) {
    if (steps.feed(chunk)) {
      const auto now = std::chrono::steady_clock::now();
      if (now - last_report >= std::chrono::milliseconds(500)) {
        last_report = now;
        base::report(progress, {.stage = "compile",
                                .message = fmt::format("{} objects compiled ({})", steps.compiled(),
                                                       steps.last_step()),
                                .done = static_cast<std::int64_t>(steps.compiled())});
      }
    }
    return !base::is_cancelled(cancelled);
  };
  auto ran = sys::run_checked(runner, command);
  if (!ran) {
    return tl::unexpected(ran.error().code == Errc::cancelled
                              ? Error{Errc::cancelled, "cancelled", 0, {}}
                              : make_failed("make vmlinux", ran.error()));
  }
  base::report(progress,
               {.stage = "compile",
                .message = fmt::format("vmlinux linked ({} objects compiled)", steps.compiled()),
                .done = static_cast<std::int64_t>(steps.compiled()),
                .total = static_cast<std::int64_t>(steps.compiled())});
  return {};
}

// Downloads/extracts the source, configures, compiles and stores the result in the cache.
Expected<CachedBuild> compile_into_cache(const KernelServiceDeps& deps, const std::string& name,
                                         const BuildSource& source, const BuildConfig& config,
                                         const std::string& key, int jobs,
                                         const base::ProgressFn& progress,
                                         const base::CancelFn& cancelled) {
  BANGER_TRY(sys::make_dirs(deps.paths.downloads_dir));
  BANGER_TRY(check_free_space(deps.paths.downloads_dir));
  BANGER_TRY_ASSIGN(auto work, make_work_dir(deps.paths.downloads_dir, name));
  base::Defer remove_work([&] { remove_work_dir(work); });
  BANGER_TRY_ASSIGN(auto root, unpack_source(deps.runner, source, work, progress, cancelled));
  const std::string out = work + "/out";
  BANGER_TRY_ASSIGN(auto resolved, configure(deps.runner, root, out, config, progress));
  BANGER_TRY(check_cancelled(cancelled));
  BANGER_TRY(compile(deps.runner, root, out, jobs, progress, cancelled));
  auto release = sys::run_checked(
      deps.runner, make_command(root, out, {"-s", "kernelrelease"}, kConfigureTimeout));
  if (!release) {
    return tl::unexpected(make_failed("make kernelrelease", release.error()));
  }
  BANGER_TRY_ASSIGN(auto image, sys::read_file(out + "/vmlinux"));
  if (!is_x86_64_elf(image)) {
    return fail(Errc::invalid_argument,
                "make vmlinux did not produce an x86_64 ELF vmlinux (is the config for x86_64?)");
  }
  return store_in_cache(deps.paths.kernel_builds_dir, key, out + "/vmlinux",
                        std::string(base::trim(*release)), resolved);
}

}  // namespace

Expected<std::optional<model::Kernel>> KernelService::built_up_to_date(const std::string& name,
                                                                       const std::string& key,
                                                                       bool force) {
  auto existing = deps_.kernels.get(name);
  if (!existing) {
    return std::nullopt;
  }
  auto stored = manifest(name);
  const bool built = stored && !stored->build_key.empty();
  if (!built && !force) {
    return fail(Errc::already_exists,
                fmt::format("kernel \"{}\" exists and was not made by `kernel build`: remove it "
                            "with `banger kernel rm {}` or build with --force",
                            name, name));
  }
  if (!built || force || stored->build_key != key) {
    return std::nullopt;
  }
  if (auto intact = verify(name); !intact) {
    BANGER_LOG_WARN("rebuilding kernel {}: {}", name, intact.error().message);
    return std::nullopt;
  }
  return *existing;
}

Expected<std::optional<std::string>> KernelService::newest_built_kernel() {
  BANGER_TRY_ASSIGN(auto kernels, deps_.kernels.list());
  const model::Kernel* newest = nullptr;
  for (const auto& kernel : kernels) {
    if (is_built_kernel(kernel) &&
        (newest == nullptr ||
         std::tie(kernel.imported_at, kernel.name) > std::tie(newest->imported_at, newest->name))) {
      newest = &kernel;
    }
  }
  return newest == nullptr ? std::nullopt : std::optional<std::string>(newest->name);
}

Expected<PullResult> KernelService::build(const KernelBuildSpec& spec,
                                          const base::ProgressFn& progress,
                                          const base::CancelFn& cancelled) {
  BANGER_TRY(check_name(spec.name));
  BANGER_TRY(check_spec(spec));
  const int jobs = spec.jobs > 0
                       ? spec.jobs
                       : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  auto built = store_.claim(spec.name).and_then([&](const Claim& claim) -> Expected<PullResult> {
    if (spec.from == kDebianSource) {
      BANGER_TRY(hosttools::require_tool("apt-get", deps_.find_tool));
    }
    for (auto tool : kBuildTools) {
      BANGER_TRY(hosttools::require_tool(std::string(tool), deps_.find_tool));
    }
    BANGER_TRY_ASSIGN(auto config, load_config(spec.config));
    BANGER_TRY_ASSIGN(auto source, resolve_source(deps_.runner, spec.from, progress));
    const std::string key = build_key(source.identity, config.merged);
    BANGER_TRY_ASSIGN(auto current, built_up_to_date(spec.name, key, spec.force));
    if (current) {
      base::report(progress, {.stage = "publish",
                              .message = fmt::format("kernel {} is up to date ({})", spec.name,
                                                     source.identity)});
      return PullResult{.kernel = std::move(*current), .up_to_date = true};
    }
    BANGER_TRY(check_cancelled(cancelled));
    auto cached = spec.force ? std::nullopt : find_cached(deps_.paths.kernel_builds_dir, key);
    const bool from_cache = cached.has_value();
    if (cached) {
      base::report(progress,
                   {.stage = "compile", .message = "using the cached build of " + source.identity});
    } else {
      BANGER_TRY_ASSIGN(cached, compile_into_cache(deps_, spec.name, source, config, key, jobs,
                                                   progress, cancelled));
    }
    BANGER_TRY(check_cancelled(cancelled));
    base::report(progress, {.stage = "publish", .message = "publishing kernel " + spec.name});
    BANGER_TRY_ASSIGN(auto stage, store_.stage(claim));
    BANGER_TRY(copy_file(cached->vmlinux, stage.dir() + "/vmlinux"));
    KernelManifest m{
        .name = spec.name,
        .distro = "linux",
        .arch = "x86_64",
        .version = cached->release,
        .sha256 = {},
        .initrd_sha256 = {},
        .source = fmt::format("{}{}, config {}", kBuildSourcePrefix, source.identity, config.label),
        .imported_at = base::to_unix_seconds(deps_.clock.now()),
        .package = source.package,
        .package_version = source.version,
        .bundle_sha256 = {},
        .build_key = key};
    BANGER_TRY_ASSIGN(m.sha256, sys::sha256_file(stage.dir() + "/vmlinux"));
    BANGER_TRY_ASSIGN(auto kernel, publish(stage, m));
    return PullResult{.kernel = std::move(kernel), .up_to_date = false, .from_cache = from_cache};
  });
  if (!built) {
    return tl::unexpected(with_context(built.error(), "building kernel " + spec.name));
  }
  return built;
}

}  // namespace banger::kernelcat
