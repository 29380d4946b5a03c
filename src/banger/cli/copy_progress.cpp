#include "banger/cli/copy_progress.hpp"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace banger::cli {

CopyProgress::CopyProgress(Context& ctx, std::string label, std::uint64_t total,
                           const std::atomic<std::uint64_t>& sent,
                           std::chrono::milliseconds quiet_for)
    : renderer_(ctx), label_(std::move(label)), total_(total), sent_(sent), quiet_for_(quiet_for) {}

CopyProgress::~CopyProgress() { stop(); }

Status CopyProgress::start() {
  int ends[2];
  if (::pipe2(ends, O_CLOEXEC) != 0) {
    return fail_errno("creating the guest output pipe", errno);
  }
  output_read_ = posix::Fd(ends[0]);
  output_write_ = posix::Fd(ends[1]);
  thread_ = std::thread([this] { run(); });
  return {};
}

void CopyProgress::stop() {
  if (!thread_.joinable()) {
    return;
  }
  output_write_.reset();  // the thread reads to EOF, then ends
  thread_.join();
}

void CopyProgress::run() {
  const auto started = std::chrono::steady_clock::now();
  std::string pending;
  char buffer[4096];
  for (;;) {
    pollfd pfd{output_read_.get(), POLLIN, 0};
    if (::poll(&pfd, 1, static_cast<int>(kTick.count())) > 0) {
      const ssize_t n = ::read(output_read_.get(), buffer, sizeof buffer);
      if (n == 0 || (n < 0 && errno != EINTR)) {
        break;  // EOF: stop() closed the write end, nothing writes it any more
      }
      if (n > 0) {
        pending.append(buffer, static_cast<std::size_t>(n));
      }
      if (const auto end = pending.rfind('\n'); end != std::string::npos) {
        renderer_.note(pending.substr(0, end + 1));
        pending.erase(0, end + 1);
      }
    }
    if (std::chrono::steady_clock::now() - started >= quiet_for_) {
      const auto done = std::min<std::uint64_t>(sent_.load(std::memory_order_relaxed), total_);
      renderer_.on_event({.stage = "workspace",
                          .message = label_,
                          .done = static_cast<std::int64_t>(done),
                          .total = static_cast<std::int64_t>(total_),
                          .unit = base::kBytes});
    }
  }
  if (!pending.empty()) {
    renderer_.note(pending + "\n");
  }
  renderer_.finish();
}

}  // namespace banger::cli
