// The host tools banger runs, the Debian package that provides each, and a checker.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "banger/base/error.hpp"

namespace banger::hosttools {

struct ToolRequirement {
  std::string tool;      // program name searched in PATH (and sbin)
  std::string package;   // Debian package that installs it
  std::string purpose;   // what banger uses it for
  bool required = true;  // false: only some features need it
};

struct ToolStatus {
  ToolRequirement requirement;
  std::string path;  // empty when missing
};

// Every host program banger runs, in a stable order.
const std::vector<ToolRequirement>& host_tools();

// Looks each tool up with find (which returns a path or "").
std::vector<ToolStatus> check_tools(const std::function<std::string(const std::string&)>& find);

// not_found naming the tool and the package to install, when `tool` is missing.
Status require_tool(const std::string& tool,
                    const std::function<std::string(const std::string&)>& find);

}  // namespace banger::hosttools
