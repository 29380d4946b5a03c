// Writing a reply to a virtio-serial port whose host attach the guest kernel may not know yet.
// The host's attach reaches the guest as a control message, handled apart from the data queue:
// the host's first bytes can be read while the port still reports a hang-up (POLLHUP, writes
// refused with EAGAIN). An agent woken at once by the data (SIGIO, host_attach.hpp) then
// answers before the attach is known; failing that write dropped the reply, and the host
// waited for it until its deadline (found by the real-guest suite: one `vm ports` in five took
// 5 s; an exec without a timeout hung). So a refused write is retried until the port accepts it.
#pragma once

#include <chrono>
#include <string_view>

namespace banger::agentd {

// How long a reply waits for the port to accept it (no byte written) before it is dropped: the
// host attached (it sent the request), so this is only reached when it has left again.
inline constexpr std::chrono::milliseconds kPortAttachWait{5000};

// Writes all of data to fd (a non-blocking virtio-serial port; a FIFO in tests), retrying a
// write refused as "no host" (EAGAIN with a hang-up, EPIPE) until no byte could be written for
// attach_wait. True when everything was written; false when the host is gone (or a hard write
// error). SIGPIPE is blocked meanwhile in the calling thread.
bool write_to_port(int fd, std::string_view data,
                   std::chrono::milliseconds attach_wait = kPortAttachWait);

}  // namespace banger::agentd
