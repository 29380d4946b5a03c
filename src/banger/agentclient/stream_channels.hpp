// StreamChannels: the host side of a VM's stream channels (docs/agent.md "Stream channels",
// docs/decisions/0009). open() takes a free channel, dials it, authenticates with the VM's
// token, sends the stream_exec header and reads the agent's answer; the returned StreamSession
// holds the connected channel, ready for frames (agentproto::pump_host_session).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "banger/agentclient/dialer.hpp"
#include "banger/agentproto/stream.hpp"
#include "banger/base/error.hpp"
#include "banger/base/fd.hpp"
#include "banger/base/progress.hpp"

namespace banger::agentclient {

// Which channels of one VM are taken. Shared by the StreamChannels and every lease it gave out,
// so a lease outliving its StreamChannels (a client that re-made it) still frees its slot.
struct StreamSlots {
  std::mutex mutex;
  std::condition_variable freed;
  std::vector<bool> busy;
  std::vector<std::chrono::steady_clock::time_point> released_at;  // when each was last freed
};

// A freed channel is reused only after this long, and the free channel freed longest ago is
// taken first: the agent must see the previous host leave (on a serial port, before the next
// host's bytes arrive on the same port; on vsock, before its session count drops).
constexpr std::chrono::milliseconds kStreamReuseGrace{250};

// Holds one stream channel of a VM. The slot is freed when the lease is destroyed or
// release()d. Keep it for as long as anyone may use the channel's descriptor: QEMU's chardev
// serves one client at a time, so a second connection to a channel still in use would wait
// unanswered.
class StreamLease {
 public:
  StreamLease() = default;
  StreamLease(std::shared_ptr<StreamSlots> slots, std::size_t index)
      : slots_(std::move(slots)), index_(index) {}
  StreamLease(StreamLease&& other) noexcept = default;
  StreamLease& operator=(StreamLease&& other) noexcept {
    if (this != &other) {
      release();
      slots_ = std::move(other.slots_);
      index_ = other.index_;
    }
    return *this;
  }
  StreamLease(const StreamLease&) = delete;
  StreamLease& operator=(const StreamLease&) = delete;
  ~StreamLease() { release(); }

  // Frees the slot (idempotent).
  void release();
  bool held() const { return slots_ != nullptr; }
  std::size_t index() const { return index_; }

 private:
  std::shared_ptr<StreamSlots> slots_;
  std::size_t index_ = 0;
};

// An open stream session: the agent has started the command (pid in the guest) and channel
// carries frames from now on. Destroying it closes the channel (the agent then kills the
// command's process group unless it already exited) and frees the slot. A caller that hands the
// descriptor to another process (vm.stream: SCM_RIGHTS to the CLI) closes its own copy and keeps
// the lease until that process is done with the channel.
struct StreamSession {
  base::UniqueFd channel;
  std::int64_t pid = 0;
  std::string endpoint;  // the dialer's description, for messages
  StreamLease lease;     // the channel's slot among the VM's kStreamChannels
};

class StreamChannels {
 public:
  // dialers: one per channel (QEMU: a UnixSocketDialer per org.banger.stream.<n> socket; vsock:
  // kStreamChannels dialers of port 1025). token: the VM's agent token. vm_name: for messages.
  StreamChannels(std::string vm_name, std::vector<std::unique_ptr<Dialer>> dialers,
                 std::string token);

  // Opens a session running params. timeout covers waiting for a free channel, connecting, the
  // handshake and the answer, however the guest behaves (every read is bounded:
  // kMaxStreamAnswerBytes per line, 1 MiB in all); cancel is checked at least every 100 ms.
  // Errors:
  // - unavailable "all 4 stream channels of vm X are busy" when none frees up in time; when the
  //   channel cannot be connected or the agent closes it before answering;
  // - timeout when the agent does not answer in time (also an image whose agent predates stream
  //   channels: nothing serves the port; the message says to rebuild the image);
  // - cancelled; permission_denied when the agent refuses the token;
  // - failed_precondition "... rebuild the image" when the agent does not know auth or
  //   stream_exec;
  // - the agent's error answer as "agent: <message>" with AgentClient's code mapping
  //   (not_found for a missing program or cwd, invalid_argument for bad params, ...);
  // - io for an answer that is not a reply.
  Expected<StreamSession> open(const agentproto::StreamExecParams& params,
                               std::chrono::milliseconds timeout, const base::CancelFn& cancel);

  // Channels currently leased.
  std::size_t busy() const;
  std::size_t channels() const { return dialers_.size(); }

 private:
  // Waits for a free slot until deadline; unavailable / cancelled.
  Expected<StreamLease> acquire(std::chrono::steady_clock::time_point deadline,
                                std::chrono::milliseconds timeout, const base::CancelFn& cancel);

  std::string vm_name_;
  std::vector<std::unique_ptr<Dialer>> dialers_;
  std::string token_;
  std::shared_ptr<StreamSlots> slots_;
  std::mutex id_mutex_;
  std::int64_t next_id_;
};

}  // namespace banger::agentclient
