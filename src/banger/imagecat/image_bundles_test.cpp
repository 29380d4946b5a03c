// ImageService's bundle side: image bundle / import / pull of a catalog bundle, on real files
// and a real store (the rootfs is a stand-in with an ext4 superblock magic).
#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "banger/catalog/catalog.hpp"
#include "banger/imagecat/image_service.hpp"
#include "banger/imagecat/manifest.hpp"
#include "banger/store/database.hpp"
#include "banger/sys/fs.hpp"
#include "banger/sys/sha256.hpp"
#include "banger/testkit/fake_clock.hpp"
#include "banger/testkit/fake_command_runner.hpp"
#include "banger/testkit/temp_dir.hpp"

namespace banger::imagecat {
namespace {

namespace fs = std::filesystem;

// 8 KiB with the ext4 magic at 1080 and some content.
std::string fake_ext4(char fill = 'r') {
  std::string data(8192, fill);
  data[1080] = '\x53';
  data[1081] = '\xEF';
  return data;
}

// One daemon's image store with a catalog at catalog_url.
struct Daemon {
  explicit Daemon(const std::string& root, std::string catalog_url = "")
      : db(*store::Database::open(root + "/state.db")),
        images(db),
        paths([&root] {
          paths::Paths p;
          p.images_dir = root + "/images";
          p.downloads_dir = root + "/downloads";
          return p;
        }()),
        service({.images = images,
                 .runner = runner,
                 .paths = paths,
                 .clock = clock,
                 .users_of = [](const std::string&) { return std::vector<std::string>{}; },
                 .register_kernel = {},
                 .find_tool = [](const std::string& t) { return "/usr/bin/" + t; },
                 .catalog_url = std::move(catalog_url)}) {
    EXPECT_TRUE(sys::make_dirs(paths.images_dir));
  }
  store::Database db;
  store::ImageRepository images;
  paths::Paths paths;
  testkit::FakeCommandRunner runner;
  testkit::FakeClock clock;
  ImageService service;
};

struct Fixture {
  Fixture() {
    for (const char* d : {"a", "b", "pub"}) {
      fs::create_directories(dir.path() + "/" + d);
    }
  }
  std::string pub() const { return dir.path() + "/pub"; }
  std::string catalog_file() const { return pub() + "/catalog.json"; }
  // Registers a stand-in image called name on daemon a and bundles it into pub/ with the
  // catalog file.
  Expected<BundleResult> publish(Daemon& a, const std::string& name, char fill = 'r') {
    std::string rootfs = dir.path() + "/" + name + ".ext4";
    EXPECT_TRUE(sys::write_file_atomic(rootfs, fake_ext4(fill)));
    if (!a.service.show(name)) {
      EXPECT_TRUE(a.service.register_image({.name = name,
                                            .rootfs_path = rootfs,
                                            .kernel_ref = "debian-cloud",
                                            .distro = "debian",
                                            .init_flavour = model::InitFlavour::busybox,
                                            .extra_kernel_args = "quiet"}));
    }
    return a.service.bundle({.name = name, .output_dir = pub(), .catalog_file = catalog_file()});
  }
  testkit::TempDir dir;
};

TEST(ImageBundles, BundleWritesTheCatalogEntryAndAnotherDaemonPullsItByName) {
  Fixture f;
  Daemon a(f.dir.path() + "/a");
  auto bundled = f.publish(a, "team-dev");
  ASSERT_TRUE(bundled) << bundled.error().message;
  EXPECT_EQ(fs::path(bundled->path).parent_path(), f.pub());
  EXPECT_EQ(bundled->entry.url, fs::path(bundled->path).filename().string()) << "relative";
  EXPECT_EQ(bundled->entry.kernel, "debian-cloud");
  auto doc = catalog::parse_catalog(*sys::read_file(f.catalog_file()), "c");
  ASSERT_TRUE(doc) << doc.error().message;
  ASSERT_EQ(doc->images.size(), 1u);
  EXPECT_EQ(doc->images[0], bundled->entry);

  Daemon b(f.dir.path() + "/b", f.catalog_file());
  auto listed = b.service.catalog();
  ASSERT_TRUE(listed) << listed.error().message;
  auto team = std::find_if(listed->begin(), listed->end(),
                           [](const CatalogImage& e) { return e.name == "team-dev"; });
  ASSERT_NE(team, listed->end());
  EXPECT_EQ(team->kind, "bundle");
  EXPECT_FALSE(team->pulled);
  EXPECT_TRUE(b.service.in_catalog("team-dev"));

  auto pulled = b.service.pull({.reference = "team-dev"});
  ASSERT_TRUE(pulled) << pulled.error().message;
  EXPECT_FALSE(pulled->up_to_date);
  EXPECT_EQ(pulled->digest, "sha256:" + bundled->entry.sha256);
  const auto& image = pulled->image;
  EXPECT_TRUE(image.managed);
  EXPECT_EQ(image.kernel_ref, "debian-cloud");
  EXPECT_EQ(image.distro, "debian");
  EXPECT_EQ(image.init_flavour, model::InitFlavour::busybox);
  EXPECT_EQ(image.extra_kernel_args, "quiet");
  EXPECT_EQ(*sys::read_file(image.rootfs_path), fake_ext4());
  EXPECT_EQ(*b.service.show("team-dev"), image);
  EXPECT_EQ(b.service.source_of(image).source, "bundle " + f.pub() + "/" + bundled->entry.url +
                                                   " (sha256 " + bundled->entry.sha256 + ")");
  EXPECT_TRUE(fs::is_empty(b.paths.downloads_dir)) << "the download is removed";

  auto again = b.service.pull({.reference = "team-dev"});
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_TRUE(again->up_to_date);

  // The team publishes a new version: a plain pull says so, --force takes it.
  auto republished = f.publish(a, "team-dev", 'n');
  ASSERT_TRUE(republished);
  auto stale = b.service.pull({.reference = "team-dev"});
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error().code, Errc::already_exists);
  EXPECT_NE(stale.error().message.find("the catalog now has " + republished->entry.sha256),
            std::string::npos)
      << stale.error().message;
  auto forced = b.service.pull({.reference = "team-dev", .force = true});
  ASSERT_TRUE(forced) << forced.error().message;
  EXPECT_EQ(*sys::read_file(forced->image.rootfs_path), fake_ext4('n'));
}

TEST(ImageBundles, ImportTakesALocalBundleWithNameAndKernelOverrides) {
  Fixture f;
  Daemon a(f.dir.path() + "/a");
  auto bundled = f.publish(a, "base");
  ASSERT_TRUE(bundled) << bundled.error().message;
  Daemon b(f.dir.path() + "/b");
  auto imported = b.service.import_bundle({.path = bundled->path});
  ASSERT_TRUE(imported) << imported.error().message;
  EXPECT_EQ(imported->name, "base");
  auto renamed =
      b.service.import_bundle({.path = bundled->path, .name = "copy", .kernel = "fc-6.1"});
  ASSERT_TRUE(renamed) << renamed.error().message;
  EXPECT_EQ(renamed->name, "copy");
  EXPECT_EQ(renamed->kernel_ref, "fc-6.1");
  auto twice = b.service.import_bundle({.path = bundled->path});
  ASSERT_FALSE(twice);
  EXPECT_EQ(twice.error().code, Errc::already_exists);
  auto relative = b.service.import_bundle({.path = "base.tar.zst"});
  ASSERT_FALSE(relative);
  EXPECT_EQ(relative.error().code, Errc::invalid_argument);
}

// A hand-made image bundle holding manifest_text and rootfs.
std::string hand_made(const std::string& dir, const std::string& manifest_text,
                      const std::string& rootfs) {
  std::string path = dir + "/hand.tar.zst";
  fs::remove(path);
  archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  archive_write_add_filter_zstd(a);
  archive_write_open_filename(a, path.c_str());
  for (const auto& [name, data] : {std::pair{std::string("manifest.json"), manifest_text},
                                   std::pair{std::string("rootfs.ext4"), rootfs}}) {
    archive_entry* entry = archive_entry_new();
    archive_entry_set_pathname(entry, name.c_str());
    archive_entry_set_filetype(entry, AE_IFREG);
    archive_entry_set_perm(entry, 0644);
    archive_entry_set_size(entry, static_cast<la_int64_t>(data.size()));
    archive_write_header(a, entry);
    archive_write_data(a, data.data(), data.size());
    archive_entry_free(entry);
  }
  archive_write_close(a);
  archive_write_free(a);
  return path;
}

TEST(ImageBundles, RefusesBundlesWhoseManifestDoesNotHoldAndLeavesNothing) {
  Fixture f;
  Daemon b(f.dir.path() + "/b");
  Manifest good;
  good.image = {.name = "evil", .kernel_ref = "debian-cloud", .distro = "x"};
  good.rootfs_sha256 = sys::sha256_hex(fake_ext4());
  struct Case {
    std::function<void(Manifest&)> spoil;
    std::string rootfs;
    std::string error;
  };
  const std::vector<Case> cases = {
      {[](Manifest& m) { m.rootfs_sha256 = std::string(64, '0'); }, fake_ext4(),
       "rootfs.ext4 has sha256 " + sys::sha256_hex(fake_ext4()) + ", its manifest says " +
           std::string(64, '0')},
      {[](Manifest& m) { m.rootfs_sha256 = ""; }, fake_ext4(),
       "manifest.json has no rootfs_sha256: not a bundle `banger image bundle` wrote"},
      {[](Manifest& m) { m.image.kernel_ref = "../../etc"; }, fake_ext4(),
       "manifest.json: kernel: invalid kernel name"},
      {[](Manifest& m) { m.image.extra_kernel_args = "quiet\ninit=/x"; }, fake_ext4(),
       "manifest.json: extra_kernel_args must be printable ASCII of at most 1024 bytes"},
      {[](Manifest& m) { m.rootfs_sha256 = sys::sha256_hex(std::string(8192, 'r')); },
       std::string(8192, 'r'), "rootfs.ext4 is not an ext4 file system"},
  };
  for (const auto& c : cases) {
    Manifest m = good;
    c.spoil(m);
    std::string path = hand_made(f.dir.path(), render_manifest(m), c.rootfs);
    auto imported = b.service.import_bundle({.path = path});
    ASSERT_FALSE(imported) << c.error;
    EXPECT_EQ(imported.error().code, Errc::invalid_argument);
    EXPECT_NE(imported.error().message.find(c.error), std::string::npos)
        << imported.error().message;
    EXPECT_FALSE(b.service.show("evil")) << "nothing is recorded";
    EXPECT_TRUE(fs::is_empty(b.paths.images_dir)) << "no staging directory is left";
  }
  std::string unnamed = hand_made(f.dir.path(), "{\"version\":1}", fake_ext4());
  auto broken = b.service.import_bundle({.path = unnamed});
  ASSERT_FALSE(broken);
  EXPECT_NE(broken.error().message.find("bundle " + unnamed + ": manifest:"), std::string::npos)
      << broken.error().message;
}

TEST(ImageBundles, AnUnusableCatalogFailsOnlyNamesThatCouldOnlyComeFromIt) {
  Fixture f;
  Daemon b(f.dir.path() + "/b", f.dir.path() + "/missing/catalog.json");
  auto plain = b.service.pull({.reference = "team-dev"});
  ASSERT_FALSE(plain);
  EXPECT_EQ(plain.error().code, Errc::not_found);
  EXPECT_NE(plain.error().message.find("looking up image \"team-dev\" in the catalog"),
            std::string::npos)
      << plain.error().message;
  // A recipe name goes on to the recipe (whose flag check proves it got there) ...
  std::vector<std::string> warnings;
  auto recipe =
      b.service.pull({.reference = "tiny", .size_mib = 2048}, [&](const base::ProgressEvent& e) {
        if (e.stage == "catalog")
          warnings.push_back(e.message);
      });
  ASSERT_FALSE(recipe);
  EXPECT_NE(recipe.error().message.find("is a recipe"), std::string::npos);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("going on without it"), std::string::npos);
  // ... and an OCI-looking reference to the registry path (here: its reference parser).
  auto oci = b.service.pull({.reference = "UPPER:x"});
  ASSERT_FALSE(oci);
  EXPECT_NE(oci.error().message.find("invalid image reference"), std::string::npos);
  EXPECT_FALSE(b.service.catalog());
  EXPECT_TRUE(b.service.in_catalog("tiny"));
  EXPECT_FALSE(b.service.in_catalog("team-dev"));
}

TEST(ImageBundles, ACatalogBundleWinsOverTheRecipeOfItsNameAndRefusesOciFlags) {
  Fixture f;
  Daemon a(f.dir.path() + "/a");
  ASSERT_TRUE(f.publish(a, "tiny"));
  Daemon b(f.dir.path() + "/b", f.catalog_file());
  auto listed = b.service.catalog();
  ASSERT_TRUE(listed);
  auto tiny = std::find_if(listed->begin(), listed->end(),
                           [](const CatalogImage& e) { return e.name == "tiny"; });
  ASSERT_NE(tiny, listed->end());
  EXPECT_EQ(tiny->kind, "bundle");
  auto flags = b.service.pull({.reference = "tiny", .platform = "linux/amd64"});
  ASSERT_FALSE(flags);
  EXPECT_NE(flags.error().message.find("is a bundle of the catalog"), std::string::npos);
  auto pulled = b.service.pull({.reference = "tiny"});
  ASSERT_TRUE(pulled) << pulled.error().message;
  EXPECT_TRUE(b.runner.ran().empty()) << "nothing was built";
}

}  // namespace
}  // namespace banger::imagecat
