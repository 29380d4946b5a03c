// Output for the CLI: aligned tables, colours (TTY only, never with NO_COLOR), and a Printer
// seam so command tests capture output instead of writing to stdout.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace banger::cli {

struct Table {
  std::vector<std::string> headers;
  std::vector<std::vector<std::string>> rows;
};

// Columns separated by two spaces, each padded to its widest cell; the last column is not
// padded. Headers are printed as given (callers pass upper case).
std::string render_table(const Table& table);

// Text from a guest (or a daemon relaying a guest's console) made safe for a terminal
// (security review L2): every C0 control byte, DEL and UTF-8 C1 control (U+0080..U+009F)
// becomes a visible escape (\x1b, \u009b), so a guest cannot send ANSI/OSC sequences (title,
// OSC 52 clipboard writes, hidden or rewritten lines). keep_newlines keeps '\n' and '\t'
// (multi-line error messages). `vm logs` is the exception: the console stays raw by design.
std::string escape_control(std::string_view text, bool keep_newlines = false);

struct Style {
  bool color = false;
};

// Colour only when fd is a terminal, NO_COLOR is unset (any value disables it) and TERM is
// not "dumb".
Style detect_style(int fd);

std::string dim(const Style& style, std::string_view text);
std::string bold(const Style& style, std::string_view text);
std::string green(const Style& style, std::string_view text);
std::string yellow(const Style& style, std::string_view text);
std::string red(const Style& style, std::string_view text);

class Printer {
 public:
  virtual ~Printer() = default;
  virtual void out(std::string_view text) = 0;  // stdout
  virtual void err(std::string_view text) = 0;  // stderr
  virtual const Style& out_style() const = 0;
  virtual const Style& err_style() const = 0;
  virtual bool err_is_tty() const = 0;
  // Columns of the terminal on stderr, asked each call (the window may be resized); 0 when
  // unknown or not a terminal.
  virtual int err_columns() const { return 0; }
};

// Writes to the process's stdout/stderr.
class StdPrinter final : public Printer {
 public:
  StdPrinter();
  void out(std::string_view text) override;
  void err(std::string_view text) override;
  const Style& out_style() const override { return out_style_; }
  const Style& err_style() const override { return err_style_; }
  bool err_is_tty() const override { return err_tty_; }
  int err_columns() const override;  // ioctl TIOCGWINSZ on stderr

 private:
  Style out_style_;
  Style err_style_;
  bool err_tty_ = false;
};

// Collects output in memory (tests).
class CapturePrinter final : public Printer {
 public:
  void out(std::string_view text) override { out_ += text; }
  void err(std::string_view text) override { err_ += text; }
  const Style& out_style() const override { return style_; }
  const Style& err_style() const override { return style_; }
  bool err_is_tty() const override { return false; }
  const std::string& out_text() const { return out_; }
  const std::string& err_text() const { return err_; }

 private:
  Style style_;
  std::string out_;
  std::string err_;
};

}  // namespace banger::cli
