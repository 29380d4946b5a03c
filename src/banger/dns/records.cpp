#include "banger/dns/records.hpp"

#include <utility>

#include "banger/base/strings.hpp"

namespace banger::dns {
namespace {

bool valid_name(std::string_view name) {
  if (name.empty() || name.size() > 63) {
    return false;
  }
  for (char c : name) {
    bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
    if (!ok) {
      return false;
    }
  }
  return true;
}

Expected<std::pair<std::string, Ipv4Bytes>> validate(std::string_view name, std::string_view ipv4) {
  if (!valid_name(name)) {
    return fail(Errc::invalid_argument, "invalid dns record name \"" + std::string(name) +
                                            "\": use 1-63 characters: letters, digits and '-'");
  }
  auto address = parse_ipv4(ipv4);
  if (!address) {
    return fail(Errc::invalid_argument, "invalid ipv4 address \"" + std::string(ipv4) +
                                            "\" for dns record " + std::string(name) +
                                            ": use four numbers 0-255 separated by dots, such as " +
                                            "172.16.0.2");
  }
  return std::make_pair(base::to_lower(name), *address);
}

}  // namespace

Status RecordTable::set(std::string_view name, std::string_view ipv4) {
  auto record = validate(name, ipv4);
  if (!record) {
    return tl::unexpected(record.error());
  }
  records_.with_lock([&](auto& records) { records[record->first] = record->second; });
  return {};
}

bool RecordTable::remove(std::string_view name) {
  std::string key = base::to_lower(name);
  return records_.with_lock([&](auto& records) { return records.erase(key) > 0; });
}

Status RecordTable::replace_all(const std::map<std::string, std::string>& records) {
  std::map<std::string, Ipv4Bytes, std::less<>> fresh;
  for (const auto& [name, ipv4] : records) {
    auto record = validate(name, ipv4);
    if (!record) {
      return tl::unexpected(record.error());
    }
    fresh[record->first] = record->second;
  }
  records_.with_lock([&](auto& current) { current = std::move(fresh); });
  return {};
}

std::optional<Ipv4Bytes> RecordTable::lookup(std::string_view name) const {
  // The server passes lower-cased names already; lowering again keeps the contract simple.
  std::string key = base::to_lower(name);
  return records_.with_lock([&](const auto& records) -> std::optional<Ipv4Bytes> {
    auto it = records.find(key);
    if (it == records.end()) {
      return std::nullopt;
    }
    return it->second;
  });
}

std::size_t RecordTable::size() const {
  return records_.with_lock([](const auto& records) { return records.size(); });
}

std::map<std::string, std::string> RecordTable::snapshot() const {
  std::map<std::string, std::string> out;
  records_.with_lock([&](const auto& records) {
    for (const auto& [name, address] : records) {
      out[name] = format_ipv4(address);
    }
  });
  return out;
}

}  // namespace banger::dns
