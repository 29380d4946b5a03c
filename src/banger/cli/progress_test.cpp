#include "banger/cli/progress.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <regex>

#include "banger/testkit/fake_clock.hpp"

namespace banger::cli {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

// A terminal on stderr: records what was written, and plays it on a virtual screen that knows
// the sequences the renderer uses (\r, \n, ESC[K, ESC[<n>A, ESC[J; colours are dropped).
class FakeTerminal final : public Printer {
 public:
  FakeTerminal(bool tty, int columns, bool color) : tty_(tty), columns_(columns) {
    style_.color = color;
  }
  void out(std::string_view text) override { out_ += text; }
  void err(std::string_view text) override {
    raw_ += text;
    play(text);
  }
  const Style& out_style() const override { return style_; }
  const Style& err_style() const override { return style_; }
  bool err_is_tty() const override { return tty_; }
  int err_columns() const override { return columns_; }

  void resize(int columns) { columns_ = columns; }
  const std::string& raw() const { return raw_; }
  // The screen's lines, the cursor's (empty) line at the end left out.
  std::vector<std::string> screen() const {
    std::vector<std::string> lines = lines_;
    while (!lines.empty() && lines.back().empty()) {
      lines.pop_back();
    }
    return lines;
  }

 private:
  void play(std::string_view text) {
    for (std::size_t i = 0; i < text.size(); ++i) {
      char c = text[i];
      if (c == '\033' && i + 1 < text.size() && text[i + 1] == '[') {
        std::size_t end = i + 2;
        while (end < text.size() &&
               (std::isdigit(static_cast<unsigned char>(text[end])) != 0 || text[end] == ';')) {
          ++end;
        }
        int n = end > i + 2 ? std::stoi(std::string(text.substr(i + 2, end - i - 2))) : 1;
        char op = text[end];
        if (op == 'A') {
          row_ = row_ >= static_cast<std::size_t>(n) ? row_ - n : 0;
        } else if (op == 'K') {
          line().erase(std::min(col_, line().size()));
        } else if (op == 'J') {
          line().erase(std::min(col_, line().size()));
          lines_.resize(row_ + 1);
        }
        i = end;
        continue;
      }
      if (c == '\r') {
        col_ = 0;
      } else if (c == '\n') {
        ++row_;
        col_ = 0;
        line();
      } else {
        std::string& l = line();
        if (l.size() < col_) {
          l.resize(col_, ' ');
        }
        if (col_ < l.size()) {
          l[col_] = c;
        } else {
          l += c;
        }
        ++col_;
      }
    }
  }
  std::string& line() {
    if (lines_.size() <= row_) {
      lines_.resize(row_ + 1);
    }
    return lines_[row_];
  }

  bool tty_;
  int columns_;
  Style style_;
  std::string out_;
  std::string raw_;
  std::vector<std::string> lines_;
  std::size_t row_ = 0;
  std::size_t col_ = 0;
};

constexpr std::int64_t kMiB = 1024 * 1024;

api::Event bytes_event(std::int64_t done, std::int64_t total, std::string task = "") {
  api::Event event{.stage = "download",
                   .message = "linux-image.deb",
                   .done = done,
                   .total = total,
                   .unit = std::string(api::kBytesUnit)};
  if (!task.empty()) {
    event.task = task;
  }
  return event;
}

bool has_colour(const std::string& text) {
  return std::regex_search(text, std::regex("\033\\[[0-9;]*m"));
}

TEST(FormatBytes, UsesBinaryUnitsWithOneDecimal) {
  EXPECT_EQ(format_bytes(0), "0 B");
  EXPECT_EQ(format_bytes(1023), "1023 B");
  EXPECT_EQ(format_bytes(1536), "1.5 KiB");
  EXPECT_EQ(format_bytes(12 * kMiB + kMiB / 2), "12.5 MiB");
  EXPECT_EQ(format_bytes(3 * 1024 * kMiB), "3.0 GiB");
}

TEST(FormatDuration, SecondsMinutesHours) {
  EXPECT_EQ(format_duration(5s), "5s");
  EXPECT_EQ(format_duration(65s), "1m05s");
  EXPECT_EQ(format_duration(7380s), "2h03m");
}

// Given a 10 MiB download at 1 MiB per 100 ms, then the live line shows a bar, the byte
// counts, the rate and the time left; finish() leaves a clean screen.
TEST(ProgressRenderer, TtyShowsBarBytesRateAndEta) {
  FakeTerminal term(true, 100, false);
  testkit::FakeClock clock;
  ProgressRenderer progress(term, {.clock = &clock});
  for (int i = 0; i <= 4; ++i) {
    progress.on_event(bytes_event(i * kMiB, 10 * kMiB));
    clock.advance(100ms);
  }
  EXPECT_THAT(term.screen(),
              ElementsAre("download: linux-image.deb  [========>               ]  40%  "
                          "4.0 MiB/10.0 MiB  10.0 MiB/s  ETA 1s"));
  EXPECT_FALSE(has_colour(term.raw()));
  progress.finish();
  EXPECT_THAT(term.screen(), ElementsAre());
}

// Updates closer together than kRedrawInterval are not drawn (a stage change is).
TEST(ProgressRenderer, TtyRedrawIsThrottled) {
  FakeTerminal term(true, 100, false);
  testkit::FakeClock clock;
  ProgressRenderer progress(term, {.clock = &clock});
  progress.on_event(bytes_event(0, 10 * kMiB));
  progress.on_event(bytes_event(kMiB, 10 * kMiB));
  EXPECT_THAT(term.screen()[0], HasSubstr("0 B/10.0 MiB"));
  progress.on_event({.stage = "extract", .message = "unpacking"});
  EXPECT_THAT(term.screen(), ElementsAre("extract: unpacking"));
}

// Unknown total: bytes and rate, no bar, no ETA.
TEST(ProgressRenderer, UnknownTotalShowsBytesAndRateOnly) {
  FakeTerminal term(true, 100, false);
  testkit::FakeClock clock;
  ProgressRenderer progress(term, {.clock = &clock});
  progress.on_event(bytes_event(0, 0));
  clock.advance(500ms);
  progress.on_event(bytes_event(2 * kMiB, 0));
  EXPECT_THAT(term.screen(), ElementsAre("download: linux-image.deb  2.0 MiB  4.0 MiB/s"));
}

// Steps (no unit): a bar and n/total, no rate.
TEST(ProgressRenderer, StepsShowCountNotRate) {
  FakeTerminal term(true, 80, false);
  testkit::FakeClock clock;
  ProgressRenderer progress(term, {.clock = &clock});
  progress.on_event({.stage = "download", .message = "2 packages", .done = 1, .total = 2});
  EXPECT_THAT(term.screen(), ElementsAre("download: 2 packages  [========>          ]  50%  1/2"));
}

// Concurrent tasks get a line each, in the order they appeared; an ended task's line goes.
TEST(ProgressRenderer, OneLinePerTaskAndEndedTasksDisappear) {
  FakeTerminal term(true, 60, false);
  testkit::FakeClock clock;
  ProgressRenderer progress(term, {.clock = &clock});
  progress.on_event({.stage = "boot", .message = "booting web1", .task = "web1"});
  progress.on_event({.stage = "boot", .message = "booting web2", .task = "web2"});
  progress.on_event({.stage = "ready", .message = "waiting for web1", .task = "web1"});
  EXPECT_THAT(term.screen(),
              ElementsAre("web1  ready: waiting for web1", "web2  boot: booting web2"));
  progress.end_task("web1");
  EXPECT_THAT(term.screen(), ElementsAre("web2  boot: booting web2"));
  progress.finish();
  EXPECT_THAT(term.screen(), ElementsAre());
}

// No live line is wider than the terminal less one column (a wrapped line would break the
// redraw): the label is cut first, then the bar, then the ETA and rate go. A resize is seen on
// the next draw. Colour codes take no columns.
TEST(ProgressRenderer, LinesFitTheTerminalWidth) {
  FakeTerminal term(true, 100, true);
  testkit::FakeClock clock;
  ProgressRenderer progress(term, {.clock = &clock});
  api::Event event = bytes_event(0, 10 * kMiB);
  event.message = std::string(200, 'x');
  progress.on_event(event);
  clock.advance(1s);
  event.done = 5 * kMiB;
  progress.on_event(event);
  ASSERT_EQ(term.screen().size(), 1u);
  EXPECT_EQ(term.screen()[0].size(), 99u);
  EXPECT_THAT(term.screen()[0], HasSubstr("xxx...  [===========>            ]  50%"));
  EXPECT_THAT(term.screen()[0], HasSubstr("5.0 MiB/10.0 MiB  5.0 MiB/s  ETA 1s"));

  term.resize(50);
  clock.advance(1s);
  event.done = 6 * kMiB;
  progress.on_event(event);
  EXPECT_LE(term.screen()[0].size(), 49u);
  EXPECT_THAT(term.screen()[0], Not(HasSubstr("[")));
  EXPECT_THAT(term.screen()[0], HasSubstr("6.0 MiB/10.0 MiB"));

  term.resize(20);
  clock.advance(1s);
  event.done = 7 * kMiB;
  progress.on_event(event);
  EXPECT_LE(term.screen()[0].size(), 19u);
}

// A warning printed while bars are live lands above them and stays; the bars are redrawn
// below it.
TEST(ProgressRenderer, WarningGoesAboveLiveLines) {
  FakeTerminal term(true, 80, false);
  testkit::FakeClock clock;
  ProgressRenderer progress(term, {.clock = &clock});
  progress.on_event({.stage = "boot", .message = "booting a", .task = "a"});
  progress.on_event({.stage = "boot", .message = "booting b", .task = "b"});
  progress.on_event({.stage = std::string(api::kWarningStage),
                     .message = "file_sync[0]: /home/me/.aws does not exist",
                     .task = "b"});
  EXPECT_THAT(term.screen(), ElementsAre("b: warning: file_sync[0]: /home/me/.aws does not exist",
                                         "a  boot: booting a", "b  boot: booting b"));
  progress.note("banger: creating a: boom\n");
  progress.finish();
  EXPECT_THAT(term.screen(), ElementsAre("b: warning: file_sync[0]: /home/me/.aws does not exist",
                                         "banger: creating a: boom"));
}

// Not a terminal: one plain line per event, no control codes, byte events at most every
// kPlainInterval unless their stage/message changes or they complete.
TEST(ProgressRenderer, PlainLinesWhenNotATty) {
  FakeTerminal term(false, 0, false);
  testkit::FakeClock clock;
  ProgressRenderer progress(term, {.clock = &clock});
  progress.on_event({.stage = "resolve", .message = "resolving linux-image-cloud-amd64"});
  for (int i = 0; i <= 10; ++i) {
    progress.on_event(bytes_event(i * kMiB, 10 * kMiB));
    clock.advance(500ms);
  }
  progress.on_event({.stage = "extract", .message = "unpacking", .done = 1, .total = 2});
  progress.finish();
  EXPECT_EQ(term.raw(),
            "resolve: resolving linux-image-cloud-amd64\n"
            "download: linux-image.deb (0 B/10.0 MiB, 0%)\n"
            "download: linux-image.deb (4.0 MiB/10.0 MiB, 40%, 2.0 MiB/s)\n"
            "download: linux-image.deb (8.0 MiB/10.0 MiB, 80%, 2.0 MiB/s)\n"
            "download: linux-image.deb (10.0 MiB/10.0 MiB, 100%)\n"
            "extract: unpacking (1/2)\n");
}

// Tasks are named in plain lines too.
TEST(ProgressRenderer, PlainLinesNameTheTask) {
  FakeTerminal term(false, 0, false);
  ProgressRenderer progress(term, {});
  progress.on_event({.stage = "boot", .message = "booting web1", .task = "web1"});
  EXPECT_EQ(term.raw(), "web1: boot: booting web1\n");
}

// Colour (the bar) only when the style allows it: NO_COLOR gives a style without colour.
TEST(ProgressRenderer, ColourFollowsTheStyle) {
  for (bool color : {true, false}) {
    FakeTerminal term(true, 80, color);
    testkit::FakeClock clock;
    ProgressRenderer progress(term, {.clock = &clock});
    progress.on_event(bytes_event(5 * kMiB, 10 * kMiB));
    EXPECT_EQ(has_colour(term.raw()), color);
  }
}

// --quiet: no progress and no spec line; warnings still print.
TEST(ProgressRenderer, QuietPrintsOnlyWarnings) {
  for (bool tty : {true, false}) {
    FakeTerminal term(tty, 80, false);
    ProgressRenderer progress(term, {.quiet = true});
    progress.on_event(bytes_event(5 * kMiB, 10 * kMiB));
    progress.on_event({.stage = std::string(api::kSpecStage), .message = "2 vcpu"});
    progress.on_event({.stage = std::string(api::kWarningStage), .message = "careful"});
    progress.finish();
    EXPECT_EQ(term.raw(), "warning: careful\n");
  }
}

// Progress text comes from the daemon (and may relay guest output): no raw control bytes.
TEST(ProgressRenderer, EscapesControlBytesInEvents) {
  FakeTerminal term(true, 80, false);
  ProgressRenderer progress(term, {});
  progress.on_event({.stage = "boot", .message = "evil\x1b]52;c;eA==\a", .task = "t\x1b[2J"});
  EXPECT_THAT(term.raw(), HasSubstr("t\\x1b[2J  boot: evil\\x1b]52;c;eA==\\x07"));
}

// vm run prints the VM's sizing as a `spec:` line that stays, with the workspace appended; a
// hostile branch name in that suffix cannot write escapes to the terminal.
TEST(ProgressRenderer, SpecEventIsAPermanentLineWithTheSuffix) {
  CapturePrinter printer;
  ProgressRenderer progress(printer, {});
  progress.set_spec_suffix(" | workspace app @ 1a2b3c4 (+3 modified)\x1b[2J");
  progress.on_event({.stage = "image", .message = "building tiny"});
  progress.on_event(
      {.stage = std::string(api::kSpecStage), .message = "2 vcpu | 1024 MiB | 8G disk"});
  progress.finish();
  EXPECT_EQ(printer.err_text(),
            "image: building tiny\n"
            "spec: 2 vcpu | 1024 MiB | 8G disk | workspace app @ 1a2b3c4 (+3 modified)\\x1b[2J\n");
}

// A warning (a missing [[file_sync]] host) is not overwritten by the next progress line.
TEST(ProgressRenderer, WarningEventsStayOnScreen) {
  CapturePrinter printer;
  ProgressRenderer progress(printer, {});
  progress.on_event({.stage = std::string(api::kWarningStage),
                     .message = "file_sync[0]: /home/me/.aws does not exist\x1b[2J"});
  EXPECT_EQ(printer.err_text(), "warning: file_sync[0]: /home/me/.aws does not exist\\x1b[2J\n");
}

}  // namespace
}  // namespace banger::cli
