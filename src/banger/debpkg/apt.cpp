#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <set>
#include <system_error>
#include <thread>

#include "banger/base/expected.hpp"
#include "banger/base/strings.hpp"
#include "banger/debpkg/debpkg.hpp"

namespace banger::debpkg {
namespace {

constexpr auto kQueryTimeout = std::chrono::seconds(60);
constexpr auto kDownloadTimeout = std::chrono::minutes(10);
// How often a running download reports the bytes on disk.
constexpr auto kDownloadPoll = std::chrono::milliseconds(100);

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

// The bytes `apt-get download` will fetch for packages, from `--print-uris` (one
// "'<uri>' <file> <size> <hash>" line per package); 0 when apt cannot say.
std::int64_t planned_bytes(sys::CommandRunner& runner, const std::vector<std::string>& packages) {
  std::vector<std::string> argv = {"apt-get", "download", "--print-uris"};
  argv.insert(argv.end(), packages.begin(), packages.end());
  auto result = runner.run(apt_command(argv));
  if (!result || result->exit_code != 0) {
    return 0;  // the download itself reports why
  }
  std::int64_t total = 0;
  for (const auto& line : base::split(result->out, '\n')) {
    auto fields = base::split(line, ' ');
    if (fields.size() >= 3) {
      std::int64_t size = 0;
      auto [end, ec] = std::from_chars(fields[2].data(), fields[2].data() + fields[2].size(), size);
      if (ec == std::errc() && end == fields[2].data() + fields[2].size()) {
        total += size;
      }
    }
  }
  return total;
}

// Bytes of the .deb files in dir: apt-get download writes each one under its final name.
std::int64_t deb_bytes(const std::string& dir) {
  std::int64_t bytes = 0;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().extension() == ".deb") {
      std::error_code size_ec;
      auto size = it->file_size(size_ec);
      if (!size_ec) {
        bytes += static_cast<std::int64_t>(size);
      }
    }
  }
  return bytes;
}

// Runs the download command while reporting the bytes on disk every kDownloadPoll (only when
// they changed): the rate and ETA the CLI shows come from these events.
Expected<sys::CommandResult> run_download(sys::CommandRunner& runner, const sys::Command& command,
                                          const base::ProgressEvent& start,
                                          const base::ProgressFn& progress) {
  if (!progress) {
    return run_apt(runner, command);
  }
  std::mutex mutex;
  std::condition_variable finished_cv;
  bool finished = false;
  Expected<sys::CommandResult> result = fail(Errc::internal, "apt-get download did not run");
  std::thread worker([&] {
    auto ran = run_apt(runner, command);
    std::lock_guard lock(mutex);
    result = std::move(ran);
    finished = true;
    finished_cv.notify_one();
  });
  std::int64_t reported = start.done;
  std::unique_lock lock(mutex);
  while (!finished_cv.wait_for(lock, kDownloadPoll, [&] { return finished; })) {
    lock.unlock();
    std::int64_t bytes = deb_bytes(command.cwd);
    if (bytes != reported) {
      reported = bytes;
      base::ProgressEvent event = start;
      event.done = bytes;
      event.total = start.total > 0 ? std::max(start.total, bytes) : 0;
      progress(event);
    }
    lock.lock();
  }
  lock.unlock();
  worker.join();
  return result;
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
  const base::ProgressEvent start{.stage = "download",
                                  .message = "downloading " + base::join(packages, ", "),
                                  .done = 0,
                                  .total = progress ? planned_bytes(runner, packages) : 0,
                                  .unit = base::kBytes};
  base::report(progress, start);
  BANGER_TRY_ASSIGN(auto result, run_download(runner, command, start, progress));
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
  for (const auto& package : packages) {
    auto found = std::find_if(debs.begin(), debs.end(), [&](const std::string& deb) {
      return package_of_deb(deb) == package;
    });
    if (found == debs.end()) {
      return fail(Errc::command_failed,
                  fmt::format("apt-get download {} succeeded but left no {}_*.deb in {}", package,
                              package, dest_dir));
    }
    out.push_back(*found);
  }
  const std::int64_t bytes = deb_bytes(dest_dir);
  base::report(progress, {.stage = "download",
                          .message = fmt::format("downloaded {}", base::join(packages, ", ")),
                          .done = bytes,
                          .total = bytes,
                          .unit = base::kBytes});
  return out;
}

}  // namespace banger::debpkg
