#include "banger/posix/tcp.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>

namespace banger::posix {
namespace {

bool to_sockaddr(const std::string& address, int port, sockaddr_in& out) {
  out = sockaddr_in{};
  out.sin_family = AF_INET;
  out.sin_port = htons(static_cast<std::uint16_t>(port));
  return port >= 0 && port <= 65535 && ::inet_pton(AF_INET, address.c_str(), &out.sin_addr) == 1;
}

Result<Fd> tcp_socket() {
  Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) {
    return sys_fail(errno, "socket AF_INET");
  }
  return fd;
}

}  // namespace

Result<Fd> listen_tcp4(const std::string& address, int port, int backlog) {
  const std::string what = "listen " + address + ":" + std::to_string(port);
  sockaddr_in addr{};
  if (!to_sockaddr(address, port, addr)) {
    return sys_fail(EINVAL, what);
  }
  auto fd = tcp_socket();
  if (!fd) {
    return fd;
  }
  const int on = 1;
  if (::setsockopt(fd->get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
      ::bind(fd->get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(fd->get(), backlog) != 0) {
    return sys_fail(errno, what);
  }
  return fd;
}

Result<int> local_port(int fd) {
  sockaddr_in addr{};
  socklen_t len = sizeof addr;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return sys_fail(errno, "getsockname");
  }
  return static_cast<int>(ntohs(addr.sin_port));
}

Result<StartedConnect> start_connect_tcp4(const std::string& address, int port) {
  const std::string what = "connect " + address + ":" + std::to_string(port);
  sockaddr_in addr{};
  if (!to_sockaddr(address, port, addr)) {
    return sys_fail(EINVAL, what);
  }
  auto fd = tcp_socket();
  if (!fd) {
    return tl::unexpected(fd.error());
  }
  const int on = 1;
  (void)::setsockopt(fd->get(), IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
  int rc = 0;
  do {
    rc = ::connect(fd->get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0 && errno != EINPROGRESS) {
    return sys_fail(errno, what);
  }
  return StartedConnect{std::move(*fd), rc != 0};
}

int socket_error(int fd) {
  int err = 0;
  socklen_t len = sizeof err;
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
    return errno;
  }
  return err;
}

}  // namespace banger::posix
