#include "banger/dns/dns_service.hpp"

#include "banger/base/expected.hpp"
#include "banger/base/log.hpp"
#include "banger/dns/endpoint.hpp"
#include "banger/dns/resolved_routing.hpp"

namespace banger::dns {

DnsService::DnsService(DnsServiceDeps deps) : deps_(std::move(deps)) {}

DnsService::~DnsService() { stop(); }

Status DnsService::start_listener() {
  std::lock_guard lock(mutex_);
  if (listener_) {
    return {};
  }
  auto server = std::make_unique<DnsServer>(
      records_, DnsServerOptions{.listen = deps_.listen, .mode = Mode::authoritative});
  BANGER_TRY(server->start());
  BANGER_LOG_INFO("dns: answering <name>.vm on {}", server->address());
  listener_ = std::move(server);
  return {};
}

Status DnsService::ensure_guest_resolver() {
  std::lock_guard lock(mutex_);
  if (resolver_) {
    return {};
  }
  std::vector<std::string> upstreams = deps_.upstreams;
  if (upstreams.empty()) {
    if (auto found = discover_upstreams()) {
      upstreams = *found;
    } else {
      BANGER_LOG_WARN(
          "dns: no upstream resolvers for guests ({}): names outside .vm are "
          "refused",
          found.error().message);
    }
  }
  BANGER_TRY_ASSIGN(auto network,
                    parse_client_network(deps_.bridge_ip + "/" + std::to_string(deps_.cidr)));
  auto server = std::make_unique<DnsServer>(
      records_, DnsServerOptions{.listen = deps_.bridge_ip + ":53",
                                 .mode = Mode::resolver,
                                 .upstreams = upstreams,
                                 .clients = {.network = network, .forwarding = &forwarding_}});
  BANGER_TRY(server->start());
  BANGER_LOG_INFO("dns: guest resolver on {} (forwarding to {} upstreams)", server->address(),
                  upstreams.size());
  resolver_ = std::move(server);
  if (deps_.use_resolved && resolved_running()) {
    if (auto routed = route_vm_domain(deps_.runner, deps_.bridge_name, deps_.bridge_ip); !routed) {
      BANGER_LOG_WARN("dns: {}", routed.error().message);
    }
  }
  return {};
}

Status DnsService::set(const std::string& vm_name, const std::string& ip) {
  return records_.set(vm_name, ip);
}

void DnsService::remove(const std::string& vm_name) { records_.remove(vm_name); }

Status DnsService::replace_all(const std::map<std::string, std::string>& records) {
  return records_.replace_all(records);
}

Status DnsService::set_forwarding(const std::string& ip, bool allowed) {
  return forwarding_.set(ip, allowed);
}

Status DnsService::replace_forwarding(const std::vector<std::string>& ips) {
  return forwarding_.replace_all(ips);
}

std::string DnsService::listener_address() const {
  std::lock_guard lock(mutex_);
  return listener_ ? listener_->address() : "";
}

std::string DnsService::resolver_address() const {
  std::lock_guard lock(mutex_);
  return resolver_ ? resolver_->address() : "";
}

void DnsService::stop() {
  std::lock_guard lock(mutex_);
  if (listener_) {
    listener_->stop();
    listener_.reset();
  }
  if (resolver_) {
    resolver_->stop();
    resolver_.reset();
  }
}

}  // namespace banger::dns
