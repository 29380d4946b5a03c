// `kernel build` (SPEC S10): the names, keys and source-tree checks that KernelService::build
// uses, kept apart from the service so they can be tested without running make.
#pragma once

#include <string>
#include <string_view>

#include "banger/base/error.hpp"
#include "banger/model/kernel.hpp"

namespace banger::kernelcat {

// `--from debian-source`: the host archive's `linux-source` (resolved through apt to
// linux-source-<major.minor>), the default.
inline constexpr std::string_view kDebianSource = "debian-source";

// The manifest source of every built kernel starts with this ("build: linux-source-6.1
// 6.1.192-3, config firecracker").
inline constexpr std::string_view kBuildSourcePrefix = "build: ";

// The build cache key: sha256 over a recipe version, the source's identity ("linux-source-6.1
// 6.1.192-3" or "<tarball name> sha256:<hex>") and the merged config text. 64 hex digits.
std::string build_key(std::string_view source_identity, std::string_view merged_config);

// Whether kernel was made by `kernel build` (its source says so).
bool is_built_kernel(const model::Kernel& kernel);

// The kernel source tree extracted under dir: dir itself or its only subdirectory, holding
// Makefile, Kconfig and arch/x86. invalid_argument "<shown> is not a Linux source tree: ..."
// otherwise.
Expected<std::string> find_source_root(const std::string& dir, std::string_view shown);

}  // namespace banger::kernelcat
