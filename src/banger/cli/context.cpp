#include "banger/cli/context.hpp"

#include <fmt/format.h>

#include "banger/api/errors.hpp"

namespace banger::cli {

int report_error(Context& ctx, const Error& error) {
  const Style& style = ctx.printer.err_style();
  // Daemon errors may quote a guest's console tail (start failures): no raw control bytes (L2).
  std::string line = "banger: " + escape_control(error.message, /*keep_newlines=*/true);
  if (!error.op_id.empty()) {
    // Errors that crossed the wire carry their code and op id (grep the daemon log for it).
    line +=
        " " + dim(style, "(" + std::string(api::wire_code(error.code)) + ", " + error.op_id + ")");
  }
  ctx.printer.err(line + "\n");
  return api::exit_code_for(error);
}

void ProgressRenderer::on_event(const api::Event& event) {
  if (event.stage == api::kSpecStage) {
    finish();
    printer_.err("spec: " + escape_control(event.message + spec_suffix_) + "\n");
    return;
  }
  if (event.stage == api::kWarningStage) {
    finish();  // a warning stays on screen; the next progress line does not overwrite it
    printer_.err("warning: " + escape_control(event.message) + "\n");
    return;
  }
  // Progress may relay tool or guest output: no raw control bytes (L2).
  std::string text = escape_control(event.stage);
  if (!event.message.empty()) {
    text += ": " + escape_control(event.message);
  }
  if (event.total > 0) {
    text += fmt::format(" ({}%)", event.done * 100 / event.total);
  } else if (event.done > 0) {
    text += fmt::format(" ({})", event.done);
  }
  if (printer_.err_is_tty()) {
    printer_.err("\r\033[K" + text);
    line_open_ = true;
  } else {
    printer_.err(text + "\n");
  }
}

void ProgressRenderer::finish() {
  if (line_open_) {
    printer_.err("\r\033[K");
    line_open_ = false;
  }
}

}  // namespace banger::cli
