#include "banger/cli/bundle_command.hpp"

#include <fmt/format.h>

#include <filesystem>
#include <system_error>

#include <nlohmann/json.hpp>

#include "banger/api/json_codec.hpp"
#include "banger/config/size.hpp"

namespace banger::cli {

std::string absolute_path(const std::string& path) {
  std::error_code ec;
  auto absolute = std::filesystem::absolute(path, ec);
  return ec ? path : absolute.lexically_normal().string();
}

void print_bundle_written(Context& ctx, const std::string& noun,
                          const api::BundleResponse& written) {
  auto mib = static_cast<std::int64_t>((written.entry.size + (1 << 20) - 1) >> 20);
  ctx.printer.out(fmt::format("wrote {} ({})\n", written.path, config::format_size_mib(mib)));
  if (!written.catalog.empty()) {
    ctx.printer.out(fmt::format("added {} {} to {}\n", noun, written.entry.name, written.catalog));
  }
  // The entry, ready to paste into a catalog's "images" or "kernels" list.
  auto entry = api::to_json_value(written.entry);
  if (noun == "kernel") {
    entry.erase("kernel");
  }
  ctx.printer.out(entry.dump(2) + "\n");
}

}  // namespace banger::cli
