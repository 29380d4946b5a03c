// TapPool: a warm pool of idle TAP devices named tap-fc-<n> (S7), so starting a VM rarely
// has to create one. Works only through LinkOps.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "banger/base/error.hpp"
#include "banger/hostnat/link_ops.hpp"

namespace banger::hostnat {

// Prefix of every TAP banger creates; reconcile() treats all links with it as ours.
inline constexpr std::string_view kTapPrefix = "tap-fc-";

// The TAP name for number n ("tap-fc-3"); n < 10^8 keeps it within 15 characters.
std::string tap_name(unsigned n);
// The n of a well-formed "tap-fc-<n>" (decimal, no leading zeros), else nullopt.
std::optional<unsigned> parse_tap_name(std::string_view name);

// Owns: the idle TAPs it created or adopted, and the numbering of tap-fc-<n> names (it keeps
//       track of the TAPs it handed out until they come back).
// Does not own: the bridge or what the TAPs are attached to (they keep their master when
//       released); the links themselves live in the kernel (LinkOps).
// Thread-safety: none; NetworkService serializes calls under its lock.
class TapPool {
 public:
  // pool_size: how many idle TAPs to keep. owner: the uid TAPs are created for (so an
  // unprivileged VMM may open them), none = root only.
  TapPool(LinkOps& links, std::size_t pool_size, std::optional<uid_t> owner = std::nullopt);

  // An idle TAP, now in use: the lowest-numbered idle one (idle TAPs that vanished are
  // dropped), or else the lowest-numbered tap-fc-<n> not handed out or quarantined: a TAP left
  // by an earlier daemon under that name is adopted, a new one is created otherwise. Errors
  // from LinkOps (creating the TAP) with their context; failed_precondition when no name is
  // free (64 names in a row held by links that are not TAPs).
  Expected<std::string> acquire();

  // Gives back a TAP from acquire(): kept idle while the pool has room, else deleted. A TAP
  // that no longer exists is just forgotten. invalid_argument `tap "x" is not a banger tap:
  // names look like tap-fc-<n>`; LinkOps errors from deleting it.
  Status release(const std::string& name);

  // Creates (or adopts, as acquire()) TAPs until pool_size are idle. Stops at the first error
  // and returns it.
  Status refill();

  // Takes name out of circulation: it is neither idle nor in use any more, and neither
  // acquire() nor refill() hands it out again until the next reconcile(). For a TAP that
  // cannot be opened (EBUSY: some other process, such as an orphaned VMM, holds it), so one
  // busy TAP does not make every start fail. The link itself is left alone. invalid_argument
  // as release().
  Status quarantine(const std::string& name);

  // At daemon start: TAPs named in in_use (VMs still running) count as handed out; every other
  // tap-fc-* link is adopted as idle while there is room, lowest numbers first, and deleted
  // otherwise (malformed tap-fc-* names are always deleted). Tries every link and returns the
  // first error. Resets all earlier pool state (quarantine included).
  Status reconcile(const std::vector<std::string>& in_use);

  // Idle TAP names, lowest number first.
  std::vector<std::string> idle() const;
  // TAP names handed out and not yet released, sorted.
  std::vector<std::string> in_use() const;
  // Quarantined TAP names, sorted.
  std::vector<std::string> quarantined() const;
  std::size_t pool_size() const { return pool_size_; }

 private:
  struct ByNumber {
    bool operator()(const std::string& a, const std::string& b) const;
  };

  // Gives an adopted TAP (an earlier daemon's) the pool's owner, as create_tap() would have:
  // older daemons created TAPs without one, which any user able to open /dev/net/tun could
  // attach to. A failure is logged (the TAP is adopted all the same).
  void take_ownership(const std::string& name);
  // Creates (or adopts a leftover TAP of) the lowest free number; returns its name.
  Expected<std::string> create_next();

  LinkOps& links_;
  std::size_t pool_size_;
  std::optional<uid_t> owner_;
  std::set<std::string, ByNumber> idle_;
  std::set<std::string, ByNumber> in_use_;
  std::set<std::string, ByNumber> quarantined_;
};

}  // namespace banger::hostnat
