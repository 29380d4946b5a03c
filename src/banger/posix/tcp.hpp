// IPv4 TCP sockets for the port forwarder (docs/forwarding.md): a listener on an address:port,
// a non-blocking connect that the caller completes, and the port a socket is bound to.
#pragma once

#include <string>

#include "banger/posix/error.hpp"
#include "banger/posix/fd.hpp"

namespace banger::posix {

// A NON-BLOCKING, close-on-exec IPv4 TCP socket bound to address:port (SO_REUSEADDR, so a port
// in TIME_WAIT can be reused; port 0 = a free port) and listening with `backlog`. EINVAL when
// address is not an IPv4 literal; EADDRINUSE when another socket listens there; the errno of
// socket/bind/listen otherwise (EACCES for a privileged port, EADDRNOTAVAIL for an address that
// is not the host's). what is "listen <address>:<port>".
Result<Fd> listen_tcp4(const std::string& address, int port, int backlog = 128);

// The local port an IPv4 socket is bound to. The errno of getsockname on failure.
Result<int> local_port(int fd);

// A NON-BLOCKING, close-on-exec IPv4 TCP socket whose connect to address:port has been started:
// `in_progress` means the caller waits for POLLOUT and reads SO_ERROR (socket_error()). EINVAL
// for an address that is not an IPv4 literal; the errno of socket/connect otherwise
// (ECONNREFUSED, ENETUNREACH, ...).
struct StartedConnect {
  Fd fd;
  bool in_progress = false;
};
Result<StartedConnect> start_connect_tcp4(const std::string& address, int port);

// The pending error of a socket (SO_ERROR; 0 = none), e.g. the outcome of a connect.
int socket_error(int fd);

}  // namespace banger::posix
