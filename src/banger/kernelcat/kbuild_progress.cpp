#include "banger/kernelcat/kbuild_progress.hpp"

#include "banger/base/strings.hpp"

namespace banger::kernelcat {
namespace {

constexpr std::size_t kMaxLine = 4096;

bool is_upper_word(std::string_view word) {
  if (word.empty() || word.size() > 12) {
    return false;
  }
  for (char c : word) {
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) {
      return false;
    }
  }
  return true;
}

}  // namespace

bool KbuildProgress::feed(std::string_view chunk) {
  bool stepped = false;
  while (!chunk.empty()) {
    const auto end = chunk.find('\n');
    const auto piece = chunk.substr(0, end);
    if (!overlong_) {
      if (partial_.size() + piece.size() > kMaxLine) {
        overlong_ = true;
        partial_.clear();
      } else {
        partial_.append(piece);
      }
    }
    if (end == std::string_view::npos) {
      break;
    }
    if (!overlong_) {
      stepped = take_line(partial_) || stepped;
    }
    partial_.clear();
    overlong_ = false;
    chunk.remove_prefix(end + 1);
  }
  return stepped;
}

// kbuild quiet lines: two spaces, an upper-case step name padded to 8 columns, the target.
// "make[1]: Entering directory", warnings and anything else are ignored.
bool KbuildProgress::take_line(std::string_view line) {
  if (!line.starts_with("  ")) {
    return false;
  }
  std::string_view rest = base::trim(line);
  const auto space = rest.find(' ');
  if (space == std::string_view::npos) {
    return false;
  }
  const std::string_view step = rest.substr(0, space);
  if (!is_upper_word(step)) {
    return false;
  }
  std::string_view target = base::trim(rest.substr(space));
  if (target.starts_with("[M]")) {
    target = base::trim(target.substr(3));
  }
  if (target.empty()) {
    return false;
  }
  if (step == "CC" || step == "AS") {
    ++compiled_;
  }
  last_step_ = std::string(step) + " " + std::string(target);
  return true;
}

}  // namespace banger::kernelcat
