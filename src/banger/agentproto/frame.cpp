#include "banger/agentproto/frame.hpp"

#include <cstring>
#include <utility>

namespace banger::agentproto {

FrameDecoder::FrameDecoder(std::size_t max_line) : max_line_(max_line) {}

void FrameDecoder::feed(const char* data, std::size_t size) {
  while (size > 0) {
    const void* found = std::memchr(data, '\n', size);
    const std::size_t chunk =
        found != nullptr ? static_cast<std::size_t>(static_cast<const char*>(found) - data) : size;
    const bool has_newline = found != nullptr;
    if (skipping_) {
      if (has_newline) {
        skipping_ = false;
      }
    } else if (partial_.size() + chunk > max_line_) {
      partial_.clear();
      partial_.shrink_to_fit();
      ready_.push_back(Frame{Frame::Kind::oversize, {}});
      skipping_ = !has_newline;
    } else {
      partial_.append(data, chunk);
      if (has_newline) {
        if (!partial_.empty() && partial_.back() == '\r') {
          partial_.pop_back();
        }
        if (!partial_.empty()) {
          ready_.push_back(Frame{Frame::Kind::line, std::move(partial_)});
        }
        partial_ = std::string();
      }
    }
    const std::size_t used = chunk + (has_newline ? 1 : 0);
    data += used;
    size -= used;
  }
}

std::optional<Frame> FrameDecoder::next() {
  if (ready_.empty()) {
    return std::nullopt;
  }
  Frame frame = std::move(ready_.front());
  ready_.pop_front();
  return frame;
}

void FrameDecoder::reset() {
  partial_ = std::string();
  skipping_ = false;
  ready_.clear();
}

}  // namespace banger::agentproto
