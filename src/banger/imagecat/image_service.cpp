#include "banger/imagecat/image_service.hpp"

#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <system_error>

#include "banger/base/expected.hpp"
#include "banger/base/log.hpp"
#include "banger/base/strings.hpp"
#include "banger/ext4/editor.hpp"
#include "banger/ext4/image_builder.hpp"
#include "banger/hosttools/hosttools.hpp"
#include "banger/imagecat/manifest.hpp"
#include "banger/imagecat/oci_builder.hpp"
#include "banger/imagecat/rootfs_layout.hpp"
#include "banger/oci/blob_cache.hpp"
#include "banger/sys/fs.hpp"

namespace banger::imagecat {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kWorkSeedFile = "work-seed.ext4";

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
                     const std::vector<std::string>& tools) {
  for (const auto& tool : tools) {
    BANGER_TRY(hosttools::require_tool(tool, find));
  }
  return {};
}

std::int64_t unix_seconds(base::Clock& clock) {
  return std::chrono::duration_cast<std::chrono::seconds>(clock.now().time_since_epoch()).count();
}

// Packs tree into a fresh ext4 image of size_mib at rootfs, reporting stage "mkfs".
Status write_ext4(sys::CommandRunner& runner, const std::string& tree, const std::string& rootfs,
                  std::uint64_t content, std::uint64_t size_mib, const std::string& label,
                  const base::ProgressFn& progress) {
  const auto total_bytes = static_cast<std::int64_t>(size_mib * 1024 * 1024);
  base::report(progress, {.stage = "mkfs",
                          .message = fmt::format("writing {} MiB of files into a {} MiB ext4 image",
                                                 content / (1024 * 1024), size_mib),
                          .done = 0,
                          .total = total_bytes});
  BANGER_TRY(ext4::make_ext4(runner, {.image = rootfs,
                                      .size_mib = size_mib,
                                      .source_dir = tree,
                                      .label = label.substr(0, ext4::kMaxLabelLength)}));
  base::report(progress, {.stage = "mkfs",
                          .message = "ext4 image written",
                          .done = total_bytes,
                          .total = total_bytes});
  return {};
}

}  // namespace

ImageService::ImageService(ImageServiceDeps deps)
    : deps_(std::move(deps)),
      store_({.root = deps_.paths.images_dir,
              .kind = "image",
              .operations = "build, promote or delete",
              .unknown = artifactstore::UnknownDirs::trash}) {
  if (!deps_.find_tool) {
    deps_.find_tool = sys::find_executable;
  }
}

std::string ImageService::rootfs_of(const std::string& name) const {
  return store_.live_dir(name) + "/" + std::string(kRootfsFile);
}

Expected<model::Image> ImageService::build(const BuildSpec& spec, const base::ProgressFn& progress,
                                           const base::CancelFn& cancel) {
  BANGER_TRY_ASSIGN(auto recipe, find_recipe(spec.recipe));
  const std::string name = spec.name.empty() ? recipe.name : spec.name;
  BANGER_TRY(model::validate_image_name(name));
  BANGER_TRY(validate_package_names(spec.packages));
  BANGER_TRY_ASSIGN(auto builder, make_builder(recipe, spec.packages));
  Produce job{.name = name,
              .force = spec.force,
              .origin = fmt::format("recipe {}", recipe.name),
              .describe = [&](model::Image& image, Manifest& manifest) {
                image.kernel_ref = recipe.kernel;
                image.distro = recipe.distro;
                image.init_flavour = recipe.init_flavour;
                image.extra_kernel_args = recipe.extra_kernel_args;
                manifest.recipe = recipe.name;
                manifest.packages = spec.packages;
              }};
  return produce(*builder, job, progress, cancel);
}

Expected<PullResult> ImageService::pull(const PullSpec& spec, const base::ProgressFn& progress,
                                        const base::CancelFn& cancel) {
  // Catalog names come first (S11): a bundle of the catalog at catalog_url is downloaded and
  // installed, a recipe is built, anything else is an OCI reference.
  BANGER_TRY_ASSIGN(auto published, published_image(spec.reference, progress, cancel));
  if (published) {
    return pull_bundle(*published, spec, progress, cancel);
  }
  if (auto recipe = find_recipe(spec.reference)) {
    if (!spec.kernel.empty() || !spec.platform.empty() || spec.size_mib ||
        (spec.credentials && spec.credentials_from_flags)) {
      return fail(Errc::invalid_argument,
                  fmt::format("\"{}\" is a recipe, built locally: --kernel, --platform, --size "
                              "and registry credentials are for OCI images (to pull the "
                              "registry's image, give docker.io/library/{})",
                              spec.reference, spec.reference));
    }
    BANGER_TRY_ASSIGN(
        auto built,
        build({.recipe = recipe->name, .name = spec.name, .packages = {}, .force = spec.force},
              progress, cancel));
    return PullResult{
        .image = std::move(built), .reference = "recipe " + recipe->name, .digest = ""};
  }
  BANGER_TRY_ASSIGN(auto reference, oci::parse_reference(spec.reference));
  const std::string name = spec.name.empty() ? oci::default_image_name(reference) : spec.name;
  BANGER_TRY(model::validate_image_name(name));
  if (spec.size_mib && *spec.size_mib < kMinPulledImageMib) {
    return fail(Errc::invalid_argument,
                fmt::format("--size must be at least {} MiB", kMinPulledImageMib));
  }
  if (!spec.platform.empty() && spec.platform != "linux/amd64") {
    return fail(
        Errc::invalid_argument,
        fmt::format("platform {} is not supported: banger boots linux/amd64 VMs", spec.platform));
  }
  oci::RegistryOptions registry{
      .plain_http = oci::registry_uses_http(reference.registry, deps_.insecure_registries),
      .credentials = spec.credentials};
  if (!spec.force) {
    BANGER_TRY_ASSIGN(auto current, check_up_to_date(name, reference, registry, progress, cancel));
    if (current) {
      return std::move(*current);
    }
  }
  std::shared_lock cache_in_use(cache_mutex_);
  OciBuilder builder(OciSource{.reference = reference,
                               .registry = registry,
                               .blob_cache_dir = blob_cache_dir(),
                               .kit_cache_dir = deps_.paths.cache_dir + "/kit",
                               .size_mib = spec.size_mib,
                               .headroom = deps_.pull_size_headroom});
  Produce job{.name = name,
              .force = spec.force,
              .origin = oci::to_string(reference),
              .describe = [&](model::Image& image, Manifest& manifest) {
                const auto& origin = builder.origin();
                image.kernel_ref =
                    spec.kernel.empty() ? std::string(kDefaultPulledKernel) : spec.kernel;
                image.distro = origin.distro;
                image.init_flavour = builder.init_flavour();
                image.extra_kernel_args = builder.extra_kernel_args();
                // banger's init starts no sshd, and a systemd image's sshd is not configured
                // for banger's keys: pulled images are reached through the agent.
                image.ssh = false;
                manifest.oci = origin.record;
              }};
  BANGER_TRY_ASSIGN(auto image, produce(builder, job, progress, cancel));
  return PullResult{.image = std::move(image),
                    .reference = builder.origin().record.reference,
                    .digest = builder.origin().record.digest};
}

Expected<model::Image> ImageService::produce(RootfsBuilder& builder, const Produce& job,
                                             const base::ProgressFn& progress,
                                             const base::CancelFn& cancel) {
  auto tools = builder.required_tools();
  tools.insert(tools.end(), {"mkfs.ext4", "debugfs"});
  BANGER_TRY(require_tools(deps_.find_tool, tools));
  BANGER_TRY_ASSIGN(auto claim, store_.claim(job.name));
  BANGER_TRY_ASSIGN(auto existing, replaceable(job.name, job.force));
  BANGER_TRY_ASSIGN(auto stage, store_.stage(claim));
  const auto started = deps_.clock.steady_now();
  base::report(progress,
               {.stage = "prepare",
                .message = fmt::format("building image {} from {}", job.name, job.origin)});
  BANGER_TRY_ASSIGN(auto rootfs, make_rootfs(builder, job.name, stage.dir(), progress, cancel));
  model::Image image{.name = job.name,
                     .rootfs_path = rootfs_of(job.name),
                     .work_seed_path = "",
                     .kernel_ref = "",
                     .distro = "",
                     .init_flavour = model::InitFlavour::busybox,
                     .extra_kernel_args = "",
                     .managed = true,
                     .size_bytes = file_size(rootfs),
                     .created_at = unix_seconds(deps_.clock)};
  Manifest manifest;
  job.describe(image, manifest);
  manifest.image = image;
  BANGER_TRY(sys::write_file_atomic(stage.dir() + "/" + std::string(kManifestFile),
                                    render_manifest(manifest)));
  BANGER_TRY(publish(stage, image, existing.has_value()));
  auto seconds =
      std::chrono::duration_cast<std::chrono::milliseconds>(deps_.clock.steady_now() - started)
          .count() /
      1000.0;
  base::report(progress, {.stage = "done",
                          .message = fmt::format("image {} built in {:.1f} s ({} MiB)", job.name,
                                                 seconds, image.size_bytes / (1024 * 1024))});
  BANGER_LOG_INFO("built image {} from {} in {:.1f} s", job.name, job.origin, seconds);
  return image;
}

Expected<std::optional<model::Image>> ImageService::replaceable(const std::string& name,
                                                                bool force) {
  auto existing = deps_.images.get(name);
  if (!existing) {
    if (existing.error().code != Errc::not_found) {
      return tl::unexpected(existing.error());
    }
    return std::nullopt;
  }
  if (!force) {
    return fail(Errc::already_exists,
                fmt::format("image \"{}\" already exists: use --force to rebuild it", name));
  }
  BANGER_TRY_ASSIGN(auto users,
                    deps_.users_of ? deps_.users_of(name) : Expected<std::vector<std::string>>{});
  if (!users.empty()) {
    return fail(Errc::failed_precondition,
                fmt::format("image \"{}\" is used by vm {}: delete those vms before rebuilding it",
                            name, base::join(users, ", ")));
  }
  return *existing;
}

Expected<std::string> ImageService::make_rootfs(RootfsBuilder& builder, const std::string& name,
                                                const std::string& staging,
                                                const base::ProgressFn& progress,
                                                const base::CancelFn& cancel) {
  const std::string tree = staging + "/tree";
  const std::string scratch = staging + "/debs";
  if (builder.writes_image()) {
    return make_image_directly(builder, name, staging, progress, cancel);
  }
  Status built = builder.build(tree, scratch,
                               {.runner = deps_.runner, .progress = progress, .cancel = cancel});
  if (built) {
    built = artifactstore::remove_tree(scratch);
  }
  if (built) {
    base::report(progress, {.stage = "configure", .message = "installing banger-agent"});
    built = GuestTree::open(tree).and_then([&](GuestTree guest) {
      return install_agent(guest, builder.init_flavour(), deps_.agent_binary);
    });
  }
  if (built) {
    built = builder.before_pack(tree);
  }
  if (!built) {
    return tl::unexpected(with_context(built.error(), "building image " + name));
  }
  BANGER_TRY(check_cancel(cancel));
  BANGER_TRY_ASSIGN(auto content, tree_size_bytes(tree));
  std::string rootfs = staging + "/" + std::string(kRootfsFile);
  BANGER_TRY(write_ext4(deps_.runner, tree, rootfs, content, builder.image_size_mib(content), name,
                        progress));
  BANGER_TRY(artifactstore::remove_tree(tree));
  BANGER_TRY_ASSIGN(auto edits, builder.image_edits());
  if (!edits.empty()) {
    base::report(progress, {.stage = "configure",
                            .message = fmt::format("setting owners, modes and special files "
                                                   "({} edits)",
                                                   edits.ops().size())});
    BANGER_TRY(ext4::apply(deps_.runner, rootfs, edits));
  }
  // One debugfs read proves the image is readable and bootable-looking before it is published.
  const std::string init = builder.init_path();
  BANGER_TRY_ASSIGN(auto has_init, ext4::exists(deps_.runner, rootfs, init));
  if (!has_init) {
    return fail(Errc::internal, fmt::format("building image {}: the image has no {}", name, init));
  }
  BANGER_TRY(check_cancel(cancel));
  return rootfs;
}

Expected<std::string> ImageService::make_image_directly(RootfsBuilder& builder,
                                                        const std::string& name,
                                                        const std::string& staging,
                                                        const base::ProgressFn& progress,
                                                        const base::CancelFn& cancel) {
  const std::string scratch = staging + "/debs";
  const std::string rootfs = staging + "/" + std::string(kRootfsFile);
  auto image =
      builder.build_image(rootfs, name.substr(0, ext4::kMaxLabelLength), scratch,
                          {.runner = deps_.runner, .progress = progress, .cancel = cancel});
  Status built =
      image ? artifactstore::remove_tree(scratch) : Status(tl::unexpected(image.error()));
  if (built) {
    base::report(progress, {.stage = "configure", .message = "installing banger-agent"});
    built = install_agent(**image, builder.init_flavour(), deps_.agent_binary);
  }
  const std::string init = builder.init_path();
  if (built && !(*image)->exists(init)) {
    built = fail(Errc::internal, fmt::format("the image has no {}", init));
  }
  if (built) {
    built = (*image)->close();
  }
  if (!built) {
    return tl::unexpected(with_context(built.error(), "building image " + name));
  }
  BANGER_TRY(check_cancel(cancel));
  base::report(progress, {.stage = "mkfs", .message = "ext4 image written"});
  return rootfs;
}

Status ImageService::publish(artifactstore::StagedStore::Stage& stage, const model::Image& image,
                             bool recorded) {
  return store_.publish(stage, [&]() -> Status {
    Status written = recorded ? deps_.images.update(image) : deps_.images.insert(image);
    if (!written) {
      return tl::unexpected(with_context(written.error(), "recording image " + image.name));
    }
    return {};
  });
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
  BANGER_TRY_ASSIGN(auto claimed, store_.claim(spec.name));
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
                     .created_at = unix_seconds(deps_.clock)};
  BANGER_TRY(deps_.images.insert(image));
  BANGER_LOG_INFO("registered image {} ({})", image.name, image.rootfs_path);
  return image;
}

Expected<model::Image> ImageService::promote(const std::string& name) {
  BANGER_TRY_ASSIGN(auto claim, store_.claim(name));
  BANGER_TRY_ASSIGN(auto image, deps_.images.get(name));
  if (image.managed) {
    return fail(Errc::failed_precondition,
                fmt::format("image \"{}\" is already managed by banger", name));
  }
  if (!is_regular_file(image.rootfs_path)) {
    return fail(Errc::not_found,
                fmt::format("image \"{}\": rootfs {} is missing", name, image.rootfs_path));
  }
  BANGER_TRY_ASSIGN(auto stage, store_.stage(claim));
  auto copy = [&](const std::string& from, std::string_view file) -> Status {
    sys::Command command{.argv = {"cp", "--sparse=always", "--reflink=auto", from,
                                  stage.dir() + "/" + std::string(file)},
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
  promoted.rootfs_path = rootfs_of(name);
  if (!image.work_seed_path.empty()) {
    BANGER_TRY(copy(image.work_seed_path, kWorkSeedFile));
    promoted.work_seed_path = store_.live_dir(name) + "/" + std::string(kWorkSeedFile);
  }
  BANGER_TRY(sys::write_file_atomic(stage.dir() + "/" + std::string(kManifestFile),
                                    render_manifest({.image = promoted})));
  BANGER_TRY(publish(stage, promoted, true));
  BANGER_LOG_INFO("promoted image {}: copied {} to {}", name, image.rootfs_path,
                  promoted.rootfs_path);
  return promoted;
}

Expected<std::vector<model::Image>> ImageService::list() { return deps_.images.list(); }

Expected<model::Image> ImageService::show(const std::string& name) {
  return deps_.images.get(name);
}

ImageSource ImageService::source_of(const model::Image& image) {
  if (!image.managed) {
    return {};
  }
  auto manifest = manifest_in(store_.live_dir(image.name));
  if (!manifest) {
    return {};
  }
  if (manifest->bundle) {
    return {.source = fmt::format("bundle {} (sha256 {})", manifest->bundle->location,
                                  manifest->bundle->sha256),
            .entrypoint = manifest->oci ? manifest->oci->entrypoint : std::vector<std::string>{},
            .cmd = manifest->oci ? manifest->oci->cmd : std::vector<std::string>{}};
  }
  if (manifest->oci) {
    return {.source = manifest->oci->reference + "@" + manifest->oci->digest,
            .entrypoint = manifest->oci->entrypoint,
            .cmd = manifest->oci->cmd};
  }
  return {.source = manifest->recipe.empty() ? "" : "recipe " + manifest->recipe,
          .entrypoint = {},
          .cmd = {}};
}

Status ImageService::remove(const std::string& name) {
  BANGER_TRY_ASSIGN(auto claim, store_.claim(name));
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
  if (image.managed) {
    BANGER_TRY(store_.trash(claim));
  }
  BANGER_TRY(deps_.images.remove(name));
  BANGER_LOG_INFO("deleted image {}", name);
  return {};
}

Expected<std::optional<PullResult>> ImageService::check_up_to_date(
    const std::string& name, const oci::Reference& reference, const oci::RegistryOptions& registry,
    const base::ProgressFn& progress, const base::CancelFn& cancel) {
  auto existing = deps_.images.get(name);
  if (!existing) {
    return std::optional<PullResult>{};
  }
  auto manifest = manifest_in(store_.live_dir(name));
  const std::string canonical = oci::to_string(reference);
  if (!manifest || !manifest->oci || manifest->oci->reference != canonical) {
    return std::optional<PullResult>{};
  }
  oci::RegistryClient client(reference, registry, cancel);
  BANGER_TRY_ASSIGN(auto resolved, resolve_image(client, progress));
  if (resolved.digest != manifest->oci->digest) {
    return fail(Errc::already_exists,
                fmt::format("image \"{}\" was pulled from {} at {}; the registry now has {}: "
                            "use --force to replace it",
                            name, canonical, manifest->oci->digest, resolved.digest));
  }
  base::report(progress,
               {.stage = "done",
                .message = fmt::format("image {} is up to date ({})", name, resolved.digest)});
  return std::optional<PullResult>{PullResult{
      .image = *existing, .reference = canonical, .digest = resolved.digest, .up_to_date = true}};
}

std::map<std::string, std::vector<std::string>> ImageService::blob_users() {
  std::map<std::string, std::vector<std::string>> users;
  std::error_code ec;
  for (fs::directory_iterator it(store_.root(), ec), end; !ec && it != end; it.increment(ec)) {
    auto manifest = manifest_in(it->path().string());
    if (!manifest || !manifest->oci) {
      continue;
    }
    for (const auto& layer : manifest->oci->layers) {
      users[layer].push_back(manifest->image.name);
    }
  }
  return users;
}

Expected<std::vector<CachedBlobInfo>> ImageService::cache_list() {
  oci::BlobCache cache(blob_cache_dir());
  BANGER_TRY_ASSIGN(auto blobs, cache.list());
  auto users = blob_users();
  std::vector<CachedBlobInfo> out;
  for (const auto& blob : blobs) {
    out.push_back(
        {.digest = blob.digest,
         .size = blob.size,
         .downloaded_at = blob.mtime,
         .images = users.count(blob.digest) ? users[blob.digest] : std::vector<std::string>{}});
  }
  return out;
}

Expected<std::vector<CachedBlobInfo>> ImageService::cache_prune(bool dry_run) {
  std::unique_lock no_pulls(cache_mutex_);
  oci::BlobCache cache(blob_cache_dir());
  std::set<std::string> keep;
  for (const auto& [digest, images] : blob_users()) {
    keep.insert(digest);
  }
  BANGER_TRY_ASSIGN(auto removed, cache.prune(keep, dry_run));
  std::vector<CachedBlobInfo> out;
  for (const auto& blob : removed) {
    out.push_back(
        {.digest = blob.digest, .size = blob.size, .downloaded_at = blob.mtime, .images = {}});
  }
  if (!dry_run && !removed.empty()) {
    BANGER_LOG_INFO("blob cache: removed {} blobs no image uses", removed.size());
  }
  return out;
}

Status ImageService::reconcile() {
  if (std::size_t partials = oci::BlobCache(blob_cache_dir()).remove_partials(); partials > 0) {
    BANGER_LOG_INFO("reconcile: removed {} partial downloads from the blob cache", partials);
  }
  BANGER_TRY_ASSIGN(auto records, deps_.images.list());
  std::set<std::string> recorded;
  for (const auto& image : records) {
    recorded.insert(image.name);
  }
  BANGER_TRY(store_.reconcile(
      {.is_recorded = [&](const std::string& name) { return recorded.count(name) > 0; },
       .adopt = [&](const std::string& name, const std::string& dir) { return adopt(name, dir); },
       .refresh = [&](const std::string& name,
                      const std::string& dir) { return refresh(name, dir); }}));
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

std::optional<model::Image> ImageService::described_by_manifest(const std::string& name,
                                                                const std::string& dir) {
  const std::string rootfs = dir + "/" + std::string(kRootfsFile);
  auto manifest = manifest_in(dir);
  if (!manifest || manifest->image.name != name || !is_regular_file(rootfs)) {
    return std::nullopt;
  }
  model::Image image = manifest->image;
  image.rootfs_path = rootfs;
  std::string seed = dir + "/" + std::string(kWorkSeedFile);
  image.work_seed_path = is_regular_file(seed) ? seed : "";
  image.size_bytes = file_size(rootfs);
  return image;
}

Expected<bool> ImageService::adopt(const std::string& name, const std::string& dir) {
  auto image = described_by_manifest(name, dir);
  if (!image) {
    return false;
  }
  BANGER_TRY(deps_.images.insert(*image));
  return true;
}

Status ImageService::refresh(const std::string& name, const std::string& dir) {
  auto described = described_by_manifest(name, dir);
  if (!described) {
    return {};  // incomplete: the record stays (and is dropped when its rootfs is gone)
  }
  BANGER_TRY_ASSIGN(auto stored, deps_.images.get(name));
  // An unmanaged record over a published directory is a promote that did not get to its
  // record: the directory is the promoted image (the user's file was never touched).
  if (stored == *described) {
    return {};
  }
  BANGER_LOG_WARN(
      "reconcile: the record of image {} did not describe its files: recording them "
      "from their manifest (a build --force or promote was interrupted after "
      "publishing)",
      name);
  return deps_.images.update(*described);
}

}  // namespace banger::imagecat
