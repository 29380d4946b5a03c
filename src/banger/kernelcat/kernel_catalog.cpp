#include "banger/kernelcat/kernel_catalog.hpp"

#include <fmt/format.h>

namespace banger::kernelcat {

const std::vector<CatalogKernel>& builtin_catalog() {
  static const std::vector<CatalogKernel> kCatalog = {
      {.name = "debian-cloud",
       .description = "Debian's current cloud kernel (linux-image-cloud-amd64) with banger's "
                      "initramfs",
       .distro = "debian",
       .arch = "x86_64",
       .meta_package = "linux-image-cloud-amd64",
       .package_prefix = "linux-image-",
       .busybox_package = "busybox-static"},
  };
  return kCatalog;
}

Expected<CatalogKernel> find_catalog_kernel(const std::string& name) {
  std::vector<std::string> names;
  for (const auto& entry : builtin_catalog()) {
    if (entry.name == name) {
      return entry;
    }
    names.push_back(entry.name);
  }
  return fail(Errc::not_found, fmt::format("unknown kernel \"{}\" in the catalog: available: {}",
                                           name, fmt::join(names, ", ")));
}

}  // namespace banger::kernelcat
