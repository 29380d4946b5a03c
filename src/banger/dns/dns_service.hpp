// DnsService: banger's `.vm` name service as the daemon runs it (S7): the records, the
// authoritative server on dns_listen for the host, and the guest-facing resolver on
// bridge_ip:53 (started once the bridge exists) with systemd-resolved routing of `~vm`.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "banger/base/error.hpp"
#include "banger/dns/client_policy.hpp"
#include "banger/dns/records.hpp"
#include "banger/dns/server.hpp"
#include "banger/sys/command_runner.hpp"

namespace banger::dns {

struct DnsServiceDeps {
  sys::CommandRunner& runner;              // resolvectl (systemd-resolved routing of ~vm)
  std::string listen = "127.0.0.1:42069";  // config dns_listen
  std::string bridge_name = "br-fc";
  std::string bridge_ip = "172.16.0.1";
  int cidr = 24;  // prefix length of the VM network: the resolver answers only sources in it
  // Where resolver mode forwards names outside .vm ("" = discover_upstreams()).
  std::vector<std::string> upstreams;
  bool use_resolved = true;  // route ~vm with resolvectl where systemd-resolved runs
};

// Owns: the RecordTable and both servers. Does not own: the bridge (hostnat), VM state (the
//       VM host sets and removes records as VMs start and stop, and rebuilds them at start).
// Thread-safety: every method may be called concurrently.
class DnsService {
 public:
  explicit DnsService(DnsServiceDeps deps);
  DnsService(const DnsService&) = delete;
  DnsService& operator=(const DnsService&) = delete;
  ~DnsService();

  // Starts the authoritative server on deps.listen. Its errors are DnsServer::start()'s
  // (unavailable `dns listen 127.0.0.1:42069: address already in use`, ...); the daemon logs
  // them and runs on (doctor reports the listener).
  Status start_listener();

  // Starts the resolver on bridge_ip:53 unless it runs (answering only sources inside
  // bridge_ip/cidr, forwarding names outside .vm only for forwarding() addresses), then (where
  // systemd-resolved runs) routes ~vm for the bridge link to it. Call once the bridge has its
  // address. Errors are the resolver's start errors; a resolved routing failure is logged, not
  // returned (names still resolve inside guests).
  Status ensure_guest_resolver();

  // Record upkeep (RecordTable's contracts).
  Status set(const std::string& vm_name, const std::string& ip);
  void remove(const std::string& vm_name);
  Status replace_all(const std::map<std::string, std::string>& records);

  // Whether the guest at ip ("172.16.0.2") gets names outside .vm resolved: only VMs with NAT
  // (a guest without a way out must not get one through DNS). ForwardingClients' contracts.
  Status set_forwarding(const std::string& ip, bool allowed);
  Status replace_forwarding(const std::vector<std::string>& ips);
  const ForwardingClients& forwarding() const { return forwarding_; }

  const RecordTable& records() const { return records_; }
  // "ip:port" of the running listener, "" when it is not running.
  std::string listener_address() const;
  // "ip:port" of the running guest resolver, "" when it is not running.
  std::string resolver_address() const;

  // Stops both servers (the destructor does too).
  void stop();

 private:
  DnsServiceDeps deps_;
  RecordTable records_;
  ForwardingClients forwarding_;
  mutable std::mutex mutex_;
  std::unique_ptr<DnsServer> listener_;
  std::unique_ptr<DnsServer> resolver_;
};

}  // namespace banger::dns
