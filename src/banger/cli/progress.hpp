// Live progress of a daemon request on stderr (docs/cli.md "Progress"): on a terminal one line
// per concurrent task with a bar, bytes done/total, rate and ETA, redrawn in place; plain lines
// otherwise; nothing but warnings with --quiet.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "banger/api/protocol.hpp"
#include "banger/base/clock.hpp"
#include "banger/cli/printer.hpp"

namespace banger::cli {

struct Context;

// "512 B", "1.5 KiB", "12.3 MiB", "1.2 GiB" (binary units, one decimal above bytes).
std::string format_bytes(std::int64_t bytes);
// "5s", "1m05s", "2h03m".
std::string format_duration(std::chrono::seconds duration);

struct ProgressOptions {
  bool quiet = false;                  // --quiet: only warnings (errors are not ours to print)
  const base::Clock* clock = nullptr;  // rate and ETA; nullptr = the system clock
};

// Renders api::Event streams on the printer's stderr. A task is keyed by Event::task ("" = the
// request's main task); each task keeps one line showing its latest event.
//   - TTY: the live lines sit below everything printed so far and are redrawn in place (cursor
//     up + erase), each cut to the terminal width (Printer::err_columns) so none wraps; lines
//     that must stay (spec, warnings, note()) are printed above them. finish() erases them.
//   - Not a TTY: one plain line per event, no control codes; a byte-counting event repeats its
//     line at most every kPlainInterval unless its stage or message changed or it completed.
// Colour (the bar, dimmed numbers) follows Printer::err_style (off with NO_COLOR).
// Not thread-safe: callers serialize on_event/end_task/note/finish.
class ProgressRenderer {
 public:
  static constexpr std::chrono::milliseconds kPlainInterval{2000};
  // Least time between two redraws of the live lines (a new or ended task draws at once).
  static constexpr std::chrono::milliseconds kRedrawInterval{50};

  // Options from the command line (ctx.quiet) and the system clock.
  explicit ProgressRenderer(Context& ctx);
  ProgressRenderer(Printer& printer, ProgressOptions options);
  ~ProgressRenderer();  // finish()
  ProgressRenderer(const ProgressRenderer&) = delete;
  ProgressRenderer& operator=(const ProgressRenderer&) = delete;

  // The `spec` event (stage api::kSpecStage: the sizes the VM gets) is printed as a line of its
  // own that stays, with spec_suffix appended (`vm run <path>` adds " | workspace ...");
  // a `warning` event stays too; other events update their task's live line.
  void on_event(const api::Event& event);
  // The task is over: its live line goes away (vm create of several VMs ends each as it
  // returns).
  void end_task(const std::string& task);
  // Prints text (complete lines) on stderr above the live lines, which are redrawn below it.
  void note(std::string_view text);
  // Erases the live lines and forgets every task; call it before printing the result.
  void finish();
  void set_spec_suffix(std::string suffix) { spec_suffix_ = std::move(suffix); }

 private:
  struct Task {
    std::string key;
    api::Event event;
    bool bytes = false;
    // Rate: an exponentially smoothed bytes/s over samples at least kSampleWindow apart.
    std::chrono::steady_clock::time_point sample_at{};
    std::int64_t sample_done = 0;
    bool sampled = false;
    double rate = 0;
    bool rated = false;
    // Plain mode: when this task last printed a line.
    std::chrono::steady_clock::time_point printed_at{};
  };

  Task& task_for(const std::string& key, bool* added);
  void update_rate(Task& task, const api::Event& event);
  void print_plain(Task& task, bool changed);
  std::string live_line(const Task& task, std::size_t width) const;
  std::string erase_live();
  std::string draw_live();
  void redraw(bool force);

  Printer& printer_;
  bool quiet_;
  base::SystemClock system_clock_;
  const base::Clock& clock_;
  std::vector<Task> tasks_;
  std::size_t drawn_lines_ = 0;  // live lines on screen (the cursor is below them)
  std::chrono::steady_clock::time_point drawn_at_{};
  std::string spec_suffix_;
};

}  // namespace banger::cli
