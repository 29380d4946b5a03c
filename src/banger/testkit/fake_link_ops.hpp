// FakeLinkOps: an in-memory model of host links (bridges, TAPs, masters, up state, addresses)
// behind hostnat::LinkOps, for service tests that assert on the resulting state. Header-only, so
// testkit itself does not link hostnat: tests that link banger::hostnat include it (ADR 0007).
#pragma once

#include <fmt/format.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "banger/base/error.hpp"
#include "banger/hostnat/ipv4.hpp"
#include "banger/hostnat/link_ops.hpp"

namespace banger::testkit {

class FakeLinkOps : public hostnat::LinkOps {
 public:
  enum class Op : std::uint8_t {
    ensure_bridge,
    create_tap,
    set_tap_owner,
    set_master,
    set_up,
    set_port_isolated,
    delete_link,
    list_links,
    link_exists,
    get_link
  };

  // One modelled link. kind is "bridge" or "tun" (as the kernel reports TAPs), or anything a
  // test adds with add_link().
  struct Link {
    std::string kind;
    bool up = false;
    std::string master;
    std::vector<std::string> ipv4;
    std::optional<uid_t> owner;
    bool isolated = false;  // isolated bridge port

    friend bool operator==(const Link&, const Link&) = default;
  };

  // --- Interface ---

  Status ensure_bridge(const std::string& name, const std::string& address_cidr) override {
    std::lock_guard lock(mutex_);
    if (auto e = begin(Op::ensure_bridge, name); !e) {
      return e;
    }
    auto cidr = hostnat::parse_ipv4_cidr(address_cidr);
    if (!cidr) {
      return tl::unexpected(cidr.error());
    }
    auto it = links_.find(name);
    if (it == links_.end()) {
      it = links_.emplace(name, Link{.kind = "bridge"}).first;
    } else if (it->second.kind != "bridge") {
      return fail(Errc::failed_precondition,
                  fmt::format("ensuring bridge {}: link {} is not a bridge", name, name));
    }
    std::string address = fmt::format("{}/{}", hostnat::format_ipv4(cidr->address), cidr->prefix);
    auto& addresses = it->second.ipv4;
    if (std::find(addresses.begin(), addresses.end(), address) == addresses.end()) {
      addresses.push_back(address);
    }
    it->second.up = true;
    return {};
  }

  Status create_tap(const std::string& name, std::optional<uid_t> owner) override {
    std::lock_guard lock(mutex_);
    if (auto e = begin(Op::create_tap, name); !e) {
      return e;
    }
    if (links_.count(name) != 0) {
      return fail(Errc::already_exists,
                  fmt::format("creating tap {}: link {} already exists", name, name));
    }
    links_.emplace(name, Link{.kind = "tun", .owner = owner});
    return {};
  }

  // owner as given (none stands for the caller's uid, as in create_tap).
  Status set_tap_owner(const std::string& name, std::optional<uid_t> owner) override {
    std::lock_guard lock(mutex_);
    if (auto e = begin(Op::set_tap_owner, name); !e) {
      return e;
    }
    std::string step = fmt::format("setting owner of tap {}", name);
    auto it = links_.find(name);
    if (it == links_.end()) {
      return fail(Errc::not_found, fmt::format("{}: link {} not found", step, name));
    }
    if (it->second.kind != "tun") {
      return fail(Errc::failed_precondition, fmt::format("{}: link {} is not a tap", step, name));
    }
    it->second.owner = owner;
    return {};
  }

  Status set_master(const std::string& link, const std::string& bridge) override {
    std::lock_guard lock(mutex_);
    if (auto e = begin(Op::set_master, link); !e) {
      return e;
    }
    if (auto e = hostnat::validate_link_name(bridge); !e) {
      return e;
    }
    std::string step = fmt::format("setting master of {} to {}", link, bridge);
    auto it = links_.find(link);
    auto master = links_.find(bridge);
    if (it == links_.end() || master == links_.end()) {
      return fail(Errc::not_found,
                  fmt::format("{}: link {} not found", step, it == links_.end() ? link : bridge));
    }
    if (master->second.kind != "bridge") {
      return fail(Errc::failed_precondition,
                  fmt::format("{}: link {} is not a bridge", step, bridge));
    }
    it->second.master = bridge;
    return {};
  }

  Status set_up(const std::string& name) override {
    std::lock_guard lock(mutex_);
    if (auto e = begin(Op::set_up, name); !e) {
      return e;
    }
    auto it = links_.find(name);
    if (it == links_.end()) {
      return fail(Errc::not_found,
                  fmt::format("setting link {} up: link {} not found", name, name));
    }
    it->second.up = true;
    return {};
  }

  Status set_port_isolated(const std::string& name) override {
    std::lock_guard lock(mutex_);
    if (auto e = begin(Op::set_port_isolated, name); !e) {
      return e;
    }
    std::string step = fmt::format("isolating bridge port {}", name);
    auto it = links_.find(name);
    if (it == links_.end()) {
      return fail(Errc::not_found, fmt::format("{}: link {} not found", step, name));
    }
    if (it->second.master.empty()) {
      return fail(Errc::failed_precondition, fmt::format("{}: link {} has no bridge", step, name));
    }
    it->second.isolated = true;
    return {};
  }

  Status delete_link(const std::string& name) override {
    std::lock_guard lock(mutex_);
    if (auto e = begin(Op::delete_link, name); !e) {
      return e;
    }
    if (links_.erase(name) == 0) {
      return fail(Errc::not_found, fmt::format("deleting link {}: link {} not found", name, name));
    }
    for (auto& [other, link] : links_) {
      if (link.master == name) {
        link.master.clear();
        link.isolated = false;
      }
    }
    return {};
  }

  Expected<std::vector<std::string>> list_links(const std::string& prefix) override {
    std::lock_guard lock(mutex_);
    if (auto e = begin(Op::list_links, {}); !e) {
      return tl::unexpected(e.error());
    }
    std::vector<std::string> names;
    for (const auto& [name, link] : links_) {
      if (name.compare(0, prefix.size(), prefix) == 0) {
        names.push_back(name);
      }
    }
    return names;  // std::map iterates in sorted order
  }

  Expected<bool> link_exists(const std::string& name) override {
    std::lock_guard lock(mutex_);
    if (auto e = begin(Op::link_exists, name); !e) {
      return tl::unexpected(e.error());
    }
    return links_.count(name) != 0;
  }

  Expected<hostnat::LinkInfo> get_link(const std::string& name) override {
    std::lock_guard lock(mutex_);
    if (auto e = begin(Op::get_link, name); !e) {
      return tl::unexpected(e.error());
    }
    auto it = links_.find(name);
    if (it == links_.end()) {
      return fail(Errc::not_found, fmt::format("link {} not found", name));
    }
    return hostnat::LinkInfo{.name = name,
                             .kind = it->second.kind,
                             .up = it->second.up,
                             .master = it->second.master,
                             .ipv4 = it->second.ipv4};
  }

  // --- Test controls ---

  // Adds a link directly (say a leftover from an earlier daemon, or a foreign one).
  void add_link(const std::string& name, Link link) {
    std::lock_guard lock(mutex_);
    links_[name] = std::move(link);
  }

  // Removes a link behind the service's back (no error when it is missing).
  void remove_link_for_test(const std::string& name) {
    std::lock_guard lock(mutex_);
    links_.erase(name);
  }

  // The next call of op fails with error, before changing anything.
  void fail_next(Op op, Error error) {
    std::lock_guard lock(mutex_);
    failures_[op].push_back(std::move(error));
  }

  // A snapshot of every link by name.
  std::map<std::string, Link> links() const {
    std::lock_guard lock(mutex_);
    return links_;
  }

  // The modelled link, if present.
  std::optional<Link> link(const std::string& name) const {
    std::lock_guard lock(mutex_);
    auto it = links_.find(name);
    if (it == links_.end()) {
      return std::nullopt;
    }
    return it->second;
  }

  // How many times op was called (including failed calls).
  std::size_t calls(Op op) const {
    std::lock_guard lock(mutex_);
    auto it = calls_.find(op);
    return it == calls_.end() ? 0 : it->second;
  }

 private:
  // Counts the call, then fails it with a scripted error or for an invalid name.
  Status begin(Op op, const std::string& name) {
    ++calls_[op];
    if (auto it = failures_.find(op); it != failures_.end() && !it->second.empty()) {
      Error error = std::move(it->second.front());
      it->second.erase(it->second.begin());
      return tl::unexpected(std::move(error));
    }
    if (op != Op::list_links) {
      return hostnat::validate_link_name(name);
    }
    return {};
  }

  mutable std::mutex mutex_;
  std::map<std::string, Link> links_;
  std::map<Op, std::vector<Error>> failures_;
  std::map<Op, std::size_t> calls_;
};

}  // namespace banger::testkit
