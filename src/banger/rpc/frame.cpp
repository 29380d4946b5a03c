#include "banger/rpc/frame.hpp"

#include <fmt/format.h>

#include <cstring>

#include "banger/posix/io.hpp"
#include "banger/posix/unix_socket.hpp"

namespace banger::rpc {
namespace {

constexpr std::size_t kReadChunk = std::size_t{64} * 1024;

}  // namespace

LineReader::LineReader(int fd, std::size_t max_frame_bytes, PassedFds passed_fds)
    : fd_(fd), max_frame_bytes_(max_frame_bytes), passed_fds_mode_(passed_fds) {}

tl::unexpected<Error> LineReader::too_large() const {
  return fail(Errc::invalid_argument,
              fmt::format("line exceeds the maximum frame size of {} bytes", max_frame_bytes_));
}

Expected<std::optional<std::string>> LineReader::next() {
  while (true) {
    auto newline = buffer_.find('\n', scanned_);
    if (newline != std::string::npos) {
      if (!discarding_ && newline > max_frame_bytes_) {
        // The whole oversized line arrived at once: skip it, report it.
        buffer_.erase(0, newline + 1);
        scanned_ = 0;
        return too_large();
      }
      if (discarding_) {
        // The tail of an oversized line: drop it and look for the next frame.
        buffer_.erase(0, newline + 1);
        scanned_ = 0;
        discarding_ = false;
        continue;
      }
      std::string line = buffer_.substr(0, newline);
      buffer_.erase(0, newline + 1);
      scanned_ = 0;
      return line;
    }
    if (discarding_) {
      buffer_.clear();
      scanned_ = 0;
    } else if (buffer_.size() > max_frame_bytes_) {
      buffer_.clear();
      scanned_ = 0;
      discarding_ = true;
      return too_large();
    } else {
      scanned_ = buffer_.size();
    }

    char chunk[kReadChunk];
    auto n = passed_fds_mode_ == PassedFds::accept
                 ? posix::recv_with_fds(fd_, chunk, sizeof chunk, passed_fds_)
                 : posix::read_some(fd_, chunk, sizeof chunk);
    if (!n) {
      return tl::unexpected(
          Error{Errc::io,
                fmt::format("reading from socket: {}", std::strerror(n.error().sys_errno)),
                n.error().sys_errno,
                {}});
    }
    if (*n == 0) {
      return std::optional<std::string>();
    }
    buffer_.append(chunk, *n);
  }
}

Status write_all(int fd, std::string_view data) {
  if (auto sent = posix::write_all(fd, data); !sent) {
    const int err = sent.error().sys_errno;
    return tl::unexpected(
        Error{Errc::io, fmt::format("writing to socket: {}", std::strerror(err)), err, {}});
  }
  return {};
}

Status write_line(int fd, std::string_view line) {
  std::string framed;
  framed.reserve(line.size() + 1);
  framed.append(line);
  framed.push_back('\n');
  return write_all(fd, framed);
}

}  // namespace banger::rpc
