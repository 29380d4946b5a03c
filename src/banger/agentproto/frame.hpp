// FrameDecoder: splits a byte stream into newline-terminated lines with a size limit; an
// oversized line becomes one "oversize" event and the stream resynchronises at its next '\n'.
#pragma once

#include <cstddef>
#include <deque>
#include <optional>
#include <string>

#include "banger/agentproto/constants.hpp"

namespace banger::agentproto {

struct Frame {
  enum class Kind { line, oversize };
  Kind kind = Kind::line;
  std::string line;  // the line without '\n' (and without a trailing '\r'); empty for oversize
};

class FrameDecoder {
 public:
  // max_line: the longest line (without its '\n') delivered; longer lines become oversize events.
  explicit FrameDecoder(std::size_t max_line = kMaxFrameBytes);

  // Appends bytes from the stream; complete frames become available through next().
  void feed(const char* data, std::size_t size);
  // The next complete frame in stream order, or nullopt when more input is needed. Empty lines
  // (and lines of only "\r") are skipped, never delivered.
  std::optional<Frame> next();
  // Drops the partial line, any skip-to-newline state and frames not yet taken (the peer went
  // away; what it sends next starts a fresh line).
  void reset();
  // Bytes of the current partial line held in memory.
  std::size_t buffered() const { return partial_.size(); }

 private:
  std::size_t max_line_;
  std::string partial_;
  bool skipping_ = false;  // inside an oversized line, dropping bytes up to its '\n'
  std::deque<Frame> ready_;
};

}  // namespace banger::agentproto
