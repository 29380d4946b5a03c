#include "banger/model/kernel.hpp"

#include "banger/model/name_rules.hpp"

namespace banger::model {

Status validate_kernel_name(std::string_view name) {
  if (!detail::is_safe_file_name(name, kMaxKernelNameLength)) {
    return fail(Errc::invalid_argument,
                "invalid kernel name \"" + std::string(name) +
                    "\": use 1-64 characters: letters, digits, '.', '_' and '-', other than "
                    "\".\" and \"..\"");
  }
  return {};
}

}  // namespace banger::model
