#include "banger/guest/ssh_probe.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "banger/base/expected.hpp"
#include "banger/base/strings.hpp"

namespace banger::guest {

namespace {

constexpr std::chrono::milliseconds kFirstBackoff{100};
// A probe is one cheap TCP connect; any lag between sshd answering and the next probe is
// added to every boot (bench/boot.sh), so poll often.
constexpr std::chrono::milliseconds kMaxBackoff{200};

std::string endpoint(const std::string& ip, int port) { return fmt::format("{}:{}", ip, port); }

}  // namespace

std::vector<std::string> keyscan_argv(const std::string& ip, int port,
                                      std::chrono::milliseconds timeout) {
  auto seconds = std::max<long long>(1, (timeout.count() + 999) / 1000);
  return {"ssh-keyscan", "-T", std::to_string(seconds), "-p", std::to_string(port), "-t",
          "ed25519",     ip};
}

Expected<HostKey> parse_keyscan_output(const std::string& out) {
  for (const auto& raw : base::split(out, '\n')) {
    std::string_view line = base::trim(raw);
    if (line.empty() || line.front() == '#') {
      continue;
    }
    auto fields = base::split(line, ' ');
    fields.erase(std::remove(fields.begin(), fields.end(), std::string()), fields.end());
    if (fields.size() < 3 || fields[1] != kHostKeyType) {
      continue;
    }
    BANGER_TRY(decode_base64(fields[2]));
    return HostKey{.type = fields[1], .base64 = fields[2]};
  }
  return fail(Errc::unavailable, "no ssh-ed25519 host key offered yet");
}

Expected<HostKey> scan_host_key(sys::CommandRunner& runner, const std::string& ip, int port,
                                std::chrono::milliseconds timeout) {
  if (port < 1 || port > 65535) {
    return fail(Errc::invalid_argument,
                fmt::format("ssh port {} is out of range: it must be 1..65535", port));
  }
  sys::Command command{.argv = keyscan_argv(ip, port, timeout)};
  // ssh-keyscan enforces -T itself; this only catches a hung process.
  command.timeout = timeout + std::chrono::seconds(5);
  auto result = runner.run(command);
  if (!result) {
    if (result.error().code == Errc::not_found) {
      return fail(Errc::not_found, "ssh-keyscan not found; install openssh-client");
    }
    if (result.error().code == Errc::timeout) {
      return fail(Errc::unavailable, fmt::format("sshd on {} is not answering yet: {}",
                                                 endpoint(ip, port), result.error().message));
    }
    return tl::unexpected(
        with_context(result.error(), "scanning host key of " + endpoint(ip, port)));
  }
  auto key = parse_keyscan_output(result->out);
  if (!key && key.error().code == Errc::unavailable) {
    std::string reason(base::trim(base::tail_lines(result->err, 1)));
    return fail(Errc::unavailable,
                fmt::format("sshd on {} is not answering yet{}", endpoint(ip, port),
                            reason.empty() || reason.front() == '#' ? "" : ": " + reason));
  }
  if (!key) {
    return tl::unexpected(with_context(key.error(), "scanning host key of " + endpoint(ip, port)));
  }
  return key;
}

Status wait_for_ssh(sys::CommandRunner& runner, base::Clock& clock, KnownHosts& known_hosts,
                    const WaitForSshOptions& options) {
  auto start = clock.steady_now();
  auto backoff = kFirstBackoff;
  while (true) {
    if (base::is_cancelled(options.cancel)) {
      return fail(Errc::cancelled, fmt::format("waiting for sshd on {}: cancelled",
                                               endpoint(options.ip, options.port)));
    }
    auto key = scan_host_key(runner, options.ip, options.port, options.scan_timeout);
    if (key) {
      return known_hosts.pin(options.host_names, key->type, key->base64);
    }
    if (key.error().code != Errc::unavailable) {
      return tl::unexpected(key.error());
    }
    auto now = clock.steady_now();
    if (now >= options.deadline) {
      auto waited = std::chrono::duration_cast<std::chrono::seconds>(options.deadline - start);
      return fail(Errc::timeout, fmt::format("timed out after {}s waiting for ssh: {}",
                                             waited.count(), key.error().message));
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(options.deadline - now);
    clock.sleep_for(std::min(backoff, left));
    backoff = std::min(backoff * 2, kMaxBackoff);
  }
}

}  // namespace banger::guest
