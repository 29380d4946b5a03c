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
// Largest exec reply line the host client accepts: two full exec streams in base64 plus slack.
constexpr std::size_t kMaxReplyFrameBytes = std::size_t{96} * 1024 * 1024;
// Largest reply line of health, sync, poweroff and auth (each is a few hundred bytes).
constexpr std::size_t kMaxSmallReplyBytes = std::size_t{1} * 1024 * 1024;
// Largest ports reply line: room for tens of thousands of entries, of which the decoder keeps
// kMaxPortEntries.
constexpr std::size_t kMaxPortsReplyBytes = std::size_t{8} * 1024 * 1024;
// Deepest nesting of arrays/objects in a reply the client parses (real replies nest 3 deep).
constexpr std::size_t kMaxReplyDepth = 32;
// Most listening sockets a ports result keeps (after dropping duplicates).
constexpr std::size_t kMaxPortEntries = 1024;

// Authentication (docs/agent.md, docs/decisions/0012): a per-VM secret of kAgentTokenBytes
// random bytes, written as kAgentTokenHexChars lowercase hex characters.
constexpr std::size_t kAgentTokenBytes = 32;
constexpr std::size_t kAgentTokenHexChars = 2 * kAgentTokenBytes;
// Where the guest agent reads the token: the work disk (mounted at /root) carries it.
constexpr std::string_view kGuestAgentTokenPath = "/root/.banger/agent.token";
// Longest line the agent reads from a peer that has not authenticated yet (the auth request is
// ~130 bytes); a longer one is refused and the connection closed.
constexpr std::size_t kMaxHelloBytes = 4096;
// Where the agent looks for the guest sshd's public ed25519 host key (health's ssh_host_key),
// first match wins: OpenSSH's file (systemd images), then the one the tiny image's init writes
// next to dropbear's private key.
constexpr std::string_view kGuestOpensshHostKeyPath = "/etc/ssh/ssh_host_ed25519_key.pub";
constexpr std::string_view kGuestDropbearHostKeyPath =
    "/etc/dropbear/dropbear_ed25519_host_key.pub";

}  // namespace banger::agentproto
