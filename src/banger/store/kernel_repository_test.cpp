#include "banger/store/kernel_repository.hpp"

#include <gtest/gtest.h>

namespace banger::store {
namespace {

model::Kernel sample_kernel(std::string name) {
  model::Kernel kernel;
  kernel.name = std::move(name);
  kernel.distro = "debian";
  kernel.arch = "x86_64";
  kernel.version = "6.1.0-27-cloud-amd64";
  kernel.vmlinux_path = "/var/lib/banger/kernels/" + kernel.name + "/vmlinux";
  kernel.initrd_path = "/var/lib/banger/kernels/" + kernel.name + "/initrd.img";
  kernel.sha256 = std::string(64, 'a');
  kernel.source = "catalog:debian-cloud";
  kernel.imported_at = 1700000000;
  return kernel;
}

struct Fixture {
  Fixture() : db(*Database::open_in_memory()), kernels(db) {}
  Database db;
  KernelRepository kernels;
};

TEST(KernelRepository, InsertThenGetReturnsEveryField) {
  Fixture f;
  auto kernel = sample_kernel("debian-cloud");
  ASSERT_TRUE(f.kernels.insert(kernel));
  EXPECT_EQ(f.kernels.get("debian-cloud"), kernel);
}

TEST(KernelRepository, InsertOfATakenNameIsAlreadyExists) {
  Fixture f;
  ASSERT_TRUE(f.kernels.insert(sample_kernel("debian-cloud")));
  auto status = f.kernels.insert(sample_kernel("debian-cloud"));
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code, Errc::already_exists);
  EXPECT_EQ(status.error().message, "kernel \"debian-cloud\" already exists");
}

TEST(KernelRepository, MissingKernelIsNotFoundForGetUpdateAndRemove) {
  Fixture f;
  auto got = f.kernels.get("fc");
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, Errc::not_found);
  EXPECT_EQ(got.error().message, "kernel \"fc\" not found");
  auto updated = f.kernels.update(sample_kernel("fc"));
  ASSERT_FALSE(updated);
  EXPECT_EQ(updated.error().message, "kernel \"fc\" not found");
  auto removed = f.kernels.remove("fc");
  ASSERT_FALSE(removed);
  EXPECT_EQ(removed.error().code, Errc::not_found);
  EXPECT_EQ(removed.error().message, "kernel \"fc\" not found");
}

TEST(KernelRepository, ListIsOrderedByNameAndUpdateAndRemoveWork) {
  Fixture f;
  ASSERT_TRUE(f.kernels.insert(sample_kernel("zz")));
  auto kernel = sample_kernel("aa");
  ASSERT_TRUE(f.kernels.insert(kernel));
  kernel.initrd_path = "";
  kernel.version = "6.1.100";
  ASSERT_TRUE(f.kernels.update(kernel));
  auto list = f.kernels.list();
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0], kernel);
  EXPECT_EQ((*list)[1].name, "zz");
  ASSERT_TRUE(f.kernels.remove("zz"));
  EXPECT_EQ(f.kernels.list()->size(), 1u);
}

}  // namespace
}  // namespace banger::store
