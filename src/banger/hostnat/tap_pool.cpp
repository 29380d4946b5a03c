#include "banger/hostnat/tap_pool.hpp"

#include <fmt/format.h>

#include <charconv>

#include "banger/base/expected.hpp"
#include "banger/base/log.hpp"

namespace banger::hostnat {
namespace {

// 10^8 numbers keep "tap-fc-<n>" within kMaxLinkNameLength.
constexpr unsigned kMaxTapNumber = 99'999'999;
// How many existing-name clashes create_next() steps over before giving up.
constexpr int kMaxCreateAttempts = 64;

}  // namespace

std::string tap_name(unsigned n) { return fmt::format("{}{}", kTapPrefix, n); }

std::optional<unsigned> parse_tap_name(std::string_view name) {
  if (name.substr(0, kTapPrefix.size()) != kTapPrefix) {
    return std::nullopt;
  }
  std::string_view digits = name.substr(kTapPrefix.size());
  if (digits.empty() || digits.size() > 8 || (digits.size() > 1 && digits.front() == '0')) {
    return std::nullopt;
  }
  unsigned n = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
  if (ec != std::errc() || end != digits.data() + digits.size()) {
    return std::nullopt;
  }
  return n;
}

bool TapPool::ByNumber::operator()(const std::string& a, const std::string& b) const {
  auto na = parse_tap_name(a);
  auto nb = parse_tap_name(b);
  if (na && nb) {
    return *na < *nb;
  }
  if (na.has_value() != nb.has_value()) {
    return na.has_value();  // well-formed names first
  }
  return a < b;
}

TapPool::TapPool(LinkOps& links, std::size_t pool_size, std::optional<uid_t> owner)
    : links_(links), pool_size_(pool_size), owner_(owner) {}

Expected<std::string> TapPool::acquire() {
  while (!idle_.empty()) {
    std::string name = *idle_.begin();
    idle_.erase(idle_.begin());
    BANGER_TRY_ASSIGN(bool exists, links_.link_exists(name));
    if (exists) {
      in_use_.insert(name);
      return name;
    }
  }
  BANGER_TRY_ASSIGN(std::string name, create_next());
  in_use_.insert(name);
  return name;
}

Status TapPool::release(const std::string& name) {
  if (!parse_tap_name(name)) {
    return fail(
        Errc::invalid_argument,
        fmt::format("tap \"{}\" is not a banger tap: names look like {}<n>", name, kTapPrefix));
  }
  in_use_.erase(name);
  if (quarantined_.count(name) != 0) {
    return {};
  }
  BANGER_TRY_ASSIGN(bool exists, links_.link_exists(name));
  if (!exists) {
    idle_.erase(name);
    return {};
  }
  if (idle_.count(name) != 0 || idle_.size() < pool_size_) {
    idle_.insert(name);
    return {};
  }
  if (auto deleted = links_.delete_link(name);
      !deleted && deleted.error().code != Errc::not_found) {
    return tl::unexpected(with_context(deleted.error(), "releasing tap " + name));
  }
  return {};
}

Status TapPool::refill() {
  while (idle_.size() < pool_size_) {
    BANGER_TRY_ASSIGN(std::string name, create_next());
    idle_.insert(name);
  }
  return {};
}

Status TapPool::quarantine(const std::string& name) {
  if (!parse_tap_name(name)) {
    return fail(
        Errc::invalid_argument,
        fmt::format("tap \"{}\" is not a banger tap: names look like {}<n>", name, kTapPrefix));
  }
  idle_.erase(name);
  in_use_.erase(name);
  quarantined_.insert(name);
  return {};
}

Status TapPool::reconcile(const std::vector<std::string>& in_use) {
  idle_.clear();
  in_use_.clear();
  quarantined_.clear();
  for (const auto& name : in_use) {
    if (parse_tap_name(name)) {
      in_use_.insert(name);
    }
  }
  BANGER_TRY_ASSIGN(auto existing, links_.list_links(std::string(kTapPrefix)));
  std::set<std::string, ByNumber> spare;
  for (auto& name : existing) {
    if (in_use_.count(name) == 0) {
      spare.insert(std::move(name));
    }
  }
  Status first_error;
  for (const auto& name : spare) {
    if (parse_tap_name(name) && idle_.size() < pool_size_) {
      take_ownership(name);
      idle_.insert(name);
      continue;
    }
    auto deleted = links_.delete_link(name);
    if (!deleted && deleted.error().code != Errc::not_found && first_error) {
      first_error = tl::unexpected(with_context(deleted.error(), "reconciling taps"));
    }
  }
  return first_error;
}

std::vector<std::string> TapPool::idle() const { return {idle_.begin(), idle_.end()}; }

std::vector<std::string> TapPool::in_use() const { return {in_use_.begin(), in_use_.end()}; }

std::vector<std::string> TapPool::quarantined() const {
  return {quarantined_.begin(), quarantined_.end()};
}

void TapPool::take_ownership(const std::string& name) {
  if (auto owned = links_.set_tap_owner(name, owner_); !owned) {
    BANGER_LOG_WARN("adopting tap {}: {}", name, owned.error().message);
  }
}

Expected<std::string> TapPool::create_next() {
  unsigned n = 0;
  std::string last_tried;
  for (int attempt = 0; attempt < kMaxCreateAttempts; ++attempt, ++n) {
    while (n <= kMaxTapNumber &&
           (idle_.count(tap_name(n)) != 0 || in_use_.count(tap_name(n)) != 0 ||
            quarantined_.count(tap_name(n)) != 0)) {
      ++n;
    }
    if (n > kMaxTapNumber) {
      break;
    }
    std::string name = tap_name(n);
    last_tried = name;
    auto created = links_.create_tap(name, owner_);
    if (created) {
      return name;
    }
    if (created.error().code != Errc::already_exists) {
      return tl::unexpected(created.error());
    }
    // A link holds the name. A TAP under our prefix is a leftover of ours (an earlier daemon's
    // warm pool the last reconcile did not see): adopt it rather than step over it, or such
    // leftovers use up every name (security review M3). Any other kind is not ours: skip it.
    auto existing = links_.get_link(name);
    if (existing && existing->kind == "tun") {
      take_ownership(name);
      return name;
    }
  }
  return fail(Errc::failed_precondition,
              fmt::format("no free tap name: {} and the names before it are taken",
                          last_tried.empty() ? tap_name(kMaxTapNumber) : last_tried));
}

}  // namespace banger::hostnat
