#include "banger/vmm/qemu/qmp_client.hpp"

#include <fmt/format.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>

#include "banger/base/expected.hpp"

namespace banger::vmm::qemu {
namespace {

constexpr std::size_t kMaxMessageBytes = 16U << 20;
constexpr std::size_t kMaxEvents = 64;

int millis_left(std::chrono::steady_clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  return left.count() < 0 ? 0 : static_cast<int>(left.count());
}

Error with_code(Error e, Errc code) {
  e.code = code;
  return e;
}

}  // namespace

Expected<QmpClient> QmpClient::connect(const std::string& socket_path,
                                       std::chrono::milliseconds timeout) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.empty() || socket_path.size() >= sizeof addr.sun_path) {
    return fail(Errc::invalid_argument,
                fmt::format("qmp socket path must be 1-{} bytes, got {}: {}",
                            sizeof addr.sun_path - 1, socket_path.size(), socket_path));
  }
  std::memcpy(addr.sun_path, socket_path.data(), socket_path.size());
  base::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) {
    return fail_errno("creating qmp socket", errno);
  }
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): sockaddr API
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    int err = errno;
    return tl::unexpected(with_code(
        fail_errno("connecting to qmp socket " + socket_path, err).value(), Errc::unavailable));
  }
  QmpClient client(std::move(fd), socket_path, timeout);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto greeting = client.read_message(deadline);
  if (!greeting) {
    return tl::unexpected(with_context(greeting.error(), "reading qmp greeting"));
  }
  if (!greeting->contains("QMP")) {
    return fail(Errc::unavailable, fmt::format("{} is not a qmp socket: unexpected greeting {}",
                                               socket_path, greeting->dump()));
  }
  client.greeting_ = (*greeting)["QMP"];
  BANGER_TRY(client.execute("qmp_capabilities"));
  return client;
}

Status QmpClient::write_all(const std::string& data,
                            std::chrono::steady_clock::time_point deadline) {
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t w = ::send(fd_.get(), data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (w >= 0) {
      done += static_cast<std::size_t>(w);
      continue;
    }
    if (errno == EINTR) {
      continue;
    }
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      int err = errno;
      return tl::unexpected(
          with_code(fail_errno("writing to qmp socket " + path_, err).value(), Errc::unavailable));
    }
    pollfd pfd{fd_.get(), POLLOUT, 0};
    int left = millis_left(deadline);
    if (left == 0 || ::poll(&pfd, 1, left) == 0) {
      return fail(Errc::timeout, "writing to qmp socket " + path_ + " timed out");
    }
  }
  return {};
}

Expected<nlohmann::json> QmpClient::read_message(std::chrono::steady_clock::time_point deadline) {
  while (true) {
    auto newline = buffer_.find('\n');
    if (newline != std::string::npos) {
      std::string line = buffer_.substr(0, newline);
      buffer_.erase(0, newline + 1);
      if (!line.empty() && line.back() == '\r') {
        line.pop_back();
      }
      if (line.empty()) {
        continue;
      }
      auto message = nlohmann::json::parse(line, nullptr, false);
      if (message.is_discarded() || !message.is_object()) {
        return fail(Errc::unavailable,
                    fmt::format("malformed qmp message from {}: {}", path_, line.substr(0, 200)));
      }
      if (message.contains("event")) {
        if (events_.size() == kMaxEvents) {
          events_.erase(events_.begin());
        }
        events_.push_back(std::move(message));
        continue;
      }
      return message;
    }
    if (buffer_.size() > kMaxMessageBytes) {
      return fail(Errc::unavailable,
                  fmt::format("qmp message from {} exceeds {} bytes", path_, kMaxMessageBytes));
    }
    pollfd pfd{fd_.get(), POLLIN, 0};
    int left = millis_left(deadline);
    int pr = left == 0 ? 0 : ::poll(&pfd, 1, left);
    if (pr < 0) {
      if (errno == EINTR) {
        continue;
      }
      return fail_errno("waiting on qmp socket " + path_, errno);
    }
    if (pr == 0) {
      return fail(Errc::timeout,
                  fmt::format("no answer on qmp socket {} within {} ms", path_, timeout_.count()));
    }
    char buf[4096];
    ssize_t r = ::recv(fd_.get(), buf, sizeof buf, 0);
    if (r < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) {
        continue;
      }
      int err = errno;
      return tl::unexpected(
          with_code(fail_errno("reading qmp socket " + path_, err).value(), Errc::unavailable));
    }
    if (r == 0) {
      return fail(Errc::unavailable, fmt::format("qmp connection to {} closed", path_));
    }
    buffer_.append(buf, static_cast<std::size_t>(r));
  }
}

Expected<nlohmann::json> QmpClient::execute(std::string_view command,
                                            const nlohmann::json& arguments) {
  if (!fd_.valid()) {
    return fail(Errc::unavailable, fmt::format("qmp connection to {} closed", path_));
  }
  auto deadline = std::chrono::steady_clock::now() + timeout_;
  std::uint64_t id = next_id_++;
  nlohmann::json request{{"execute", command}, {"id", id}};
  if (!arguments.is_null()) {
    request["arguments"] = arguments;
  }
  BANGER_TRY(write_all(request.dump() + "\n", deadline));
  while (true) {
    auto message = read_message(deadline);
    if (!message) {
      return tl::unexpected(with_context(message.error(), fmt::format("qmp {}", command)));
    }
    auto it = message->find("id");
    if (it != message->end() && *it != id) {
      continue;  // the answer to an earlier command that timed out
    }
    if (auto ret = message->find("return"); ret != message->end()) {
      return *ret;
    }
    if (auto err = message->find("error"); err != message->end() && err->is_object()) {
      return fail(Errc::command_failed,
                  fmt::format("qmp {}: {}: {}", command, err->value("class", "GenericError"),
                              err->value("desc", "")));
    }
    return fail(Errc::unavailable,
                fmt::format("qmp {}: unexpected answer {}", command, message->dump()));
  }
}

Expected<std::string> QmpClient::query_status() {
  BANGER_TRY_ASSIGN(auto ret, execute("query-status"));
  auto status = ret.find("status");
  if (status == ret.end() || !status->is_string()) {
    return fail(Errc::unavailable, "qmp query-status: answer has no status: " + ret.dump());
  }
  return status->get<std::string>();
}

Status QmpClient::system_powerdown() {
  BANGER_TRY(execute("system_powerdown"));
  return {};
}

Status QmpClient::quit() {
  auto ret = execute("quit");
  if (!ret && ret.error().code == Errc::unavailable) {
    return {};  // QEMU may close the socket before its answer arrives
  }
  BANGER_TRY(ret);
  fd_.reset();
  return {};
}

}  // namespace banger::vmm::qemu
