#include "banger/store/usage_queries.hpp"

#include <gtest/gtest.h>

namespace banger::store {
namespace {

model::Image image(std::string name, std::string kernel) {
  model::Image out;
  out.name = std::move(name);
  out.rootfs_path = "/i/" + out.name + "/rootfs.ext4";
  out.kernel_ref = std::move(kernel);
  return out;
}

model::Vm vm(std::string id, std::string name, std::string image, std::string kernel) {
  model::Vm out;
  out.id = std::move(id);
  out.name = std::move(name);
  out.image = std::move(image);
  out.kernel = std::move(kernel);
  out.vcpu = 1;
  out.memory_mib = 256;
  out.disk_size_mib = 1024;
  return out;
}

struct Fixture {
  Fixture() : db(*Database::open_in_memory()), vms(db), images(db) {}
  Database db;
  VmRepository vms;
  ImageRepository images;
  UsageQueries usage{vms, images};
};

TEST(UsageQueries, KernelUsersAreImagesThenVms) {
  Fixture f;
  ASSERT_TRUE(f.images.insert(image("tiny", "k1")));
  ASSERT_TRUE(f.images.insert(image("big", "k2")));
  ASSERT_TRUE(f.vms.insert(vm("00000000000000a1", "web", "big", "k1")));
  ASSERT_TRUE(f.vms.insert(vm("00000000000000a2", "db", "tiny", "k2")));
  EXPECT_EQ(f.usage.kernel_users("k1"), (std::vector<std::string>{"image tiny", "vm web"}));
  EXPECT_EQ(f.usage.kernel_users("k3"), std::vector<std::string>{});
}

TEST(UsageQueries, ImageUsersAreTheVmsOnIt) {
  Fixture f;
  ASSERT_TRUE(f.vms.insert(vm("00000000000000a1", "web", "big", "k1")));
  ASSERT_TRUE(f.vms.insert(vm("00000000000000a2", "db", "tiny", "k2")));
  EXPECT_EQ(f.usage.image_users("tiny"), std::vector<std::string>{"db"});
  EXPECT_EQ(f.usage.image_users("none"), std::vector<std::string>{});
}

TEST(UsageQueries, AStoreErrorIsAnErrorNotAPretendUser) {
  Fixture f;
  ASSERT_TRUE(f.db.exec("DROP TABLE vms"));
  auto kernel = f.usage.kernel_users("k1");
  ASSERT_FALSE(kernel);
  EXPECT_NE(kernel.error().message.find("vms"), std::string::npos) << kernel.error().message;
  EXPECT_FALSE(f.usage.image_users("tiny"));
}

}  // namespace
}  // namespace banger::store
