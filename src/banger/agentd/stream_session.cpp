#include "banger/agentd/stream_session.hpp"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <thread>
#include <variant>

#include "banger/agentd/exec.hpp"
#include "banger/agentd/log.hpp"
#include "banger/agentd/port_write.hpp"
#include "banger/agentd/proc_files.hpp"
#include "banger/agentd/pty.hpp"
#include "banger/agentd/server.hpp"
#include "banger/agentd/transports.hpp"
#include "banger/agentproto/message.hpp"
#include "banger/agentproto/stream.hpp"
#include "banger/posix/fd.hpp"
#include "banger/posix/pidfd.hpp"
#include "banger/posix/subprocess.hpp"

namespace banger::agentd {
namespace {

using agentproto::ErrorCode;
using agentproto::StreamFrameType;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kChunk = 64 * 1024;
constexpr int kSliceMs =
    100;  // stop flag, deadline and (without pidfd) the child checked this often
// Output read from a command's pipes after it exited, per stream: what the pipe buffers held,
// not what a descendant keeps writing.
constexpr std::size_t kDrainAfterExit = std::size_t{4} * 1024 * 1024;
constexpr double kMaxTimeoutSeconds = 1e9;
// Serial ports: the pause between looks for the host's attach during the handshake.
constexpr std::chrono::milliseconds kPortSettle{10};

bool stopped(const StreamChannel& channel) {
  return channel.stop != nullptr && channel.stop->load();
}

ssize_t write_some(int fd, const char* data, std::size_t size) {
  const ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL | MSG_DONTWAIT);
  if (n < 0 && errno == ENOTSOCK) {
    return ::write(fd, data, size);
  }
  return n;
}

bool transient(int err) { return err == EINTR || err == EAGAIN || err == EWOULDBLOCK; }

// Reads the handshake's lines. Bytes after a line stay in buffer (they are frames).
class LineReader {
 public:
  LineReader(const StreamChannel& channel, std::string pending, Clock::time_point deadline)
      : channel_(channel), buffer_(std::move(pending)), deadline_(deadline) {}

  enum class Status { line, too_long, host_gone, timeout, stopped };

  // The next non-empty line (without "\n" and a trailing "\r") of at most max bytes.
  Status next(std::size_t max, std::string& line) {
    while (true) {
      std::size_t eol;
      while ((eol = buffer_.find('\n')) != std::string::npos) {
        line = buffer_.substr(0, eol);
        buffer_.erase(0, eol + 1);
        if (!line.empty() && line.back() == '\r') {
          line.pop_back();
        }
        if (line.size() > max) {
          return Status::too_long;
        }
        if (!line.empty()) {
          return Status::line;
        }
      }
      if (buffer_.size() > max) {
        return Status::too_long;
      }
      if (stopped(channel_)) {
        return Status::stopped;
      }
      const auto now = Clock::now();
      if (now >= deadline_) {
        return Status::timeout;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - now);
      pollfd pfd{channel_.read_fd, POLLIN, 0};
      const int ready =
          ::poll(&pfd, 1, static_cast<int>(std::min<long long>(left.count() + 1, kSliceMs)));
      if (ready <= 0) {
        continue;
      }
      char chunk[4096];
      const ssize_t n = ::read(channel_.read_fd, chunk, sizeof chunk);
      if (n > 0) {
        buffer_.append(chunk, static_cast<std::size_t>(n));
      } else if (n == 0 && channel_.serial_port) {
        std::this_thread::sleep_for(kPortSettle);  // the attach may not be known yet
      } else if (n == 0 || !transient(errno)) {
        return Status::host_gone;
      }
    }
  }
  std::string take_rest() { return std::move(buffer_); }

 private:
  const StreamChannel& channel_;
  std::string buffer_;
  Clock::time_point deadline_;
};

// The running command and both directions of its frames.
class GuestPump {
 public:
  // The command's stdin, stdout and stderr ends: pipes, or for a PTY session the master (in and
  // out are then two descriptors of it, err is invalid, and pty a third one kept for resizes).
  struct CommandEnds {
    posix::Fd in, out, err, pty;
  };

  GuestPump(const StreamChannel& channel, pid_t pid, posix::Fd pidfd, CommandEnds ends,
            double timeout_s, std::string leftover)
      : channel_(channel),
        pid_(pid),
        pidfd_(std::move(pidfd)),
        in_(std::move(ends.in)),
        out_(std::move(ends.out)),
        err_(std::move(ends.err)),
        pty_(std::move(ends.pty)),
        decoder_(agentproto::StreamSender::host) {
    if (timeout_s > 0) {
      deadline_ = Clock::now() +
                  std::chrono::duration_cast<Clock::duration>(
                      std::chrono::duration<double>(std::min(timeout_s, kMaxTimeoutSeconds)));
    }
    decoder_.feed(leftover);
  }

  StreamEnd run();

 private:
  void kill_group(int sig) {
    ::kill(-pid_, sig);
    ::kill(pid_, sig);
  }
  // Ends the command for good (host gone, stop, protocol error): SIGKILL to its group, reaped.
  void kill_and_reap() {
    kill_group(SIGKILL);
    if (!exited_) {
      int status = 0;
      while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
      }
      exited_ = true;
    }
  }
  void try_reap() {
    int status = 0;
    const pid_t got = ::waitpid(pid_, &status, WNOHANG);
    if (got != pid_) {
      return;
    }
    exited_ = true;
    if (WIFSIGNALED(status)) {
      exit_.signal = static_cast<std::uint8_t>(WTERMSIG(status));
      exit_.exit_code = 128 + WTERMSIG(status);
    } else {
      exit_.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 0;
    }
  }
  // Handles the decoded host frames while no stdin payload is pending; "" or a protocol error.
  std::string take_host_frames();
  // Reads one chunk of a command pipe into a frame; closes it at EOF (after the exit: also when
  // empty or past the drain budget).
  void read_output(posix::Fd& fd, StreamFrameType type, std::size_t& drained);
  // false when the host is gone.
  bool flush_to_host();
  void write_stdin();
  // The host broke the protocol: the command is killed, one error frame (best effort) ends the
  // session.
  StreamEnd end_with_protocol_error(const std::string& broken);
  // How long the next poll may sleep: a slice, less when the timeout_s deadline is nearer, and
  // short while the child is watched without a pidfd.
  int poll_timeout_ms() const;
  // Reads what the host sent into the decoder; false when the host is gone (EOF or an error).
  bool read_from_host();
  // One chunk of stdout (else of stderr) whose pipe poll() reported, while nothing waits to go
  // to the host.
  void read_ready_output(short out_events, short err_events) {
    if (to_host_.empty() && out_events != 0 && out_.valid()) {
      read_output(out_, StreamFrameType::stdout_data, out_drained_);
    }
    if (to_host_.empty() && err_events != 0 && err_.valid()) {
      read_output(err_, StreamFrameType::stderr_data, err_drained_);
    }
  }

  const StreamChannel& channel_;
  pid_t pid_;
  posix::Fd pidfd_;
  posix::Fd in_, out_, err_;
  posix::Fd pty_;  // a PTY session's master (window size), else invalid
  agentproto::StreamFrameDecoder decoder_;
  std::optional<Clock::time_point> deadline_;
  std::string to_host_;
  std::size_t to_host_sent_ = 0;
  std::string stdin_;
  std::size_t stdin_written_ = 0;
  bool stdin_eof_ = false;
  bool exited_ = false;
  agentproto::StreamExit exit_;
  std::size_t out_drained_ = 0, err_drained_ = 0;
};

std::string GuestPump::take_host_frames() {
  while (stdin_.empty()) {
    auto frame = decoder_.next();
    if (!frame) {
      return decoder_.error();
    }
    switch (frame->type) {
      case StreamFrameType::stdin_data:
        if (stdin_eof_) {
          return "stdin_data after stdin_eof";
        }
        if (in_.valid() && !frame->payload.empty()) {
          stdin_ = std::move(frame->payload);
          stdin_written_ = 0;
        }
        break;
      case StreamFrameType::stdin_eof:
        stdin_eof_ = true;
        in_.reset();
        break;
      case StreamFrameType::signal: {
        const int sig = static_cast<unsigned char>(frame->payload[0]);
        if (sig < 1 || sig > SIGRTMAX) {
          return "signal " + std::to_string(sig) + " does not exist";
        }
        kill_group(sig);
        break;
      }
      case StreamFrameType::resize:
        if (pty_.valid()) {  // without a PTY there is nothing to resize
          const auto size = agentproto::decode_stream_resize(frame->payload);
          if (!size) {
            return "malformed resize frame";
          }
          (void)resize_pty(pty_.get(), *size);
        }
        break;
      default:
        return "unexpected frame " + agentproto::stream_frame_type_name(frame->type);
    }
  }
  return "";
}

void GuestPump::read_output(posix::Fd& fd, StreamFrameType type, std::size_t& drained) {
  char buffer[kChunk];
  const ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
  if (n > 0) {
    to_host_ =
        agentproto::encode_stream_frame(type, std::string_view(buffer, static_cast<size_t>(n)));
    if (exited_) {
      drained += static_cast<std::size_t>(n);
      if (drained > kDrainAfterExit) {
        fd.reset();
      }
    }
    return;
  }
  if (n < 0 && errno == EINTR) {
    return;
  }
  if (n == 0 || !transient(errno) || exited_) {
    fd.reset();  // EOF, an error, or (after the exit) nothing more buffered
  }
}

bool GuestPump::flush_to_host() {
  while (to_host_sent_ < to_host_.size()) {
    const ssize_t n = write_some(channel_.write_fd, to_host_.data() + to_host_sent_,
                                 to_host_.size() - to_host_sent_);
    if (n > 0) {
      to_host_sent_ += static_cast<std::size_t>(n);
    } else if (n < 0 && transient(errno)) {
      return true;
    } else {
      return false;
    }
  }
  to_host_.clear();
  to_host_sent_ = 0;
  return true;
}

void GuestPump::write_stdin() {
  const ssize_t n =
      ::write(in_.get(), stdin_.data() + stdin_written_, stdin_.size() - stdin_written_);
  if (n > 0) {
    stdin_written_ += static_cast<std::size_t>(n);
    if (stdin_written_ == stdin_.size()) {
      stdin_.clear();
      stdin_written_ = 0;
    }
  } else if (n < 0 && !transient(errno)) {
    in_.reset();  // the command closed its stdin (EPIPE): later stdin is dropped
    stdin_.clear();
  }
}

StreamEnd GuestPump::end_with_protocol_error(const std::string& broken) {
  log_line("stream session: the host broke the protocol: " + broken);
  kill_and_reap();
  to_host_ = agentproto::encode_stream_frame(StreamFrameType::error,
                                             "stream protocol: " + broken.substr(0, 1000));
  to_host_sent_ = 0;
  (void)posix::write_all(channel_.write_fd, to_host_, posix::kNoDeadline, std::chrono::seconds(10));
  return StreamEnd::finished;
}

int GuestPump::poll_timeout_ms() const {
  int timeout = kSliceMs;
  if (deadline_) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(*deadline_ - Clock::now());
    timeout = static_cast<int>(std::clamp<long long>(left.count() + 1, 0, kSliceMs));
  }
  if (!pidfd_.valid() && !exited_) {
    timeout = std::min(timeout, 20);
  }
  return timeout;
}

bool GuestPump::read_from_host() {
  char buffer[kChunk];
  const ssize_t n = ::read(channel_.read_fd, buffer, sizeof buffer);
  if (n > 0) {
    decoder_.feed(buffer, static_cast<std::size_t>(n));
    return true;
  }
  return n < 0 && transient(errno);
}

StreamEnd GuestPump::run() {
  bool exit_queued = false;
  while (true) {
    if (auto broken = take_host_frames(); !broken.empty()) {
      return end_with_protocol_error(broken);
    }
    if (!in_.valid()) {
      stdin_.clear();
    }
    if (exited_ && to_host_.empty()) {
      // What the pipes still hold goes out first (without waiting for more).
      if (out_.valid()) {
        read_output(out_, StreamFrameType::stdout_data, out_drained_);
      } else if (err_.valid()) {
        read_output(err_, StreamFrameType::stderr_data, err_drained_);
      } else if (!exit_queued) {
        to_host_ = agentproto::encode_stream_frame(StreamFrameType::exit,
                                                   agentproto::encode_stream_exit(exit_));
        exit_queued = true;
      } else {
        return StreamEnd::finished;
      }
      if (!to_host_.empty() && !flush_to_host()) {
        kill_and_reap();
        return StreamEnd::host_gone;
      }
      if (to_host_.empty()) {
        continue;  // sent: the next pipe chunk, the exit frame, or done
      }
    }
    if (stopped(channel_)) {
      kill_and_reap();
      return StreamEnd::stopped;
    }
    if (deadline_ && !exited_ && Clock::now() >= *deadline_) {
      kill_group(SIGKILL);
      exit_.timed_out = true;
      deadline_.reset();
    }
    const bool want_host = stdin_.empty() && !exited_;
    pollfd fds[6];
    nfds_t count = 0;
    const bool same_fd = channel_.read_fd == channel_.write_fd;
    const short write_events = to_host_.empty() ? 0 : POLLOUT;
    fds[count++] =
        pollfd{channel_.read_fd,
               static_cast<short>((want_host ? POLLIN : 0) | (same_fd ? write_events : 0)), 0};
    int write_slot = 0;
    if (!same_fd) {
      write_slot = static_cast<int>(count);
      fds[count++] = pollfd{channel_.write_fd, write_events, 0};
    }
    const bool want_output = to_host_.empty() && !exited_;
    const int out_slot = static_cast<int>(count);
    fds[count++] = pollfd{want_output && out_.valid() ? out_.get() : -1, POLLIN, 0};
    const int err_slot = static_cast<int>(count);
    fds[count++] = pollfd{want_output && err_.valid() ? err_.get() : -1, POLLIN, 0};
    const int in_slot = static_cast<int>(count);
    fds[count++] = pollfd{!stdin_.empty() && in_.valid() ? in_.get() : -1, POLLOUT, 0};
    const int pid_slot = static_cast<int>(count);
    fds[count++] = pollfd{!exited_ && pidfd_.valid() ? pidfd_.get() : -1, POLLIN, 0};
    const int ready = ::poll(fds, count, poll_timeout_ms());
    if (ready < 0 && errno != EINTR) {
      log_line("stream session: poll: " + errno_text(errno));
      kill_and_reap();
      return StreamEnd::host_gone;
    }
    if (!exited_ && (!pidfd_.valid() || fds[pid_slot].revents != 0)) {
      try_reap();
    }
    if (ready <= 0) {
      continue;
    }
    const short host_in = fds[0].revents;
    const short host_out = same_fd ? fds[0].revents : fds[write_slot].revents;
    if ((host_out & POLLOUT) != 0 && !flush_to_host()) {
      kill_and_reap();
      return StreamEnd::host_gone;
    }
    if ((host_in & (POLLHUP | POLLERR)) != 0 && (host_in & POLLIN) == 0) {
      kill_and_reap();  // the host left (a serial port reports no host as a hang-up)
      return StreamEnd::host_gone;
    }
    if ((host_in & POLLIN) != 0 && want_host && !read_from_host()) {
      kill_and_reap();
      return StreamEnd::host_gone;
    }
    if (fds[in_slot].revents != 0 && in_.valid()) {
      write_stdin();
      if (stdin_.empty() && stdin_eof_) {
        in_.reset();
      }
    }
    read_ready_output(fds[out_slot].revents, fds[err_slot].revents);
    if (!to_host_.empty() && !flush_to_host()) {
      kill_and_reap();
      return StreamEnd::host_gone;
    }
  }
}

// Writes one answer line; false when the host is gone.
bool answer(const StreamChannel& channel, const std::string& line) {
  if (!channel.serial_port) {
    return posix::write_all(channel.write_fd, line, posix::kNoDeadline, std::chrono::seconds(10))
        .has_value();
  }
  return write_to_port(channel.write_fd, line);
}

StreamEnd refuse(const StreamChannel& channel, std::optional<std::int64_t> id, ErrorCode code,
                 const std::string& message) {
  log_line("stream session refused: " + message);
  (void)answer(channel, agentproto::make_error_line(id, code, message));
  return StreamEnd::refused;
}

StreamEnd handshake_failed(const StreamChannel& channel, LineReader::Status status, std::size_t max,
                           const char* what) {
  switch (status) {
    case LineReader::Status::too_long:
      return refuse(
          channel, std::nullopt,
          std::string_view(what) == "auth" ? ErrorCode::unauthorized : ErrorCode::bad_request,
          std::string(std::string_view(what) == "auth" ? "unauthorized: " : "") + what +
              " line longer than " + std::to_string(max) + " bytes");
    case LineReader::Status::timeout:
      return refuse(channel, std::nullopt, ErrorCode::timeout,
                    std::string("no ") + what + " line within " +
                        std::to_string(kStreamHandshakeTimeout.count()) + " s");
    case LineReader::Status::stopped:
      return StreamEnd::stopped;
    default:
      return StreamEnd::host_gone;
  }
}

// A command running for a session: reaped by the pump.
struct StartedCommand {
  pid_t pid = -1;
  posix::Fd pidfd;
  GuestPump::CommandEnds ends;
};

agentproto::WireError cannot_run(const std::string& program, const std::string& what, int err) {
  return {ErrorCode::operation_failed,
          "cannot run \"" + program + "\": " + what + ": " + errno_text(err)};
}

// Pipes for stdin, stdout and stderr; or with params.pty a new PTY whose slave becomes the
// command's controlling terminal (so ^C, job control and window-size changes reach it).
std::variant<StartedCommand, agentproto::WireError> start_command(
    const agentproto::StreamExecParams& params, PreparedCommand& command) {
  const std::string& program = params.argv.front();
  posix::SpawnOptions spawn{.argv = params.argv,
                            .program = command.program,
                            .env = std::move(command.env),
                            .cwd = command.cwd,
                            .new_session = true,
                            .stdio = posix::Stdio::redirect};
  StartedCommand started;
  std::optional<posix::Pipe> in, out, err;
  if (params.pty) {
    auto pty = open_pty(*params.pty);
    if (!pty) {
      return cannot_run(program, "opening a pty: " + pty.error().what, pty.error().sys_errno);
    }
    spawn.stdio = posix::Stdio::terminal;
    spawn.terminal = pty->slave_path;
    posix::Fd in_end(::fcntl(pty->master.get(), F_DUPFD_CLOEXEC, 0));
    posix::Fd size_end(::fcntl(pty->master.get(), F_DUPFD_CLOEXEC, 0));
    if (!in_end || !size_end) {
      return cannot_run(program, "dup of the pty master", errno);
    }
    started.ends = {.in = std::move(in_end),
                    .out = std::move(pty->master),
                    .err = posix::Fd(),
                    .pty = std::move(size_end)};
  } else {
    auto made_in = posix::make_pipe();
    auto made_out = posix::make_pipe();
    auto made_err = posix::make_pipe();
    if (!made_in || !made_out || !made_err) {
      return cannot_run(
          program, "pipe2",
          !made_in ? made_in.error().sys_errno
                   : (!made_out ? made_out.error().sys_errno : made_err.error().sys_errno));
    }
    in = std::move(*made_in);
    out = std::move(*made_out);
    err = std::move(*made_err);
    spawn.redirect = {in->read.get(), out->write.get(), err->write.get()};
  }
  auto child = posix::Subprocess::spawn(spawn);
  if (!child) {
    return spawn_error(program, child.error().sys_errno);
  }
  started.pid = child->release();
  started.pidfd = posix::open_pidfd(started.pid);
  if (!params.pty) {
    // The child holds its ends now; ours are the other ones.
    started.ends = {.in = std::move(in->write),
                    .out = std::move(out->read),
                    .err = std::move(err->read),
                    .pty = posix::Fd()};
  }
  for (const auto* fd : {&started.ends.in, &started.ends.out, &started.ends.err}) {
    if (fd->valid()) {
      (void)posix::set_nonblocking(fd->get());
    }
  }
  return started;
}

}  // namespace

StreamEnd serve_stream_session(const StreamChannel& channel, Agent& agent, std::string pending) {
  LineReader reader(channel, std::move(pending), Clock::now() + kStreamHandshakeTimeout);
  std::string line;
  // 1. auth, exactly as on the control channel (Session: constant-time token check).
  if (auto status = reader.next(agentproto::kMaxHelloBytes, line);
      status != LineReader::Status::line) {
    return handshake_failed(channel, status, agentproto::kMaxHelloBytes, "auth");
  }
  Session session(agent);
  Reply reply = session.handle(agentproto::Frame{agentproto::Frame::Kind::line, line});
  if (!answer(channel, reply.line)) {
    return StreamEnd::host_gone;
  }
  if (!session.authenticated()) {
    return StreamEnd::refused;
  }
  // 2. The header.
  if (auto status = reader.next(agentproto::kMaxStreamHeaderBytes, line);
      status != LineReader::Status::line) {
    return handshake_failed(channel, status, agentproto::kMaxStreamHeaderBytes, "header");
  }
  auto parsed = agentproto::parse_request(line);
  if (auto* rejected = std::get_if<agentproto::RejectedRequest>(&parsed)) {
    return refuse(channel, rejected->id, rejected->error.code, rejected->error.message);
  }
  const auto& request = std::get<agentproto::Request>(parsed);
  if (request.method != agentproto::kMethodStreamExec) {
    return refuse(
        channel, request.id, ErrorCode::unknown_method,
        "unknown method \"" + request.method + "\" on a stream channel: it runs stream_exec only");
  }
  agentproto::StreamExecParams params;
  if (auto error = agentproto::decode(request.params, params); !error.empty()) {
    return refuse(channel, request.id, ErrorCode::bad_request, error);
  }
  // 3. The command.
  auto prepared =
      prepare_command(params.argv, params.env, params.cwd, agentproto::kStreamHelperBinDir);
  if (auto* error = std::get_if<agentproto::WireError>(&prepared)) {
    return refuse(channel, request.id, error->code, error->message);
  }
  auto started = start_command(params, std::get<PreparedCommand>(prepared));
  if (auto* error = std::get_if<agentproto::WireError>(&started)) {
    return refuse(channel, request.id, error->code, error->message);
  }
  auto& command = std::get<StartedCommand>(started);
  const pid_t pid = command.pid;
  log_line("stream session: running \"" + params.argv.front() + "\" as pid " + std::to_string(pid));
  GuestPump pump(channel, pid, std::move(command.pidfd), std::move(command.ends), params.timeout_s,
                 reader.take_rest());
  if (!answer(channel, agentproto::make_result_line(
                           request.id, agentproto::encode(agentproto::StreamExecResult{pid})))) {
    ::kill(-pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    return StreamEnd::host_gone;
  }
  const StreamEnd end = pump.run();
  if (end == StreamEnd::host_gone) {
    log_line("stream session: the host left; killed the process group of pid " +
             std::to_string(pid));
  }
  return end;
}

}  // namespace banger::agentd
