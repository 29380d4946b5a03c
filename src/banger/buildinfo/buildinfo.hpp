// Build identity (version, git commit, build time) baked in at configure time.
#pragma once

#include <string>
#include <string_view>

namespace banger::buildinfo {

// Semantic version of this build ("0.1.0").
std::string_view version();
// Short git commit of the source tree, "unknown" outside a git checkout.
std::string_view commit();
// When this build was configured, UTC RFC 3339 ("2026-12-03T04:50:49Z"); SOURCE_DATE_EPOCH
// instead when it was set at configure time (reproducible builds).
std::string_view build_time();

// The one line of `<program> --version`: "banger 0.1.0 (commit 1a2b3c4d5e6f, built
// 2026-12-03T04:50:49Z)".
std::string version_line(std::string_view program);

}  // namespace banger::buildinfo
