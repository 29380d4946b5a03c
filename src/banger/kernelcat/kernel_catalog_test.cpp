#include "banger/kernelcat/kernel_catalog.hpp"

#include <gtest/gtest.h>

namespace banger::kernelcat {
namespace {

TEST(KernelCatalog, DebianCloudIsBuiltFromTheCloudMetaPackage) {
  auto entry = find_catalog_kernel("debian-cloud");
  ASSERT_TRUE(entry) << entry.error().message;
  EXPECT_EQ(entry->meta_package, "linux-image-cloud-amd64");
  EXPECT_EQ(entry->package_prefix, "linux-image-");
  EXPECT_EQ(entry->busybox_package, "busybox-static");
  EXPECT_EQ(entry->distro, "debian");
  EXPECT_EQ(entry->arch, "x86_64");
}

TEST(KernelCatalog, UnknownNameListsTheAvailableOnes) {
  auto entry = find_catalog_kernel("arch-latest");
  ASSERT_FALSE(entry);
  EXPECT_EQ(entry.error().code, Errc::not_found);
  EXPECT_EQ(entry.error().message,
            "unknown kernel \"arch-latest\" in the catalog: available: debian-cloud");
}

TEST(KernelCatalog, EntriesAreSortedAndUnique) {
  const auto& catalog = builtin_catalog();
  for (std::size_t i = 1; i < catalog.size(); ++i) {
    EXPECT_LT(catalog[i - 1].name, catalog[i].name);
  }
}

}  // namespace
}  // namespace banger::kernelcat
