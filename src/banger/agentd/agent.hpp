// Agent: turns one request frame into one reply line (health, ports, sync, poweroff, exec),
// plus an optional action to run after the reply was written (poweroff). Transport-free, so
// tests drive it directly.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "banger/agentproto/constants.hpp"
#include "banger/agentproto/frame.hpp"

namespace banger::agentd {

// The guest-wide side effects, behind a seam so tests never sync or power anything off.
class SystemControl {
 public:
  virtual ~SystemControl() = default;
  // Flushes filesystem buffers (sync()).
  virtual void sync() = 0;
  // Powers the machine off: `systemctl poweroff` when /run/systemd/system exists, otherwise
  // sync() + reboot(RB_POWER_OFF). Returns only when that failed (it logs why).
  virtual void poweroff() = 0;
};

// The real thing (guest mode).
class LinuxSystemControl final : public SystemControl {
 public:
  void sync() override;
  void poweroff() override;
};

struct AgentDeps {
  SystemControl& system;
  std::string proc_root = "/proc";  // health and ports read here
  std::string version;              // reported by health
  // The file holding this VM's token (agentproto::token_from_file_text), read at every auth
  // request: the work disk that carries it may be mounted after the agent starts. Without a
  // readable, well-formed token the agent refuses every connection (fails closed).
  std::string token_path = std::string(agentproto::kGuestAgentTokenPath);
  // Where health looks for the sshd's public host key (read_ssh_host_key), first match wins.
  std::vector<std::string> ssh_host_key_paths = {
      std::string(agentproto::kGuestOpensshHostKeyPath),
      std::string(agentproto::kGuestDropbearHostKeyPath)};
  // false only in tests that play an agent from before health reported the key (the host then
  // falls back to ssh-keyscan).
  bool report_ssh_host_key = true;
};

struct Reply {
  std::string line;             // the reply, '\n'-terminated; never empty
  std::function<void()> after;  // run once the reply is written (or dropped); may be empty
  bool hang_up = false;         // the peer was refused: write the line, then end the connection
};

class Agent {
 public:
  explicit Agent(AgentDeps deps);

  // Handles one frame: a line is parsed and dispatched; an oversize frame is answered with
  // bad_request (id null). Unknown methods get unknown_method; method errors get their code.
  // Does not authenticate: Session does, and is what the transports use.
  Reply handle(const agentproto::Frame& frame);

  // "" when presented equals the token in deps.token_path (constant-time comparison),
  // otherwise why not: "agent has no token: <path>: <reason>" or "wrong token".
  std::string check_token(std::string_view presented) const;

 private:
  AgentDeps deps_;
};

// One connection (or, on the serial port, one host attachment) to the agent. The first frame
// must be {"method":"auth","params":{"token":...}} with this VM's token, at most
// kMaxHelloBytes long; anything else (another method, a bad or missing token, an agent without
// a token, an oversize or malformed line) is answered with an "unauthorized" error whose
// Reply::hang_up is set, and nothing of it is executed. After a good auth every frame goes to
// Agent::handle.
class Session {
 public:
  explicit Session(Agent& agent) : agent_(agent) {}
  Reply handle(const agentproto::Frame& frame);
  // For the serve loops: the peer has not authenticated and its partial line already holds
  // more than kMaxHelloBytes. Returns the refusal to send (hang_up set) in that case.
  std::optional<Reply> refuse_partial(std::size_t buffered);
  bool authenticated() const { return authenticated_; }
  // True when frame is an `auth` request (a line of at most kMaxHelloBytes).
  static bool is_auth(const agentproto::Frame& frame);

 private:
  Reply refuse(std::optional<std::int64_t> id, const std::string& why);

  Agent& agent_;
  bool authenticated_ = false;
};

}  // namespace banger::agentd
