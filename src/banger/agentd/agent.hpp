// Agent: turns one request frame into one reply line (health, ports, sync, poweroff, exec),
// plus an optional action to run after the reply was written (poweroff). Transport-free, so
// tests drive it directly.
#pragma once

#include <functional>
#include <string>

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
};

struct Reply {
  std::string line;             // the reply, '\n'-terminated; never empty
  std::function<void()> after;  // run once the reply is written (or dropped); may be empty
};

class Agent {
 public:
  explicit Agent(AgentDeps deps);

  // Handles one frame: a line is parsed and dispatched; an oversize frame is answered with
  // bad_request (id null). Unknown methods get unknown_method; method errors get their code.
  Reply handle(const agentproto::Frame& frame);

 private:
  AgentDeps deps_;
};

}  // namespace banger::agentd
