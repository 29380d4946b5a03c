#include "banger/imagecat/image_service.hpp"

#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <system_error>

#include "banger/base/defer.hpp"
#include "banger/base/expected.hpp"
#include "banger/base/log.hpp"
#include "banger/base/strings.hpp"
#include "banger/debpkg/debpkg.hpp"
#include "banger/ext4/editor.hpp"
#include "banger/ext4/image_builder.hpp"
#include "banger/imagecat/manifest.hpp"
#include "banger/imagecat/rootfs_layout.hpp"
#include "banger/sys/fs.hpp"
#include "banger/toolingplan/toolingplan.hpp"

namespace banger::imagecat {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kStagingSuffix = ".staging";
constexpr std::string_view kRootfsFile = "rootfs.ext4";
constexpr std::string_view kWorkSeedFile = "work-seed.ext4";
constexpr std::string_view kManifestFile = "manifest.json";
// The tiny image: at least 64 MiB, with 16 MiB beyond content x 1.5 for logs and keys.
constexpr std::uint64_t kTinyMinMib = 64;
constexpr std::uint64_t kTinySlackMib = 16;
// Debian images: content x 1.5, at least 1 GiB (S11).
constexpr std::uint64_t kDebianMinMib = 1024;

bool ends_with(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

// Mount points at or below path (an interrupted mmdebstrap may leave proc/sys/dev mounted in
// its tree); removing through them could delete host files.
std::vector<std::string> mounts_below(const std::string& path) {
  std::vector<std::string> out;
  auto text = sys::read_file("/proc/self/mountinfo");
  if (!text) {
    return out;
  }
  for (const auto& line : base::split(*text, '\n')) {
    auto fields = base::split(line, ' ');
    if (fields.size() < 5) {
      continue;
    }
    const std::string& mount_point = fields[4];
    if (mount_point == path || mount_point.rfind(path + "/", 0) == 0) {
      out.push_back(mount_point);
    }
  }
  return out;
}

// rm -rf that refuses to descend into a tree with mounts below it.
Status remove_tree(const std::string& path) {
  if (auto mounts = mounts_below(path); !mounts.empty()) {
    return fail(Errc::failed_precondition,
                fmt::format("not removing {}: {} is mounted below it (an interrupted build may "
                            "still run); unmount it first",
                            path, mounts.front()));
  }
  return sys::remove_all(path);
}

Status rename_path(const std::string& from, const std::string& to) {
  std::error_code ec;
  fs::rename(from, to, ec);
  if (ec) {
    return fail(Errc::io, fmt::format("renaming {} to {}: {}", from, to, ec.message()));
  }
  return {};
}

std::int64_t file_size(const std::string& path) {
  std::error_code ec;
  auto size = fs::file_size(path, ec);
  return ec ? 0 : static_cast<std::int64_t>(size);
}

bool is_regular_file(const std::string& path) {
  std::error_code ec;
  return fs::is_regular_file(path, ec);
}

Status check_cancel(const base::CancelFn& cancel) {
  if (base::is_cancelled(cancel)) {
    return fail(Errc::cancelled, "image build cancelled");
  }
  return {};
}

Status require_tools(const std::function<std::string(const std::string&)>& find,
                     std::initializer_list<const char*> tools) {
  for (const char* tool : tools) {
    BANGER_TRY(toolingplan::require_tool(tool, find));
  }
  return {};
}

}  // namespace

ImageService::NameClaim::~NameClaim() {
  if (busy_ != nullptr) {
    busy_->with_lock([&](std::set<std::string>& busy) { busy.erase(name_); });
  }
}

ImageService::ImageService(ImageServiceDeps deps) : deps_(std::move(deps)) {
  if (!deps_.find_tool) {
    deps_.find_tool = sys::find_executable;
  }
}

Expected<ImageService::NameClaim> ImageService::claim(const std::string& name) {
  bool taken =
      busy_.with_lock([&](std::set<std::string>& busy) { return !busy.insert(name).second; });
  if (taken) {
    return fail(Errc::failed_precondition,
                fmt::format("image \"{}\" is busy: another build, promote or delete of it is "
                            "running",
                            name));
  }
  return NameClaim(busy_, name);
}

std::string ImageService::image_dir(const std::string& name) const {
  return deps_.paths.images_dir + "/" + name;
}

std::string ImageService::staging_dir(const std::string& name) const {
  return deps_.paths.images_dir + "/" + name + std::string(kStagingSuffix);
}

std::string ImageService::trash_dir() const { return deps_.paths.images_dir + ".trash"; }

Status ImageService::move_to_trash(const std::string& path) {
  static std::atomic<std::uint64_t> counter{0};
  BANGER_TRY(sys::make_dirs(trash_dir(), 0700));
  std::string target = fmt::format("{}/{}-{}-{}", trash_dir(), fs::path(path).filename().string(),
                                   deps_.clock.steady_now().time_since_epoch().count(), counter++);
  BANGER_TRY(rename_path(path, target));
  if (auto removed = remove_tree(target); !removed) {
    BANGER_LOG_WARN("leaving {} in the trash: {}", target, removed.error().message);
  }
  return {};
}

Expected<model::Image> ImageService::build(const BuildSpec& spec, const base::ProgressFn& progress,
                                           const base::CancelFn& cancel) {
  BANGER_TRY_ASSIGN(auto recipe, find_recipe(spec.recipe));
  const std::string name = spec.name.empty() ? recipe.name : spec.name;
  BANGER_TRY(model::validate_image_name(name));
  BANGER_TRY(validate_package_names(spec.packages));
  if (recipe.kind == RecipeKind::tiny && !spec.packages.empty()) {
    return fail(Errc::invalid_argument,
                "the tiny recipe takes no --packages (it has no package manager): use "
                "debian-bookworm");
  }
  if (recipe.kind == RecipeKind::tiny) {
    BANGER_TRY(require_tools(deps_.find_tool, {"apt-get", "mkfs.ext4", "debugfs"}));
  } else {
    BANGER_TRY(require_tools(deps_.find_tool, {"mmdebstrap", "mkfs.ext4", "debugfs"}));
  }
  BANGER_TRY_ASSIGN(auto claimed, claim(name));
  auto existing = deps_.images.get(name);
  if (existing) {
    if (!spec.force) {
      return fail(Errc::already_exists,
                  fmt::format("image \"{}\" already exists: use --force to rebuild it", name));
    }
    BANGER_TRY_ASSIGN(auto users,
                      deps_.users_of ? deps_.users_of(name) : Expected<std::vector<std::string>>{});
    if (!users.empty()) {
      return fail(Errc::failed_precondition,
                  fmt::format("image \"{}\" is used by vm {}: delete those vms before rebuilding "
                              "it",
                              name, base::join(users, ", ")));
    }
  } else if (existing.error().code != Errc::not_found) {
    return tl::unexpected(existing.error());
  }

  const std::string staging = staging_dir(name);
  const std::string tree = staging + "/tree";
  BANGER_TRY(remove_tree(staging));
  BANGER_TRY(sys::make_dirs(staging, 0700));
  base::Defer cleanup([&] {
    if (auto removed = remove_tree(staging); !removed) {
      BANGER_LOG_WARN("cleaning up after the failed build of {}: {}", name,
                      removed.error().message);
    }
  });
  auto started = deps_.clock.steady_now();
  base::report(progress,
               {.stage = "prepare",
                .message = fmt::format("building image {} from recipe {}", name, recipe.name)});

  Status built = recipe.kind == RecipeKind::tiny
                     ? build_tiny(tree, progress, cancel)
                     : build_debian(recipe, spec.packages, tree, progress);
  if (built) {
    base::report(progress, {.stage = "configure", .message = "installing banger-agent"});
    built = install_agent(
        tree,
        recipe.kind == RecipeKind::tiny ? model::InitFlavour::busybox : model::InitFlavour::systemd,
        deps_.agent_binary);
  }
  if (!built) {
    return tl::unexpected(with_context(built.error(), "building image " + name));
  }
  BANGER_TRY(check_cancel(cancel));

  BANGER_TRY_ASSIGN(auto content, tree_size_bytes(tree));
  const std::uint64_t size_mib = recipe.kind == RecipeKind::tiny
                                     ? image_size_mib(content, kTinyMinMib, kTinySlackMib)
                                     : image_size_mib(content, kDebianMinMib, 0);
  const std::string rootfs = staging + "/" + std::string(kRootfsFile);
  const auto total_bytes = static_cast<std::int64_t>(size_mib * 1024 * 1024);
  base::report(progress, {.stage = "mkfs",
                          .message = fmt::format("writing {} MiB of files into a {} MiB ext4 image",
                                                 content / (1024 * 1024), size_mib),
                          .done = 0,
                          .total = total_bytes});
  BANGER_TRY(ext4::make_ext4(deps_.runner, {.image = rootfs,
                                            .size_mib = size_mib,
                                            .source_dir = tree,
                                            .label = name.substr(0, ext4::kMaxLabelLength)}));
  base::report(progress, {.stage = "mkfs",
                          .message = "ext4 image written",
                          .done = total_bytes,
                          .total = total_bytes});
  BANGER_TRY(remove_tree(tree));
  // One debugfs read proves the image is readable and bootable-looking before it is published.
  BANGER_TRY_ASSIGN(auto has_init, ext4::exists(deps_.runner, rootfs, "/sbin/init"));
  if (!has_init) {
    return fail(Errc::internal,
                fmt::format("building image {}: the image has no /sbin/init", name));
  }
  BANGER_TRY(check_cancel(cancel));

  model::Image image{.name = name,
                     .rootfs_path = image_dir(name) + "/" + std::string(kRootfsFile),
                     .work_seed_path = "",
                     .kernel_ref = recipe.kernel,
                     .distro = recipe.distro,
                     .init_flavour = recipe.init_flavour,
                     .extra_kernel_args = recipe.extra_kernel_args,
                     .managed = true,
                     .size_bytes = file_size(rootfs),
                     .created_at = std::chrono::duration_cast<std::chrono::seconds>(
                                       deps_.clock.now().time_since_epoch())
                                       .count()};
  BANGER_TRY(sys::write_file_atomic(
      staging + "/" + std::string(kManifestFile),
      render_manifest({.image = image, .recipe = recipe.name, .packages = spec.packages})));

  // Publish: old image out of the way (force), staging renamed into place, then recorded.
  if (existing) {
    if (sys::path_exists(image_dir(name))) {
      BANGER_TRY(move_to_trash(image_dir(name)));
    }
    BANGER_TRY(deps_.images.remove(name));
  } else if (sys::path_exists(image_dir(name))) {
    // An unrecorded directory of that name (reconcile normally adopts or trashes these).
    BANGER_TRY(move_to_trash(image_dir(name)));
  }
  BANGER_TRY(rename_path(staging, image_dir(name)));
  cleanup.dismiss();
  if (auto inserted = deps_.images.insert(image); !inserted) {
    if (auto trashed = move_to_trash(image_dir(name)); !trashed) {
      BANGER_LOG_WARN("leaving unrecorded image directory {}: {}", image_dir(name),
                      trashed.error().message);
    }
    return tl::unexpected(with_context(inserted.error(), "recording image " + name));
  }
  auto seconds =
      std::chrono::duration_cast<std::chrono::milliseconds>(deps_.clock.steady_now() - started)
          .count() /
      1000.0;
  base::report(progress, {.stage = "done",
                          .message = fmt::format("image {} built in {:.1f} s ({} MiB)", name,
                                                 seconds, image.size_bytes / (1024 * 1024))});
  BANGER_LOG_INFO("built image {} from recipe {} in {:.1f} s", name, recipe.name, seconds);
  return image;
}

Status ImageService::build_tiny(const std::string& tree, const base::ProgressFn& progress,
                                const base::CancelFn& cancel) {
  const std::string debs = fs::path(tree).parent_path().string() + "/debs";
  BANGER_TRY(sys::make_dirs(tree, 0755));
  BANGER_TRY(sys::make_dirs(debs, 0700));
  BANGER_TRY_ASSIGN(auto recipe, find_recipe("tiny"));

  // dropbear's shared libraries: its Depends closure from the host's apt, lib* packages only.
  base::report(progress, {.stage = "resolve", .message = "resolving dropbear's libraries"});
  auto depends = sys::run_checked(deps_.runner, plan_library_depends_query("dropbear-bin"));
  if (!depends) {
    return tl::unexpected(with_context(depends.error(), "resolving the libraries of dropbear-bin"));
  }
  std::vector<std::string> packages = recipe.packages;
  for (auto& library : parse_library_depends(*depends)) {
    packages.push_back(std::move(library));
  }
  BANGER_TRY(check_cancel(cancel));

  base::report(progress, {.stage = "download",
                          .message = fmt::format("downloading {}", base::join(packages, " "))});
  BANGER_TRY_ASSIGN(auto files, debpkg::download(deps_.runner, packages, debs, progress));
  BANGER_TRY(check_cancel(cancel));

  std::int64_t done = 0;
  for (const auto& deb : files) {
    base::report(progress, {.stage = "extract",
                            .message = "unpacking " + debpkg::package_of_deb(deb),
                            .done = done,
                            .total = static_cast<std::int64_t>(files.size())});
    BANGER_TRY(debpkg::extract_deb(deb, tree));
    ++done;
  }
  BANGER_TRY(remove_tree(debs));
  BANGER_TRY(check_cancel(cancel));

  base::report(progress, {.stage = "configure", .message = "writing the busybox init and /etc"});
  auto applets = sys::run_checked(deps_.runner, plan_busybox_applets(tree));
  if (!applets) {
    return tl::unexpected(with_context(applets.error(), "listing the busybox applets"));
  }
  return write_tiny_tree(tree, parse_applet_list(*applets));
}

Status ImageService::build_debian(const Recipe& recipe, const std::vector<std::string>& packages,
                                  const std::string& tree, const base::ProgressFn& progress) {
  BANGER_TRY_ASSIGN(auto sources, host_apt_sources(sys::path_exists));
  auto command = plan_mmdebstrap(recipe, packages, tree, sources);
  base::report(progress,
               {.stage = "bootstrap",
                .message = fmt::format("mmdebstrap {} with the host's apt sources ({}); this "
                                       "takes a minute or two",
                                       recipe.suite, sources)});
  auto out = sys::run_checked(deps_.runner, command);
  if (!out) {
    return tl::unexpected(with_context(out.error(), "running mmdebstrap"));
  }
  base::report(progress, {.stage = "configure",
                          .message = "configuring sshd, first-boot host keys and the hook point"});
  return configure_debian_tree(tree);
}

Expected<model::Image> ImageService::register_image(const RegisterSpec& spec) {
  BANGER_TRY(model::validate_image_name(spec.name));
  auto require_absolute = [](const std::string& flag, const std::string& path) -> Status {
    if (path.empty() || path[0] != '/') {
      return fail(Errc::invalid_argument,
                  fmt::format("{} must be an absolute path, got \"{}\"", flag, path));
    }
    if (!is_regular_file(path)) {
      return fail(Errc::not_found, fmt::format("{} {}: no such file", flag, path));
    }
    return {};
  };
  BANGER_TRY(require_absolute("--rootfs", spec.rootfs_path));
  if (spec.kernel_path.empty() == spec.kernel_ref.empty()) {
    return fail(Errc::invalid_argument,
                "give exactly one of --kernel PATH (with optional --initrd) and --kernel-ref");
  }
  if (!spec.initrd_path.empty() && spec.kernel_path.empty()) {
    return fail(Errc::invalid_argument, "--initrd needs --kernel PATH");
  }
  if (!spec.kernel_path.empty()) {
    BANGER_TRY(require_absolute("--kernel", spec.kernel_path));
    if (!spec.initrd_path.empty()) {
      BANGER_TRY(require_absolute("--initrd", spec.initrd_path));
    }
  }
  BANGER_TRY_ASSIGN(auto claimed, claim(spec.name));
  if (auto existing = deps_.images.get(spec.name); existing) {
    return fail(Errc::already_exists, fmt::format("image \"{}\" already exists", spec.name));
  }
  std::string kernel = spec.kernel_ref;
  if (!spec.kernel_path.empty()) {
    if (!deps_.register_kernel) {
      return fail(Errc::unavailable, "registering kernel files is not available in this daemon");
    }
    BANGER_TRY_ASSIGN(kernel, deps_.register_kernel(spec.name, spec.kernel_path, spec.initrd_path));
  }
  model::Image image{.name = spec.name,
                     .rootfs_path = spec.rootfs_path,
                     .work_seed_path = "",
                     .kernel_ref = kernel,
                     .distro = spec.distro.empty() ? "unknown" : spec.distro,
                     .init_flavour = spec.init_flavour,
                     .extra_kernel_args = spec.extra_kernel_args,
                     .managed = false,
                     .size_bytes = file_size(spec.rootfs_path),
                     .created_at = std::chrono::duration_cast<std::chrono::seconds>(
                                       deps_.clock.now().time_since_epoch())
                                       .count()};
  BANGER_TRY(deps_.images.insert(image));
  BANGER_LOG_INFO("registered image {} ({})", image.name, image.rootfs_path);
  return image;
}

Expected<model::Image> ImageService::promote(const std::string& name) {
  BANGER_TRY_ASSIGN(auto claimed, claim(name));
  BANGER_TRY_ASSIGN(auto image, deps_.images.get(name));
  if (image.managed) {
    return fail(Errc::failed_precondition,
                fmt::format("image \"{}\" is already managed by banger", name));
  }
  if (!is_regular_file(image.rootfs_path)) {
    return fail(Errc::not_found,
                fmt::format("image \"{}\": rootfs {} is missing", name, image.rootfs_path));
  }
  const std::string staging = staging_dir(name);
  BANGER_TRY(remove_tree(staging));
  BANGER_TRY(sys::make_dirs(staging, 0700));
  base::Defer cleanup([&] { (void)remove_tree(staging); });
  auto copy = [&](const std::string& from, std::string_view file) -> Status {
    sys::Command command{.argv = {"cp", "--sparse=always", "--reflink=auto", from,
                                  staging + "/" + std::string(file)},
                         .timeout = std::chrono::minutes(30)};
    auto copied = sys::run_checked(deps_.runner, command);
    if (!copied) {
      return tl::unexpected(with_context(copied.error(), "copying " + from));
    }
    return {};
  };
  BANGER_TRY(copy(image.rootfs_path, kRootfsFile));
  model::Image promoted = image;
  promoted.managed = true;
  promoted.rootfs_path = image_dir(name) + "/" + std::string(kRootfsFile);
  if (!image.work_seed_path.empty()) {
    BANGER_TRY(copy(image.work_seed_path, kWorkSeedFile));
    promoted.work_seed_path = image_dir(name) + "/" + std::string(kWorkSeedFile);
  }
  BANGER_TRY(sys::write_file_atomic(staging + "/" + std::string(kManifestFile),
                                    render_manifest({.image = promoted})));
  if (sys::path_exists(image_dir(name))) {
    BANGER_TRY(move_to_trash(image_dir(name)));
  }
  BANGER_TRY(rename_path(staging, image_dir(name)));
  cleanup.dismiss();
  if (auto updated = deps_.images.update(promoted); !updated) {
    (void)move_to_trash(image_dir(name));
    return tl::unexpected(with_context(updated.error(), "recording image " + name));
  }
  BANGER_LOG_INFO("promoted image {}: copied {} to {}", name, image.rootfs_path,
                  promoted.rootfs_path);
  return promoted;
}

Expected<std::vector<model::Image>> ImageService::list() { return deps_.images.list(); }

Expected<model::Image> ImageService::show(const std::string& name) {
  return deps_.images.get(name);
}

Status ImageService::remove(const std::string& name) {
  BANGER_TRY_ASSIGN(auto claimed, claim(name));
  BANGER_TRY_ASSIGN(auto image, deps_.images.get(name));
  BANGER_TRY_ASSIGN(auto users,
                    deps_.users_of ? deps_.users_of(name) : Expected<std::vector<std::string>>{});
  if (!users.empty()) {
    return fail(Errc::failed_precondition,
                fmt::format("image \"{}\" is used by vm {}: delete those vms first", name,
                            base::join(users, ", ")));
  }
  // Files first, record second: a crash in between leaves a record without files, which
  // reconcile drops; the reverse would resurrect the image from its manifest.
  if (image.managed && sys::path_exists(image_dir(name))) {
    BANGER_TRY(move_to_trash(image_dir(name)));
  }
  BANGER_TRY(deps_.images.remove(name));
  BANGER_LOG_INFO("deleted image {}", name);
  return {};
}

Status ImageService::reconcile() {
  BANGER_TRY_ASSIGN(auto records, deps_.images.list());
  std::set<std::string> recorded;
  for (const auto& image : records) {
    recorded.insert(image.name);
  }
  // Entries of images/: leftover staging dirs, and published dirs nobody recorded.
  std::vector<std::string> staging;
  std::vector<std::string> unrecorded;
  std::error_code ec;
  for (fs::directory_iterator it(deps_.paths.images_dir, ec), end; !ec && it != end;
       it.increment(ec)) {
    std::string entry = it->path().filename().string();
    if (ends_with(entry, kStagingSuffix)) {
      staging.push_back(entry);
    } else if (recorded.count(entry) == 0) {
      unrecorded.push_back(entry);
    }
  }
  if (ec && ec != std::errc::no_such_file_or_directory) {
    return fail(Errc::io, fmt::format("listing {}: {}", deps_.paths.images_dir, ec.message()));
  }
  for (const auto& entry : staging) {
    std::string path = deps_.paths.images_dir + "/" + entry;
    if (auto removed = remove_tree(path); !removed) {
      BANGER_LOG_WARN("reconcile: {}", removed.error().message);
    } else {
      BANGER_LOG_INFO("reconcile: removed interrupted build {}", path);
    }
  }
  for (const auto& entry : unrecorded) {
    std::string dir = deps_.paths.images_dir + "/" + entry;
    std::string rootfs = dir + "/" + std::string(kRootfsFile);
    auto text = sys::read_file(dir + "/" + std::string(kManifestFile));
    auto manifest = text ? parse_manifest(*text) : Expected<Manifest>(tl::unexpected(text.error()));
    if (manifest && manifest->image.name == entry && is_regular_file(rootfs)) {
      model::Image image = manifest->image;
      image.rootfs_path = rootfs;
      std::string seed = dir + "/" + std::string(kWorkSeedFile);
      image.work_seed_path = is_regular_file(seed) ? seed : "";
      image.size_bytes = file_size(rootfs);
      BANGER_TRY(deps_.images.insert(image));
      BANGER_LOG_INFO("reconcile: recorded published image {} from its manifest", entry);
      continue;
    }
    BANGER_LOG_WARN("reconcile: moving unknown directory {} to the trash ({})", dir,
                    manifest ? "manifest does not match" : manifest.error().message);
    if (auto trashed = move_to_trash(dir); !trashed) {
      BANGER_LOG_WARN("reconcile: {}", trashed.error().message);
    }
  }
  // Whatever an earlier delete left in the trash.
  std::vector<std::string> trash;
  for (fs::directory_iterator it(trash_dir(), ec), end; !ec && it != end; it.increment(ec)) {
    trash.push_back(it->path().string());
  }
  for (const auto& path : trash) {
    if (auto removed = remove_tree(path); !removed) {
      BANGER_LOG_WARN("reconcile: {}", removed.error().message);
    }
  }
  // Records whose files are gone.
  for (const auto& image : records) {
    if (is_regular_file(image.rootfs_path)) {
      continue;
    }
    if (image.managed) {
      BANGER_LOG_WARN("reconcile: image {} lost its rootfs {}; removing the record", image.name,
                      image.rootfs_path);
      BANGER_TRY(deps_.images.remove(image.name));
    } else {
      BANGER_LOG_WARN("reconcile: registered image {} points at a missing rootfs {}", image.name,
                      image.rootfs_path);
    }
  }
  return {};
}

}  // namespace banger::imagecat
