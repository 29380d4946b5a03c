// RecordTable: the `<vm-name>.vm` -> IPv4 map the DNS servers answer from.
// Owns: the name -> address records. Does not own: VM state (the daemon keeps it in step with
// VM start/stop/delete and rebuilds it at startup with replace_all()).
// Thread-safety: every method may be called concurrently (one mutex).
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "banger/base/error.hpp"
#include "banger/base/guarded.hpp"
#include "banger/dns/codec.hpp"

namespace banger::dns {

class RecordTable {
 public:
  // Adds or replaces the record for `name` (a VM name without ".vm"; stored lower-cased).
  // invalid_argument when the name is not 1-63 letters, digits or '-' (`invalid dns record
  // name "a.b": use 1-63 characters: letters, digits and '-'`) or the address is not IPv4
  // dotted-quad text (`invalid ipv4 address "x" for dns record web: use four numbers 0-255
  // separated by dots, such as 172.16.0.2`).
  Status set(std::string_view name, std::string_view ipv4);
  // Removes the record; true when there was one.
  bool remove(std::string_view name);
  // Replaces every record at once (the daemon's rebuild at startup). Validates everything
  // first: on invalid_argument (as set()) the table is unchanged.
  Status replace_all(const std::map<std::string, std::string>& records);
  // The address for a VM name (any case); nullopt when there is no record.
  std::optional<Ipv4Bytes> lookup(std::string_view name) const;
  // Number of records.
  std::size_t size() const;
  // A copy of every record as name -> dotted-quad text.
  std::map<std::string, std::string> snapshot() const;

 private:
  base::Guarded<std::map<std::string, Ipv4Bytes, std::less<>>> records_;
};

}  // namespace banger::dns
