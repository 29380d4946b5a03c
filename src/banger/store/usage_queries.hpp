// UsageQueries: who uses a kernel or an image, asked before one is deleted or rebuilt
// (KernelService and ImageService refuse while anything does).
#pragma once

#include <string>
#include <vector>

#include "banger/base/error.hpp"
#include "banger/store/image_repository.hpp"
#include "banger/store/vm_repository.hpp"

namespace banger::store {

// Thread-safety: as the repositories it reads.
class UsageQueries {
 public:
  UsageQueries(VmRepository& vms, ImageRepository& images) : vms_(vms), images_(images) {}

  // "image <name>" for every image whose kernel is `kernel` (by name), then "vm <name>" for
  // every VM recorded with it (by created_at). The store's error when either list fails: the
  // caller must refuse rather than risk deleting a kernel in use.
  Expected<std::vector<std::string>> kernel_users(const std::string& kernel);
  // Names of the VMs whose image is `image` (by created_at); the store's error as above.
  Expected<std::vector<std::string>> image_users(const std::string& image);

 private:
  VmRepository& vms_;
  ImageRepository& images_;
};

}  // namespace banger::store
