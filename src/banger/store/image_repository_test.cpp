#include "banger/store/image_repository.hpp"

#include <gtest/gtest.h>

namespace banger::store {
namespace {

model::Image sample_image(std::string name) {
  model::Image image;
  image.name = std::move(name);
  image.rootfs_path = "/var/lib/banger/images/" + image.name + "/rootfs.ext4";
  image.work_seed_path = "/var/lib/banger/images/" + image.name + "/work-seed.ext4";
  image.kernel_ref = "debian-cloud";
  image.distro = "debian-bookworm";
  image.init_flavour = model::InitFlavour::busybox;
  image.extra_kernel_args = "quiet";
  image.managed = true;
  image.size_bytes = 1 << 30;
  image.created_at = 1700000000;
  return image;
}

struct Fixture {
  Fixture() : db(*Database::open_in_memory()), images(db) {}
  Database db;
  ImageRepository images;
};

TEST(ImageRepository, InsertThenGetReturnsEveryField) {
  Fixture f;
  auto image = sample_image("tiny");
  ASSERT_TRUE(f.images.insert(image));
  EXPECT_EQ(f.images.get("tiny"), image);
}

TEST(ImageRepository, InsertOfATakenNameIsAlreadyExists) {
  Fixture f;
  ASSERT_TRUE(f.images.insert(sample_image("tiny")));
  auto status = f.images.insert(sample_image("tiny"));
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code, Errc::already_exists);
  EXPECT_EQ(status.error().message, "image \"tiny\" already exists");
}

TEST(ImageRepository, MissingImageIsNotFoundForGetUpdateAndRemove) {
  Fixture f;
  auto got = f.images.get("tiny");
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, Errc::not_found);
  EXPECT_EQ(got.error().message, "image \"tiny\" not found");
  auto updated = f.images.update(sample_image("tiny"));
  ASSERT_FALSE(updated);
  EXPECT_EQ(updated.error().message, "image \"tiny\" not found");
  auto removed = f.images.remove("tiny");
  ASSERT_FALSE(removed);
  EXPECT_EQ(removed.error().code, Errc::not_found);
  EXPECT_EQ(removed.error().message, "image \"tiny\" not found");
}

TEST(ImageRepository, ListIsOrderedByName) {
  Fixture f;
  ASSERT_TRUE(f.images.insert(sample_image("tiny")));
  ASSERT_TRUE(f.images.insert(sample_image("debian-bookworm")));
  auto list = f.images.list();
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].name, "debian-bookworm");
  EXPECT_EQ((*list)[1].name, "tiny");
}

TEST(ImageRepository, UpdateReplacesFieldsAndRemoveDeletes) {
  Fixture f;
  auto image = sample_image("tiny");
  ASSERT_TRUE(f.images.insert(image));
  image.init_flavour = model::InitFlavour::systemd;
  image.managed = false;
  image.extra_kernel_args = "";
  ASSERT_TRUE(f.images.update(image));
  EXPECT_EQ(f.images.get("tiny"), image);
  ASSERT_TRUE(f.images.remove("tiny"));
  EXPECT_EQ(f.images.list()->size(), 0u);
}

}  // namespace
}  // namespace banger::store
