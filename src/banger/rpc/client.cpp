#include "banger/rpc/client.hpp"

#include <fmt/format.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "banger/api/errors.hpp"
#include "banger/base/expected.hpp"
#include "banger/posix/unix_socket.hpp"

namespace banger::rpc {
namespace {

tl::unexpected<Error> connection_lost(const std::string& socket_path, std::string_view method,
                                      const std::string& why) {
  return fail(Errc::unavailable, fmt::format("connection to bangerd at {} lost during {}: {}",
                                             socket_path, method, why));
}

// The daemon runs as the CLI's user or as root; anything else listening on the path is an
// impostor (H2), and nothing may be sent to it or believed from it.
Status check_peer(int fd, const std::string& socket_path, uid_t trusted_uid) {
  struct ucred cred{};
  socklen_t cred_len = sizeof(cred);
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cred_len) != 0) {
    return fail_errno("reading the peer credentials of " + socket_path, errno);
  }
  if (cred.uid != trusted_uid && cred.uid != 0) {
    return fail(Errc::permission_denied,
                fmt::format("refusing to talk to {}: it is served by uid {} (pid {}), not by uid "
                            "{} or root, so it is not your bangerd; another user may have "
                            "created the runtime dir: remove it or set XDG_RUNTIME_DIR or "
                            "BANGER_HOME to a directory you own",
                            socket_path, cred.uid, cred.pid, trusted_uid));
  }
  return {};
}

}  // namespace

Client::Client(base::UniqueFd fd, std::string socket_path)
    : fd_(std::move(fd)),
      socket_path_(std::move(socket_path)),
      reader_(fd_.get(), api::kMaxFrameBytes, PassedFds::accept) {}

Expected<Client> Client::connect(const std::string& socket_path) {
  return connect(socket_path, ::getuid());
}

Expected<Client> Client::connect(const std::string& socket_path, uid_t trusted_uid) {
  auto fd = posix::connect_unix(socket_path, posix::kNoDeadline);
  if (!fd) {
    const int err = fd.error().sys_errno;
    if (err == ENAMETOOLONG) {
      return fail(Errc::invalid_argument,
                  fmt::format("socket path \"{}\" must be 1 to {} bytes long", socket_path,
                              posix::kMaxUnixPathBytes));
    }
    Error error = fail_errno("connecting to bangerd at " + socket_path, err).value();
    if (err == ENOENT || err == ECONNREFUSED) {
      error.code = Errc::unavailable;
    } else if (err == EACCES || err == EPERM) {
      error.code = Errc::permission_denied;
    } else {
      error.code = Errc::io;
    }
    return tl::unexpected(std::move(error));
  }
  BANGER_TRY(check_peer(fd->get(), socket_path, trusted_uid));
  return Client(std::move(*fd), socket_path);
}

Expected<nlohmann::json> Client::call_raw(std::string_view method, const nlohmann::json& params,
                                          const EventCallback& on_event) {
  std::int64_t id = next_id_++;
  if (auto sent = write_line(fd_.get(), api::encode_request(id, method, params)); !sent) {
    return connection_lost(socket_path_, method, sent.error().message);
  }
  while (true) {
    auto line = reader_.next();
    if (!line) {
      return connection_lost(socket_path_, method, line.error().message);
    }
    if (!line->has_value()) {
      return connection_lost(socket_path_, method, "the daemon closed the connection");
    }
    BANGER_TRY_ASSIGN(auto reply, api::parse_reply(**line));
    if (reply.id && *reply.id != id) {
      return fail(Errc::internal,
                  fmt::format("reply for request {} while waiting for request {}", *reply.id, id));
    }
    switch (reply.kind) {
      case api::Reply::Kind::event:
        if (on_event) {
          on_event(reply.event);
        }
        break;
      case api::Reply::Kind::error:
        return tl::unexpected(Error{api::errc_from_wire(reply.error.code),
                                    std::move(reply.error.message), 0,
                                    std::move(reply.error.op_id)});
      case api::Reply::Kind::result:
        return std::move(reply.result);
    }
  }
}

}  // namespace banger::rpc
