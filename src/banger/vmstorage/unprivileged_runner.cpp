#include "banger/vmstorage/unprivileged_runner.hpp"

#include <fmt/format.h>

namespace banger::vmstorage {

std::vector<std::string> UnprivilegedImageRunner::wrap(const std::vector<std::string>& argv,
                                                       const std::string& image,
                                                       EditIdentity identity) {
  // $1 is the image; after the shift "$@" is the setpriv command line.
  std::vector<std::string> wrapped{"sh",
                                   "-c",
                                   "exec 3<>\"$1\" || exit 126; shift; exec \"$@\"",
                                   "sh",
                                   image,
                                   "setpriv",
                                   fmt::format("--reuid={}", identity.uid),
                                   fmt::format("--regid={}", identity.gid),
                                   "--clear-groups",
                                   "--no-new-privs",
                                   "--inh-caps=-all",
                                   "--"};
  for (const auto& arg : argv) {
    wrapped.push_back(arg == image ? std::string("/dev/fd/3") : arg);
  }
  return wrapped;
}

Expected<sys::CommandResult> UnprivilegedImageRunner::run(const sys::Command& command) {
  sys::Command wrapped = command;
  wrapped.argv = wrap(command.argv, image_, identity_);
  return inner_.run(wrapped);
}

}  // namespace banger::vmstorage
