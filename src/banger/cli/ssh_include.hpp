// Pure editing of ~/.ssh/config for `banger ssh-config --install/--uninstall` (S9): one marked
// block holding an `Include` of banger's ssh config, placed at the top of the file because an
// Include after a `Host` line would apply only inside that Host block.
#pragma once

#include <string>
#include <string_view>

#include "banger/base/error.hpp"

namespace banger::cli {

inline constexpr std::string_view kSshIncludeBegin = "# >>> banger ssh-config >>>";
inline constexpr std::string_view kSshIncludeEnd = "# <<< banger ssh-config <<<";

// Checks the Include path the daemon answered before it goes into ~/.ssh/config (security
// review H2): it must be exactly `expected` (<state>/ssh_config as this CLI resolves it) and
// hold no control character or '"' (which would end the line or the quoted value).
// Errc::failed_precondition naming both paths.
Status check_include_path(const std::string& daemon_path, const std::string& expected);

// The marked block (three lines, each ending in '\n') including include_path, quoted.
std::string ssh_include_block(const std::string& include_path);

// user_config with the block for include_path at the top and any earlier banger block (marked
// lines and what is between them) removed; everything else is kept byte for byte. Applying it
// twice gives the same text.
std::string install_ssh_include(std::string_view user_config, const std::string& include_path);

// user_config without banger's marked block (a missing block leaves it unchanged).
std::string uninstall_ssh_include(std::string_view user_config);

// True when user_config carries banger's block for exactly include_path.
bool has_ssh_include(std::string_view user_config, const std::string& include_path);

}  // namespace banger::cli
