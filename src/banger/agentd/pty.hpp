// The pseudo-terminal of a PTY stream session (`vm exec -t`, docs/agent.md "Stream channels"):
// the agent keeps the master, the command gets the slave as its controlling terminal.
#pragma once

#include <string>

#include "banger/agentproto/stream.hpp"
#include "banger/posix/error.hpp"
#include "banger/posix/fd.hpp"

namespace banger::agentd {

struct Pty {
  posix::Fd master;        // non-blocking, close-on-exec
  std::string slave_path;  // /dev/pts/N, opened by the command (posix::Stdio::terminal)
};

// A new PTY of the given size (posix_openpt, grantpt, unlockpt, TIOCSWINSZ). Errors name the
// failing step ("posix_openpt": ENOENT/ENODEV when /dev/pts is not mounted).
posix::Result<Pty> open_pty(agentproto::StreamPty size);

// Sets the terminal size on the master; the kernel then sends SIGWINCH to the foreground process
// group of the terminal.
posix::Result<void> resize_pty(int master, agentproto::StreamPty size);

}  // namespace banger::agentd
