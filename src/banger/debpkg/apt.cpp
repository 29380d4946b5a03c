#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <set>
#include <system_error>

#include "banger/base/expected.hpp"
#include "banger/base/strings.hpp"
#include "banger/debpkg/debpkg.hpp"

namespace banger::debpkg {
namespace {

constexpr auto kQueryTimeout = std::chrono::seconds(60);
constexpr auto kDownloadTimeout = std::chrono::minutes(10);

// apt prints translated messages; we parse them, so pin the C locale.
sys::Command apt_command(std::vector<std::string> argv) {
  sys::Command command;
  command.argv = std::move(argv);
  command.env_overrides = {{"LC_ALL", "C"}};
  command.timeout = kQueryTimeout;
  return command;
}

// Runs an apt tool; a missing program becomes the "install apt" error.
Expected<sys::CommandResult> run_apt(sys::CommandRunner& runner, const sys::Command& command) {
  auto result = runner.run(command);
  if (!result) {
    if (result.error().code == Errc::not_found) {
      const std::string& tool = command.argv.front();
      return fail(Errc::not_found,
                  fmt::format("{} not found: install the apt package (apt-get install apt)", tool));
    }
    return tl::unexpected(with_context(result.error(), "running " + command.argv.front()));
  }
  return result;
}

Error not_in_apt(const std::string& package) {
  return Error{Errc::not_found,
               fmt::format("package {} not found by apt: run apt-get update or check the "
                           "host's apt sources",
                           package),
               0,
               {}};
}

std::string failure_detail(const sys::CommandResult& result) {
  std::string detail(base::trim(base::tail_lines(result.err, 5)));
  if (detail.empty()) {
    detail = std::string(base::trim(base::tail_lines(result.out, 5)));
  }
  return detail;
}

// The package named in apt's "Unable to locate package X" / "package X ... no candidate".
std::string unknown_package_in(const std::string& err, const std::vector<std::string>& packages) {
  for (const auto& line : base::split(err, '\n')) {
    if (line.find("Unable to locate package") == std::string::npos &&
        line.find("has no installation candidate") == std::string::npos &&
        line.find("no candidate") == std::string::npos) {
      continue;
    }
    for (const auto& package : packages) {
      auto pos = line.find(package);
      while (pos != std::string::npos) {
        std::size_t end = pos + package.size();
        bool starts = pos == 0 || line[pos - 1] == ' ' || line[pos - 1] == '\'';
        bool ends = end == line.size() || line[end] == ' ' || line[end] == '\'' || line[end] == ',';
        if (starts && ends) {
          return package;
        }
        pos = line.find(package, pos + 1);
      }
    }
  }
  return {};
}

}  // namespace

Expected<std::string> resolve_dependency(sys::CommandRunner& runner,
                                         const std::string& meta_package,
                                         const std::string& prefix) {
  BANGER_TRY_ASSIGN(auto result,
                    run_apt(runner, apt_command({"apt-cache", "depends", meta_package})));
  if (result.exit_code != 0) {
    if (result.err.find("No packages found") != std::string::npos) {
      return tl::unexpected(not_in_apt(meta_package));
    }
    return fail(Errc::command_failed,
                fmt::format("apt-cache depends {} exited {}: {}", meta_package, result.exit_code,
                            failure_detail(result)));
  }
  for (const auto& raw : base::split(result.out, '\n')) {
    std::string_view line = base::trim(raw);
    if (!line.empty() && line.front() == '|') {
      line.remove_prefix(1);
    }
    constexpr std::string_view kDepends = "Depends:";
    if (line.substr(0, kDepends.size()) != kDepends) {
      continue;
    }
    std::string_view name = base::trim(line.substr(kDepends.size()));
    if (auto space = name.find(' '); space != std::string_view::npos) {
      name = name.substr(0, space);
    }
    if (name.size() > prefix.size() && name.substr(0, prefix.size()) == prefix) {
      return std::string(name);
    }
  }
  return fail(Errc::not_found,
              fmt::format("package {} has no dependency named {}*", meta_package, prefix));
}

Expected<std::string> candidate_version(sys::CommandRunner& runner, const std::string& package) {
  BANGER_TRY_ASSIGN(auto result, run_apt(runner, apt_command({"apt-cache", "policy", package})));
  if (result.exit_code != 0) {
    return fail(Errc::command_failed, fmt::format("apt-cache policy {} exited {}: {}", package,
                                                  result.exit_code, failure_detail(result)));
  }
  constexpr std::string_view kCandidate = "Candidate:";
  for (const auto& raw : base::split(result.out, '\n')) {
    std::string_view line = base::trim(raw);
    if (line.substr(0, kCandidate.size()) != kCandidate) {
      continue;
    }
    std::string_view version = base::trim(line.substr(kCandidate.size()));
    if (version.empty() || version == "(none)") {
      return fail(Errc::not_found,
                  fmt::format("package {} has no installation candidate in the host's apt "
                              "sources",
                              package));
    }
    return std::string(version);
  }
  return tl::unexpected(not_in_apt(package));
}

std::string package_of_deb(const std::string& deb_path) {
  std::string name = std::filesystem::path(deb_path).filename().string();
  auto underscore = name.find('_');
  if (underscore == std::string::npos) {
    return {};
  }
  return name.substr(0, underscore);
}

Expected<std::vector<std::string>> download(sys::CommandRunner& runner,
                                            const std::vector<std::string>& packages,
                                            const std::string& dest_dir,
                                            const base::ProgressFn& progress) {
  if (packages.empty()) {
    return fail(Errc::invalid_argument, "no packages to download");
  }
  std::vector<std::string> argv = {"apt-get", "download"};
  argv.insert(argv.end(), packages.begin(), packages.end());
  sys::Command command = apt_command(argv);
  command.cwd = dest_dir;
  command.timeout = kDownloadTimeout;
  base::report(progress, {.stage = "download",
                          .message = "downloading " + base::join(packages, ", "),
                          .done = 0,
                          .total = static_cast<std::int64_t>(packages.size())});
  BANGER_TRY_ASSIGN(auto result, run_apt(runner, command));
  if (result.exit_code != 0) {
    if (auto missing = unknown_package_in(result.err, packages); !missing.empty()) {
      return tl::unexpected(not_in_apt(missing));
    }
    return fail(Errc::command_failed,
                fmt::format("apt-get download {} exited {}: {}", base::join(packages, " "),
                            result.exit_code, failure_detail(result)));
  }
  // Match the files apt-get left in dest_dir to the packages: <package>_<version>_<arch>.deb.
  std::error_code ec;
  std::vector<std::string> debs;
  for (std::filesystem::directory_iterator it(dest_dir, ec), end; !ec && it != end;
       it.increment(ec)) {
    if (it->path().extension() == ".deb") {
      debs.push_back(it->path().string());
    }
  }
  if (ec) {
    return fail_errno("listing " + dest_dir, ec.value());
  }
  std::sort(debs.begin(), debs.end());
  std::vector<std::string> out;
  std::int64_t index = 0;
  for (const auto& package : packages) {
    auto found = std::find_if(debs.begin(), debs.end(), [&](const std::string& deb) {
      return package_of_deb(deb) == package;
    });
    if (found == debs.end()) {
      return fail(Errc::command_failed,
                  fmt::format("apt-get download {} succeeded but left no {}_*.deb in {}", package,
                              package, dest_dir));
    }
    std::uintmax_t size = std::filesystem::file_size(*found, ec);
    ++index;
    base::report(progress, {.stage = "download",
                            .message = fmt::format(
                                "downloaded {} ({} bytes)",
                                std::filesystem::path(*found).filename().string(), ec ? 0 : size),
                            .done = index,
                            .total = static_cast<std::int64_t>(packages.size())});
    out.push_back(*found);
  }
  return out;
}

}  // namespace banger::debpkg
