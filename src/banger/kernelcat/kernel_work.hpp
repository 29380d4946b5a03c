// Helpers KernelService's pull and build share (module-internal): their work directories under
// downloads_dir (which reconcile removes by kWorkPrefix), file copies into a stage or cache, and
// the cancellation check between steps.
#pragma once

#include <string>
#include <string_view>

#include "banger/base/error.hpp"
#include "banger/base/progress.hpp"

namespace banger::kernelcat {

// Work directories are downloads_dir/<kWorkPrefix><name>-XXXXXX.
inline constexpr std::string_view kWorkPrefix = "kernel-";

// A fresh private directory downloads_dir/kernel-<name>-XXXXXX (downloads_dir is created).
Expected<std::string> make_work_dir(const std::string& downloads_dir, const std::string& name);

// rm -rf work; a failure is logged, not returned (for scope-exit cleanup).
void remove_work_dir(const std::string& work);

// Copies from to to (replacing it), mode 0644.
Status copy_file(const std::string& from, const std::string& to);

// cancelled "cancelled" once cancelled() says so.
Status check_cancelled(const base::CancelFn& cancelled);

}  // namespace banger::kernelcat
