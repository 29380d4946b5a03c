#include "banger/store/usage_queries.hpp"

#include "banger/base/expected.hpp"

namespace banger::store {

Expected<std::vector<std::string>> UsageQueries::kernel_users(const std::string& kernel) {
  BANGER_TRY_ASSIGN(auto images, images_.list());
  BANGER_TRY_ASSIGN(auto vms, vms_.list());
  std::vector<std::string> users;
  for (const auto& image : images) {
    if (image.kernel_ref == kernel) {
      users.push_back("image " + image.name);
    }
  }
  for (const auto& vm : vms) {
    if (vm.kernel == kernel) {
      users.push_back("vm " + vm.name);
    }
  }
  return users;
}

Expected<std::vector<std::string>> UsageQueries::image_users(const std::string& image) {
  BANGER_TRY_ASSIGN(auto vms, vms_.list());
  std::vector<std::string> names;
  for (const auto& vm : vms) {
    if (vm.image == image) {
      names.push_back(vm.name);
    }
  }
  return names;
}

}  // namespace banger::store
