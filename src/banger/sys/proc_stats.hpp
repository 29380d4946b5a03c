// Resource numbers of a host process and a directory, read from /proc and stat(2), for
// `vm stats`. The parsers are pure so tests feed them fixture text.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "banger/base/error.hpp"

namespace banger::sys {

struct ProcessSample {
  std::uint64_t cpu_ticks = 0;  // utime + stime (fields 14 and 15 of /proc/<pid>/stat)
  std::int64_t rss_bytes = 0;   // VmRSS of /proc/<pid>/status
};

// utime + stime from /proc/<pid>/stat text (the comm field may hold spaces and ')').
// invalid_argument when the text is not a stat line.
Expected<std::uint64_t> parse_stat_cpu_ticks(std::string_view stat_text);

// VmRSS in bytes from /proc/<pid>/status text; 0 when the line is missing (kernel threads,
// zombies).
std::int64_t parse_status_rss_bytes(std::string_view status_text);

// Both, for a live process. not_found when no such process.
Expected<ProcessSample> sample_process(pid_t pid);

// Clock ticks per second (sysconf(_SC_CLK_TCK)).
long clock_ticks_per_second();

struct DiskUsage {
  std::int64_t allocated_bytes = 0;  // st_blocks * 512 over every regular file
  std::int64_t apparent_bytes = 0;   // st_size over every regular file
};

// Sums the regular files under dir (not following symlinks). not_found when dir is missing.
Expected<DiskUsage> disk_usage(const std::string& dir);

}  // namespace banger::sys
