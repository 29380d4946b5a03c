#include "banger/rpc/server.hpp"

#include <fmt/format.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <thread>

#include "banger/api/protocol.hpp"
#include "banger/base/defer.hpp"
#include "banger/base/log.hpp"
#include "banger/posix/io.hpp"
#include "banger/posix/unix_socket.hpp"
#include "banger/rpc/frame.hpp"

namespace banger::rpc {

// State shared by the run() thread and one connection thread. The connection thread only
// touches this struct and the Registry, so a thread abandoned by stop() stays memory-safe.
namespace detail {

struct ServerConnection {
  base::UniqueFd fd;
  std::mutex mutex;  // guards busy, closing, current
  std::condition_variable idle;
  bool busy = false;     // a request line is being served
  bool closing = false;  // the server is stopping: serve no more lines
  CallContext* current = nullptr;
  std::mutex write_mutex;  // one writer at a time: events and the reply
  std::chrono::milliseconds send_timeout{std::chrono::seconds(30)};
  bool send_failed = false;  // guarded by write_mutex: a line timed out, send nothing more
  std::atomic<bool> finished{false};
  std::thread thread;
};

}  // namespace detail

namespace {

using detail::ServerConnection;

// Sends one line on the connection; false when the peer is gone or has not taken a line for
// send_timeout (the socket has SO_SNDTIMEO, so send() itself returns; L5). After a failure
// nothing more is sent and the running call is cancelled.
// Sends line + '\n'; passed_fd, when valid, rides on its first byte (SCM_RIGHTS).
bool send_line(ServerConnection& conn, const std::string& line, int passed_fd = -1) {
  std::lock_guard lock(conn.write_mutex);
  if (conn.send_failed) {
    return false;
  }
  std::string framed = line + "\n";
  auto sent = passed_fd >= 0
                  ? posix::send_with_fd(conn.fd.get(), framed, passed_fd, posix::kNoDeadline,
                                        conn.send_timeout)
                  : posix::write_all(conn.fd.get(), framed, posix::kNoDeadline, conn.send_timeout);
  if (sent) {
    return true;
  }
  conn.send_failed = true;
  BANGER_LOG_WARN("rpc: a client did not read for {} ms: dropping its connection",
                  conn.send_timeout.count());
  ::shutdown(conn.fd.get(), SHUT_RDWR);
  std::lock_guard state(conn.mutex);
  if (conn.current != nullptr) {
    conn.current->cancel();
  }
  return false;
}

// Watches fd for hang-up while a handler runs and cancels ctx when it happens.
class HangupWatcher {
 public:
  HangupWatcher(int fd, CallContext& ctx) : wake_(::eventfd(0, EFD_CLOEXEC)) {
    if (!wake_.valid()) {
      BANGER_LOG_WARN("eventfd failed ({}): cancellation on hang-up is off for this request",
                      std::strerror(errno));
      return;
    }
    thread_ = std::thread([fd, wake = wake_.get(), &ctx] {
      pollfd fds[2] = {{fd, POLLRDHUP, 0}, {wake, POLLIN, 0}};
      while (true) {
        int n = ::poll(fds, 2, -1);
        if (n < 0 && errno == EINTR) {
          continue;
        }
        if (n > 0 && (fds[0].revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0) {
          ctx.cancel();  // Registry::dispatch logs it with the op id
        }
        return;
      }
    });
  }
  HangupWatcher(const HangupWatcher&) = delete;
  HangupWatcher& operator=(const HangupWatcher&) = delete;
  ~HangupWatcher() {
    if (thread_.joinable()) {
      std::uint64_t one = 1;
      [[maybe_unused]] auto n = ::write(wake_.get(), &one, sizeof one);
      thread_.join();
    }
  }

 private:
  base::UniqueFd wake_;
  std::thread thread_;
};

bool peer_allowed(uid_t peer, uid_t allowed) { return peer == allowed || peer == 0; }

void serve_connection(const std::shared_ptr<ServerConnection>& conn, Registry& registry,
                      base::Random& random, uid_t allowed_uid);

}  // namespace

Server::Server(ServerOptions options, Registry& registry, base::Random& random)
    : options_(std::move(options)), registry_(registry), random_(random) {}

Server::~Server() {
  // run() was never called or has returned; close what listen() created.
  if (listen_fd_.valid()) {
    listen_fd_.reset();
    remove_socket_file();
  }
  close_connections();
}

Status Server::listen() {
  const std::string& path = options_.socket_path;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path) {
    return fail(Errc::invalid_argument, fmt::format("socket path \"{}\" must be 1 to {} bytes long",
                                                    path, sizeof addr.sun_path - 1));
  }
  path.copy(addr.sun_path, path.size());

  struct stat st{};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return fail(
          Errc::failed_precondition,
          fmt::format("{} exists and is not a socket: remove it or choose another path", path));
    }
    // A socket file left by a previous daemon. The daemon's pid-file lock guarantees that no
    // live daemon is using it.
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      return fail_errno("removing stale socket " + path, errno);
    }
  }

  wake_fd_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake_fd_.valid()) {
    return fail_errno("creating eventfd", errno);
  }
  base::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd.valid()) {
    return fail_errno("creating unix socket", errno);
  }
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    return fail_errno("binding " + path, errno);
  }
  if (::chmod(path.c_str(), 0600) != 0) {
    int err = errno;
    ::unlink(path.c_str());
    return fail_errno("chmod 0600 " + path, err);
  }
  if (::lstat(path.c_str(), &st) == 0) {
    socket_dev_ = st.st_dev;
    socket_ino_ = st.st_ino;
  }
  if (::listen(fd.get(), 64) != 0) {
    int err = errno;
    ::unlink(path.c_str());
    return fail_errno("listening on " + path, err);
  }
  listen_fd_ = std::move(fd);
  BANGER_LOG_INFO("rpc: listening on {}", path);
  return {};
}

Status Server::run() {
  BANGER_ASSERT(listen_fd_.valid(), "Server::listen() must succeed before run()");
  Status status;
  while (!stopping_.load()) {
    pollfd fds[2] = {{listen_fd_.get(), POLLIN, 0}, {wake_fd_.get(), POLLIN, 0}};
    // Wakes every second to join finished connection threads even when nobody connects.
    int n = ::poll(fds, 2, 1000);
    reap_finished();
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      status = fail_errno("polling the rpc socket", errno);
      break;
    }
    if (fds[1].revents != 0) {
      break;
    }
    if ((fds[0].revents & POLLIN) == 0) {
      continue;
    }
    int client = ::accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) {
      if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED) {
        BANGER_LOG_WARN("rpc: accept failed: {}", std::strerror(errno));
      }
      continue;
    }
    reap_finished();
    start_connection(base::UniqueFd(client));
  }
  listen_fd_.reset();
  close_connections();
  remove_socket_file();
  BANGER_LOG_INFO("rpc: stopped serving {}", options_.socket_path);
  return status;
}

void Server::stop() {
  stopping_.store(true);
  if (wake_fd_.valid()) {
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_fd_.get(), &one, sizeof one);
  }
}

void Server::start_connection(base::UniqueFd fd) {
  if (connections_.size() >= options_.max_connections) {
    BANGER_LOG_WARN("rpc: refusing a connection: {} are open already", connections_.size());
    std::string line =
        api::encode_error(
            std::nullopt,
            api::WireError{"unavailable",
                           fmt::format("too many connections to bangerd ({} open); try again later",
                                       connections_.size()),
                           ""}) +
        "\n";
    [[maybe_unused]] auto sent =
        ::send(fd.get(), line.data(), line.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    return;
  }
  timeval timeout{};
  timeout.tv_sec = static_cast<time_t>(options_.send_timeout.count() / 1000);
  timeout.tv_usec = static_cast<suseconds_t>((options_.send_timeout.count() % 1000) * 1000);
  ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  auto conn = std::make_shared<ServerConnection>();
  conn->send_timeout = options_.send_timeout;
  conn->fd = std::move(fd);
  connections_.push_back(conn);
  conn->thread =
      std::thread([conn, &registry = registry_, &random = random_, allowed = options_.allowed_uid] {
        serve_connection(conn, registry, random, allowed);
      });
}

void Server::reap_finished() {
  std::erase_if(connections_, [](const std::shared_ptr<ServerConnection>& conn) {
    if (!conn->finished.load()) {
      return false;
    }
    conn->thread.join();
    return true;
  });
}

void Server::close_connections() {
  using Clock = std::chrono::steady_clock;
  auto wait_idle = [](ServerConnection& conn, Clock::time_point deadline) {
    std::unique_lock lock(conn.mutex);
    conn.idle.wait_until(lock, deadline, [&] { return !conn.busy; });
    conn.closing = true;
    return !conn.busy;
  };
  // First let running handlers finish on their own; idle connections stop reading.
  auto deadline = Clock::now() + options_.stop_grace;
  for (auto& conn : connections_) {
    if (!wait_idle(*conn, deadline)) {
      std::lock_guard lock(conn->mutex);
      if (conn->current != nullptr) {
        conn->current->cancel();
      }
    }
    ::shutdown(conn->fd.get(), SHUT_RDWR);
  }
  // Then give cancelled handlers the same time to roll back.
  deadline = Clock::now() + options_.stop_grace;
  for (auto& conn : connections_) {
    if (wait_idle(*conn, deadline)) {
      conn->thread.join();
    } else {
      BANGER_LOG_WARN("rpc: abandoning a handler that ignored cancellation for {} ms",
                      2 * options_.stop_grace.count());
      conn->thread.detach();
      abandoned_.push_back(conn);
    }
  }
  connections_.clear();
}

std::size_t Server::abandoned_running() const {
  return static_cast<std::size_t>(
      std::count_if(abandoned_.begin(), abandoned_.end(),
                    [](const std::shared_ptr<ServerConnection>& conn) { return !conn->finished; }));
}

void Server::remove_socket_file() {
  struct stat st{};
  if (::lstat(options_.socket_path.c_str(), &st) == 0 && st.st_dev == socket_dev_ &&
      st.st_ino == socket_ino_) {
    ::unlink(options_.socket_path.c_str());
  }
}

namespace {

void serve_connection(const std::shared_ptr<ServerConnection>& conn, Registry& registry,
                      base::Random& random, uid_t allowed_uid) {
  base::Defer mark_finished([&conn] {
    // Let the peer see end-of-stream now; the fd itself is closed when the run() thread
    // drops the connection, so it cannot be reused under the run() thread's feet.
    ::shutdown(conn->fd.get(), SHUT_RDWR);
    conn->finished.store(true);
  });
  int fd = conn->fd.get();

  ucred cred{};
  socklen_t cred_len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cred_len) != 0) {
    BANGER_LOG_WARN("rpc: SO_PEERCRED failed: {}", std::strerror(errno));
    return;
  }
  if (!peer_allowed(cred.uid, allowed_uid)) {
    std::string op_id = make_op_id(random);
    base::OpIdScope op_scope(op_id);
    std::string message = fmt::format("uid {} may not use this daemon (allowed: uid {} and root)",
                                      cred.uid, allowed_uid);
    BANGER_LOG_WARN("rpc: refusing pid {}: {}", cred.pid, message);
    send_line(*conn,
              api::encode_error(std::nullopt, api::WireError{"unauthorized", message, op_id}));
    return;
  }
  BANGER_LOG_DEBUG("rpc: connection from uid {} pid {}", cred.uid, cred.pid);

  LineReader reader(fd);
  // Resources the calls asked to keep until this client hangs up (CallContext::keep_until_hangup);
  // released when this function returns, i.e. when the connection ends.
  std::vector<std::shared_ptr<void>> kept_until_hangup;
  while (true) {
    auto line = reader.next();
    if (line && !line->has_value()) {
      break;  // the client closed the connection
    }
    if (!line && line.error().code == Errc::io) {
      BANGER_LOG_DEBUG("rpc: dropping connection: {}", line.error().message);
      break;
    }
    {
      std::lock_guard lock(conn->mutex);
      if (conn->closing) {
        break;
      }
      conn->busy = true;
    }
    std::string reply;
    base::UniqueFd passed_fd;  // the reply's attachment (CallContext::attach_fd)
    if (!line) {
      // Oversized line: answer it; the reader skips the rest of it.
      std::string op_id = make_op_id(random);
      base::OpIdScope op_scope(op_id);
      BANGER_LOG_WARN("rpc: {}", line.error().message);
      reply = api::encode_error(std::nullopt,
                                api::WireError{"bad_request", line.error().message, op_id});
    } else {
      CallContext ctx(cred.uid,
                      [conn](const std::string& event_line) { send_line(*conn, event_line); });
      {
        std::lock_guard lock(conn->mutex);
        conn->current = &ctx;
      }
      {
        HangupWatcher watcher(fd, ctx);
        reply = registry.dispatch(**line, ctx);
      }
      passed_fd = ctx.take_attached_fd();
      for (auto& resource : ctx.take_kept()) {
        kept_until_hangup.push_back(std::move(resource));
      }
      std::lock_guard lock(conn->mutex);
      conn->current = nullptr;
    }
    bool ok = send_line(*conn, reply, passed_fd.get());
    passed_fd.reset();  // the client has its own copy now (or never will)
    {
      std::lock_guard lock(conn->mutex);
      conn->busy = false;
    }
    conn->idle.notify_all();
    if (!ok) {
      break;
    }
  }
}

}  // namespace

}  // namespace banger::rpc
