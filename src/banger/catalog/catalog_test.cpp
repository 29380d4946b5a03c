#include "banger/catalog/catalog.hpp"

#include <gtest/gtest.h>

#include <string>

namespace banger::catalog {
namespace {

const std::string kSha(64, 'a');

std::string image_entry(const std::string& extra = "") {
  return R"({"name":"team-dev","distro":"debian","arch":"x86_64","kernel":"debian-cloud",)"
         R"("url":"team-dev-x86_64-aaaaaaaaaaaa.tar.zst","sha256":")" +
         kSha + R"(","size":1234)" + extra + "}";
}

Expected<Catalog> parse(const std::string& text) { return parse_catalog(text, "c.json"); }

std::string error_of(const std::string& text) {
  auto parsed = parse(text);
  return parsed ? "<parsed>" : parsed.error().message;
}

TEST(Catalog, ParsesImagesAndKernels) {
  auto parsed =
      parse(R"({"version":1,"images":[)" + image_entry() +
            R"(],"kernels":[{"name":"fc-6.1","arch":"x86_64","url":"https://h/k.tar.zst",)"
            R"("sha256":")" +
            kSha + R"(","size":9,"description":"built-in drivers"}]})");
  ASSERT_TRUE(parsed) << parsed.error().message;
  ASSERT_EQ(parsed->images.size(), 1u);
  EXPECT_EQ(parsed->images[0].name, "team-dev");
  EXPECT_EQ(parsed->images[0].kernel, "debian-cloud");
  EXPECT_EQ(parsed->images[0].size, 1234u);
  ASSERT_EQ(parsed->kernels.size(), 1u);
  EXPECT_EQ(parsed->kernels[0].distro, "unknown");
  EXPECT_EQ(parsed->kernels[0].description, "built-in drivers");
}

TEST(Catalog, RenderThenParseGivesTheSameCatalog) {
  Catalog catalog;
  upsert(catalog, BundleKind::image,
         {.name = "b",
          .distro = "debian",
          .kernel = "k",
          .url = "b.tar.zst",
          .sha256 = kSha,
          .size = 1});
  upsert(catalog, BundleKind::image,
         {.name = "a",
          .distro = "debian",
          .kernel = "k",
          .url = "a.tar.zst",
          .sha256 = kSha,
          .size = 2});
  upsert(catalog, BundleKind::kernel,
         {.name = "k", .distro = "debian", .url = "k.tar.zst", .sha256 = kSha, .size = 3});
  auto text = render_catalog(catalog);
  auto back = parse(text);
  ASSERT_TRUE(back) << back.error().message;
  ASSERT_EQ(back->images.size(), 2u);
  EXPECT_EQ(back->images[0].name, "a");  // sorted by name
  EXPECT_EQ(back->kernels, catalog.kernels);
  EXPECT_EQ(render_catalog(*back), text);
}

TEST(Catalog, UpsertReplacesTheEntryOfTheSameName) {
  Catalog catalog;
  upsert(catalog, BundleKind::image, {.name = "a", .url = "old", .sha256 = kSha, .size = 1});
  upsert(catalog, BundleKind::image, {.name = "a", .url = "new", .sha256 = kSha, .size = 2});
  ASSERT_EQ(catalog.images.size(), 1u);
  EXPECT_EQ(catalog.images[0].url, "new");
  ASSERT_NE(find_entry(catalog, BundleKind::image, "a"), nullptr);
  EXPECT_EQ(find_entry(catalog, BundleKind::kernel, "a"), nullptr);
}

TEST(Catalog, RefusesMalformedDocumentsNamingTheEntryAndField) {
  EXPECT_EQ(error_of("[]"), "catalog c.json: not a JSON object");
  EXPECT_EQ(error_of(R"({"version":2})"), "catalog c.json: version must be 1");
  EXPECT_EQ(error_of(R"({"version":1,"extra":1})"), "catalog c.json: unknown key \"extra\"");
  EXPECT_EQ(error_of(R"({"version":1,"images":{}})"), "catalog c.json: images must be an array");
  EXPECT_EQ(error_of(R"({"version":1,"images":[)" + image_entry(R"(,"evil":1)") + "]}"),
            "catalog c.json: images[0]: unknown key \"evil\"");
  std::string bad_sha = image_entry();
  bad_sha.replace(bad_sha.find(kSha), 64, std::string(64, 'A'));
  EXPECT_EQ(error_of(R"({"version":1,"images":[)" + bad_sha + "]}"),
            "catalog c.json: images[0] (team-dev): sha256 must be 64 lower-case hex digits");
  std::string bad_name = image_entry();
  bad_name.replace(bad_name.find("team-dev"), 8, "../etc");
  EXPECT_NE(error_of(R"({"version":1,"images":[)" + bad_name + "]}")
                .find("catalog c.json: images[0]: name: invalid image name \"../etc\""),
            std::string::npos);
  std::string zero = image_entry();
  zero.replace(zero.find("1234"), 4, "0");
  EXPECT_EQ(error_of(R"({"version":1,"images":[)" + zero + "]}"),
            "catalog c.json: images[0] (team-dev): size must be the bundle's size in bytes (1 "
            "byte to 64 GiB)");
  std::string arm = image_entry();
  arm.replace(arm.find("x86_64"), 6, "aarch64");
  EXPECT_EQ(error_of(R"({"version":1,"images":[)" + arm + "]}"),
            "catalog c.json: images[0] (team-dev): arch \"aarch64\" is not supported: banger "
            "boots x86_64 only");
  EXPECT_EQ(error_of(R"({"version":1,"images":[)" + image_entry() + "," + image_entry() + "]}"),
            "catalog c.json: images[1]: image \"team-dev\" is listed twice");
  EXPECT_EQ(error_of(R"({"version":1,"kernels":[{"name":"k","kernel":"x"}]})"),
            "catalog c.json: kernels[0]: unknown key \"kernel\"");
  std::string newline_url = image_entry();
  newline_url.replace(newline_url.find("team-dev-x86"), 3, "a\\nb");
  EXPECT_EQ(error_of(R"({"version":1,"images":[)" + newline_url + "]}"),
            "catalog c.json: images[0] (team-dev): url must be a non-empty string without "
            "control characters");
  EXPECT_EQ(error_of(std::string(kMaxCatalogBytes + 1, ' ')), "catalog c.json: larger than 4 MiB");
}

TEST(Catalog, BundleFileNameCarriesNameArchAndShaPrefix) {
  EXPECT_EQ(bundle_file_name({.name = "tiny", .sha256 = "0123456789abcdef" + std::string(48, '0')}),
            "tiny-x86_64-0123456789ab.tar.zst");
}

TEST(Catalog, RelativeUrlsResolveAgainstTheCatalogsDirectory) {
  EXPECT_EQ(*resolve_location("https://h/c/catalog.json", "a.tar.zst"), "https://h/c/a.tar.zst");
  EXPECT_EQ(*resolve_location("https://h/c/catalog.json?x=1", "sub/a.tar.zst"),
            "https://h/c/sub/a.tar.zst");
  EXPECT_EQ(*resolve_location("https://h", "a.tar.zst"), "https://h/a.tar.zst");
  EXPECT_EQ(*resolve_location("/srv/c/catalog.json", "a.tar.zst"), "/srv/c/a.tar.zst");
  EXPECT_EQ(*resolve_location("file:///srv/catalog.json", "a.tar.zst"), "file:///srv/a.tar.zst");
  EXPECT_EQ(*resolve_location("/srv/c/catalog.json", "https://o/a.tar.zst"), "https://o/a.tar.zst");
  EXPECT_EQ(*resolve_location("https://h/c/catalog.json", "/abs/a.tar.zst"),
            "https://h/abs/a.tar.zst");
  EXPECT_EQ(*resolve_location("/srv/c/catalog.json", "/abs/a.tar.zst"), "/abs/a.tar.zst");
  auto local = resolve_location("https://h/c/catalog.json", "file:///etc/shadow");
  ASSERT_FALSE(local);
  EXPECT_EQ(local.error().message,
            "bundle url \"file:///etc/shadow\": a catalog on the web can "
            "only point to http(s) bundles");
  auto up = resolve_location("https://h/c/catalog.json", "../x.tar.zst");
  ASSERT_FALSE(up);
  EXPECT_EQ(up.error().message,
            "bundle url \"../x.tar.zst\": a relative url must stay below the catalog's directory "
            "(no \"..\")");
  EXPECT_FALSE(resolve_location("https://h/c/catalog.json", "a.tar.zst?x"));
}

}  // namespace
}  // namespace banger::catalog
