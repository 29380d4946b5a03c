#include "banger/kernelcat/kernel_manifest.hpp"

#include <nlohmann/json.hpp>

namespace banger::kernelcat {

std::string to_json(const KernelManifest& m) {
  nlohmann::ordered_json j;
  j["name"] = m.name;
  j["distro"] = m.distro;
  j["arch"] = m.arch;
  j["version"] = m.version;
  j["sha256"] = m.sha256;
  j["initrd_sha256"] = m.initrd_sha256;
  j["source"] = m.source;
  j["imported_at"] = m.imported_at;
  j["package"] = m.package;
  j["package_version"] = m.package_version;
  if (!m.bundle_sha256.empty()) {
    j["bundle_sha256"] = m.bundle_sha256;
  }
  if (!m.build_key.empty()) {
    j["build_key"] = m.build_key;
  }
  return j.dump(2) + "\n";
}

Expected<KernelManifest> parse_manifest(std::string_view text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return fail(Errc::invalid_argument, "bad kernel manifest: not a JSON object");
  }
  KernelManifest m;
  auto get_string = [&](const char* key, std::string& out) -> Status {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) {
      return {};
    }
    if (!it->is_string()) {
      return fail(Errc::invalid_argument,
                  std::string("bad kernel manifest: ") + key + " must be a string");
    }
    out = it->get<std::string>();
    return {};
  };
  for (auto [key, field] : {std::pair<const char*, std::string*>{"name", &m.name},
                            {"distro", &m.distro},
                            {"arch", &m.arch},
                            {"version", &m.version},
                            {"sha256", &m.sha256},
                            {"initrd_sha256", &m.initrd_sha256},
                            {"source", &m.source},
                            {"package", &m.package},
                            {"package_version", &m.package_version},
                            {"bundle_sha256", &m.bundle_sha256},
                            {"build_key", &m.build_key}}) {
    if (auto ok = get_string(key, *field); !ok) {
      return tl::unexpected(ok.error());
    }
  }
  if (auto it = j.find("imported_at"); it != j.end()) {
    if (!it->is_number_integer()) {
      return fail(Errc::invalid_argument, "bad kernel manifest: imported_at must be an integer");
    }
    m.imported_at = it->get<std::int64_t>();
  }
  if (m.name.empty()) {
    return fail(Errc::invalid_argument, "bad kernel manifest: name is missing");
  }
  if (m.sha256.empty()) {
    return fail(Errc::invalid_argument, "bad kernel manifest: sha256 is missing");
  }
  return m;
}

model::Kernel to_record(const KernelManifest& m, const std::string& dir) {
  return model::Kernel{.name = m.name,
                       .distro = m.distro,
                       .arch = m.arch,
                       .version = m.version,
                       .vmlinux_path = dir + "/vmlinux",
                       .initrd_path = m.initrd_sha256.empty() ? "" : dir + "/initrd.img",
                       .sha256 = m.sha256,
                       .source = m.source,
                       .imported_at = m.imported_at};
}

}  // namespace banger::kernelcat
