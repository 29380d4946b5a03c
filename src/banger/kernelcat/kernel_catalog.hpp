// The built-in kernel catalog (SPEC S10): the kernels `kernel pull <name>` knows how to make.
// Today every entry is built from the host's Debian archive; URL (tar.zst) entries and the
// remote catalog merge of S11 are not implemented yet.
#pragma once

#include <string>
#include <vector>

#include "banger/base/error.hpp"

namespace banger::kernelcat {

struct CatalogKernel {
  std::string name;         // "debian-cloud": also the name of the pulled kernel
  std::string description;  // one line for `kernel list --available`
  std::string distro;       // "debian"
  std::string arch;         // "x86_64"
  // Debian package recipe: the meta package resolved through apt to the concrete
  // linux-image package (whose name starts with package_prefix), plus the busybox package
  // the initramfs is built from.
  std::string meta_package;     // "linux-image-cloud-amd64"
  std::string package_prefix;   // "linux-image-"
  std::string busybox_package;  // "busybox-static"
};

// Every built-in entry, sorted by name.
const std::vector<CatalogKernel>& builtin_catalog();

// The entry called name; not_found "unknown kernel \"x\" in the catalog: available: a, b"
// otherwise.
Expected<CatalogKernel> find_catalog_kernel(const std::string& name);

}  // namespace banger::kernelcat
