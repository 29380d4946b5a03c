// Bounded log files (security review M10): a writer that copies a stream into a file capped in
// size (one rotation), and tails read with pread from the end, never the whole file.
#pragma once

#include <cstdint>
#include <string>

#include "banger/base/error.hpp"

namespace banger::sys {

// Copies in_fd to path until end of file, appending. Before a write would make path larger than
// max_bytes, path is renamed to path + ".1" (replacing an older one) and a new path is started,
// so the two files never hold more than 2 * max_bytes. A chunk larger than max_bytes keeps only
// its last max_bytes. Files are created 0600. Ok at end of file; invalid_argument for
// max_bytes < 4096; io when path cannot be opened, renamed or written (the caller's stream is
// then no longer read: a VMM writing into a pipe to it sees EPIPE and drops its output).
Status copy_to_capped_log(int in_fd, const std::string& path, std::int64_t max_bytes);

// The last max_bytes (at most) of path that lie at or after from_offset, read with pread. A
// from_offset past the end (the file was rotated or truncated since) reads from the start. ""
// when the file is missing or unreadable.
std::string read_tail(const std::string& path, std::int64_t max_bytes,
                      std::int64_t from_offset = 0);

}  // namespace banger::sys
