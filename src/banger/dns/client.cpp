#include "banger/dns/client.hpp"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <random>
#include <vector>

#include "banger/base/expected.hpp"
#include "banger/base/fd.hpp"
#include "banger/base/strings.hpp"
#include "banger/dns/endpoint.hpp"

namespace banger::dns {
namespace {

Error socket_error(const std::string& doing, int err) {
  Errc code = err == ECONNREFUSED ? Errc::unavailable : Errc::io;
  return Error{code, doing + ": " + base::to_lower(std::strerror(err)), err, {}};
}

}  // namespace

Expected<Reply> query_udp(std::string_view server, std::string_view name,
                          const QueryOptions& options) {
  BANGER_TRY_ASSIGN(Endpoint to, parse_upstream(server));
  // The id only pairs the reply with the query here; it need not be a seam.
  std::random_device device;
  auto id = static_cast<std::uint16_t>(device() & 0xffff);
  auto query = build_query(id, name, options.qtype, options.rd, options.edns);
  if (!query) {
    return fail(Errc::invalid_argument, "invalid dns name \"" + std::string(name) + "\"");
  }
  std::string doing = "dns query to " + to.to_string();
  base::UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd) {
    return tl::unexpected(socket_error(doing, errno));
  }
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(to.port);
  std::memcpy(&sa.sin_addr, to.ip.data(), 4);
  // connect(): only datagrams from the server arrive, and ICMP refusals surface as errors.
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0 ||
      ::send(fd.get(), query->data(), query->size(), 0) < 0) {
    return tl::unexpected(socket_error(doing, errno));
  }
  auto deadline = std::chrono::steady_clock::now() + options.timeout;
  std::vector<std::uint8_t> buf(65535);
  while (true) {
    auto left =
        std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      return fail(Errc::timeout, "no dns reply from " + to.to_string() + " within " +
                                     std::to_string(options.timeout.count()) + " ms");
    }
    pollfd pfd{fd.get(), POLLIN, 0};
    int ready = ::poll(&pfd, 1, static_cast<int>(left.count()));
    if (ready < 0) {
      if (errno == EINTR) {
        continue;
      }
      return tl::unexpected(socket_error(doing, errno));
    }
    if (ready == 0) {
      continue;
    }
    ssize_t n = ::recv(fd.get(), buf.data(), buf.size(), 0);
    if (n < 0) {
      return tl::unexpected(socket_error(doing, errno));
    }
    auto parsed = parse_reply(std::span<const std::uint8_t>(buf.data(), static_cast<size_t>(n)));
    if (!parsed.ok) {
      return fail(Errc::io, "bad dns reply from " + to.to_string() + ": " + parsed.reason);
    }
    if (parsed.reply.id == id) {
      return parsed.reply;
    }
  }
}

}  // namespace banger::dns
