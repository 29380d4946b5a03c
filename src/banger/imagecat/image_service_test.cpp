#include "banger/imagecat/image_service.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "banger/imagecat/manifest.hpp"
#include "banger/store/database.hpp"
#include "banger/sys/fs.hpp"
#include "banger/testkit/fake_clock.hpp"
#include "banger/testkit/fake_command_runner.hpp"
#include "banger/testkit/temp_dir.hpp"

namespace banger::imagecat {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

std::string every_tool(const std::string& tool) { return "/usr/bin/" + tool; }

struct Fixture {
  explicit Fixture(sys::CommandRunner* real_runner = nullptr)
      : db(*store::Database::open(dir.path() + "/state.db")),
        images(db),
        service({.images = images,
                 .runner = real_runner != nullptr ? *real_runner : runner,
                 .paths = paths,
                 .clock = clock,
                 .users_of = [this](const std::string& image) { return users_of(image); },
                 .register_kernel = [this](const std::string& name, const std::string& vmlinux,
                                           const std::string& initrd) -> Expected<std::string> {
                   registered_kernels.push_back(name + " " + vmlinux + " " + initrd);
                   return name;
                 },
                 .find_tool = every_tool}) {
    EXPECT_TRUE(sys::make_dirs(paths.images_dir));
  }
  std::string images_dir() const { return dir.path() + "/images"; }
  // A file standing in for an ext4 image.
  std::string make_file(const std::string& name, const std::string& content = "ext4") {
    std::string path = dir.path() + "/" + name;
    EXPECT_TRUE(sys::write_file_atomic(path, content));
    return path;
  }

  testkit::TempDir dir;
  paths::Paths paths = [this] {
    paths::Paths p;
    p.images_dir = dir.path() + "/images";  // before the service, which keeps its store root
    return p;
  }();
  store::Database db;
  store::ImageRepository images;
  testkit::FakeCommandRunner runner;
  testkit::FakeClock clock;
  std::function<std::vector<std::string>(const std::string&)> users_of = [](const std::string&) {
    return std::vector<std::string>{};
  };
  std::vector<std::string> registered_kernels;
  ImageService service;
};

TEST(ImageService, PullOfARecipeNameRefusesTheOciOnlyFlags) {
  Fixture f;
  auto pulled = f.service.pull({.reference = "tiny", .size_mib = 2048});
  ASSERT_FALSE(pulled);
  EXPECT_EQ(pulled.error().code, Errc::invalid_argument);
  EXPECT_NE(pulled.error().message.find("\"tiny\" is a recipe, built locally"), std::string::npos)
      << pulled.error().message;
  EXPECT_NE(pulled.error().message.find("docker.io/library/tiny"), std::string::npos);
  auto bad = f.service.pull({.reference = "UPPER"});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("invalid image reference"), std::string::npos);
  auto arm = f.service.pull({.reference = "debian:12", .platform = "linux/arm64"});
  ASSERT_FALSE(arm);
  EXPECT_NE(arm.error().message.find("platform linux/arm64 is not supported"), std::string::npos);
  auto small = f.service.pull({.reference = "debian:12", .size_mib = 10});
  ASSERT_FALSE(small);
  EXPECT_NE(small.error().message.find("--size must be at least 64 MiB"), std::string::npos);
  EXPECT_TRUE(f.runner.ran().empty());  // nothing was fetched or run
}

TEST(ImageService, RegisterListShowRemoveAnUnmanagedImage) {
  Fixture f;
  std::string rootfs = f.make_file("root.ext4", "12345");
  auto image = f.service.register_image(
      {.name = "mine", .rootfs_path = rootfs, .kernel_ref = "debian-cloud", .distro = "alpine"});
  ASSERT_TRUE(image) << image.error().message;
  EXPECT_EQ(image->rootfs_path, rootfs);
  EXPECT_FALSE(image->managed);
  EXPECT_EQ(image->size_bytes, 5);
  EXPECT_EQ(image->created_at, 1800000000);
  EXPECT_EQ(image->kernel_ref, "debian-cloud");

  auto listed = f.service.list();
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0], *image);
  EXPECT_EQ(*f.service.show("mine"), *image);

  ASSERT_TRUE(f.service.remove("mine"));
  EXPECT_TRUE(fs::exists(rootfs));  // not ours: left alone
  auto gone = f.service.show("mine");
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, Errc::not_found);
  EXPECT_EQ(gone.error().message, "image \"mine\" not found");
}

TEST(ImageService, RegisterWithKernelFilesRegistersAKernelNamedAfterTheImage) {
  Fixture f;
  auto image = f.service.register_image({.name = "k",
                                         .rootfs_path = f.make_file("r.ext4"),
                                         .kernel_path = f.make_file("vmlinux"),
                                         .initrd_path = f.make_file("initrd.img")});
  ASSERT_TRUE(image) << image.error().message;
  EXPECT_EQ(image->kernel_ref, "k");
  EXPECT_EQ(f.registered_kernels, (std::vector<std::string>{"k " + f.dir.path() + "/vmlinux " +
                                                            f.dir.path() + "/initrd.img"}));
}

TEST(ImageService, RegisterRejectsBadInput) {
  Fixture f;
  std::string rootfs = f.make_file("r.ext4");
  auto bad_name =
      f.service.register_image({.name = "a/b", .rootfs_path = rootfs, .kernel_ref = "k"});
  ASSERT_FALSE(bad_name);
  EXPECT_EQ(bad_name.error().code, Errc::invalid_argument);
  auto relative =
      f.service.register_image({.name = "a", .rootfs_path = "r.ext4", .kernel_ref = "k"});
  ASSERT_FALSE(relative);
  EXPECT_EQ(relative.error().message, "--rootfs must be an absolute path, got \"r.ext4\"");
  auto missing = f.service.register_image(
      {.name = "a", .rootfs_path = "/nonexistent/r.ext4", .kernel_ref = "k"});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::not_found);
  EXPECT_EQ(missing.error().message, "--rootfs /nonexistent/r.ext4: no such file");
  auto neither = f.service.register_image({.name = "a", .rootfs_path = rootfs});
  ASSERT_FALSE(neither);
  EXPECT_EQ(neither.error().message,
            "give exactly one of --kernel PATH (with optional --initrd) and --kernel-ref");
  auto initrd_only = f.service.register_image(
      {.name = "a", .rootfs_path = rootfs, .initrd_path = rootfs, .kernel_ref = "k"});
  ASSERT_FALSE(initrd_only);
  EXPECT_EQ(initrd_only.error().message, "--initrd needs --kernel PATH");
  ASSERT_TRUE(f.service.register_image({.name = "a", .rootfs_path = rootfs, .kernel_ref = "k"}));
  auto twice = f.service.register_image({.name = "a", .rootfs_path = rootfs, .kernel_ref = "k"});
  ASSERT_FALSE(twice);
  EXPECT_EQ(twice.error().code, Errc::already_exists);
  EXPECT_EQ(twice.error().message, "image \"a\" already exists");
}

TEST(ImageService, RemoveIsRefusedWhileAVmUsesTheImage) {
  Fixture f;
  ASSERT_TRUE(
      f.service.register_image({.name = "a", .rootfs_path = f.make_file("r"), .kernel_ref = "k"}));
  f.users_of = [](const std::string& image) {
    return image == "a" ? std::vector<std::string>{"web", "db"} : std::vector<std::string>{};
  };
  auto refused = f.service.remove("a");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, Errc::failed_precondition);
  EXPECT_EQ(refused.error().message, "image \"a\" is used by vm web, db: delete those vms first");
  EXPECT_TRUE(f.service.show("a"));
  auto unknown = f.service.remove("nope");
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, Errc::not_found);
}

TEST(ImageService, ASecondChangeOfTheSameNameIsRefusedWhileTheFirstRuns) {
  // Given a remove that is still running (users_of is called with the name held).
  Fixture f;
  ASSERT_TRUE(
      f.service.register_image({.name = "a", .rootfs_path = f.make_file("r"), .kernel_ref = "k"}));
  Error inner;
  f.users_of = [&](const std::string&) {
    inner = f.service.build({.recipe = "tiny", .name = "a", .force = true}).error();
    return std::vector<std::string>{};
  };
  ASSERT_TRUE(f.service.remove("a"));
  EXPECT_EQ(inner.code, Errc::failed_precondition);
  EXPECT_EQ(inner.message,
            "image \"a\" is busy: another build, promote or delete of it is running");
}

TEST(ImageService, BuildRejectsBadInputBeforeTouchingAnything) {
  Fixture f;
  auto unknown = f.service.build({.recipe = "alpine"});
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, Errc::not_found);
  EXPECT_EQ(unknown.error().message,
            "unknown recipe \"alpine\": available recipes: tiny, debian-bookworm");
  auto bad_name = f.service.build({.recipe = "tiny", .name = "x.staging"});
  ASSERT_FALSE(bad_name);
  EXPECT_EQ(bad_name.error().code, Errc::invalid_argument);
  auto bad_package = f.service.build({.recipe = "tiny", .packages = {"Git;rm"}});
  ASSERT_FALSE(bad_package);
  EXPECT_EQ(bad_package.error().code, Errc::invalid_argument);
  EXPECT_TRUE(f.runner.ran().empty());
  EXPECT_TRUE(fs::is_empty(f.images_dir()));
}

TEST(ImageService, BuildNamesTheMissingToolAndItsPackage) {
  testkit::TempDir dir;
  paths::Paths paths{.images_dir = dir.path() + "/images"};
  auto db = *store::Database::open_in_memory();
  store::ImageRepository images(db);
  testkit::FakeCommandRunner runner;
  testkit::FakeClock clock;
  ImageService service({.images = images,
                        .runner = runner,
                        .paths = paths,
                        .clock = clock,
                        .users_of = {},
                        .register_kernel = {},
                        .find_tool = [](const std::string& tool) {
                          return tool == "mmdebstrap" ? "" : "/usr/bin/" + tool;
                        }});
  auto built = service.build({.recipe = "debian-bookworm"});
  ASSERT_FALSE(built);
  EXPECT_EQ(built.error().code, Errc::not_found);
  EXPECT_EQ(built.error().message,
            "mmdebstrap not found: install the mmdebstrap package (apt-get install mmdebstrap)");
}

TEST(ImageService, ExistingImageNeedsForceAndForceIsRefusedWhileAVmUsesIt) {
  Fixture f;
  ASSERT_TRUE(f.service.register_image(
      {.name = "tiny", .rootfs_path = f.make_file("r"), .kernel_ref = "k"}));
  auto exists = f.service.build({.recipe = "tiny"});
  ASSERT_FALSE(exists);
  EXPECT_EQ(exists.error().code, Errc::already_exists);
  EXPECT_EQ(exists.error().message, "image \"tiny\" already exists: use --force to rebuild it");
  f.users_of = [](const std::string&) { return std::vector<std::string>{"web"}; };
  auto used = f.service.build({.recipe = "tiny", .force = true});
  ASSERT_FALSE(used);
  EXPECT_EQ(used.error().code, Errc::failed_precondition);
  EXPECT_EQ(used.error().message,
            "image \"tiny\" is used by vm web: delete those vms before rebuilding it");
}

TEST(ImageService, FailedBuildRemovesItsStagingDirAndRecordsNothing) {
  Fixture f;
  f.runner.on("apt-cache depends", {.exit_code = 100, .err = "E: No packages found"});
  std::vector<std::string> stages;
  auto built = f.service.build({.recipe = "tiny", .name = "t"},
                               [&](const base::ProgressEvent& e) { stages.push_back(e.stage); });
  ASSERT_FALSE(built);
  EXPECT_EQ(built.error().code, Errc::command_failed);
  EXPECT_THAT(built.error().message,
              HasSubstr("building image t: resolving the libraries of dropbear-bin: "));
  EXPECT_FALSE(fs::exists(f.images_dir() + "/t.staging"));
  EXPECT_TRUE(fs::is_empty(f.images_dir()));
  EXPECT_TRUE(f.service.list()->empty());
  EXPECT_EQ(stages, (std::vector<std::string>{"prepare", "resolve"}));
}

TEST(ImageService, CancelledBuildRemovesItsStagingDir) {
  Fixture f;
  f.runner.on("apt-cache depends", {.exit_code = 0, .out = "dropbear-bin\n  Depends: libc6\n"});
  auto built = f.service.build({.recipe = "tiny"}, {}, [] { return true; });
  ASSERT_FALSE(built);
  EXPECT_EQ(built.error().code, Errc::cancelled);
  EXPECT_EQ(built.error().message, "building image tiny: image build cancelled");
  EXPECT_TRUE(fs::is_empty(f.images_dir()));
}

TEST(ImageService, ReconcileCleansStagingAdoptsPublishedDirsAndDropsLostRecords) {
  Fixture f;
  // An interrupted build, a published-but-unrecorded image, junk, and a lost managed image.
  ASSERT_TRUE(sys::make_dirs(f.images_dir() + "/half.staging/tree/etc"));
  ASSERT_TRUE(sys::make_dirs(f.images_dir() + "/done"));
  Manifest manifest;
  manifest.image = {.name = "done",
                    .kernel_ref = "debian-cloud",
                    .distro = "debian",
                    .init_flavour = model::InitFlavour::busybox,
                    .managed = true,
                    .created_at = 1700000000};
  manifest.recipe = "tiny";
  ASSERT_TRUE(
      sys::write_file_atomic(f.images_dir() + "/done/manifest.json", render_manifest(manifest)));
  ASSERT_TRUE(sys::write_file_atomic(f.images_dir() + "/done/rootfs.ext4", "1234"));
  ASSERT_TRUE(sys::make_dirs(f.images_dir() + "/junk"));
  ASSERT_TRUE(f.images.insert(
      {.name = "lost", .rootfs_path = f.images_dir() + "/lost/rootfs.ext4", .managed = true}));
  ASSERT_TRUE(f.images.insert(
      {.name = "external", .rootfs_path = "/nonexistent/r.ext4", .managed = false}));

  ASSERT_TRUE(f.service.reconcile());

  EXPECT_FALSE(fs::exists(f.images_dir() + "/half.staging"));
  EXPECT_FALSE(fs::exists(f.images_dir() + "/junk"));
  EXPECT_FALSE(f.service.show("lost"));
  EXPECT_TRUE(f.service.show("external"));  // the user's file may come back
  auto adopted = f.service.show("done");
  ASSERT_TRUE(adopted) << adopted.error().message;
  EXPECT_EQ(adopted->rootfs_path, f.images_dir() + "/done/rootfs.ext4");
  EXPECT_EQ(adopted->size_bytes, 4);
  EXPECT_TRUE(adopted->managed);
  EXPECT_EQ(adopted->init_flavour, model::InitFlavour::busybox);
  EXPECT_EQ(adopted->created_at, 1700000000);
  EXPECT_TRUE(fs::is_empty(f.dir.path() + "/images.trash"));
}

// Regression for L9 (security review): `image build --force` interrupted between the directory
// swap and the record update keeps the new image and records it (the replaced one goes with
// the staging directory), instead of a record that describes other files. Fails on 8f38f5a:
// ran without the refresh hook (as before this fix): the record kept kernel_ref "old-kernel",
// size 4 and created_at 1700000000 over the new 8-byte rootfs.
TEST(ImageService, ReconcileRecordsTheFilesOfAForcedBuildInterruptedBeforeItsRecord) {
  Fixture f;
  const std::string live = f.images_dir() + "/web";
  Manifest manifest;
  manifest.image = {.name = "web",
                    .kernel_ref = "debian-cloud",
                    .distro = "debian",
                    .init_flavour = model::InitFlavour::systemd,
                    .managed = true,
                    .created_at = 1700000500};
  manifest.recipe = "debian-bookworm";
  ASSERT_TRUE(sys::make_dirs(live));
  ASSERT_TRUE(sys::write_file_atomic(live + "/manifest.json", render_manifest(manifest)));
  ASSERT_TRUE(sys::write_file_atomic(live + "/rootfs.ext4", "new-ext4"));
  // The replaced image, swapped into the staging directory, and its record.
  ASSERT_TRUE(sys::make_dirs(live + ".staging"));
  ASSERT_TRUE(sys::write_file_atomic(live + ".staging/rootfs.ext4", "old!"));
  ASSERT_TRUE(f.images.insert({.name = "web",
                               .rootfs_path = live + "/rootfs.ext4",
                               .kernel_ref = "old-kernel",
                               .distro = "debian",
                               .init_flavour = model::InitFlavour::systemd,
                               .managed = true,
                               .size_bytes = 4,
                               .created_at = 1700000000}));

  ASSERT_TRUE(f.service.reconcile());

  auto web = f.service.show("web");
  ASSERT_TRUE(web) << web.error().message;
  EXPECT_EQ(web->kernel_ref, "debian-cloud");
  EXPECT_EQ(web->size_bytes, 8);
  EXPECT_EQ(web->created_at, 1700000500);
  EXPECT_EQ(web->rootfs_path, live + "/rootfs.ext4");
  EXPECT_EQ(*sys::read_file(live + "/rootfs.ext4"), "new-ext4");
  EXPECT_FALSE(fs::exists(live + ".staging"));
}

TEST(ImageService, PromoteCopiesTheRootfsIntoTheStoreAndRemoveDeletesIt) {
  sys::PosixCommandRunner real;
  Fixture f(&real);
  std::string rootfs = f.make_file("outside.ext4", "rootfs-bytes");
  ASSERT_TRUE(f.service.register_image({.name = "p", .rootfs_path = rootfs, .kernel_ref = "k"}));
  auto promoted = f.service.promote("p");
  ASSERT_TRUE(promoted) << promoted.error().message;
  EXPECT_TRUE(promoted->managed);
  EXPECT_EQ(promoted->rootfs_path, f.images_dir() + "/p/rootfs.ext4");
  EXPECT_EQ(*sys::read_file(promoted->rootfs_path), "rootfs-bytes");
  auto manifest = parse_manifest(*sys::read_file(f.images_dir() + "/p/manifest.json"));
  ASSERT_TRUE(manifest) << manifest.error().message;
  EXPECT_EQ(manifest->image.name, "p");
  EXPECT_EQ(*f.service.show("p"), *promoted);

  auto again = f.service.promote("p");
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, Errc::failed_precondition);
  EXPECT_EQ(again.error().message, "image \"p\" is already managed by banger");

  ASSERT_TRUE(f.service.remove("p"));
  EXPECT_FALSE(fs::exists(f.images_dir() + "/p"));
  EXPECT_TRUE(fs::exists(rootfs));
  EXPECT_TRUE(f.service.list()->empty());
}

}  // namespace
}  // namespace banger::imagecat
