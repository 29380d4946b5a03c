// Constants of the guest agent protocol (SPEC S8, docs/agent.md) shared by agent and host client.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace banger::agentproto {

// AF_VSOCK port the agent listens on in the guest (Firecracker: "CONNECT 1024").
constexpr std::uint32_t kAgentVsockPort = 1024;
// Name of the virtio-serial port (QEMU without vhost-vsock).
constexpr std::string_view kAgentPortName = "org.banger.agent";
// Largest request line (without its newline) the agent accepts.
constexpr std::size_t kMaxFrameBytes = std::size_t{64} * 1024 * 1024;
// Bump on any incompatible change to the wire format or to a method's fields.
constexpr int kProtocolVersion = 1;
// Each exec output stream (stdout, stderr) is cut at this many bytes (the result says so).
constexpr std::size_t kMaxExecOutputBytes = std::size_t{32} * 1024 * 1024;
// Largest reply line the host client accepts: two full exec streams in base64 plus slack.
constexpr std::size_t kMaxReplyFrameBytes = std::size_t{96} * 1024 * 1024;

}  // namespace banger::agentproto
