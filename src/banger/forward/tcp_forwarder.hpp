// TcpForwarder: host TCP ports forwarded to guest ports (`vm forward`, `--publish`;
// docs/forwarding.md). One thread runs an epoll loop over every listener and connection: it
// accepts on the host address:port, connects to guest_ip:guest_port and copies bytes both ways
// through bounded per-direction buffers, passing each half-close on (shutdown(SHUT_WR) once one
// side's stream has ended and everything it sent was delivered).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "banger/base/error.hpp"
#include "banger/model/port_forward.hpp"
#include "banger/posix/fd.hpp"

namespace banger::forward {

struct ForwarderOptions {
  // Connections one forward carries at once; one more is accepted and closed at once.
  std::size_t max_connections = 128;
  // Bytes buffered per direction of a connection (a slow reader stalls its writer here).
  std::size_t buffer_bytes = 64 * 1024;
  // How long a connect to the guest may take before the client's connection is closed.
  std::chrono::milliseconds connect_timeout{10000};
};

// Owns: the listening sockets, the accepted and guest connections, and the loop thread.
// Does not own: which forwards a VM should have (VmService / MicrovmHost decide).
// Thread-safety: every public method may be called from any thread. remove() and remove_all()
//       have closed the listeners and every connection of what they remove when they return.
class TcpForwarder {
 public:
  explicit TcpForwarder(ForwarderOptions options = {});
  TcpForwarder(const TcpForwarder&) = delete;
  TcpForwarder& operator=(const TcpForwarder&) = delete;
  // Closes every listener and connection and joins the loop thread.
  ~TcpForwarder();

  // Listens on each forward's host address:port for `owner` (a VM id) and forwards what
  // connects there to guest_ip:guest_port. All or nothing: when one cannot be bound, the ones
  // bound before it are closed again. Returns the forwards as bound (host_port 0 replaced by the
  // port the host picked). invalid_argument from model::validate_port_forwards; already_exists
  // "host port 127.0.0.1:8080 is already in use" when something else listens there (or this
  // forwarder does); permission_denied for a privileged port; invalid_argument for an address
  // that is not the host's; io for other bind failures.
  Expected<std::vector<model::PortForward>> add(const std::string& owner,
                                                const std::string& guest_ip,
                                                const std::vector<model::PortForward>& forwards);
  // Closes the owner's forwards listening on each forward's host address:port (guest_port is
  // ignored) and their connections. not_found "no forward on 127.0.0.1:8080" before anything
  // is closed when one of them is not the owner's.
  Status remove(const std::string& owner, const std::vector<model::PortForward>& forwards);
  // Closes every forward of owner and their connections (a stopping VM).
  void remove_all(const std::string& owner);
  // The owner's forwards as bound, ordered by host address and port.
  std::vector<model::PortForward> list(const std::string& owner) const;
  // Open connections of the owner's forwards (accepted ones, connecting or copying).
  std::size_t connections(const std::string& owner) const;

 private:
  struct Listener {
    std::uint64_t id = 0;
    std::string owner;
    std::string guest_ip;
    model::PortForward forward;  // as bound
    posix::Fd fd;
    std::size_t connections = 0;
    std::chrono::steady_clock::time_point paused_until{};  // accept hit a descriptor limit
    bool paused = false;
  };
  // The bytes read from one side and not yet written to the other.
  struct Half {
    std::vector<char> buffer;  // allocated on first read
    std::size_t start = 0;
    std::size_t end = 0;
    bool eof = false;   // this side's stream ended
    bool shut = false;  // ...and all of it was delivered: the other side's write is shut
  };
  struct Connection {
    std::uint64_t id = 0;
    std::uint64_t listener = 0;
    posix::Fd fd[2];  // 0: the host client, 1: the guest
    Half half[2];     // half[s]: read from side s, written to side 1 - s
    std::uint32_t interest[2] = {0, 0};
    bool parked[2] = {false, false};  // removed from epoll: nothing more to do on that side
    bool connecting = true;
    std::chrono::steady_clock::time_point started;
  };

  Status ensure_started();
  void loop();
  void dispatch(std::uint64_t token, std::uint32_t events);
  void accept_on(Listener& listener);
  void on_connection(std::uint64_t id, int side, std::uint32_t events);
  // false when the connection failed and must be closed.
  bool read_side(Connection& c, int side);
  bool write_side(Connection& c, int side);
  void update_interest(Connection& c);
  void close_connection(std::uint64_t id);
  void close_listener(std::uint64_t id);
  void sweep();

  ForwarderOptions options_;
  mutable std::mutex mutex_;
  posix::Fd epoll_;
  posix::Fd wake_;
  std::thread thread_;
  bool stopping_ = false;
  std::uint64_t next_id_ = 1;
  std::map<std::uint64_t, Listener> listeners_;
  std::map<std::uint64_t, Connection> connections_;
};

}  // namespace banger::forward
