// Dialers: how the host opens a byte stream to a guest's agent. QEMU virtio-serial (a unix
// socket chardev), Firecracker's vsock unix socket ("CONNECT <port>" handshake), or AF_VSOCK
// through /dev/vhost-vsock.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "banger/base/error.hpp"
#include "banger/base/fd.hpp"

namespace banger::agentclient {

class Dialer {
 public:
  virtual ~Dialer() = default;
  // Opens a connected, non-blocking stream to the agent within timeout. unavailable when the
  // endpoint cannot be reached (missing socket, refused, handshake refused); timeout when a
  // connect or handshake did not finish in time.
  virtual Expected<base::UniqueFd> dial(std::chrono::milliseconds timeout) = 0;
  // Names the endpoint for messages ("unix socket /x/agent.sock").
  virtual std::string describe() const = 0;
  // True when the endpoint carries one connection at a time (QEMU's chardev behind the
  // virtio-serial port accepts a second client only after the first left): AgentClient then
  // serializes its calls. vsock endpoints take a connection per call.
  virtual bool single_stream() const { return false; }
};

// A unix stream socket that is the agent stream itself (QEMU `-chardev socket,server=on`
// backing the virtio-serial port org.banger.agent, or the agent's --listen-unix test mode).
class UnixSocketDialer final : public Dialer {
 public:
  explicit UnixSocketDialer(std::string path);
  Expected<base::UniqueFd> dial(std::chrono::milliseconds timeout) override;
  std::string describe() const override;
  bool single_stream() const override { return true; }

 private:
  std::string path_;
};

// Firecracker's vsock device: connect to its unix socket, send "CONNECT <port>\n", expect
// "OK <n>\n"; after that the socket is a stream to the guest's AF_VSOCK listener. Any other
// answer (or a close) is unavailable with what was received.
class FirecrackerVsockDialer final : public Dialer {
 public:
  FirecrackerVsockDialer(std::string uds_path, std::uint32_t port);
  Expected<base::UniqueFd> dial(std::chrono::milliseconds timeout) override;
  std::string describe() const override;

 private:
  std::string uds_path_;
  std::uint32_t port_;
};

// AF_VSOCK to (cid, port); only for QEMU guests with a vhost-vsock-device, i.e. where
// vhost_vsock_available() is true.
class AfVsockDialer final : public Dialer {
 public:
  AfVsockDialer(std::uint32_t cid, std::uint32_t port);
  Expected<base::UniqueFd> dial(std::chrono::milliseconds timeout) override;
  std::string describe() const override;

 private:
  std::uint32_t cid_;
  std::uint32_t port_;
};

// True when /dev/vhost-vsock exists and this process may open it read-write (QEMU can then give
// the guest a vhost-vsock-device and the host reaches it with AF_VSOCK).
bool vhost_vsock_available();

}  // namespace banger::agentclient
