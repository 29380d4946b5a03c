// The workspace copy's progress on stderr (docs/cli.md "Progress"): file bytes streamed against
// the plan's total, and the guest script's output. One thread owns the renderer, so the guest's
// lines (its refusals, its errors) are printed above the live line instead of garbling it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>

#include "banger/base/error.hpp"
#include "banger/cli/context.hpp"
#include "banger/cli/progress.hpp"
#include "banger/posix/fd.hpp"

namespace banger::cli {

class CopyProgress {
 public:
  // Nothing is drawn for a copy that ends within this (most small repositories).
  static constexpr std::chrono::milliseconds kQuietFor{500};
  static constexpr std::chrono::milliseconds kTick{100};

  // sent grows on the producer's thread (workspace::write_upload_stream's content_bytes);
  // shown as min(sent, total) of total bytes under label.
  CopyProgress(Context& ctx, std::string label, std::uint64_t total,
               const std::atomic<std::uint64_t>& sent,
               std::chrono::milliseconds quiet_for = kQuietFor);
  CopyProgress(const CopyProgress&) = delete;
  CopyProgress& operator=(const CopyProgress&) = delete;
  ~CopyProgress();  // stop()

  // Opens the pipe the guest's stdout and stderr go to (output_fd) and starts the thread.
  Status start();
  int output_fd() const { return output_write_.get(); }
  // The copy is over (nothing writes output_fd any more): passes on the rest of the guest's
  // output (a last partial line gets its newline) and erases the live line.
  void stop();

 private:
  void run();

  ProgressRenderer renderer_;
  std::string label_;
  std::uint64_t total_;
  const std::atomic<std::uint64_t>& sent_;
  std::chrono::milliseconds quiet_for_;
  posix::Fd output_read_;
  posix::Fd output_write_;
  std::thread thread_;
};

}  // namespace banger::cli
