#include "banger/kernelcat/guest_modules.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <system_error>

#include "banger/base/expected.hpp"
#include "banger/kernelcat/modules_order.hpp"
#include "banger/sys/fs.hpp"

namespace banger::kernelcat {
namespace {

namespace fs = std::filesystem;

constexpr auto kDepmodTimeout = std::chrono::minutes(2);
// The package's own files depmod and modprobe read besides the modules.
constexpr std::array<std::string_view, 3> kPackageIndexFiles = {
    "modules.builtin", "modules.builtin.modinfo", "modules.order"};

bool safe_relative(std::string_view path) {
  if (path.empty() || path.front() == '/') {
    return false;
  }
  for (const auto& part : fs::path(path)) {
    if (part == ".." || part == ".") {
      return false;
    }
  }
  return true;
}

Status copy_into(const std::string& from, const std::string& to) {
  std::error_code ec;
  fs::create_directories(fs::path(to).parent_path(), ec);
  if (!ec) {
    fs::copy_file(from, to, fs::copy_options::overwrite_existing, ec);
  }
  if (ec) {
    return fail(Errc::io, fmt::format("copying {} to {}: {}", from, to, ec.message()));
  }
  return {};
}

}  // namespace

Expected<GuestModuleTree> stage_guest_modules(sys::CommandRunner& runner,
                                              const GuestModuleInputs& in,
                                              std::string_view modules_dep) {
  const std::string tree = in.work_root + "/lib/modules/" + in.release;
  BANGER_TRY(sys::make_dirs(tree, 0755));
  std::vector<std::string> wanted(kGuestModules.begin(), kGuestModules.end());
  for (const auto& relative : modules_load_order(modules_dep, wanted)) {
    if (!safe_relative(relative)) {
      return fail(Errc::invalid_argument,
                  fmt::format("unsafe module path {} in modules.dep: paths must stay inside "
                              "lib/modules/{}",
                              relative, in.release));
    }
    BANGER_TRY(copy_into(in.modules_dir + "/" + relative, tree + "/" + relative));
  }
  for (std::string_view name : kPackageIndexFiles) {
    std::string from = in.modules_dir + "/" + std::string(name);
    if (sys::path_exists(from)) {
      BANGER_TRY(copy_into(from, tree + "/" + std::string(name)));
    }
  }
  sys::Command depmod{.argv = {in.depmod, "-b", in.work_root, in.release},
                      .timeout = kDepmodTimeout};
  BANGER_TRY(sys::run_checked(runner, depmod));

  GuestModuleTree out{.release = in.release, .source = in.source, .files = {}};
  std::error_code ec;
  fs::recursive_directory_iterator it(tree, fs::directory_options::none, ec);
  for (fs::recursive_directory_iterator end; !ec && it != end; it.increment(ec)) {
    std::error_code type_ec;
    if (it->is_regular_file(type_ec) && !it->is_symlink(type_ec)) {
      out.files.push_back({.relative = fs::relative(it->path(), tree).string(),
                           .source_path = it->path().string()});
    }
  }
  if (ec) {
    return fail(Errc::io, fmt::format("listing {}: {}", tree, ec.message()));
  }
  std::sort(out.files.begin(), out.files.end(),
            [](const auto& a, const auto& b) { return a.relative < b.relative; });
  return out;
}

}  // namespace banger::kernelcat
