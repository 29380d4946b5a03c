// The embedded image recipes (tiny, debian-bookworm) and the pure plans derived from them:
// the mmdebstrap command line, the tiny image's library packages, image sizes.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "banger/base/error.hpp"
#include "banger/model/image.hpp"
#include "banger/sys/command_runner.hpp"

namespace banger::imagecat {

enum class RecipeKind {
  tiny,        // busybox-static + dropbear from .debs, busybox init script
  mmdebstrap,  // a Debian suite through mmdebstrap, systemd init
};

struct Recipe {
  std::string name;     // "tiny", "debian-bookworm": also the default image name
  std::string summary;  // one line for listings
  RecipeKind kind = RecipeKind::tiny;
  std::string distro;  // recorded in the image ("debian")
  std::string suite;   // mmdebstrap suite ("bookworm"); "" for tiny
  model::InitFlavour init_flavour = model::InitFlavour::busybox;
  std::string kernel;                 // default kernel reference ("debian-cloud")
  std::string extra_kernel_args;      // appended to the kernel command line
  std::vector<std::string> packages;  // the recipe's own package set
};

// The built-in recipes, in listing order.
const std::vector<Recipe>& recipes();

// The recipe called name; not_found `unknown recipe "x": available recipes: tiny,
// debian-bookworm` otherwise.
Expected<Recipe> find_recipe(std::string_view name);

// Validates extra package names given with --packages (Debian package names: at least two
// characters of a-z, 0-9, '+', '-' and '.', starting with a letter or digit). invalid_argument
// `invalid package name "X": use lower-case letters, digits, '+', '-' and '.'` otherwise.
Status validate_package_names(const std::vector<std::string>& packages);

// Candidate host apt sources files, in order of preference (ENVIRONMENT.md: never a host name).
inline constexpr std::string_view kDebianSourcesFile = "/etc/apt/sources.list.d/debian.sources";
inline constexpr std::string_view kAptSourcesList = "/etc/apt/sources.list";

// The first of the host's apt sources files for which exists() is true; failed_precondition
// `no apt sources file found (looked for /etc/apt/sources.list.d/debian.sources and
// /etc/apt/sources.list)` otherwise.
Expected<std::string> host_apt_sources(const std::function<bool(const std::string&)>& exists);

// Pure: the mmdebstrap command that builds recipe (kind mmdebstrap) plus extra packages into
// target_dir using the host's apt sources file as the MIRROR argument:
// mmdebstrap --mode=root --variant=apt --format=directory --include=a,b,... --quiet
// <suite> <target_dir> <sources_file>. Timeout 30 minutes.
sys::Command plan_mmdebstrap(const Recipe& recipe, const std::vector<std::string>& extra_packages,
                             const std::string& target_dir, const std::string& sources_file);

// The packages the tiny recipe needs on top of its own: the Depends closure of `dropbear-bin`
// as printed by `apt-cache depends --recurse ...` limited to shared-library packages (names
// starting with "lib" or "zlib"), sorted and unique.
std::vector<std::string> parse_library_depends(std::string_view apt_cache_output);

// Pure: the apt-cache command whose output parse_library_depends() reads.
sys::Command plan_library_depends_query(const std::string& package);

// Pure: the apt-cache command listing the direct dependencies of packages (the same flags as
// plan_library_depends_query, without --recurse); parse_library_depends() reads its output.
sys::Command plan_direct_depends_query(const std::vector<std::string>& packages);

// Image size in MiB for a tree of content_bytes: content x 1.5 rounded up to a MiB, plus
// slack_mib, and at least min_mib.
std::uint64_t image_size_mib(std::uint64_t content_bytes, std::uint64_t min_mib,
                             std::uint64_t slack_mib);

}  // namespace banger::imagecat
