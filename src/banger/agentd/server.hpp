// The serve loops: read frames from a byte stream, answer each request in order, keep going
// after malformed or oversized lines and after write errors (the host went away).
#pragma once

#include <atomic>
#include <chrono>
#include <string>

#include "banger/agentd/agent.hpp"

namespace banger::agentd {

// Writes all of data to fd (send(MSG_NOSIGNAL) on sockets, write() otherwise), waiting for
// POLLOUT when the fd is non-blocking. False when the peer is gone (EPIPE, POLLHUP, other
// errors) or no byte could be written for stall_timeout.
bool write_all(int fd, std::string_view data,
               std::chrono::milliseconds stall_timeout = std::chrono::seconds(10));

// Serves one connection (a socket) as one Session until EOF, a read error or the session refusing
// the peer (its "unauthorized" reply is written, then this returns and the caller closes): each
// complete line is handled and its reply written before the next is read. A failed write drops
// that reply and serving continues (the next read then normally sees EOF). Returns the number of
// replies written.
std::size_t serve_stream(int fd, Agent& agent);

// Serves a virtio-serial port (or, in tests, a FIFO): requests are read from read_fd, replies
// written to write_fd (the same fd for a port; both non-blocking). read() returning 0 / POLLHUP
// means no host is connected: the partial line is dropped (a host that left mid-request cannot
// corrupt the next one), a new Session starts (the next host authenticates again), and the loop
// waits for a host (HostAttachWait; idle_sleep without SIGIO). Replies go through
// write_to_port (a port may refuse writes until it learns of the host whose request was just
// read). A refused host cannot be hung up on: what it sends is
// dropped unanswered until it disconnects. Returns when stop
// becomes true (checked at least every idle_sleep while idle) or on a hard read error.
// disconnects, when set, counts the host disconnects seen (each one dropped the partial line).
void serve_port(int read_fd, int write_fd, Agent& agent, const std::atomic<bool>& stop,
                std::chrono::milliseconds idle_sleep = std::chrono::milliseconds(10),
                std::atomic<std::size_t>* disconnects = nullptr);

}  // namespace banger::agentd
