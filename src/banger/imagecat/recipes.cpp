#include "banger/imagecat/recipes.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "banger/base/strings.hpp"

namespace banger::imagecat {

const std::vector<Recipe>& recipes() {
  static const std::vector<Recipe> kRecipes = {
      {.name = "tiny",
       .summary = "busybox + dropbear from Debian packages, busybox init (fast throwaway VMs)",
       .kind = RecipeKind::tiny,
       .distro = "debian",
       .suite = "",
       .init_flavour = model::InitFlavour::busybox,
       .kernel = "debian-cloud",
       .extra_kernel_args = "",
       .packages = {"busybox-static", "dropbear-bin"}},
      {.name = "debian-bookworm",
       .summary = "Debian 12 with systemd, openssh-server and a developer tool set (mmdebstrap)",
       .kind = RecipeKind::mmdebstrap,
       .distro = "debian",
       .suite = "bookworm",
       .init_flavour = model::InitFlavour::systemd,
       .kernel = "debian-cloud",
       // Docker 20.10 refuses to start containers on a kernel with AppArmor enabled when
       // apparmor_parser is missing, and the apparmor package loads its profiles at every boot
       // (seconds under TCG). The VM is the isolation boundary: AppArmor is off in the guest.
       .extra_kernel_args = "apparmor=0",
       .packages = {"systemd-sysv", "openssh-server", "iproute2", "ca-certificates", "curl", "git",
                    "jq", "less", "vim-tiny", "tmux", "procps", "make", "build-essential",
                    "python3", "sudo", "dnsutils",
                    // Not in the SPEC list but required: without udev, systemd never sees
                    // /dev/vdb (the work disk) and /root is not mounted.
                    "udev",
                    // Docker (issue 11): the daemon and CLI (containerd, runc, iptables come as
                    // dependencies); kmod's modprobe loads the kernel's guest modules that the
                    // initramfs installs; xz-utils for `docker load` of .tar.xz images.
                    "docker.io", "kmod", "xz-utils"}},
  };
  return kRecipes;
}

Expected<Recipe> find_recipe(std::string_view name) {
  std::vector<std::string> names;
  for (const auto& recipe : recipes()) {
    if (recipe.name == name) {
      return recipe;
    }
    names.push_back(recipe.name);
  }
  return fail(Errc::not_found, fmt::format("unknown recipe \"{}\": available recipes: {}", name,
                                           base::join(names, ", ")));
}

Status validate_package_names(const std::vector<std::string>& packages) {
  for (const auto& package : packages) {
    bool ok = package.size() >= 2 && ((package[0] >= 'a' && package[0] <= 'z') ||
                                      (package[0] >= '0' && package[0] <= '9'));
    for (char c : package) {
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.')) {
        ok = false;
      }
    }
    if (!ok) {
      return fail(Errc::invalid_argument,
                  fmt::format("invalid package name \"{}\": use lower-case letters, digits, '+', "
                              "'-' and '.'",
                              package));
    }
  }
  return {};
}

Expected<std::string> host_apt_sources(const std::function<bool(const std::string&)>& exists) {
  for (std::string_view candidate : {kDebianSourcesFile, kAptSourcesList}) {
    if (exists(std::string(candidate))) {
      return std::string(candidate);
    }
  }
  return fail(Errc::failed_precondition,
              fmt::format("no apt sources file found (looked for {} and {})", kDebianSourcesFile,
                          kAptSourcesList));
}

sys::Command plan_mmdebstrap(const Recipe& recipe, const std::vector<std::string>& extra_packages,
                             const std::string& target_dir, const std::string& sources_file) {
  std::vector<std::string> include = recipe.packages;
  for (const auto& package : extra_packages) {
    if (std::find(include.begin(), include.end(), package) == include.end()) {
      include.push_back(package);
    }
  }
  sys::Command command;
  command.argv = {"mmdebstrap",
                  "--mode=root",
                  "--variant=apt",
                  "--format=directory",
                  "--include=" + base::join(include, ","),
                  "--quiet",
                  recipe.suite,
                  target_dir,
                  sources_file};
  command.timeout = std::chrono::minutes(30);
  return command;
}

sys::Command plan_library_depends_query(const std::string& package) {
  sys::Command command;
  command.argv = {"apt-cache",     "depends",        "--recurse",   "--no-recommends",
                  "--no-suggests", "--no-conflicts", "--no-breaks", "--no-replaces",
                  "--no-enhances", package};
  command.timeout = std::chrono::minutes(2);
  return command;
}

sys::Command plan_direct_depends_query(const std::vector<std::string>& packages) {
  sys::Command command;
  command.argv = {"apt-cache",      "depends",     "--no-recommends", "--no-suggests",
                  "--no-conflicts", "--no-breaks", "--no-replaces",   "--no-enhances"};
  command.argv.insert(command.argv.end(), packages.begin(), packages.end());
  command.timeout = std::chrono::minutes(2);
  return command;
}

std::vector<std::string> parse_library_depends(std::string_view apt_cache_output) {
  std::set<std::string> out;
  for (const auto& raw : base::split(apt_cache_output, '\n')) {
    std::string_view line = base::trim(raw);
    if (!line.empty() && line[0] == '|') {
      line.remove_prefix(1);
    }
    constexpr std::string_view kDepends = "Depends: ";
    constexpr std::string_view kPreDepends = "PreDepends: ";
    std::string_view name;
    if (line.substr(0, kDepends.size()) == kDepends) {
      name = base::trim(line.substr(kDepends.size()));
    } else if (line.substr(0, kPreDepends.size()) == kPreDepends) {
      name = base::trim(line.substr(kPreDepends.size()));
    } else {
      continue;
    }
    // "<virtual>" entries name no real package.
    if (name.empty() || name[0] == '<') {
      continue;
    }
    if (name.substr(0, 3) == "lib" || name.substr(0, 4) == "zlib") {
      out.emplace(name);
    }
  }
  return {out.begin(), out.end()};
}

std::uint64_t image_size_mib(std::uint64_t content_bytes, std::uint64_t min_mib,
                             std::uint64_t slack_mib) {
  constexpr std::uint64_t kMib = 1024 * 1024;
  std::uint64_t scaled = content_bytes + content_bytes / 2;
  std::uint64_t mib = (scaled + kMib - 1) / kMib + slack_mib;
  return std::max(mib, min_mib);
}

}  // namespace banger::imagecat
