#include "banger/kernelcat/kernel_work.hpp"

#include <fmt/format.h>
#include <stdlib.h>

#include <cerrno>
#include <filesystem>
#include <system_error>

#include "banger/base/log.hpp"
#include "banger/sys/fs.hpp"

namespace banger::kernelcat {

namespace fs = std::filesystem;

Expected<std::string> make_work_dir(const std::string& downloads_dir, const std::string& name) {
  BANGER_TRY(sys::make_dirs(downloads_dir));
  std::string pattern = fmt::format("{}/{}{}-XXXXXX", downloads_dir, kWorkPrefix, name);
  if (::mkdtemp(pattern.data()) == nullptr) {
    return fail_errno("creating a work directory in " + downloads_dir, errno);
  }
  return pattern;
}

void remove_work_dir(const std::string& work) {
  if (auto removed = sys::remove_all(work); !removed) {
    BANGER_LOG_WARN("leaving {}: {}", work, removed.error().message);
  }
}

Status copy_file(const std::string& from, const std::string& to) {
  std::error_code ec;
  fs::copy_file(from, to, fs::copy_options::overwrite_existing, ec);
  if (ec) {
    return fail_errno(fmt::format("copying {} to {}", from, to), ec.value());
  }
  fs::permissions(to, fs::perms(0644), ec);
  return {};
}

Status check_cancelled(const base::CancelFn& cancelled) {
  if (base::is_cancelled(cancelled)) {
    return fail(Errc::cancelled, "cancelled");
  }
  return {};
}

}  // namespace banger::kernelcat
