#include "banger/catalog/catalog.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <set>

#include <nlohmann/json.hpp>

#include "banger/base/expected.hpp"
#include "banger/base/printable.hpp"
#include "banger/model/image.hpp"
#include "banger/model/kernel.hpp"

namespace banger::catalog {
namespace {

using Json = nlohmann::json;

// Bundles bigger than this are refused (a typo'd size must not reserve a disk).
constexpr std::uint64_t kMaxBundleBytes = 64ULL * 1024 * 1024 * 1024;

bool is_lower_hex_sha256(std::string_view text) {
  return text.size() == 64 && std::all_of(text.begin(), text.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

bool has_control_characters(std::string_view text) {
  return std::any_of(text.begin(), text.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

// Parses one entry of list kind at index; errors are prefixed with "<list>[<index>]".
Expected<BundleEntry> parse_entry(const Json& value, BundleKind kind, std::size_t index) {
  std::string at = fmt::format("{}s[{}]", to_string(kind), index);
  auto bad = [&at](const std::string& what) {
    return fail(Errc::invalid_argument, fmt::format("{}: {}", at, what));
  };
  if (!value.is_object()) {
    return bad("must be an object");
  }
  static const std::set<std::string> kImageKeys = {"name",   "description", "distro", "arch",
                                                   "kernel", "url",         "sha256", "size"};
  for (const auto& [key, field] : value.items()) {
    if (!kImageKeys.contains(key) || (kind == BundleKind::kernel && key == "kernel")) {
      return bad(fmt::format("unknown key \"{}\"", base::printable(key, 40)));
    }
    if (key != "size" && !field.is_string()) {
      return bad(fmt::format("{} must be a string", key));
    }
  }
  auto text = [&value](const char* key) {
    return value.contains(key) ? value[key].get<std::string>() : std::string();
  };
  BundleEntry entry{.name = text("name"),
                    .description = text("description"),
                    .distro = text("distro"),
                    .arch = text("arch"),
                    .kernel = text("kernel"),
                    .url = text("url"),
                    .sha256 = text("sha256"),
                    .size = 0};
  auto name_ok = kind == BundleKind::image ? model::validate_image_name(entry.name)
                                           : model::validate_kernel_name(entry.name);
  if (!name_ok) {
    return bad("name: " + name_ok.error().message);
  }
  at += " (" + entry.name + ")";
  if (entry.arch != kArch) {
    return bad(fmt::format("arch \"{}\" is not supported: banger boots {} only",
                           base::printable(entry.arch, 40), kArch));
  }
  if (kind == BundleKind::image) {
    if (auto kernel_ok = model::validate_kernel_name(entry.kernel); !kernel_ok) {
      return bad("kernel: " + kernel_ok.error().message);
    }
  }
  if (entry.url.empty() || has_control_characters(entry.url)) {
    return bad("url must be a non-empty string without control characters");
  }
  if (!is_lower_hex_sha256(entry.sha256)) {
    return bad("sha256 must be 64 lower-case hex digits");
  }
  if (has_control_characters(entry.description) || has_control_characters(entry.distro)) {
    return bad("description and distro must not contain control characters");
  }
  if (!value.contains("size") || !value["size"].is_number_unsigned() ||
      value["size"].get<std::uint64_t>() == 0 ||
      value["size"].get<std::uint64_t>() > kMaxBundleBytes) {
    return bad("size must be the bundle's size in bytes (1 byte to 64 GiB)");
  }
  entry.size = value["size"].get<std::uint64_t>();
  if (entry.distro.empty()) {
    entry.distro = "unknown";
  }
  return entry;
}

Json entry_json(const BundleEntry& entry, BundleKind kind) {
  Json out = Json::object();
  out["name"] = entry.name;
  if (!entry.description.empty()) {
    out["description"] = entry.description;
  }
  out["distro"] = entry.distro;
  out["arch"] = entry.arch;
  if (kind == BundleKind::image) {
    out["kernel"] = entry.kernel;
  }
  out["url"] = entry.url;
  out["sha256"] = entry.sha256;
  out["size"] = entry.size;
  return out;
}

}  // namespace

std::string_view to_string(BundleKind kind) {
  return kind == BundleKind::image ? "image" : "kernel";
}

Expected<Catalog> parse_catalog(std::string_view text, std::string_view where) {
  auto bad = [where](const std::string& what) {
    return fail(Errc::invalid_argument,
                fmt::format("catalog {}: {}", base::printable(where, 200), what));
  };
  if (text.size() > kMaxCatalogBytes) {
    return bad(fmt::format("larger than {} MiB", kMaxCatalogBytes >> 20));
  }
  Json doc = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return bad("not a JSON object");
  }
  for (const auto& [key, value] : doc.items()) {
    if (key != "version" && key != "images" && key != "kernels") {
      return bad(fmt::format("unknown key \"{}\"", base::printable(key, 40)));
    }
  }
  if (!doc.contains("version") || !doc["version"].is_number_integer() ||
      doc["version"].get<int>() != kCatalogVersion) {
    return bad(fmt::format("version must be {}", kCatalogVersion));
  }
  Catalog catalog;
  for (BundleKind kind : {BundleKind::image, BundleKind::kernel}) {
    const char* key = kind == BundleKind::image ? "images" : "kernels";
    if (!doc.contains(key)) {
      continue;
    }
    if (!doc[key].is_array()) {
      return bad(fmt::format("{} must be an array", key));
    }
    std::set<std::string> seen;
    for (std::size_t i = 0; i < doc[key].size(); ++i) {
      auto entry = parse_entry(doc[key][i], kind, i);
      if (!entry) {
        return bad(entry.error().message);
      }
      if (!seen.insert(entry->name).second) {
        return bad(
            fmt::format("{}[{}]: {} \"{}\" is listed twice", key, i, to_string(kind), entry->name));
      }
      catalog.of(kind).push_back(std::move(*entry));
    }
  }
  return catalog;
}

std::string render_catalog(const Catalog& catalog) {
  Json doc = Json::object();
  doc["version"] = kCatalogVersion;
  for (BundleKind kind : {BundleKind::image, BundleKind::kernel}) {
    auto entries = catalog.of(kind);
    std::sort(entries.begin(), entries.end(),
              [](const BundleEntry& a, const BundleEntry& b) { return a.name < b.name; });
    Json list = Json::array();
    for (const auto& entry : entries) {
      list.push_back(entry_json(entry, kind));
    }
    doc[kind == BundleKind::image ? "images" : "kernels"] = std::move(list);
  }
  return doc.dump(2) + "\n";
}

void upsert(Catalog& catalog, BundleKind kind, BundleEntry entry) {
  auto& list = catalog.of(kind);
  auto same = std::find_if(list.begin(), list.end(),
                           [&entry](const BundleEntry& e) { return e.name == entry.name; });
  if (same != list.end()) {
    *same = std::move(entry);
  } else {
    list.push_back(std::move(entry));
  }
}

const BundleEntry* find_entry(const Catalog& catalog, BundleKind kind, std::string_view name) {
  const auto& list = catalog.of(kind);
  auto it = std::find_if(list.begin(), list.end(),
                         [name](const BundleEntry& e) { return e.name == name; });
  return it == list.end() ? nullptr : &*it;
}

std::string bundle_file_name(const BundleEntry& entry) {
  return fmt::format("{}-{}-{}.tar.zst", entry.name, entry.arch, entry.sha256.substr(0, 12));
}

Expected<std::string> resolve_location(std::string_view catalog_location, std::string_view url) {
  auto bad = [url](std::string_view why) {
    return fail(Errc::invalid_argument,
                fmt::format("bundle url \"{}\": {}", base::printable(url, 200), why));
  };
  auto scheme = catalog_location.find("://");
  bool web_catalog = scheme != std::string_view::npos && !catalog_location.starts_with("file:");
  if (url.find("://") != std::string_view::npos) {
    if (web_catalog && !url.starts_with("https://") && !url.starts_with("http://")) {
      return bad("a catalog on the web can only point to http(s) bundles");
    }
    return std::string(url);
  }
  if (url.starts_with('/')) {
    if (!web_catalog) {
      return std::string(url);
    }
    // An absolute path on the catalog's own server.
    auto path_start = catalog_location.find('/', scheme + 3);
    return std::string(catalog_location.substr(0, path_start)) + std::string(url);
  }
  if (url.find('?') != std::string_view::npos || url.find('#') != std::string_view::npos) {
    return bad("a relative url cannot have a query or a fragment");
  }
  for (std::string_view rest = url; !rest.empty();) {
    auto slash = rest.find('/');
    std::string_view segment = rest.substr(0, slash);
    if (segment == "..") {
      return bad("a relative url must stay below the catalog's directory (no \"..\")");
    }
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
  }
  std::string_view base = catalog_location;
  // Only the path part of an http(s) location: a query or fragment does not name a directory.
  if (auto cut = base.find_first_of("?#"); cut != std::string_view::npos && web_catalog) {
    base = base.substr(0, cut);
  }
  if (web_catalog && base.find('/', scheme + 3) == std::string_view::npos) {
    return fmt::format("{}/{}", base, url);  // "https://host" has the root as its directory
  }
  auto slash = base.rfind('/');
  if (slash == std::string_view::npos) {
    return std::string(url);
  }
  return std::string(base.substr(0, slash + 1)) + std::string(url);
}

}  // namespace banger::catalog
