// IpForwarding: the seam for turning on net.ipv4.ip_forward, which outbound NAT needs (S7).
// ProcSysIpForwarding writes /proc/sys (or a stand-in tree in tests).
#pragma once

#include <string>

#include "banger/base/error.hpp"

namespace banger::hostnat {

class IpForwarding {
 public:
  virtual ~IpForwarding() = default;
  // Makes net.ipv4.ip_forward 1 (a no-op when it already is). Errors name the failing step.
  virtual Status enable() = 0;
};

// Acts on <proc_root>/sys/net/ipv4/ip_forward. With the default "/proc" that is the network
// namespace of the calling thread at the time of the call. Reads first and writes "1\n" only
// when the value is not 1, so a host where forwarding is already on needs no write permission.
class ProcSysIpForwarding final : public IpForwarding {
 public:
  explicit ProcSysIpForwarding(std::string proc_root = "/proc");

  // not_found `reading /proc/sys/net/ipv4/ip_forward: No such file or directory` when the file
  // is missing (no IPv4, or a wrong root); permission_denied `writing
  // /proc/sys/net/ipv4/ip_forward: Permission denied` (or Operation not permitted) without
  // CAP_NET_ADMIN over the namespace; io for other failures (`writing <path>: short write`).
  Status enable() override;

  // The file it reads and writes.
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace banger::hostnat
