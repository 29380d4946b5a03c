// Guest SSH readiness (S9): a VM is ready when its sshd answers with a host key that matches the
// one pinned in banger's known_hosts (pinned on first boot). Uses the system ssh-keyscan.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "banger/base/clock.hpp"
#include "banger/base/error.hpp"
#include "banger/base/progress.hpp"
#include "banger/guest/host_key.hpp"
#include "banger/guest/known_hosts.hpp"
#include "banger/sys/command_runner.hpp"

namespace banger::guest {

// The ssh-keyscan argv: {"ssh-keyscan", "-T", <whole seconds, at least 1>, "-p", <port>,
// "-t", "ed25519", <ip>}.
std::vector<std::string> keyscan_argv(const std::string& ip, int port,
                                      std::chrono::milliseconds timeout);

// Picks the ssh-ed25519 key out of ssh-keyscan stdout ("<host> ssh-ed25519 AAAA..." lines;
// "# ..." comments and other key types are skipped). unavailable when there is none (sshd not
// answering yet); invalid_argument when the ed25519 key is not base64.
Expected<HostKey> parse_keyscan_output(const std::string& out);

// Asks the sshd at ip:port for its ed25519 host key, waiting at most `timeout` for it.
// unavailable while nothing answers (no output, connection refused, ssh-keyscan timing out);
// not_found when ssh-keyscan is not installed (openssh-client); invalid_argument for a port out
// of 1..65535.
Expected<HostKey> scan_host_key(sys::CommandRunner& runner, const std::string& ip, int port = 22,
                                std::chrono::milliseconds timeout = std::chrono::seconds(2));

struct WaitForSshOptions {
  std::string ip;
  int port = 22;
  std::vector<std::string> host_names;             // names to pin the key under: {ip, "<name>.vm"}
  std::chrono::steady_clock::time_point deadline;  // on clock.steady_now()
  std::chrono::milliseconds scan_timeout{std::chrono::seconds(2)};  // per ssh-keyscan run
  base::CancelFn cancel;                                            // may be empty
};

// Polls ssh-keyscan (backoff 100 ms doubling to 1 s, sleeping through clock) until the guest's
// sshd answers, then pins its key under host_names (first boot) or checks it against the pinned
// one (later boots). Errors: failed_precondition "host key for ... changed: ..." when a different
// key is pinned; timeout when the deadline passes first ("timed out after <n>s waiting for ssh:
// sshd on <ip>:<port> is not answering yet"); cancelled when options.cancel says so; not_found when
// ssh-keyscan is missing; io from the known_hosts file.
Status wait_for_ssh(sys::CommandRunner& runner, base::Clock& clock, KnownHosts& known_hosts,
                    const WaitForSshOptions& options);

}  // namespace banger::guest
