#include "banger/vmm/qemu/qmp_client.hpp"

#include <fmt/format.h>

#include <cerrno>

#include "banger/base/expected.hpp"
#include "banger/posix/io.hpp"
#include "banger/posix/unix_socket.hpp"

namespace banger::vmm::qemu {
namespace {

constexpr std::size_t kMaxMessageBytes = 16U << 20;
constexpr std::size_t kMaxEvents = 64;

Error with_code(Error e, Errc code) {
  e.code = code;
  return e;
}

}  // namespace

Expected<QmpClient> QmpClient::connect(const std::string& socket_path,
                                       std::chrono::milliseconds timeout) {
  auto fd = posix::connect_unix(socket_path, posix::deadline_in(timeout));
  if (!fd && fd.error().sys_errno == ENAMETOOLONG) {
    return fail(Errc::invalid_argument,
                fmt::format("qmp socket path must be 1-{} bytes, got {}: {}",
                            posix::kMaxUnixPathBytes, socket_path.size(), socket_path));
  }
  if (!fd) {
    return tl::unexpected(with_code(
        fail_errno("connecting to qmp socket " + socket_path, fd.error().sys_errno).value(),
        Errc::unavailable));
  }
  QmpClient client(std::move(*fd), socket_path, timeout);
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
  auto sent = posix::write_all(fd_.get(), data, deadline);
  if (!sent && sent.error().sys_errno == ETIMEDOUT) {
    return fail(Errc::timeout, "writing to qmp socket " + path_ + " timed out");
  }
  if (!sent) {
    return tl::unexpected(
        with_code(fail_errno("writing to qmp socket " + path_, sent.error().sys_errno).value(),
                  Errc::unavailable));
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
    char buf[4096];
    auto n = posix::read_some(fd_.get(), buf, sizeof buf, deadline);
    if (!n && n.error().sys_errno == ETIMEDOUT) {
      return fail(Errc::timeout,
                  fmt::format("no answer on qmp socket {} within {} ms", path_, timeout_.count()));
    }
    if (!n) {
      return tl::unexpected(
          with_code(fail_errno("reading qmp socket " + path_, n.error().sys_errno).value(),
                    Errc::unavailable));
    }
    if (*n == 0) {
      return fail(Errc::unavailable, fmt::format("qmp connection to {} closed", path_));
    }
    buffer_.append(buf, *n);
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
