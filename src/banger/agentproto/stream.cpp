#include "banger/agentproto/stream.hpp"

#include <cstdio>

#include "banger/agentproto/methods.hpp"

namespace banger::agentproto {
namespace {

using nlohmann::json;

bool known_type(std::uint8_t value, StreamSender from) {
  if (from == StreamSender::host) {
    return value >= 0x01 && value <= 0x04;
  }
  return value >= 0x81 && value <= 0x84;
}

// The payload size a type requires; nullopt when any size up to the maximum goes.
std::optional<std::size_t> fixed_payload(StreamFrameType type) {
  switch (type) {
    case StreamFrameType::stdin_eof:
      return 0;
    case StreamFrameType::signal:
      return 1;
    case StreamFrameType::resize:
      return 4;
    case StreamFrameType::exit:
      return 6;
    default:
      return std::nullopt;
  }
}

std::string hex_byte(std::uint8_t value) {
  char text[8];
  std::snprintf(text, sizeof text, "0x%02x", value);
  return text;
}

void put_u32(std::string& out, std::uint32_t value) {
  out.push_back(static_cast<char>((value >> 24) & 0xff));
  out.push_back(static_cast<char>((value >> 16) & 0xff));
  out.push_back(static_cast<char>((value >> 8) & 0xff));
  out.push_back(static_cast<char>(value & 0xff));
}

std::uint32_t get_u32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return (std::uint32_t{u[0]} << 24) | (std::uint32_t{u[1]} << 16) | (std::uint32_t{u[2]} << 8) |
         std::uint32_t{u[3]};
}

std::string field_error(std::string_view name, std::string_view expected) {
  return "field \"" + std::string(name) + "\": expected " + std::string(expected);
}

std::string read_u16(const json& j, std::string_view name, std::uint16_t& out) {
  const auto it = j.find(name);
  if (it == j.end() || !it->is_number_unsigned() || it->get<std::uint64_t>() < 1 ||
      it->get<std::uint64_t>() > 65535) {
    return field_error("pty." + std::string(name), "an integer from 1 to 65535");
  }
  out = static_cast<std::uint16_t>(it->get<std::uint64_t>());
  return "";
}

}  // namespace

std::string stream_frame_type_name(StreamFrameType type) {
  switch (type) {
    case StreamFrameType::stdin_data:
      return "stdin_data";
    case StreamFrameType::stdin_eof:
      return "stdin_eof";
    case StreamFrameType::resize:
      return "resize";
    case StreamFrameType::signal:
      return "signal";
    case StreamFrameType::stdout_data:
      return "stdout_data";
    case StreamFrameType::stderr_data:
      return "stderr_data";
    case StreamFrameType::exit:
      return "exit";
    case StreamFrameType::error:
      return "error";
  }
  return hex_byte(static_cast<std::uint8_t>(type));
}

std::string encode_stream_frame(StreamFrameType type, std::string_view payload) {
  std::string frame;
  frame.reserve(kStreamFrameHeaderBytes + payload.size());
  frame.push_back(static_cast<char>(type));
  put_u32(frame, static_cast<std::uint32_t>(payload.size()));
  frame.append(payload);
  return frame;
}

void StreamFrameDecoder::feed(const char* data, std::size_t size) {
  if (!error_.empty()) {
    return;
  }
  // Compact once the consumed prefix dominates, so a long session does not grow the buffer.
  if (pos_ > 0 && pos_ >= buffer_.size() / 2) {
    buffer_.erase(0, pos_);
    pos_ = 0;
  }
  buffer_.append(data, size);
  if (buffered() >= kStreamFrameHeaderBytes) {
    check_header();
  }
}

void StreamFrameDecoder::check_header() {
  const auto raw = static_cast<std::uint8_t>(buffer_[pos_]);
  const std::uint32_t length = get_u32(buffer_.data() + pos_ + 1);
  const char* sender = from_ == StreamSender::host ? "host" : "guest";
  if (!known_type(raw, from_)) {
    error_ = "frame type " + hex_byte(raw) + " is not a " + sender + " frame";
  } else if (length > kMaxStreamFramePayload) {
    error_ = "frame " + stream_frame_type_name(static_cast<StreamFrameType>(raw)) + " of " +
             std::to_string(length) + " bytes is longer than " +
             std::to_string(kMaxStreamFramePayload);
  } else if (auto fixed = fixed_payload(static_cast<StreamFrameType>(raw));
             fixed && *fixed != length) {
    error_ = "frame " + stream_frame_type_name(static_cast<StreamFrameType>(raw)) + " has " +
             std::to_string(length) + " payload bytes, expected " + std::to_string(*fixed);
  }
  if (!error_.empty()) {
    buffer_.clear();
    buffer_.shrink_to_fit();
    pos_ = 0;
  }
}

std::optional<StreamFrame> StreamFrameDecoder::next() {
  if (!error_.empty() || buffered() < kStreamFrameHeaderBytes) {
    return std::nullopt;
  }
  check_header();
  if (!error_.empty()) {
    return std::nullopt;
  }
  const std::uint32_t length = get_u32(buffer_.data() + pos_ + 1);
  if (buffered() < kStreamFrameHeaderBytes + length) {
    return std::nullopt;
  }
  StreamFrame frame{static_cast<StreamFrameType>(buffer_[pos_]),
                    buffer_.substr(pos_ + kStreamFrameHeaderBytes, length)};
  pos_ += kStreamFrameHeaderBytes + length;
  if (pos_ == buffer_.size()) {
    buffer_.clear();
    pos_ = 0;
  } else if (buffered() >= kStreamFrameHeaderBytes) {
    check_header();  // fail early on the next header, before its payload is buffered
  }
  return frame;
}

std::string encode_stream_exit(const StreamExit& exit) {
  std::string out;
  put_u32(out, static_cast<std::uint32_t>(exit.exit_code));
  out.push_back(static_cast<char>(exit.signal));
  out.push_back(static_cast<char>(exit.timed_out ? 1 : 0));
  return out;
}

std::optional<StreamExit> decode_stream_exit(std::string_view payload) {
  if (payload.size() != 6) {
    return std::nullopt;
  }
  const auto timed_out = static_cast<std::uint8_t>(payload[5]);
  if (timed_out > 1) {
    return std::nullopt;
  }
  return StreamExit{.exit_code = static_cast<std::int32_t>(get_u32(payload.data())),
                    .signal = static_cast<std::uint8_t>(payload[4]),
                    .timed_out = timed_out == 1};
}

std::string encode_stream_resize(std::uint16_t rows, std::uint16_t cols) {
  return {static_cast<char>(rows >> 8), static_cast<char>(rows & 0xff),
          static_cast<char>(cols >> 8), static_cast<char>(cols & 0xff)};
}

std::optional<StreamPty> decode_stream_resize(std::string_view payload) {
  if (payload.size() != 4) {
    return std::nullopt;
  }
  const auto byte = [&](std::size_t i) { return static_cast<std::uint8_t>(payload[i]); };
  return StreamPty{.rows = static_cast<std::uint16_t>((byte(0) << 8) | byte(1)),
                   .cols = static_cast<std::uint16_t>((byte(2) << 8) | byte(3))};
}

json encode(const StreamExecParams& value) {
  json env = json::object();
  for (const auto& [key, val] : value.env) {
    env[key] = val;
  }
  json out{{"argv", value.argv},
           {"env", std::move(env)},
           {"cwd", value.cwd},
           {"timeout_s", value.timeout_s}};
  if (value.pty) {
    out["pty"] = json{{"rows", value.pty->rows}, {"cols", value.pty->cols}};
  }
  return out;
}

json encode(const StreamExecResult& value) { return json{{"pid", value.pid}}; }

std::string decode(const json& j, StreamExecParams& out) {
  if (!j.is_object()) {
    return "expected a json object";
  }
  if (j.contains("stdin_b64")) {
    return "field \"stdin_b64\": not part of stream_exec (stdin travels as frames)";
  }
  // argv, env, cwd and timeout_s have exec's rules.
  ExecParams common;
  if (auto error = decode(j, common); !error.empty()) {
    return error;
  }
  out.argv = std::move(common.argv);
  out.env = std::move(common.env);
  out.cwd = std::move(common.cwd);
  out.timeout_s = common.timeout_s;
  out.pty.reset();
  if (const auto it = j.find("pty"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) {
      return field_error("pty", "an object with rows and cols");
    }
    StreamPty pty;
    if (auto error = read_u16(*it, "rows", pty.rows); !error.empty()) {
      return error;
    }
    if (auto error = read_u16(*it, "cols", pty.cols); !error.empty()) {
      return error;
    }
    out.pty = pty;
  }
  return "";
}

std::string decode(const json& j, StreamExecResult& out) {
  if (!j.is_object()) {
    return "expected a json object";
  }
  const auto it = j.find("pid");
  if (it == j.end() || !it->is_number_integer() || it->get<std::int64_t>() < 1 ||
      it->get<std::int64_t>() > 0x7fffffff) {
    return field_error("pid", "an integer from 1 to 2147483647");
  }
  out.pid = it->get<std::int64_t>();
  return "";
}

std::string sanitize_stream_text(std::string_view text, std::size_t max_bytes) {
  std::string out;
  for (const char c : text.substr(0, max_bytes)) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\\') {
      out += "\\\\";
    } else if (u < 0x20 || u >= 0x7f) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", u);
      out += hex;
    } else {
      out.push_back(c);
    }
  }
  if (text.size() > max_bytes) {
    out += "...";
  }
  return out;
}

}  // namespace banger::agentproto
