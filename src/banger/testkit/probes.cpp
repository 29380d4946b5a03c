#include "banger/testkit/probes.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "banger/sys/command_runner.hpp"
#include "banger/sys/fs.hpp"

namespace banger::testkit {

std::string probe_root(std::string_view purpose) {
  if (::geteuid() == 0) {
    return "";
  }
  return "needs root to " + std::string(purpose);
}

std::string probe_tun() {
  if (::access("/dev/net/tun", R_OK | W_OK) == 0) {
    return "";
  }
  return "needs /dev/net/tun";
}

std::string probe_netns() {
  pid_t pid = ::fork();
  if (pid < 0) {
    return std::string("fork: ") + std::strerror(errno);
  }
  if (pid == 0) {
    ::_exit(::unshare(CLONE_NEWNET) == 0 ? 0 : errno);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
    return "";
  }
  int err = WIFEXITED(status) ? WEXITSTATUS(status) : 0;
  return std::string("unshare(CLONE_NEWNET) failed: ") +
         (err != 0 ? std::strerror(err) : "child did not exit");
}

std::string probe_tools(std::initializer_list<std::string_view> tools) {
  for (std::string_view tool : tools) {
    if (sys::find_executable(std::string(tool)).empty()) {
      return "needs " + std::string(tool) + " in PATH";
    }
  }
  return "";
}

std::string probe_apt_archive() {
  sys::PosixCommandRunner runner;
  auto apt = runner.run({.argv = {"apt-get", "download", "--print-uris", "busybox-static"}});
  if (apt && apt->exit_code == 0) {
    return "";
  }
  return "the host's apt archive is not reachable";
}

std::string first_missing(std::initializer_list<std::string> reasons) {
  for (const auto& reason : reasons) {
    if (!reason.empty()) {
      return reason;
    }
  }
  return "";
}

}  // namespace banger::testkit
