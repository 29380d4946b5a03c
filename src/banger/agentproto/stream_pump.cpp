#include "banger/agentproto/stream_pump.hpp"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <ctime>
#include <deque>
#include <optional>

#include "banger/agentproto/stream.hpp"

namespace banger::agentproto {
namespace {

constexpr std::size_t kChunk = 64 * 1024;
constexpr char kGuestClosed[] = "the guest closed the stream before the command exited";

// Blocks SIGPIPE in this thread while the pump runs; a SIGPIPE raised meanwhile is consumed.
class SigpipeBlock {
 public:
  SigpipeBlock() {
    sigset_t pipe_only;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_only, &old_);
  }
  SigpipeBlock(const SigpipeBlock&) = delete;
  SigpipeBlock& operator=(const SigpipeBlock&) = delete;
  ~SigpipeBlock() {
    if (sigismember(&old_, SIGPIPE) == 0) {
      sigset_t pipe_only;
      sigemptyset(&pipe_only);
      sigaddset(&pipe_only, SIGPIPE);
      const timespec zero{0, 0};
      while (sigtimedwait(&pipe_only, nullptr, &zero) == SIGPIPE) {
      }
      pthread_sigmask(SIG_SETMASK, &old_, nullptr);
    }
  }

 private:
  sigset_t old_{};
};

std::string errno_text(int err) { return std::strerror(err); }

// Writes to the channel: send(MSG_NOSIGNAL) on sockets, write() on anything else.
ssize_t write_channel(int fd, const char* data, std::size_t size) {
  const ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL | MSG_DONTWAIT);
  if (n < 0 && errno == ENOTSOCK) {
    return ::write(fd, data, size);
  }
  return n;
}

bool transient(int err) { return err == EINTR || err == EAGAIN || err == EWOULDBLOCK; }

class HostPump {
 public:
  HostPump(int channel, const StreamEnds& ends)
      : channel_(channel), ends_(ends), decoder_(StreamSender::guest) {}

  StreamOutcome run();

 private:
  // Returns an error message, or "" to go on.
  std::string take_frame();
  std::string read_channel();
  std::string write_channel_pending();
  std::string read_stdin();
  std::string read_interrupt();
  std::string read_resize();
  // Sends frame after the frame being sent (control frames: signal, resize).
  void queue_control(std::string frame);
  std::string write_output();

  int channel_;
  StreamEnds ends_;
  StreamFrameDecoder decoder_;
  std::string to_guest_;  // the frame being sent
  std::size_t to_guest_sent_ = 0;
  std::deque<std::string> signals_;  // signal frames waiting behind to_guest_
  bool stdin_done_ = false;
  bool send_closed_ = false;  // the channel refused a write: nothing more is sent
  std::string output_;        // the payload being written to output_fd_
  std::size_t output_written_ = 0;
  int output_fd_ = -1;
  const char* output_name_ = "stdout";
  std::optional<StreamExit> exit_;
};

std::string HostPump::take_frame() {
  auto frame = decoder_.next();
  if (!frame) {
    if (!decoder_.error().empty()) {
      return "the agent broke the stream protocol: " + decoder_.error();
    }
    return "";
  }
  switch (frame->type) {
    case StreamFrameType::stdout_data:
      output_fd_ = ends_.stdout_fd;
      output_name_ = "stdout";
      break;
    case StreamFrameType::stderr_data:
      output_fd_ = ends_.stderr_fd;
      output_name_ = "stderr";
      break;
    case StreamFrameType::exit:
      exit_ = decode_stream_exit(frame->payload);
      if (!exit_) {
        return "the agent broke the stream protocol: malformed exit frame";
      }
      if (decoder_.buffered() > 0) {
        return "the agent broke the stream protocol: bytes after the exit frame";
      }
      return "";
    case StreamFrameType::error:
      return "agent: " + sanitize_stream_text(frame->payload);
    default:
      return "the agent broke the stream protocol: unexpected frame " +
             stream_frame_type_name(frame->type);
  }
  if (output_fd_ >= 0) {
    output_ = std::move(frame->payload);
    output_written_ = 0;
  }
  return "";
}

std::string HostPump::read_channel() {
  char buffer[kChunk];
  const ssize_t n = ::read(channel_, buffer, sizeof buffer);
  if (n > 0) {
    decoder_.feed(buffer, static_cast<std::size_t>(n));
    return "";
  }
  if (n < 0 && transient(errno)) {
    return "";
  }
  if (n == 0 || errno == ECONNRESET || errno == EPIPE) {
    return kGuestClosed;
  }
  return "stream channel: " + errno_text(errno);
}

std::string HostPump::write_channel_pending() {
  while (to_guest_sent_ < to_guest_.size()) {
    const ssize_t n = write_channel(channel_, to_guest_.data() + to_guest_sent_,
                                    to_guest_.size() - to_guest_sent_);
    if (n > 0) {
      to_guest_sent_ += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && transient(errno)) {
      return "";
    }
    if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) {
      // The guest is gone: stop sending, but deliver what it sent before; reading then ends in
      // EOF (kGuestClosed) or its exit frame.
      to_guest_.clear();
      to_guest_sent_ = 0;
      signals_.clear();
      stdin_done_ = true;
      send_closed_ = true;
      return "";
    }
    return "stream channel: " + errno_text(errno);
  }
  to_guest_.clear();
  to_guest_sent_ = 0;
  if (!signals_.empty()) {
    to_guest_ = std::move(signals_.front());
    signals_.pop_front();
  }
  return "";
}

std::string HostPump::read_stdin() {
  char buffer[kChunk];
  const ssize_t n = ::read(ends_.stdin_fd, buffer, sizeof buffer);
  if (n > 0) {
    to_guest_ = encode_stream_frame(StreamFrameType::stdin_data,
                                    std::string_view(buffer, static_cast<std::size_t>(n)));
    return "";
  }
  if (n < 0 && transient(errno)) {
    return "";
  }
  if (n < 0) {
    return "reading stdin: " + errno_text(errno);
  }
  to_guest_ = encode_stream_frame(StreamFrameType::stdin_eof, "");
  stdin_done_ = true;
  return "";
}

void HostPump::queue_control(std::string frame) {
  if (send_closed_) {
    return;
  }
  if (to_guest_.empty()) {
    to_guest_ = std::move(frame);
  } else if (signals_.size() < 16) {  // more pending control frames than that add nothing
    signals_.push_back(std::move(frame));
  }
}

std::string HostPump::read_interrupt() {
  char sig = 0;
  const ssize_t n = ::read(ends_.interrupt_fd, &sig, 1);
  if (n == 1) {
    queue_control(encode_stream_frame(StreamFrameType::signal, std::string_view(&sig, 1)));
    return "";
  }
  if (n == 0) {
    ends_.interrupt_fd = -1;  // the writer is gone: no more interrupts
  }
  return "";
}

std::string HostPump::read_resize() {
  char drained[64];
  const ssize_t n = ::read(ends_.resize_fd, drained, sizeof drained);
  if (n == 0) {
    ends_.resize_fd = -1;  // the writer is gone: no more resizes
    return "";
  }
  if (n < 0) {
    return "";  // EAGAIN/EINTR: nothing to do
  }
  winsize size{};
  if (::ioctl(ends_.tty_fd, TIOCGWINSZ, &size) == 0) {
    queue_control(encode_stream_frame(StreamFrameType::resize,
                                      encode_stream_resize(size.ws_row, size.ws_col)));
  }
  return "";
}

std::string HostPump::write_output() {
  const ssize_t n =
      ::write(output_fd_, output_.data() + output_written_, output_.size() - output_written_);
  if (n > 0) {
    output_written_ += static_cast<std::size_t>(n);
    if (output_written_ == output_.size()) {
      output_.clear();
      output_written_ = 0;
    }
    return "";
  }
  if (n < 0 && transient(errno)) {
    return "";
  }
  return std::string("writing the command's ") + output_name_ + ": " +
         errno_text(n < 0 ? errno : EIO);
}

StreamOutcome HostPump::run() {
  StreamOutcome outcome;
  const int flags = ::fcntl(channel_, F_GETFL);
  if (flags < 0 || ::fcntl(channel_, F_SETFL, flags | O_NONBLOCK) != 0) {
    outcome.error = "stream channel: " + errno_text(errno);
    return outcome;
  }
  if (ends_.stdin_fd < 0) {
    to_guest_ = encode_stream_frame(StreamFrameType::stdin_eof, "");
    stdin_done_ = true;
  }
  std::string error;
  while (error.empty()) {
    while (error.empty() && output_.empty() && !exit_) {
      const std::size_t before = decoder_.buffered();
      error = take_frame();
      if (decoder_.buffered() == before) {
        break;  // no complete frame
      }
    }
    if (!error.empty() || exit_) {
      break;
    }
    pollfd fds[5];
    nfds_t count = 0;
    const bool want_read = output_.empty();
    const auto channel_wants =
        static_cast<short>((want_read ? POLLIN : 0) | (to_guest_.empty() ? 0 : POLLOUT));
    // Not polled at all while it has nothing to do: a hang-up must not end the session before
    // the output already received is written.
    fds[count++] = pollfd{channel_wants != 0 ? channel_ : -1, channel_wants, 0};
    int stdin_slot = -1;
    int output_slot = -1;
    int interrupt_slot = -1;
    if (!stdin_done_ && to_guest_.empty()) {
      stdin_slot = static_cast<int>(count);
      fds[count++] = pollfd{ends_.stdin_fd, POLLIN, 0};
    }
    if (!output_.empty()) {
      output_slot = static_cast<int>(count);
      fds[count++] = pollfd{output_fd_, POLLOUT, 0};
    }
    if (ends_.interrupt_fd >= 0) {
      interrupt_slot = static_cast<int>(count);
      fds[count++] = pollfd{ends_.interrupt_fd, POLLIN, 0};
    }
    int resize_slot = -1;
    if (ends_.resize_fd >= 0 && ends_.tty_fd >= 0) {
      resize_slot = static_cast<int>(count);
      fds[count++] = pollfd{ends_.resize_fd, POLLIN, 0};
    }
    if (::poll(fds, count, -1) < 0) {
      if (errno == EINTR) {
        continue;
      }
      error = "poll: " + errno_text(errno);
      break;
    }
    const short channel_events = fds[0].revents;
    if (interrupt_slot >= 0 && fds[interrupt_slot].revents != 0) {
      error = read_interrupt();
    }
    if (error.empty() && resize_slot >= 0 && fds[resize_slot].revents != 0) {
      error = read_resize();
    }
    if (error.empty() && output_slot >= 0 && fds[output_slot].revents != 0) {
      error = write_output();
    }
    if (error.empty() && stdin_slot >= 0 && fds[stdin_slot].revents != 0) {
      error = read_stdin();
    }
    if (error.empty() && (channel_events & POLLOUT) != 0) {
      error = write_channel_pending();
    }
    if (error.empty() && want_read && (channel_events & (POLLIN | POLLHUP | POLLERR)) != 0) {
      error = read_channel();
    } else if (error.empty() && (channel_events & (POLLHUP | POLLERR)) != 0 && !to_guest_.empty()) {
      error = write_channel_pending();  // notices the hang-up
    }
  }
  if (!error.empty()) {
    outcome.error = std::move(error);
    return outcome;
  }
  outcome.exit_code = exit_->exit_code;
  outcome.signal = exit_->signal;
  outcome.timed_out = exit_->timed_out;
  return outcome;
}

}  // namespace

StreamOutcome pump_host_session(int channel_fd, const StreamEnds& ends) {
  SigpipeBlock block;
  HostPump pump(channel_fd, ends);
  return pump.run();
}

}  // namespace banger::agentproto
