#include "banger/cli/progress.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "banger/cli/context.hpp"

namespace banger::cli {
namespace {

// Rate samples closer together than this are merged (events may come in bursts).
constexpr std::chrono::milliseconds kSampleWindow{100};
// Time constant of the rate's exponential smoothing: a rate change shows within a few seconds
// without making the ETA jump on every sample.
constexpr double kSmoothingSeconds = 2.0;
// Width assumed when the terminal does not say (not a terminal, or TIOCGWINSZ gave 0).
constexpr std::size_t kDefaultColumns = 80;
// The label (stage: message) keeps at least this many columns before the bar is dropped.
constexpr std::size_t kMinLabel = 16;

// Columns of a UTF-8 string without escapes (one per code point: good enough for messages).
std::size_t columns(std::string_view text) {
  return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

// text cut to at most width columns, ending in "..." when cut.
std::string fit(std::string_view text, std::size_t width) {
  if (columns(text) <= width) {
    return std::string(text);
  }
  const bool dots = width > 3;
  const std::size_t keep = dots ? width - 3 : width;
  std::size_t used = 0;
  std::size_t end = 0;
  for (; end < text.size(); ++end) {
    if ((static_cast<unsigned char>(text[end]) & 0xC0) != 0x80) {
      if (used == keep) {
        break;
      }
      ++used;
    }
  }
  return std::string(text.substr(0, end)) + (dots ? "..." : "");
}

bool counted(const api::Event& event) { return event.total > 0 || event.done > 0; }

bool complete(const api::Event& event) { return event.total > 0 && event.done >= event.total; }

int percent(const api::Event& event) {
  return static_cast<int>(std::clamp<std::int64_t>(event.done * 100 / event.total, 0, 100));
}

}  // namespace

std::string format_bytes(std::int64_t bytes) {
  if (bytes < 1024) {
    return fmt::format("{} B", bytes);
  }
  static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes) / 1024;
  std::size_t unit = 0;
  while (value >= 1024 && unit + 1 < std::size(kUnits)) {
    value /= 1024;
    ++unit;
  }
  return fmt::format("{:.1f} {}", value, kUnits[unit]);
}

std::string format_duration(std::chrono::seconds duration) {
  const auto s = std::max<std::int64_t>(duration.count(), 0);
  if (s < 60) {
    return fmt::format("{}s", s);
  }
  if (s < 3600) {
    return fmt::format("{}m{:02}s", s / 60, s % 60);
  }
  return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
}

ProgressRenderer::ProgressRenderer(Context& ctx)
    : ProgressRenderer(ctx.printer, {.quiet = ctx.quiet}) {}

ProgressRenderer::ProgressRenderer(Printer& printer, ProgressOptions options)
    : printer_(printer),
      quiet_(options.quiet),
      clock_(options.clock != nullptr ? *options.clock : system_clock_) {}

ProgressRenderer::~ProgressRenderer() { finish(); }

void ProgressRenderer::on_event(const api::Event& event) {
  const std::string key = event.task.value_or("");
  const std::string prefix = key.empty() ? "" : escape_control(key) + ": ";
  if (event.stage == api::kWarningStage) {
    note(prefix + "warning: " + escape_control(event.message) + "\n");
    return;
  }
  if (quiet_) {
    return;
  }
  if (event.stage == api::kSpecStage) {
    note(prefix + "spec: " + escape_control(event.message + spec_suffix_) + "\n");
    return;
  }
  bool added = false;
  Task& task = task_for(key, &added);
  const bool changed =
      added || task.event.stage != event.stage || task.event.message != event.message;
  update_rate(task, event);
  task.event = event;
  if (!printer_.err_is_tty()) {
    print_plain(task, changed);
    return;
  }
  redraw(changed || complete(event));
}

void ProgressRenderer::end_task(const std::string& task) {
  auto it = std::find_if(tasks_.begin(), tasks_.end(),
                         [&](const Task& candidate) { return candidate.key == task; });
  if (it == tasks_.end()) {
    return;
  }
  tasks_.erase(it);
  if (printer_.err_is_tty()) {
    redraw(true);
  }
}

void ProgressRenderer::note(std::string_view text) {
  if (!printer_.err_is_tty() || drawn_lines_ == 0) {
    printer_.err(text);
    return;
  }
  std::string out = erase_live();
  out += text;
  out += draw_live();
  printer_.err(out);
}

void ProgressRenderer::finish() {
  if (drawn_lines_ > 0) {
    printer_.err(erase_live());
  }
  tasks_.clear();
}

ProgressRenderer::Task& ProgressRenderer::task_for(const std::string& key, bool* added) {
  auto it = std::find_if(tasks_.begin(), tasks_.end(),
                         [&](const Task& candidate) { return candidate.key == key; });
  *added = it == tasks_.end();
  if (*added) {
    tasks_.push_back(Task{.key = key});
    return tasks_.back();
  }
  return *it;
}

void ProgressRenderer::update_rate(Task& task, const api::Event& event) {
  const bool bytes = event.unit.value_or("") == api::kBytesUnit;
  const auto now = clock_.steady_now();
  // A new stage, a new unit or a counter that went back starts a new measurement.
  if (bytes != task.bytes || event.stage != task.event.stage || event.done < task.sample_done) {
    task.sampled = false;
    task.rated = false;
  }
  task.bytes = bytes;
  if (!task.sampled) {
    task.sample_at = now;
    task.sample_done = event.done;
    task.sampled = true;
    return;
  }
  const auto elapsed = now - task.sample_at;
  if (elapsed < kSampleWindow) {
    return;
  }
  const double seconds = std::chrono::duration<double>(elapsed).count();
  const double instant = static_cast<double>(event.done - task.sample_done) / seconds;
  if (!task.rated) {
    task.rate = instant;
    task.rated = true;
  } else {
    const double alpha = 1.0 - std::exp(-seconds / kSmoothingSeconds);
    task.rate += alpha * (instant - task.rate);
  }
  task.sample_at = now;
  task.sample_done = event.done;
}

void ProgressRenderer::print_plain(Task& task, bool changed) {
  const api::Event& event = task.event;
  const auto now = clock_.steady_now();
  if (!changed && counted(event) && !complete(event) && now - task.printed_at < kPlainInterval) {
    return;
  }
  task.printed_at = now;
  std::string line = task.key.empty() ? "" : escape_control(task.key) + ": ";
  line += escape_control(event.stage);
  if (!event.message.empty()) {
    line += ": " + escape_control(event.message);
  }
  if (counted(event)) {
    std::vector<std::string> parts;
    if (task.bytes) {
      parts.push_back(event.total > 0 ? format_bytes(event.done) + "/" + format_bytes(event.total)
                                      : format_bytes(event.done));
      if (event.total > 0) {
        parts.push_back(fmt::format("{}%", percent(event)));
      }
      if (task.rated && !complete(event)) {
        parts.push_back(format_bytes(static_cast<std::int64_t>(task.rate)) + "/s");
      }
    } else {
      parts.push_back(event.total > 0 ? fmt::format("{}/{}", event.done, event.total)
                                      : fmt::format("{}", event.done));
    }
    line += " (" + fmt::format("{}", fmt::join(parts, ", ")) + ")";
  }
  printer_.err(line + "\n");
}

std::string ProgressRenderer::live_line(const Task& task, std::size_t width) const {
  const api::Event& event = task.event;
  const Style& style = printer_.err_style();
  std::string label = task.key.empty() ? "" : escape_control(task.key) + "  ";
  label += escape_control(event.stage);
  if (!event.message.empty()) {
    label += ": " + escape_control(event.message);
  }
  // The pieces after the label, most important first: counts, rate, ETA.
  std::vector<std::string> stats;
  if (counted(event)) {
    if (task.bytes) {
      stats.push_back(event.total > 0 ? format_bytes(event.done) + "/" + format_bytes(event.total)
                                      : format_bytes(event.done));
      if (task.rated) {
        stats.push_back(format_bytes(static_cast<std::int64_t>(task.rate)) + "/s");
        if (event.total > 0 && task.rate > 0 && !complete(event)) {
          auto left = static_cast<double>(event.total - event.done) / task.rate;
          stats.push_back("ETA " + format_duration(std::chrono::seconds(static_cast<std::int64_t>(
                                       std::ceil(std::min(left, 360000.0))))));
        }
      }
    } else {
      stats.push_back(event.total > 0 ? fmt::format("{}/{}", event.done, event.total)
                                      : fmt::format("{}", event.done));
    }
  }
  // Drop the bar first, then the ETA, then the rate, until the label keeps kMinLabel columns.
  const bool has_bar = event.total > 0;
  const std::size_t bar_inner = std::clamp<std::size_t>(width / 4, 10, 30);
  std::size_t keep_stats = stats.size();
  bool bar = has_bar;
  auto fixed = [&] {
    std::size_t n = bar ? 2 + bar_inner + 2 + 5 : 0;  // "  [" inner "] 100%"
    for (std::size_t i = 0; i < keep_stats; ++i) {
      n += 2 + columns(stats[i]);
    }
    return n;
  };
  while (fixed() + kMinLabel > width && (bar || keep_stats > 1)) {
    if (bar) {
      bar = false;
    } else {
      --keep_stats;
    }
  }
  if (fixed() > width) {  // even the counts do not fit: no colour, just cut
    std::string plain = label;
    for (std::size_t i = 0; i < keep_stats; ++i) {
      plain += "  " + stats[i];
    }
    return fit(plain, width);
  }
  std::string line = fit(label, width - fixed());
  if (bar) {
    const auto filled = static_cast<std::size_t>(
        std::clamp<std::int64_t>(event.done * static_cast<std::int64_t>(bar_inner) / event.total, 0,
                                 static_cast<std::int64_t>(bar_inner)));
    std::string fill(filled, '=');
    if (filled > 0 && filled < bar_inner) {
      fill.back() = '>';
    }
    line += "  [" + green(style, fill) + std::string(bar_inner - filled, ' ') + "]" +
            fmt::format(" {:3}%", percent(event));
  }
  for (std::size_t i = 0; i < keep_stats; ++i) {
    line += "  " + dim(style, stats[i]);
  }
  return line;
}

std::string ProgressRenderer::erase_live() {
  if (drawn_lines_ == 0) {
    return {};
  }
  std::string out = fmt::format("\033[{}A\r\033[J", drawn_lines_);
  drawn_lines_ = 0;
  return out;
}

std::string ProgressRenderer::draw_live() {
  std::size_t width = static_cast<std::size_t>(std::max(printer_.err_columns(), 0));
  if (width == 0) {
    width = kDefaultColumns;
  }
  // One column short of the width: a line that fills the last column wraps on some terminals,
  // and a wrapped line breaks the cursor-up count.
  const std::size_t usable = width > 1 ? width - 1 : 1;
  std::string out = drawn_lines_ > 0 ? fmt::format("\033[{}A", drawn_lines_) : std::string();
  for (const auto& task : tasks_) {
    out += "\r\033[K" + live_line(task, usable) + "\n";
  }
  if (tasks_.size() < drawn_lines_) {
    out += "\033[J";
  }
  drawn_lines_ = tasks_.size();
  drawn_at_ = clock_.steady_now();
  return out;
}

void ProgressRenderer::redraw(bool force) {
  if (!force && drawn_lines_ > 0 && clock_.steady_now() - drawn_at_ < kRedrawInterval) {
    return;  // the next event (or finish) shows the state
  }
  std::string out = draw_live();
  if (!out.empty()) {
    printer_.err(out);
  }
}

}  // namespace banger::cli
