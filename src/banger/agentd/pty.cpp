#include "banger/agentd/pty.hpp"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <termios.h>

#include <array>
#include <cerrno>

namespace banger::agentd {

posix::Result<Pty> open_pty(agentproto::StreamPty size) {
  posix::Fd master(::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!master) {
    return posix::sys_fail(errno, "posix_openpt");
  }
  if (::grantpt(master.get()) != 0) {
    return posix::sys_fail(errno, "grantpt");
  }
  if (::unlockpt(master.get()) != 0) {
    return posix::sys_fail(errno, "unlockpt");
  }
  std::array<char, 128> name{};
  if (const int rc = ::ptsname_r(master.get(), name.data(), name.size()); rc != 0) {
    return posix::sys_fail(rc, "ptsname_r");
  }
  if (auto sized = resize_pty(master.get(), size); !sized) {
    return tl::unexpected(sized.error());
  }
  const int flags = ::fcntl(master.get(), F_GETFL);
  if (flags < 0 || ::fcntl(master.get(), F_SETFL, flags | O_NONBLOCK) != 0) {
    return posix::sys_fail(errno, "fcntl(O_NONBLOCK) on the pty master");
  }
  return Pty{.master = std::move(master), .slave_path = name.data()};
}

posix::Result<void> resize_pty(int master, agentproto::StreamPty size) {
  winsize window{};
  window.ws_row = size.rows;
  window.ws_col = size.cols;
  if (::ioctl(master, TIOCSWINSZ, &window) != 0) {
    return posix::sys_fail(errno, "TIOCSWINSZ");
  }
  return {};
}

}  // namespace banger::agentd
