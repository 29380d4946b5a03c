// Environments and argv for exec: "KEY=VALUE" lists and the char* arrays exec wants.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace banger::posix {

// The entries of `base` whose key is not in `overrides` (in their order), then every override
// as "key=value" (in key order). An entry without '=' counts as a key with an empty value.
std::vector<std::string> build_env(const std::vector<std::string>& base,
                                   const std::map<std::string, std::string>& overrides);

// This process's environment (environ) as a list.
std::vector<std::string> current_env();

// The NULL-terminated char* array of `strings` for exec/posix_spawn. Points into `strings`,
// which must outlive it and not change.
std::vector<char*> c_strings(const std::vector<std::string>& strings);

}  // namespace banger::posix
