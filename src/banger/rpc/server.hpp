// The daemon's RPC server: a unix stream socket, one thread per connection, requests on a
// connection served one after the other through a Registry (SPEC S2, docs/rpc.md).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "banger/base/error.hpp"
#include "banger/base/fd.hpp"
#include "banger/base/random.hpp"
#include "banger/rpc/registry.hpp"

namespace banger::rpc {

namespace detail {
struct ServerConnection;
}  // namespace detail

struct ServerOptions {
  std::string socket_path;  // shorter than 108 bytes
  uid_t allowed_uid = 0;    // the daemon's owner; root is always allowed as well
  // stop() waits this long for running handlers, then cancels them and waits as long again.
  std::chrono::milliseconds stop_grace{std::chrono::seconds(10)};
  // At most this many connections are served at once; one more gets a single `unavailable`
  // error line ("too many connections") and is closed (security review L5).
  std::size_t max_connections = 128;
  // A reply or event line that cannot be sent for this long (a client that stopped reading)
  // ends the connection and cancels its running call, so a handler holding a VM lock is never
  // stuck in send() (L5).
  std::chrono::milliseconds send_timeout{std::chrono::seconds(30)};
};

// Owns: the listening socket, the socket file and the connection threads.
// Does not own: the Registry and the handlers' state.
// Thread-safety: listen() and run() from one thread; stop() from any thread, including from
// inside a handler (the handler's reply is still sent). Destroy only after run() returned or
// was never called.
//
// Per connection: the peer's uid (SO_PEERCRED) must be allowed_uid or 0, otherwise it gets one
// `unauthorized` error line and is closed. Malformed or oversized lines get error replies and
// the connection keeps being served (an oversized line is skipped up to its newline). While a
// handler runs, the connection is watched for hang-up (POLLRDHUP/POLLHUP; a half-close by the
// client counts) and the call's CallContext is cancelled when it happens.
class Server {
 public:
  Server(ServerOptions options, Registry& registry, base::Random& random);
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;
  ~Server();

  // Creates the socket: removes a stale socket file at the path, binds, chmods 0600, listens.
  // Errors: invalid_argument (path too long), failed_precondition (the path exists and is not
  // a socket), permission_denied, io.
  Status listen();

  // Accepts and serves connections until stop(). Then closes the listening socket, waits for
  // running handlers (bounded, see ServerOptions::stop_grace; handlers still running after
  // that are cancelled, and abandoned with a warning if they do not finish), closes every
  // connection and removes the socket file. Requires a successful listen(). Errors: io when
  // poll() on the listening socket fails (the cleanup still happens).
  Status run();

  // Makes run() return. Idempotent; callable before run() too (run() then returns at once).
  void stop();

  const std::string& socket_path() const { return options_.socket_path; }

  // After run() returned: how many handlers that ignored cancellation past 2 x stop_grace are
  // still running (their threads were detached). While one is, the Registry's handlers and
  // whatever they use must not be destroyed: bangerd then exits with _exit instead of tearing
  // the daemon down (security review L4). Call from the thread that ran run().
  std::size_t abandoned_running() const;

 private:
  void start_connection(base::UniqueFd fd);
  void reap_finished();
  void close_connections();
  void remove_socket_file();

  ServerOptions options_;
  Registry& registry_;
  base::Random& random_;
  base::UniqueFd listen_fd_;
  base::UniqueFd wake_fd_;  // eventfd written by stop()
  dev_t socket_dev_ = 0;    // identity of the socket file we created, so we only remove ours
  ino_t socket_ino_ = 0;
  std::atomic<bool> stopping_{false};
  std::vector<std::shared_ptr<detail::ServerConnection>>
      connections_;  // touched by the run() thread only
  // Connections whose handler was abandoned at stop (run() thread only).
  std::vector<std::shared_ptr<detail::ServerConnection>> abandoned_;
};

}  // namespace banger::rpc
