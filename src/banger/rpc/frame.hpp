// Newline-delimited framing over a stream socket: a buffered line reader with a maximum frame
// size, and a write helper that survives EINTR and partial writes.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "banger/api/protocol.hpp"
#include "banger/base/error.hpp"
#include "banger/base/fd.hpp"

namespace banger::rpc {

// Whether a LineReader accepts descriptors passed with SCM_RIGHTS (the client does: `vm.stream`
// replies carry one; the server does not: read() makes the kernel close any a client sends).
enum class PassedFds { refuse, accept };

// Reads lines from a blocking fd it does not own. Not thread-safe.
class LineReader {
 public:
  explicit LineReader(int fd, std::size_t max_frame_bytes = api::kMaxFrameBytes,
                      PassedFds passed_fds = PassedFds::refuse);

  // The next line without its '\n', or std::nullopt at end of stream. A partial last line
  // (bytes after the final '\n') is dropped: a peer that closes mid-line did not send a frame.
  // Errors:
  //   - Errc::invalid_argument "line exceeds the maximum frame size of N bytes" when a line grows
  //   past
  //     the limit. The reader then skips the rest of that line on the following calls, so the
  //     connection stays usable: the next call returns the line after it.
  //   - Errc::io when read() fails (ECONNRESET and the like).
  Expected<std::optional<std::string>> next();

  // Bytes received but not yet returned as lines (tests and diagnostics).
  std::size_t buffered() const { return buffer_.size(); }

  // With PassedFds::accept: the descriptors received so far (in arrival order), handed over
  // to the caller. A descriptor arrives with the first byte of the line it belongs to, so once
  // next() returned that line, its descriptor is here.
  std::vector<base::UniqueFd> take_passed_fds() { return std::exchange(passed_fds_, {}); }

 private:
  tl::unexpected<Error> too_large() const;

  int fd_;
  std::size_t max_frame_bytes_;
  PassedFds passed_fds_mode_;
  std::vector<base::UniqueFd> passed_fds_;
  std::string buffer_;
  std::size_t scanned_ = 0;  // buffer_[0, scanned_) holds no '\n'
  bool discarding_ = false;  // inside an oversized line, dropping bytes up to its '\n'
};

// Writes all of data to a socket fd with send(MSG_NOSIGNAL), retrying on EINTR and partial
// writes. Errc::io (EPIPE, ECONNRESET...) when the peer is gone.
Status write_all(int fd, std::string_view data);

// write_all() of line followed by '\n'.
Status write_line(int fd, std::string_view line);

}  // namespace banger::rpc
