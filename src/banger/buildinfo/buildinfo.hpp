// Build identity (version, git commit) baked in at configure time.
#pragma once

#include <string_view>

namespace banger::buildinfo {

// Semantic version of this build ("0.1.0").
std::string_view version();
// Short git commit of the source tree, "unknown" outside a git checkout.
std::string_view commit();

}  // namespace banger::buildinfo
