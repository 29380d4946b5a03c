// Progress reporting and cancellation for long operations (builds, pulls, boots). Services
// take these as plain callables so they stay independent of the RPC layer; the daemon's
// handlers connect them to rpc::CallContext (emit / cancelled).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace banger::base {

struct ProgressEvent {
  std::string stage;       // short machine-friendly step name: "download", "extract", "mkfs"
  std::string message;     // one human line
  std::int64_t done = 0;   // bytes or items done (0 = unknown)
  std::int64_t total = 0;  // bytes or items in all (0 = unknown)
  std::string task;        // which concurrent task ("" = the single main task): a VM's name
  std::string unit;        // kBytes when done/total count bytes; "" = steps (items)
};

// ProgressEvent::unit of byte counts.
inline constexpr const char* kBytes = "bytes";

// Receives progress events; may be empty (nobody listens).
using ProgressFn = std::function<void(const ProgressEvent&)>;
// Returns true once the caller went away; long operations check it between steps, stop,
// and roll back what they created. May be empty (never cancelled).
using CancelFn = std::function<bool()>;

// Calls fn when it is set.
inline void report(const ProgressFn& fn, ProgressEvent event) {
  if (fn) {
    fn(event);
  }
}
inline bool is_cancelled(const CancelFn& fn) { return fn && fn(); }

}  // namespace banger::base
