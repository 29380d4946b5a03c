#include "banger/api/kernel.hpp"
#include "banger/base/clock.hpp"
#include "banger/base/expected.hpp"
#include "banger/daemon/handlers.hpp"

namespace banger::daemon {
namespace {

api::KernelInfo to_info(const model::Kernel& kernel) {
  return api::KernelInfo{.name = kernel.name,
                         .distro = kernel.distro,
                         .arch = kernel.arch,
                         .version = kernel.version,
                         .sha256 = kernel.sha256,
                         .source = kernel.source,
                         .imported_at = base::format_rfc3339(std::chrono::system_clock::time_point(
                             std::chrono::seconds(kernel.imported_at))),
                         .vmlinux_path = kernel.vmlinux_path,
                         .initrd_path = kernel.initrd_path,
                         .size_bytes = kernelcat::KernelService::size_bytes(kernel)};
}

Expected<std::vector<api::KernelCatalogEntry>> catalog(kernelcat::KernelService& kernels) {
  BANGER_TRY_ASSIGN(auto statuses, kernels.catalog());
  std::vector<api::KernelCatalogEntry> entries;
  for (const auto& status : statuses) {
    const auto& entry = status.entry;
    entries.push_back({.name = entry.name,
                       .description = entry.description,
                       .distro = entry.distro,
                       .arch = entry.arch,
                       .source = status.bundle ? "bundle " + status.bundle->url
                                               : "debian package " + entry.meta_package,
                       .pulled = status.pulled});
  }
  return entries;
}

base::ProgressFn progress_of(rpc::CallContext& ctx) {
  return [&ctx](const base::ProgressEvent& e) { ctx.emit(api::to_event(e)); };
}

}  // namespace

void register_kernel_handlers(rpc::Registry& registry, KernelHandlerDeps deps) {
  registry.add<api::KernelList>([deps](const api::KernelList::Request& request,
                                       rpc::CallContext&) -> Expected<api::KernelList::Response> {
    BANGER_TRY_ASSIGN(auto kernels, deps.kernels.list());
    api::KernelList::Response response;
    for (const auto& kernel : kernels) {
      response.kernels.push_back(to_info(kernel));
    }
    if (request.available) {
      BANGER_TRY_ASSIGN(response.available, catalog(deps.kernels));
    }
    return response;
  });
  registry.add<api::KernelCatalog>(
      [deps](const api::KernelCatalog::Request&,
             rpc::CallContext&) -> Expected<api::KernelCatalog::Response> {
        BANGER_TRY_ASSIGN(auto entries, catalog(deps.kernels));
        return api::KernelCatalog::Response{.entries = std::move(entries)};
      });
  registry.add<api::KernelShow>([deps](const api::KernelShow::Request& request,
                                       rpc::CallContext&) -> Expected<api::KernelShow::Response> {
    BANGER_TRY_ASSIGN(auto kernel, deps.kernels.show(request.name));
    if (request.verify) {
      BANGER_TRY(deps.kernels.verify(request.name));
    }
    return api::KernelShow::Response{.kernel = to_info(kernel), .verified = request.verify};
  });
  registry.add<api::KernelPull>([deps](
                                    const api::KernelPull::Request& request,
                                    rpc::CallContext& ctx) -> Expected<api::KernelPull::Response> {
    BANGER_TRY_ASSIGN(auto pulled, deps.kernels.pull(request.name, request.force, progress_of(ctx),
                                                     [&ctx] { return ctx.cancelled(); }));
    return api::KernelPull::Response{.kernel = to_info(pulled.kernel),
                                     .up_to_date = pulled.up_to_date};
  });
  registry.add<api::KernelBuild>(
      [deps](const api::KernelBuild::Request& request,
             rpc::CallContext& ctx) -> Expected<api::KernelBuild::Response> {
        BANGER_TRY_ASSIGN(auto built,
                          deps.kernels.build({.name = request.name,
                                              .from = request.from,
                                              .config = request.config,
                                              .jobs = request.jobs,
                                              .force = request.force},
                                             progress_of(ctx), [&ctx] { return ctx.cancelled(); }));
        return api::KernelBuild::Response{.kernel = to_info(built.kernel),
                                          .up_to_date = built.up_to_date,
                                          .from_cache = built.from_cache};
      });
  registry.add<api::KernelImport>(
      [deps](const api::KernelImport::Request& request,
             rpc::CallContext& ctx) -> Expected<api::KernelImport::Response> {
        if (request.from.empty() == request.bundle.empty()) {
          return fail(Errc::invalid_argument,
                      "kernel import needs exactly one of a directory (--from) and a bundle");
        }
        if (!request.bundle.empty()) {
          BANGER_TRY_ASSIGN(auto kernel, deps.kernels.import_bundle(
                                             request.bundle, request.name, request.force,
                                             progress_of(ctx), [&ctx] { return ctx.cancelled(); }));
          return api::KernelImport::Response{.kernel = to_info(kernel)};
        }
        if (request.force) {
          return fail(Errc::invalid_argument, "--force is for bundles: remove the kernel first");
        }
        BANGER_TRY_ASSIGN(auto kernel, deps.kernels.import_dir(request.name, request.from));
        return api::KernelImport::Response{.kernel = to_info(kernel)};
      });
  registry.add<api::KernelBundle>(
      [deps](const api::KernelBundle::Request& request,
             rpc::CallContext& ctx) -> Expected<api::KernelBundle::Response> {
        BANGER_TRY_ASSIGN(auto written, deps.kernels.bundle({.name = request.name,
                                                             .output_dir = request.output_dir,
                                                             .catalog_file = request.catalog},
                                                            progress_of(ctx),
                                                            [&ctx] { return ctx.cancelled(); }));
        const auto& e = written.entry;
        return api::BundleResponse{.path = written.path,
                                   .entry = {.name = e.name,
                                             .description = e.description,
                                             .distro = e.distro,
                                             .arch = e.arch,
                                             .kernel = "",
                                             .url = e.url,
                                             .sha256 = e.sha256,
                                             .size = e.size},
                                   .catalog = written.catalog_file};
      });
  registry.add<api::KernelDelete>(
      [deps](const api::KernelDelete::Request& request,
             rpc::CallContext&) -> Expected<api::KernelDelete::Response> {
        BANGER_TRY(deps.kernels.remove(request.name));
        return api::KernelDelete::Response{.deleted = request.name};
      });
}

}  // namespace banger::daemon
