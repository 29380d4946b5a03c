#include "banger/cli/printer.hpp"

#include <fmt/format.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace banger::cli {
namespace {

std::string wrap(const Style& style, const char* code, std::string_view text) {
  if (!style.color) {
    return std::string(text);
  }
  return std::string("\033[") + code + "m" + std::string(text) + "\033[0m";
}

// Display width: counts UTF-8 code points and skips ANSI colour sequences ("\033[...m"),
// so coloured cells align like plain ones.
std::size_t display_width(std::string_view text) {
  std::size_t width = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\033') {
      while (i < text.size() && text[i] != 'm') {
        ++i;
      }
      continue;
    }
    if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) {
      ++width;
    }
  }
  return width;
}

}  // namespace

std::string escape_control(std::string_view text, bool keep_newlines) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (keep_newlines && (c == '\n' || c == '\t')) {
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      out += fmt::format("\\x{:02x}", c);
    } else if (c == 0xc2 && i + 1 < text.size() &&
               static_cast<unsigned char>(text[i + 1]) >= 0x80 &&
               static_cast<unsigned char>(text[i + 1]) <= 0x9f) {
      out += fmt::format("\\u{:04x}", static_cast<unsigned char>(text[i + 1]));
      ++i;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

std::string render_table(const Table& table) {
  std::vector<std::size_t> widths(table.headers.size(), 0);
  auto measure = [&](const std::vector<std::string>& row) {
    for (std::size_t i = 0; i < row.size() && i < widths.size(); ++i) {
      widths[i] = std::max(widths[i], display_width(row[i]));
    }
  };
  measure(table.headers);
  for (const auto& row : table.rows) {
    measure(row);
  }
  std::string out;
  auto emit = [&](const std::vector<std::string>& row) {
    std::string line;
    for (std::size_t i = 0; i < widths.size(); ++i) {
      std::string_view cell = i < row.size() ? std::string_view(row[i]) : std::string_view();
      line += cell;
      if (i + 1 < widths.size()) {
        line.append(widths[i] - display_width(cell) + 2, ' ');
      }
    }
    while (!line.empty() && line.back() == ' ') {
      line.pop_back();
    }
    out += line;
    out += '\n';
  };
  emit(table.headers);
  for (const auto& row : table.rows) {
    emit(row);
  }
  return out;
}

Style detect_style(int fd) {
  const char* no_color = std::getenv("NO_COLOR");
  const char* term = std::getenv("TERM");
  bool color = ::isatty(fd) == 1 && no_color == nullptr &&
               !(term != nullptr && std::strcmp(term, "dumb") == 0);
  return Style{color};
}

std::string dim(const Style& style, std::string_view text) { return wrap(style, "2", text); }
std::string bold(const Style& style, std::string_view text) { return wrap(style, "1", text); }
std::string green(const Style& style, std::string_view text) { return wrap(style, "32", text); }
std::string yellow(const Style& style, std::string_view text) { return wrap(style, "33", text); }
std::string red(const Style& style, std::string_view text) { return wrap(style, "31", text); }

StdPrinter::StdPrinter()
    : out_style_(detect_style(STDOUT_FILENO)),
      err_style_(detect_style(STDERR_FILENO)),
      err_tty_(::isatty(STDERR_FILENO) == 1) {}

int StdPrinter::err_columns() const {
  if (!err_tty_) {
    return 0;
  }
  winsize size{};
  if (::ioctl(STDERR_FILENO, TIOCGWINSZ, &size) != 0) {
    return 0;
  }
  return size.ws_col;
}

void StdPrinter::out(std::string_view text) {
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
}

void StdPrinter::err(std::string_view text) {
  std::fwrite(text.data(), 1, text.size(), stderr);
  std::fflush(stderr);
}

}  // namespace banger::cli
