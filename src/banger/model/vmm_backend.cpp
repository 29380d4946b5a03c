#include "banger/model/vmm_backend.hpp"

#include <string>

namespace banger::model {

Expected<VmmBackend> parse_vmm_backend(std::string_view text) {
  if (auto backend = kVmmBackendNames.parse(text)) {
    return *backend;
  }
  return fail(Errc::invalid_argument, "unknown vmm backend \"" + std::string(text) + "\": use " +
                                          kVmmBackendNames.allowed());
}

}  // namespace banger::model
