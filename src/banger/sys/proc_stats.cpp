#include "banger/sys/proc_stats.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <filesystem>
#include <vector>

#include "banger/base/expected.hpp"
#include "banger/base/strings.hpp"
#include "banger/sys/fs.hpp"

namespace banger::sys {

Expected<std::uint64_t> parse_stat_cpu_ticks(std::string_view stat_text) {
  // "pid (comm) state ppid ...": comm may contain anything, so fields count from the last ')'.
  auto close = stat_text.rfind(')');
  if (close == std::string_view::npos) {
    return fail(Errc::invalid_argument, "not a /proc/<pid>/stat line: no \")\"");
  }
  auto fields = base::split(std::string(base::trim(stat_text.substr(close + 1))), ' ');
  // After ')' field 3 (state) is index 0, so utime (14) and stime (15) are 11 and 12.
  if (fields.size() < 13) {
    return fail(Errc::invalid_argument, "not a /proc/<pid>/stat line: too few fields");
  }
  std::uint64_t total = 0;
  for (std::size_t i : {std::size_t{11}, std::size_t{12}}) {
    std::uint64_t value = 0;
    const auto& field = fields[i];
    auto [end, ec] = std::from_chars(field.data(), field.data() + field.size(), value);
    if (ec != std::errc() || end != field.data() + field.size()) {
      return fail(Errc::invalid_argument,
                  "not a /proc/<pid>/stat line: bad cpu time \"" + field + "\"");
    }
    total += value;
  }
  return total;
}

std::int64_t parse_status_rss_bytes(std::string_view status_text) {
  for (const auto& line : base::split(std::string(status_text), '\n')) {
    if (!line.starts_with("VmRSS:")) {
      continue;
    }
    std::string_view rest = base::trim(std::string_view(line).substr(6));
    std::int64_t kib = 0;
    std::from_chars(rest.data(), rest.data() + rest.size(), kib);
    return kib * 1024;
  }
  return 0;
}

Expected<ProcessSample> sample_process(pid_t pid) {
  std::string dir = "/proc/" + std::to_string(pid);
  auto stat_text = read_file(dir + "/stat");
  if (!stat_text) {
    return fail(Errc::not_found, "no process " + std::to_string(pid));
  }
  BANGER_TRY_ASSIGN(auto ticks, parse_stat_cpu_ticks(*stat_text));
  auto status_text = read_file(dir + "/status");
  return ProcessSample{.cpu_ticks = ticks,
                       .rss_bytes = status_text ? parse_status_rss_bytes(*status_text) : 0};
}

long clock_ticks_per_second() { return ::sysconf(_SC_CLK_TCK); }

Expected<DiskUsage> disk_usage(const std::string& dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    return fail(Errc::not_found, dir + " does not exist");
  }
  DiskUsage usage;
  std::filesystem::recursive_directory_iterator it(
      dir, std::filesystem::directory_options::skip_permission_denied, ec);
  for (; !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    struct stat st{};
    if (::lstat(it->path().c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
      continue;
    }
    usage.allocated_bytes += static_cast<std::int64_t>(st.st_blocks) * 512;
    usage.apparent_bytes += st.st_size;
  }
  if (ec) {
    return fail(Errc::io, "reading " + dir + ": " + ec.message());
  }
  return usage;
}

}  // namespace banger::sys
