#include "banger/agentproto/stream_pump.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <string>
#include <thread>

#include "banger/agentproto/stream.hpp"
#include "banger/testkit/unix_peer.hpp"

namespace banger::agentproto {
namespace {

using T = StreamFrameType;

struct Pair {
  int host = -1;
  int guest = -1;
  Pair() {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    host = fds[0];
    guest = fds[1];
  }
  ~Pair() {
    ::close(host);
    if (guest >= 0) {
      ::close(guest);
    }
  }
};

// Reads host frames until pred says stop (or the host closes).
void read_frames(int fd, const std::function<bool(const StreamFrame&)>& handle) {
  StreamFrameDecoder decoder(StreamSender::host);
  char buffer[4096];
  while (true) {
    while (auto frame = decoder.next()) {
      if (!handle(*frame)) {
        return;
      }
    }
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n <= 0) {
      return;
    }
    decoder.feed(buffer, static_cast<std::size_t>(n));
  }
}

// A temporary file the pump writes to, read back afterwards.
struct OutFile {
  int fd = -1;
  OutFile() {
    char name[] = "/tmp/stream_pump_test.XXXXXX";
    fd = ::mkstemp(name);
    ::unlink(name);
  }
  ~OutFile() { ::close(fd); }
  std::string text() const {
    std::string out;
    char buffer[4096];
    ssize_t n = 0;
    off_t off = 0;
    while ((n = ::pread(fd, buffer, sizeof buffer, off)) > 0) {
      out.append(buffer, static_cast<std::size_t>(n));
      off += n;
    }
    return out;
  }
};

TEST(StreamPump, CopiesStdinToTheGuestAndOutputBackUntilExit) {
  Pair pair;
  int in[2];
  ASSERT_EQ(::pipe(in), 0);
  const std::string input = std::string("hello\0world", 11);
  ASSERT_EQ(::write(in[1], input.data(), input.size()), 11);
  ::close(in[1]);
  std::thread guest([&] {
    std::string got;
    read_frames(pair.guest, [&](const StreamFrame& frame) {
      if (frame.type == T::stdin_data) {
        got += frame.payload;
        return true;
      }
      EXPECT_EQ(frame.type, T::stdin_eof);
      testkit::write_text(pair.guest,
                          encode_stream_frame(T::stdout_data, got) +
                              encode_stream_frame(T::stderr_data, "warn") +
                              encode_stream_frame(T::exit, encode_stream_exit({.exit_code = 3})));
      return false;
    });
  });
  OutFile out, err;
  auto outcome =
      pump_host_session(pair.host, {.stdin_fd = in[0], .stdout_fd = out.fd, .stderr_fd = err.fd});
  guest.join();
  ::close(in[0]);
  EXPECT_EQ(outcome.error, "");
  EXPECT_EQ(outcome.exit_code, 3);
  EXPECT_EQ(outcome.signal, 0);
  EXPECT_FALSE(outcome.timed_out);
  EXPECT_EQ(out.text(), input);
  EXPECT_EQ(err.text(), "warn");
}

TEST(StreamPump, NoStdinSendsEofAtOnceAndDiscardsOutputWithoutFds) {
  Pair pair;
  std::thread guest([&] {
    read_frames(pair.guest, [&](const StreamFrame& frame) {
      EXPECT_EQ(frame.type, T::stdin_eof);
      testkit::write_text(
          pair.guest,
          encode_stream_frame(T::stdout_data, "dropped") +
              encode_stream_frame(
                  T::exit, encode_stream_exit({.exit_code = 137, .signal = 9, .timed_out = true})));
      return false;
    });
  });
  auto outcome = pump_host_session(pair.host, {});
  guest.join();
  EXPECT_EQ(outcome.error, "");
  EXPECT_EQ(outcome.exit_code, 137);
  EXPECT_EQ(outcome.signal, 9);
  EXPECT_TRUE(outcome.timed_out);
}

TEST(StreamPump, GuestClosingBeforeExitIsAClearError) {
  Pair pair;
  testkit::write_text(pair.guest, encode_stream_frame(T::stdout_data, "partial"));
  ::close(pair.guest);
  pair.guest = -1;
  OutFile out;
  auto outcome = pump_host_session(pair.host, {.stdout_fd = out.fd});
  EXPECT_EQ(outcome.error, "the guest closed the stream before the command exited");
  EXPECT_EQ(out.text(), "partial");
}

TEST(StreamPump, ErrorFrameTextIsSanitized) {
  Pair pair;
  testkit::write_text(pair.guest, encode_stream_frame(T::error, "boom\n\x1b[31mred"));
  auto outcome = pump_host_session(pair.host, {});
  EXPECT_EQ(outcome.error, "agent: boom\\n\\x1b[31mred");
}

TEST(StreamPump, GarbageAndOversizeFramesAreProtocolErrors) {
  {
    Pair pair;
    testkit::write_text(pair.guest, "HTTP/1.1 200 OK\r\n");
    auto outcome = pump_host_session(pair.host, {});
    EXPECT_EQ(outcome.error,
              "the agent broke the stream protocol: frame type 0x48 is not a guest frame");
  }
  {
    Pair pair;
    testkit::write_text(pair.guest, std::string("\x81\x7f\xff\xff\xff", 5));
    auto outcome = pump_host_session(pair.host, {});
    EXPECT_NE(outcome.error.find("is longer than 262144"), std::string::npos) << outcome.error;
  }
  {
    Pair pair;  // a host frame type coming from the guest
    testkit::write_text(pair.guest, encode_stream_frame(T::stdin_data, "x"));
    auto outcome = pump_host_session(pair.host, {});
    EXPECT_EQ(outcome.error,
              "the agent broke the stream protocol: frame type 0x01 is not a guest frame");
  }
}

TEST(StreamPump, BytesAfterExitAreAnError) {
  Pair pair;
  testkit::write_text(pair.guest, encode_stream_frame(T::exit, encode_stream_exit({})) +
                                      encode_stream_frame(T::stdout_data, "late"));
  auto outcome = pump_host_session(pair.host, {});
  EXPECT_EQ(outcome.error, "the agent broke the stream protocol: bytes after the exit frame");
}

TEST(StreamPump, InterruptByteBecomesASignalFrame) {
  Pair pair;
  int interrupt[2];
  ASSERT_EQ(::pipe(interrupt), 0);
  const char sigint = 2;
  ASSERT_EQ(::write(interrupt[1], &sigint, 1), 1);
  int in[2];
  ASSERT_EQ(::pipe(in), 0);  // stdin stays open: the signal must get through anyway
  std::thread guest([&] {
    read_frames(pair.guest, [&](const StreamFrame& frame) {
      if (frame.type != T::signal) {
        return true;
      }
      EXPECT_EQ(frame.payload, std::string(1, '\x02'));
      testkit::write_text(
          pair.guest,
          encode_stream_frame(T::exit, encode_stream_exit({.exit_code = 130, .signal = 2})));
      return false;
    });
  });
  auto outcome = pump_host_session(pair.host, {.stdin_fd = in[0], .interrupt_fd = interrupt[0]});
  guest.join();
  EXPECT_EQ(outcome.error, "");
  EXPECT_EQ(outcome.exit_code, 130);
  EXPECT_EQ(outcome.signal, 2);
  for (int fd : {in[0], in[1], interrupt[0], interrupt[1]}) {
    ::close(fd);
  }
}

// SIGWINCH on the caller's terminal: the terminal's new size goes to the guest as a resize frame.
TEST(StreamPump, AResizeWakeupSendsTheTerminalsSize) {
  Pair pair;
  const int master = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  ASSERT_GE(master, 0);
  winsize size{};
  size.ws_row = 41;
  size.ws_col = 133;
  ASSERT_EQ(::ioctl(master, TIOCSWINSZ, &size), 0);
  int resize[2];
  ASSERT_EQ(::pipe(resize), 0);
  ASSERT_EQ(::write(resize[1], "w", 1), 1);
  int in[2];
  ASSERT_EQ(::pipe(in), 0);
  std::thread guest([&] {
    read_frames(pair.guest, [&](const StreamFrame& frame) {
      if (frame.type != T::resize) {
        return true;
      }
      const auto got = decode_stream_resize(frame.payload);
      EXPECT_TRUE(got && got->rows == 41 && got->cols == 133);
      testkit::write_text(pair.guest, encode_stream_frame(T::exit, encode_stream_exit({})));
      return false;
    });
  });
  auto outcome =
      pump_host_session(pair.host, {.stdin_fd = in[0], .resize_fd = resize[0], .tty_fd = master});
  guest.join();
  EXPECT_EQ(outcome.error, "");
  EXPECT_EQ(outcome.exit_code, 0);
  for (int fd : {in[0], in[1], resize[0], resize[1], master}) {
    ::close(fd);
  }
}

TEST(StreamPump, ClosedStdoutReaderIsAnErrorNotASignal) {
  Pair pair;
  int out[2];
  ASSERT_EQ(::pipe(out), 0);
  ::close(out[0]);
  testkit::write_text(pair.guest, encode_stream_frame(T::stdout_data, "x"));
  auto outcome = pump_host_session(pair.host, {.stdout_fd = out[1]});
  EXPECT_EQ(outcome.error, "writing the command's stdout: Broken pipe");
  ::close(out[1]);
}

// Peak resident memory of this process (VmHWM), in bytes.
std::size_t peak_rss() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) {
      return std::stoull(line.substr(6)) * 1024;
    }
  }
  return 0;
}

// Security: a guest that floods stdout faster than the host's reader takes it costs the host one
// frame, not the flood (the pump stops reading the channel while a frame is being written).
TEST(StreamPump, FloodingGuestCostsTheHostBoundedMemory) {
  Pair pair;
  int out[2];
  ASSERT_EQ(::pipe(out), 0);
  const std::size_t frames = 400;  // 100 MiB
  std::thread guest([&] {
    const std::string frame =
        encode_stream_frame(T::stdout_data, std::string(kMaxStreamFramePayload, 'f'));
    for (std::size_t i = 0; i < frames; ++i) {
      testkit::write_text(pair.guest, frame);
    }
    testkit::write_text(pair.guest, encode_stream_frame(T::exit, encode_stream_exit({})));
  });
  std::size_t received = 0;
  std::thread reader([&] {
    char buffer[64 * 1024];
    ssize_t n = 0;
    while ((n = ::read(out[0], buffer, sizeof buffer)) > 0) {
      received += static_cast<std::size_t>(n);
      if (received % (8 << 20) < sizeof buffer) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));  // a slow consumer
      }
    }
  });
  const std::size_t before = peak_rss();
  auto outcome = pump_host_session(pair.host, {.stdout_fd = out[1]});
  ::close(out[1]);
  guest.join();
  reader.join();
  ::close(out[0]);
  EXPECT_EQ(outcome.error, "");
  EXPECT_EQ(received, frames * kMaxStreamFramePayload);
  EXPECT_LT(peak_rss() - before, std::size_t{16} << 20);
}

}  // namespace
}  // namespace banger::agentproto
