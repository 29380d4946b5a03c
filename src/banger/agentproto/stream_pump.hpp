// The host side of a stream session once the header exchange is done (docs/agent.md "Stream
// channels"): copies the caller's stdin into stdin frames and stdout/stderr frames into the
// caller's descriptors until the agent's exit frame. Used by the CLI on the channel the daemon
// passed it (ADR 0009 point 4). Standard library + libc only.
#pragma once

#include <cstdint>
#include <string>

namespace banger::agentproto {

struct StreamEnds {
  int stdin_fd = -1;      // read until EOF into stdin frames, then stdin_eof; -1: stdin_eof at once
  int stdout_fd = -1;     // stdout frames are written here (pipe or file); -1: discarded
  int stderr_fd = -1;     // stderr frames are written here; -1: discarded
  int interrupt_fd = -1;  // when readable, one byte is read: a signal number, sent as a `signal`
                          // frame (a self-pipe written by the caller's SIGINT handler); -1: none
  // PTY sessions: when resize_fd is readable (a self-pipe written by the caller's SIGWINCH
  // handler) its bytes are drained and the window size of tty_fd (TIOCGWINSZ) is sent as a
  // `resize` frame; -1: none.
  int resize_fd = -1;
  int tty_fd = -1;
};

struct StreamOutcome {
  std::string error;  // "" = the command ran and exited (fields below); else why the session broke
  std::int32_t exit_code = -1;  // exit status, or 128+signal
  std::uint8_t signal = 0;      // the killing signal, 0 when the command exited
  bool timed_out = false;       // the agent killed it at its timeout_s
};

// Pumps one session on channel_fd (a connected stream socket, blocking or not: it is made
// non-blocking here) until the agent's exit frame, with poll() in both directions at once and at
// most one frame buffered per direction (the channel's back-pressure is the flow control).
// Errors (StreamOutcome::error), after which the caller closes the channel (the agent then kills
// the command's process group):
// - "the guest closed the stream before the command exited" (EOF, hang-up or a reset of the
//   channel before the exit frame);
// - "agent: <text>" for the agent's error frame (text sanitized: control characters escaped);
// - "the agent broke the stream protocol: <why>" for an unknown frame type, a bad length, or
//   bytes after the exit frame;
// - "writing the command's stdout: Broken pipe" (stdout_fd/stderr_fd write failures, EPIPE
//   included), "reading stdin: <strerror>", "stream channel: <strerror>".
// SIGPIPE is blocked in the calling thread while it runs. Writes to stdout_fd/stderr_fd may block
// (the caller's descriptors are left as they are: a terminal's flags are shared).
StreamOutcome pump_host_session(int channel_fd, const StreamEnds& ends);

}  // namespace banger::agentproto
