#include "banger/cli/ssh_include.hpp"

#include <fmt/format.h>

#include "banger/base/expected.hpp"

namespace banger::cli {
namespace {

// ssh_config quoting: double quotes, with '"' and '\' escaped (paths may hold spaces).
std::string quoted(const std::string& path) {
  std::string out = "\"";
  for (char c : path) {
    if (c == '"' || c == '\\') {
      out += '\\';
    }
    out += c;
  }
  return out + "\"";
}

}  // namespace

Status check_include_path(const std::string& daemon_path, const std::string& expected) {
  if (daemon_path != expected) {
    return fail(Errc::failed_precondition,
                fmt::format("refusing to include {:?} from ~/.ssh/config: banger's ssh config is "
                            "{:?}, so the daemon that answered is not serving this user's state",
                            daemon_path, expected));
  }
  for (unsigned char c : expected) {
    if (c < 0x20 || c == 0x7f || c == '"') {
      return fail(Errc::failed_precondition,
                  fmt::format("refusing to include {:?} from ~/.ssh/config: the path holds a "
                              "control character or '\"'; set BANGER_HOME or XDG_STATE_HOME to "
                              "a plainer path",
                              expected));
    }
  }
  return {};
}

std::string ssh_include_block(const std::string& include_path) {
  return fmt::format("{}\nInclude {}\n{}\n", kSshIncludeBegin, quoted(include_path),
                     kSshIncludeEnd);
}

std::string uninstall_ssh_include(std::string_view user_config) {
  std::string out;
  bool inside = false;
  std::size_t pos = 0;
  while (pos < user_config.size()) {
    std::size_t end = user_config.find('\n', pos);
    std::size_t next = end == std::string_view::npos ? user_config.size() : end + 1;
    std::string_view line = user_config.substr(pos, next - pos);
    std::string_view bare = line.substr(0, line.find_last_not_of("\r\n") + 1);
    if (!inside && bare == kSshIncludeBegin) {
      inside = true;
    } else if (inside && bare == kSshIncludeEnd) {
      inside = false;
    } else if (!inside) {
      out += line;
    }
    pos = next;
  }
  return out;
}

std::string install_ssh_include(std::string_view user_config, const std::string& include_path) {
  return ssh_include_block(include_path) + uninstall_ssh_include(user_config);
}

bool has_ssh_include(std::string_view user_config, const std::string& include_path) {
  return user_config.find(ssh_include_block(include_path)) != std::string_view::npos;
}

}  // namespace banger::cli
