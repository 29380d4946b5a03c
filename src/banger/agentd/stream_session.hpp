// Stream sessions of the agent (docs/agent.md "Stream channels", docs/decisions/0009): on a
// stream channel the host authenticates (`auth`, as on the control channel), sends one
// `stream_exec` header line, gets `{"id":N,"result":{"pid":P}}` (or an error line), and from then
// on both sides exchange binary frames (agentproto/stream.hpp) until the agent's exit frame.
#pragma once

#include <atomic>
#include <chrono>
#include <string>

#include "banger/agentd/agent.hpp"

namespace banger::agentd {

// How a session ended.
enum class StreamEnd {
  refused,    // auth, header or spawn refused: the error line was written, nothing runs
  finished,   // the exit frame (or an error frame after a protocol error) was sent
  host_gone,  // the host left before the exit frame: the command's process group got SIGKILL
  stopped,    // StreamChannel::stop became true (tests): the process group got SIGKILL
};

// One stream channel: a socket (read_fd == write_fd) or a virtio-serial port; both may be
// non-blocking.
struct StreamChannel {
  int read_fd = -1;
  int write_fd = -1;
  const std::atomic<bool>* stop = nullptr;  // checked at least every 100 ms when set
  // A virtio-serial port: the guest kernel learns that a host attached (a control message) apart
  // from the host's first bytes, and may see them before it: during the handshake an EOF or a
  // hang-up is then "not attached yet", not "gone" (the handshake's deadline still applies).
  bool serial_port = false;
};

// The host must finish `auth` and the header within this time, or the session is refused (an
// unauthenticated AF_VSOCK peer, which any host user can be, must not hold a channel).
constexpr std::chrono::seconds kStreamHandshakeTimeout{10};

// Runs one session on channel: handshake, spawn, frames. pending holds bytes already read from
// the channel (the serial loop reads the first ones). The command runs as exec's (agent.hpp
// prepare_command: base environment + env, PATH with agentproto::kStreamHelperBinDir appended,
// its own session and process group, no inherited descriptors beyond 0-2 which are pipes).
// Frames: stdin_data feeds its stdin, stdin_eof closes it, signal signals its process group,
// resize is ignored (no PTY); its stdout and stderr become frames (at most one frame buffered
// per direction: the channel's back-pressure slows the command). timeout_s > 0: at the deadline
// the process group gets SIGKILL and the exit frame says timed_out. After the command exits,
// output still in its pipes is sent (background descendants are not waited for), then the exit
// frame. A host frame that breaks the protocol gets an error frame, and the group SIGKILL.
StreamEnd serve_stream_session(const StreamChannel& channel, Agent& agent,
                               std::string pending = {});

// Accepts stream sessions on a listening socket (AF_VSOCK port 1025, or the unix socket of test
// mode), each on its own thread, at most max_sessions at once: a connection beyond that gets one
// operation_failed error line ("all 4 stream sessions are busy") and is closed. Returns only when
// accept() fails for good.
void stream_accept_loop(int listen_fd, Agent& agent, const std::string& label,
                        std::size_t max_sessions);

// Serves a stream virtio-serial port (tests: a FIFO pair or a socketpair): waits for a host
// (read() returning data; 0 / POLLHUP means none is attached: sleep idle_sleep), serves one
// session, then after it ended drops what the host sends until it disconnects (read() returns
// 0), and starts over: the next host authenticates again. An `auth` line among the dropped input
// starts the next session at once (the agent may not see a quick disconnect and reconnect, ADR
// 0012 point 5). Returns when stop becomes true or on a hard read error. sessions, when set,
// counts the sessions served.
void serve_stream_port(int read_fd, int write_fd, Agent& agent, const std::atomic<bool>& stop,
                       std::chrono::milliseconds idle_sleep = std::chrono::milliseconds(10),
                       std::atomic<std::size_t>* sessions = nullptr);

// Guest mode: finds the virtio-serial port agentproto::kStreamPortPrefix + index (retrying every
// 200 ms), opens it and serves it with serve_stream_port; reopens after errors. Never returns.
void run_stream_serial(Agent& agent, const std::string& sys_root, std::size_t index);

}  // namespace banger::agentd
