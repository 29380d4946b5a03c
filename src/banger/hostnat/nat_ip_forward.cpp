#include "banger/hostnat/nat_ip_forward.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "banger/base/fd.hpp"
#include "banger/base/strings.hpp"
#include "banger/sys/fs.hpp"

namespace banger::hostnat {

ProcSysIpForwarding::ProcSysIpForwarding(std::string proc_root)
    : path_(std::move(proc_root) + "/sys/net/ipv4/ip_forward") {}

Status ProcSysIpForwarding::enable() {
  auto current = sys::read_file(path_);
  if (!current) {
    return tl::unexpected(current.error());
  }
  if (base::trim(*current) == "1") {
    return {};
  }
  // O_TRUNC is what `echo 1 > /proc/sys/...` does; procfs ignores it, a plain file needs it.
  base::UniqueFd file(::open(path_.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC));
  if (!file) {
    return fail_errno("writing " + path_, errno);
  }
  static constexpr char kOne[] = "1\n";
  ssize_t written = ::write(file.get(), kOne, sizeof kOne - 1);
  if (written < 0) {
    return fail_errno("writing " + path_, errno);
  }
  if (written != static_cast<ssize_t>(sizeof kOne - 1)) {
    return fail(Errc::io, "writing " + path_ + ": short write");
  }
  return {};
}

}  // namespace banger::hostnat
