#include "banger/policy/firecracker.hpp"

#include <fmt/format.h>

#include <regex>
#include <sstream>

namespace banger::policy {

std::string to_string(const FirecrackerVersion& version) {
  return fmt::format("v{}.{}.{}", version.major, version.minor, version.patch);
}

std::optional<FirecrackerVersion> parse_firecracker_version(std::string_view output) {
  const std::string first_line(output.substr(0, output.find('\n')));
  static const std::regex kVersion(R"(\bv(\d{1,4})\.(\d{1,4})\.(\d{1,4})\b)");
  std::smatch match;
  if (!std::regex_search(first_line, match, kVersion)) {
    return std::nullopt;
  }
  return FirecrackerVersion{std::stoi(match[1]), std::stoi(match[2]), std::stoi(match[3])};
}

VersionFit fit_firecracker_version(const FirecrackerVersion& version) {
  if (version < kOldestFirecracker) {
    return VersionFit::too_old;
  }
  return version > kNewestTestedFirecracker ? VersionFit::newer_than_tested : VersionFit::supported;
}

std::string firecracker_install_hint(std::string_view ids) {
  std::istringstream words{std::string(ids)};
  std::string id;
  while (words >> id) {
    if (id == "fedora") {
      return "dnf install firecracker";
    }
    if (id == "arch") {
      return "pacman -S firecracker";
    }
    if (id == "alpine") {
      return "apk add firecracker";
    }
    if (id == "nixos") {
      return "add pkgs.firecracker to environment.systemPackages";
    }
  }
  return fmt::format(
      "not packaged here: download firecracker-{}-x86_64.tgz from "
      "https://github.com/firecracker-microvm/firecracker/releases and install its binary as "
      "/usr/local/bin/firecracker (owned by root, mode 0755), or point firecracker_bin at it",
      to_string(kNewestTestedFirecracker));
}

}  // namespace banger::policy
