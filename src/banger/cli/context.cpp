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

}  // namespace banger::cli
