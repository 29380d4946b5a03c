// Transports of the agent: the virtio-serial port named org.banger.agent, an AF_VSOCK listener
// (port 1024) and, for tests, a unix stream listener. Each listener serves one thread per
// connection; requests on one connection are answered in order.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "banger/agentd/agent.hpp"
#include "banger/posix/error.hpp"
#include "banger/posix/fd.hpp"

namespace banger::agentd {

// The /dev path of the virtio-serial port whose <sys_root>/class/virtio-ports/<dev>/name
// (trimmed) equals name, e.g. "/dev/vport2p1"; nullopt when there is none (yet).
std::optional<std::string> find_virtio_port(const std::string& sys_root, std::string_view name);

// A listening unix stream socket at path (an existing socket file there is replaced).
// ENAMETOOLONG for an empty or too long path; the errno of socket/bind/listen otherwise.
posix::Result<posix::Fd> listen_unix(const std::string& path);

// A listening AF_VSOCK stream socket on (VMADDR_CID_ANY, port). The errno of socket/bind/listen
// on failure (for instance when the kernel has no vsock support).
posix::Result<posix::Fd> listen_vsock(unsigned port);

// The next connection on listen_fd: retries EINTR/ECONNABORTED/EPROTO at once and running out
// of descriptors or memory after 100 ms (logged); -1 on any other accept() error (logged with
// label), which ends the caller's loop.
int accept_next(int listen_fd, const std::string& label);

// Accepts connections forever, serving each on its own detached thread with serve_stream().
// Returns only when accept() fails with something other than EINTR/ECONNABORTED/EMFILE-like
// transient errors. label names the transport in log lines ("unix", "vsock").
void accept_loop(int listen_fd, Agent& agent, const std::string& label);

// Finds the virtio-serial port called name (retrying every 200 ms while it is missing, as the
// module may load after the agent starts), opens it O_RDWR|O_NONBLOCK and runs serve(fd) on it;
// reopens after serve returns (an error). Never returns.
void run_port(const std::string& sys_root, std::string_view name,
              const std::function<void(int fd)>& serve);

// Guest serial transport: finds the port (retrying every 200 ms while it is missing, as the
// module may load after the agent starts), opens it O_RDWR|O_NONBLOCK and serves it with
// serve_port(); reopens after errors. Never returns.
void run_serial(Agent& agent, const std::string& sys_root);

}  // namespace banger::agentd
