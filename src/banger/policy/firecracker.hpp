// Pure decisions about a Firecracker binary (issue 13): which versions banger accepts, and how
// to install one. doctor reports with them today; the Firecracker backend will refuse a binary
// outside the window with the same words.
#pragma once

#include <compare>
#include <optional>
#include <string>
#include <string_view>

namespace banger::policy {

struct FirecrackerVersion {
  int major = 0;
  int minor = 0;
  int patch = 0;
  auto operator<=>(const FirecrackerVersion&) const = default;
};

// "v1.14.1".
std::string to_string(const FirecrackerVersion& version);

// The oldest release banger supports and the newest it is tested with (the API specifications
// in third_party/firecracker go up to 1.16.1; the backend targets the 1.14 API).
inline constexpr FirecrackerVersion kOldestFirecracker{1, 5, 0};
inline constexpr FirecrackerVersion kNewestTestedFirecracker{1, 14, 1};

// The version in `firecracker --version` output ("Firecracker v1.14.1\n..."): the first
// "v<major>.<minor>.<patch>" of its first line; nullopt when there is none.
std::optional<FirecrackerVersion> parse_firecracker_version(std::string_view output);

enum class VersionFit { too_old, supported, newer_than_tested };
VersionFit fit_firecracker_version(const FirecrackerVersion& version);

// How to install Firecracker on the distribution whose /etc/os-release says ids (ID followed by
// ID_LIKE, space separated, lower case: "ubuntu debian"). Debian and Ubuntu do not package it:
// the hint is the release download.
std::string firecracker_install_hint(std::string_view ids);

}  // namespace banger::policy
