// Keeps docs/rpc.md honest: every registered method must have its own heading there.
#pragma once

#include <string>
#include <vector>

#include "banger/base/error.hpp"

namespace banger::rpc {

// Ok when the markdown file at rpc_md_path has a line "### `<name>`" for every method.
// Errors: not_found naming every undocumented method; read errors of the file (not_found,
// permission_denied, io) with the path.
Status check_methods_documented(const std::vector<std::string>& methods,
                                const std::string& rpc_md_path);

}  // namespace banger::rpc
