// image.* handlers: api::Image* <-> imagecat::ImageService. No business logic here.
#include "banger/api/image.hpp"
#include "banger/base/clock.hpp"
#include "banger/base/expected.hpp"
#include "banger/config/size.hpp"
#include "banger/daemon/handlers.hpp"

namespace banger::daemon {
namespace {

api::ImageInfo to_info(const model::Image& image) {
  return api::ImageInfo{.name = image.name,
                        .distro = image.distro,
                        .init_flavour = std::string(model::to_string(image.init_flavour)),
                        .kernel = image.kernel_ref,
                        .extra_kernel_args = image.extra_kernel_args,
                        .managed = image.managed,
                        .rootfs_path = image.rootfs_path,
                        .size_bytes = image.size_bytes,
                        .created_at = base::format_rfc3339(std::chrono::system_clock::time_point(
                            std::chrono::seconds(image.created_at))),
                        .ssh = image.ssh};
}

std::string rfc3339(std::int64_t unix_seconds) {
  return base::format_rfc3339(
      std::chrono::system_clock::time_point(std::chrono::seconds(unix_seconds)));
}

std::vector<api::CachedBlob> to_blobs(const std::vector<imagecat::CachedBlobInfo>& blobs,
                                      std::int64_t& total) {
  std::vector<api::CachedBlob> out;
  for (const auto& blob : blobs) {
    out.push_back({.digest = blob.digest,
                   .size_bytes = static_cast<std::int64_t>(blob.size),
                   .downloaded_at = rfc3339(blob.downloaded_at),
                   .images = blob.images});
    total += static_cast<std::int64_t>(blob.size);
  }
  return out;
}

// image.cache_list, image.cache_prune.
void register_cache_handlers(rpc::Registry& registry, const ImageHandlerDeps& deps) {
  registry.add<api::ImageCacheList>(
      [deps](const api::ImageCacheList::Request&,
             rpc::CallContext&) -> Expected<api::ImageCacheList::Response> {
        BANGER_TRY_ASSIGN(auto blobs, deps.images.cache_list());
        api::ImageCacheList::Response response;
        response.blobs = to_blobs(blobs, response.total_bytes);
        return response;
      });
  registry.add<api::ImageCachePrune>(
      [deps](const api::ImageCachePrune::Request& request,
             rpc::CallContext&) -> Expected<api::ImageCachePrune::Response> {
        BANGER_TRY_ASSIGN(auto removed, deps.images.cache_prune(request.dry_run));
        api::ImageCachePrune::Response response;
        response.removed = to_blobs(removed, response.freed_bytes);
        response.dry_run = request.dry_run;
        return response;
      });
}

api::BundleEntryInfo to_entry_info(const catalog::BundleEntry& entry) {
  return {.name = entry.name,
          .description = entry.description,
          .distro = entry.distro,
          .arch = entry.arch,
          .kernel = entry.kernel,
          .url = entry.url,
          .sha256 = entry.sha256,
          .size = entry.size};
}

// image.bundle, image.import, image.catalog.
void register_bundle_handlers(rpc::Registry& registry, const ImageHandlerDeps& deps) {
  registry.add<api::ImageBundle>(
      [deps](const api::ImageBundle::Request& request,
             rpc::CallContext& ctx) -> Expected<api::ImageBundle::Response> {
        auto progress = [&ctx](const base::ProgressEvent& e) { ctx.emit(api::to_event(e)); };
        BANGER_TRY_ASSIGN(auto written,
                          deps.images.bundle({.name = request.name,
                                              .output_dir = request.output_dir,
                                              .catalog_file = request.catalog},
                                             progress, [&ctx] { return ctx.cancelled(); }));
        return api::ImageBundle::Response{.path = written.path,
                                          .entry = to_entry_info(written.entry),
                                          .catalog = written.catalog_file};
      });
  registry.add<api::ImageImport>(
      [deps](const api::ImageImport::Request& request,
             rpc::CallContext& ctx) -> Expected<api::ImageImport::Response> {
        auto progress = [&ctx](const base::ProgressEvent& e) { ctx.emit(api::to_event(e)); };
        BANGER_TRY_ASSIGN(auto image,
                          deps.images.import_bundle({.path = request.path,
                                                     .name = request.name,
                                                     .kernel = request.kernel,
                                                     .force = request.force},
                                                    progress, [&ctx] { return ctx.cancelled(); }));
        return api::ImageImport::Response{.image = to_info(image)};
      });
  registry.add<api::ImageCatalog>(
      [deps](const api::ImageCatalog::Request&,
             rpc::CallContext& ctx) -> Expected<api::ImageCatalog::Response> {
        BANGER_TRY_ASSIGN(auto entries, deps.images.catalog([&ctx] { return ctx.cancelled(); }));
        api::ImageCatalog::Response response;
        for (const auto& e : entries) {
          response.entries.push_back({.name = e.name,
                                      .kind = e.kind,
                                      .description = e.description,
                                      .distro = e.distro,
                                      .kernel = e.kernel,
                                      .size = e.size,
                                      .url = e.location,
                                      .pulled = e.pulled});
        }
        return response;
      });
}

}  // namespace

void register_image_handlers(rpc::Registry& registry, ImageHandlerDeps deps) {
  registry.add<api::ImageBuild>([deps](
                                    const api::ImageBuild::Request& request,
                                    rpc::CallContext& ctx) -> Expected<api::ImageBuild::Response> {
    auto progress = [&ctx](const base::ProgressEvent& event) { ctx.emit(api::to_event(event)); };
    auto cancel = [&ctx] { return ctx.cancelled(); };
    BANGER_TRY_ASSIGN(auto image, deps.images.build({.recipe = request.recipe,
                                                     .name = request.name,
                                                     .packages = request.packages,
                                                     .force = request.force},
                                                    progress, cancel));
    return api::ImageBuild::Response{.image = to_info(image)};
  });
  registry.add<api::ImagePull>([deps](const api::ImagePull::Request& request,
                                      rpc::CallContext& ctx) -> Expected<api::ImagePull::Response> {
    auto progress = [&ctx](const base::ProgressEvent& event) { ctx.emit(api::to_event(event)); };
    auto cancel = [&ctx] { return ctx.cancelled(); };
    imagecat::PullSpec spec{.reference = request.reference,
                            .name = request.name,
                            .kernel = request.kernel,
                            .platform = request.platform,
                            .size_mib = std::nullopt,
                            .credentials = std::nullopt,
                            .force = request.force};
    if (!request.size.empty()) {
      auto size = config::parse_size_mib(request.size);
      if (!size) {
        return tl::unexpected(with_context(size.error(), "--size"));
      }
      spec.size_mib = static_cast<std::uint64_t>(*size);
    }
    if (!request.username.empty() || !request.password.empty()) {
      spec.credentials =
          oci::Credentials{.username = request.username, .password = request.password};
      spec.credentials_from_flags = request.credentials_from_flags;
    }
    BANGER_TRY_ASSIGN(auto pulled, deps.images.pull(spec, progress, cancel));
    return api::ImagePull::Response{.image = to_info(pulled.image),
                                    .reference = pulled.reference,
                                    .digest = pulled.digest,
                                    .up_to_date = pulled.up_to_date};
  });
  register_cache_handlers(registry, deps);
  register_bundle_handlers(registry, deps);
  registry.add<api::ImageRegister>(
      [deps](const api::ImageRegister::Request& request,
             rpc::CallContext&) -> Expected<api::ImageRegister::Response> {
        imagecat::RegisterSpec spec{.name = request.name,
                                    .rootfs_path = request.rootfs,
                                    .kernel_path = request.kernel,
                                    .initrd_path = request.initrd,
                                    .kernel_ref = request.kernel_ref,
                                    .distro = request.distro,
                                    .extra_kernel_args = request.extra_kernel_args};
        if (!request.init_flavour.empty()) {
          BANGER_TRY_ASSIGN(spec.init_flavour, model::parse_init_flavour(request.init_flavour));
        }
        BANGER_TRY_ASSIGN(auto image, deps.images.register_image(spec));
        return api::ImageRegister::Response{.image = to_info(image)};
      });
  registry.add<api::ImagePromote>(
      [deps](const api::ImagePromote::Request& request,
             rpc::CallContext&) -> Expected<api::ImagePromote::Response> {
        BANGER_TRY_ASSIGN(auto image, deps.images.promote(request.name));
        return api::ImagePromote::Response{.image = to_info(image)};
      });
  registry.add<api::ImageList>([deps](const api::ImageList::Request&,
                                      rpc::CallContext&) -> Expected<api::ImageList::Response> {
    BANGER_TRY_ASSIGN(auto images, deps.images.list());
    api::ImageList::Response response;
    for (const auto& image : images) {
      response.images.push_back(to_info(image));
    }
    return response;
  });
  registry.add<api::ImageShow>([deps](const api::ImageShow::Request& request,
                                      rpc::CallContext&) -> Expected<api::ImageShow::Response> {
    BANGER_TRY_ASSIGN(auto image, deps.images.show(request.name));
    auto info = to_info(image);
    auto source = deps.images.source_of(image);
    info.source = std::move(source.source);
    info.entrypoint = std::move(source.entrypoint);
    info.cmd = std::move(source.cmd);
    return api::ImageShow::Response{.image = std::move(info)};
  });
  registry.add<api::ImageDelete>([deps](const api::ImageDelete::Request& request,
                                        rpc::CallContext&) -> Expected<api::ImageDelete::Response> {
    BANGER_TRY(deps.images.remove(request.name));
    return api::ImageDelete::Response{.deleted = request.name};
  });
}

}  // namespace banger::daemon
