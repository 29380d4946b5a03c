// The stream channels of the agent (docs/agent.md "Stream channels", docs/decisions/0009): after
// one JSON header line per session, both directions carry binary frames of
// `type` (1 byte), `length` (4 bytes, big-endian, at most kMaxStreamFramePayload), payload.
// Shared by the agent (guest) and the host pump; standard library + nlohmann json only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace banger::agentproto {

// Stream channels per VM: QEMU virtio-serial ports, or concurrent vsock sessions.
constexpr std::size_t kStreamChannels = 4;
// AF_VSOCK port of stream sessions (one connection per session).
constexpr std::uint32_t kStreamVsockPort = 1025;
// The virtio-serial port of stream channel n is named kStreamPortPrefix + n.
constexpr std::string_view kStreamPortPrefix = "org.banger.stream.";
// Largest frame payload; a larger length is a protocol error.
constexpr std::size_t kMaxStreamFramePayload = std::size_t{256} * 1024;
// Bytes of a frame header: type + big-endian length.
constexpr std::size_t kStreamFrameHeaderBytes = 5;
// Largest stream_exec header line (argv and env) the agent reads.
constexpr std::size_t kMaxStreamHeaderBytes = std::size_t{1} * 1024 * 1024;
// Largest answer line (to auth or to the header) the host reads on a stream channel.
constexpr std::size_t kMaxStreamAnswerBytes = std::size_t{64} * 1024;
// Where the image's static helper tools live (docs/decisions/0010); appended to PATH in stream
// sessions.
constexpr std::string_view kStreamHelperBinDir = "/usr/local/lib/banger/bin";
// The header's method.
constexpr std::string_view kMethodStreamExec = "stream_exec";

// Frame types and their wire values. host -> guest: 0x01..0x04; guest -> host: 0x81..0x84.
enum class StreamFrameType : std::uint8_t {
  stdin_data = 0x01,   // bytes for the command's stdin
  stdin_eof = 0x02,    // empty: close the command's stdin
  resize = 0x03,       // rows, cols as two big-endian u16 (PTY sessions)
  signal = 0x04,       // one byte: a signal number for the command's process group
  stdout_data = 0x81,  // bytes the command wrote to stdout
  stderr_data = 0x82,  // bytes the command wrote to stderr
  exit = 0x83,         // StreamExit (6 bytes); the last frame of a session
  error = 0x84,        // UTF-8 text; the agent then ends the session
};

// Who sent a frame: each side decodes only the other side's types.
enum class StreamSender { host, guest };

// "stdin_data", ... ("0x7f" for a value that is no type).
std::string stream_frame_type_name(StreamFrameType type);

// The frame with type and payload (whose size must be at most kMaxStreamFramePayload).
std::string encode_stream_frame(StreamFrameType type, std::string_view payload);

struct StreamFrame {
  StreamFrameType type = StreamFrameType::stdin_data;
  std::string payload;
};

// Splits a byte stream into frames sent by one side. An unknown type (for that sender), a
// length over kMaxStreamFramePayload or a payload size that does not fit the type (stdin_eof: 0,
// signal: 1, resize: 4, exit: 6) is a sticky error: no frame is delivered after it. Memory is
// bounded by one frame plus what one feed() adds: the length is checked before a payload is
// buffered.
class StreamFrameDecoder {
 public:
  explicit StreamFrameDecoder(StreamSender from) : from_(from) {}

  void feed(const char* data, std::size_t size);
  void feed(std::string_view data) { feed(data.data(), data.size()); }
  // The next complete frame, or nullopt when more bytes are needed or after an error.
  std::optional<StreamFrame> next();
  // "" until the stream broke the rules, then why ("frame type 0x7f is not a guest frame").
  const std::string& error() const { return error_; }
  // Bytes held that are not yet a delivered frame.
  std::size_t buffered() const { return buffer_.size() - pos_; }

 private:
  // Checks the header at pos_ (5 bytes available); sets error_ when it is bad.
  void check_header();

  StreamSender from_;
  std::string buffer_;
  std::size_t pos_ = 0;
  std::string error_;
};

// The exit frame's payload: i32 exit code (big-endian), u8 signal, u8 timed_out (0 or 1).
struct StreamExit {
  std::int32_t exit_code = 0;  // exit status, or 128+signal when killed by a signal
  std::uint8_t signal = 0;     // the killing signal, 0 when the command exited
  bool timed_out = false;      // killed because timeout_s passed
};
std::string encode_stream_exit(const StreamExit& exit);
// nullopt unless payload is 6 bytes with timed_out 0 or 1.
std::optional<StreamExit> decode_stream_exit(std::string_view payload);

// The resize frame's payload: rows, cols as big-endian u16.
std::string encode_stream_resize(std::uint16_t rows, std::uint16_t cols);

// A terminal size (PTY sessions; issue 12).
struct StreamPty {
  std::uint16_t rows = 24;
  std::uint16_t cols = 80;
  bool operator==(const StreamPty&) const = default;
};
// nullopt unless payload is the 4 bytes encode_stream_resize makes.
std::optional<StreamPty> decode_stream_resize(std::string_view payload);

// stream_exec params (the header's "params").
struct StreamExecParams {
  std::vector<std::string> argv;           // required, non-empty
  std::map<std::string, std::string> env;  // laid over the agent's base environment
  std::string cwd;                         // "" = "/"
  double timeout_s = 0;                    // 0 = none; > 0 kills the process group
  std::optional<StreamPty> pty;            // present: a PTY session of this initial size
};

// stream_exec result: the command's pid in the guest.
struct StreamExecResult {
  std::int64_t pid = 0;
};

nlohmann::json encode(const StreamExecParams& value);
nlohmann::json encode(const StreamExecResult& value);
// As the other decode()s of methods.hpp: "" or a message naming the field.
std::string decode(const nlohmann::json& json, StreamExecParams& out);
std::string decode(const nlohmann::json& json, StreamExecResult& out);

// Text from the other side made safe for messages and logs: control characters and bytes >= 0x7f
// become \n, \t, \xNN, and it is cut to max_bytes (then "...").
std::string sanitize_stream_text(std::string_view text, std::size_t max_bytes = 1024);

}  // namespace banger::agentproto
