#include "banger/posix/subprocess.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include "banger/posix/env.hpp"
#include "banger/posix/pidfd.hpp"

namespace banger::posix {
namespace {

constexpr int kExitPollMs = 20;  // without a pidfd, how often pump() looks for the exit
constexpr std::size_t kChunk = 65536;

struct SpawnAttrs {
  posix_spawnattr_t attr{};
  posix_spawn_file_actions_t actions{};
  SpawnAttrs() {
    ::posix_spawnattr_init(&attr);
    ::posix_spawn_file_actions_init(&actions);
  }
  SpawnAttrs(const SpawnAttrs&) = delete;
  SpawnAttrs& operator=(const SpawnAttrs&) = delete;
  ~SpawnAttrs() {
    ::posix_spawn_file_actions_destroy(&actions);
    ::posix_spawnattr_destroy(&attr);
  }
};

void configure(SpawnAttrs& spawn, const SpawnOptions& options, const Pipe& in, const Pipe& out,
               const Pipe& err) {
  const std::array<int, 3> stdio = options.stdio == Stdio::pipes
                                       ? std::array{in.read.get(), out.write.get(), err.write.get()}
                                       : options.redirect;
  if (options.stdio == Stdio::terminal) {
    // File actions run after POSIX_SPAWN_SETSID: a session leader without a controlling
    // terminal that opens a tty (no O_NOCTTY) acquires it, so job control and ^C work.
    ::posix_spawn_file_actions_addopen(&spawn.actions, 0, options.terminal.c_str(), O_RDWR, 0);
    ::posix_spawn_file_actions_adddup2(&spawn.actions, 0, 1);
    ::posix_spawn_file_actions_adddup2(&spawn.actions, 0, 2);
  } else if (options.stdio != Stdio::inherit) {
    for (int target = 0; target < 3; ++target) {
      ::posix_spawn_file_actions_adddup2(&spawn.actions, stdio[target], target);
    }
  }
  ::posix_spawn_file_actions_addclosefrom_np(&spawn.actions, 3);
  if (!options.cwd.empty()) {
    ::posix_spawn_file_actions_addchdir_np(&spawn.actions, options.cwd.c_str());
  }
  sigset_t none;
  sigemptyset(&none);
  sigset_t all;
  sigfillset(&all);
  ::posix_spawnattr_setsigmask(&spawn.attr, &none);
  ::posix_spawnattr_setsigdefault(&spawn.attr, &all);
  int flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
  if (options.new_session) {
    flags |= POSIX_SPAWN_SETSID;
  }
  ::posix_spawnattr_setflags(&spawn.attr, static_cast<short>(flags));
}

Result<void> make_pipes(Pipe& in, Pipe& out, Pipe& err) {
  for (Pipe* pipe : {&in, &out, &err}) {
    auto made = make_pipe();
    if (!made) {
      return tl::unexpected(made.error());
    }
    *pipe = std::move(*made);
  }
  return {};
}

ExitStatus exit_status_from(int status) {
  if (WIFSIGNALED(status)) {
    return ExitStatus{128 + WTERMSIG(status), WTERMSIG(status)};
  }
  return ExitStatus{WIFEXITED(status) ? WEXITSTATUS(status) : 0, 0};
}

// Writes what the non-blocking pipe takes now; closes it when all is written or the reader is
// gone (EPIPE).
void feed(Fd& fd, std::string_view data, std::size_t& written) {
  while (fd.valid() && written < data.size()) {
    const ssize_t n =
        ::write(fd.get(), data.data() + written, std::min(data.size() - written, kChunk));
    if (n > 0) {
      written += static_cast<std::size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return;
    } else if (n < 0 && errno != EINTR) {
      written = data.size();
    }
  }
  fd.reset();
}

// Reads what the non-blocking pipe holds now, keeping up to max bytes; closes it at EOF.
// Reads what fd has now into data (up to max bytes kept), passing every chunk to on_chunk
// first; false when on_chunk asked to stop.
bool drain(Fd& fd, std::string& data, bool& truncated, std::size_t max,
           const std::function<bool(std::string_view)>& on_chunk = {}) {
  char buffer[kChunk];
  while (fd.valid()) {
    const ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n > 0) {
      const std::size_t take = std::min(max - std::min(max, data.size()), std::size_t(n));
      data.append(buffer, take);
      truncated = truncated || take < static_cast<std::size_t>(n);
      if (on_chunk && !on_chunk(std::string_view(buffer, static_cast<std::size_t>(n)))) {
        return false;
      }
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return true;
    } else if (n == 0 || errno != EINTR) {
      fd.reset();
    }
  }
  return true;
}

}  // namespace

Result<Subprocess> Subprocess::spawn(const SpawnOptions& options) {
  if (options.argv.empty() || options.argv.front().empty()) {
    return sys_fail(EINVAL, "spawn: empty argv");
  }
  Pipe in, out, err;
  if (options.stdio == Stdio::pipes) {
    if (auto made = make_pipes(in, out, err); !made) {
      return tl::unexpected(made.error());
    }
  }
  SpawnAttrs spawn;
  configure(spawn, options, in, out, err);
  auto argv = c_strings(options.argv);
  auto envp = c_strings(options.env);
  pid_t pid = -1;
  const int rc =
      options.program.empty()
          ? ::posix_spawnp(&pid, argv[0], &spawn.actions, &spawn.attr, argv.data(), envp.data())
          : ::posix_spawn(&pid, options.program.c_str(), &spawn.actions, &spawn.attr, argv.data(),
                          envp.data());
  if (rc != 0) {
    return sys_fail(rc, "spawn " + options.argv.front());
  }
  return Subprocess(pid, options.new_session, std::move(in), std::move(out), std::move(err));
}

Subprocess::Subprocess(pid_t pid, bool new_session, Pipe in, Pipe out, Pipe err)
    : pid_(pid),
      new_session_(new_session),
      stdin_(std::move(in.write)),
      stdout_(std::move(out.read)),
      stderr_(std::move(err.read)),
      pidfd_(open_pidfd(pid)) {}  // the child's ends close with in/out/err here

Subprocess::Subprocess(Subprocess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      new_session_(other.new_session_),
      reaped_(other.reaped_),
      exit_(other.exit_),
      stdin_(std::move(other.stdin_)),
      stdout_(std::move(other.stdout_)),
      stderr_(std::move(other.stderr_)),
      pidfd_(std::move(other.pidfd_)) {}

Subprocess& Subprocess::operator=(Subprocess&& other) noexcept {
  if (this != &other) {
    kill_and_reap();
    pid_ = std::exchange(other.pid_, -1);
    new_session_ = other.new_session_;
    reaped_ = other.reaped_;
    exit_ = other.exit_;
    stdin_ = std::move(other.stdin_);
    stdout_ = std::move(other.stdout_);
    stderr_ = std::move(other.stderr_);
    pidfd_ = std::move(other.pidfd_);
  }
  return *this;
}

Subprocess::~Subprocess() { kill_and_reap(); }

pid_t Subprocess::release() {
  stdin_.reset();
  stdout_.reset();
  stderr_.reset();
  pidfd_.reset();
  return std::exchange(pid_, -1);
}

void Subprocess::kill(int sig) {
  if (pid_ <= 0) {
    return;
  }
  // The group outlives a reaped leader while descendants remain, and its id is not reused
  // while it has members, so it is signalled even after the child itself was reaped.
  if (new_session_) {
    ::kill(-pid_, sig);
  }
  if (!reaped_) {
    ::kill(pid_, sig);
  }
}

bool Subprocess::try_reap() {
  if (reaped_) {
    return true;
  }
  int status = 0;
  const pid_t waited = ::waitpid(pid_, &status, WNOHANG);
  if (waited == pid_ || (waited < 0 && errno == ECHILD)) {  // ECHILD: reaped elsewhere
    exit_ = waited == pid_ ? exit_status_from(status) : ExitStatus{};
    reaped_ = true;
    pidfd_.reset();
  }
  return reaped_;
}

Result<ExitStatus> Subprocess::wait() {
  while (!reaped_) {
    int status = 0;
    const pid_t waited = ::waitpid(pid_, &status, 0);
    if (waited == pid_) {
      exit_ = exit_status_from(status);
      reaped_ = true;
      pidfd_.reset();
    } else if (errno != EINTR) {
      reaped_ = true;
      return sys_fail(errno, "waitpid");
    }
  }
  return exit_;
}

void Subprocess::kill_and_reap() {
  if (pid_ > 0 && !reaped_) {
    kill(SIGKILL);
    (void)wait();
  }
}

Result<PumpResult> Subprocess::pump(const PumpOptions& options) {
  SigpipeGuard sigpipe_guard;
  PumpResult result;
  for (Fd* fd : {&stdin_, &stdout_, &stderr_}) {
    (void)set_nonblocking(fd->get());
  }
  std::size_t written = 0;
  const std::size_t max = options.max_output;
  while (true) {
    feed(stdin_, options.stdin_data, written);
    if (!drain(stdout_, result.out, result.out_truncated, max, options.on_stdout)) {
      result.stopped = true;
      kill(SIGKILL);  // with new_session: the descendants too
      kill_and_reap();
      break;
    }
    drain(stderr_, result.err, result.err_truncated, max);
    if (try_reap()) {
      stdin_.reset();
      if (options.until_exit || (!stdout_.valid() && !stderr_.valid())) {
        break;
      }
    }
    int timeout = poll_timeout(options.deadline);
    if (timeout == 0) {
      result.timed_out = true;
      kill(SIGKILL);  // with new_session: the descendants too, even once the child has exited
      kill_and_reap();
      break;
    }
    if (!pidfd_.valid() && !reaped_) {
      timeout = timeout < 0 ? kExitPollMs : std::min(timeout, kExitPollMs);
    }
    pollfd fds[4];
    nfds_t count = 0;
    const std::pair<Fd*, short> watched[] = {
        {&stdin_, POLLOUT}, {&stdout_, POLLIN}, {&stderr_, POLLIN}, {&pidfd_, POLLIN}};
    for (const auto& [fd, events] : watched) {
      if (fd->valid()) {
        fds[count++] = pollfd{fd->get(), events, 0};
      }
    }
    if (::poll(fds, count, timeout) < 0 && errno != EINTR) {
      const int err = errno;
      kill_and_reap();
      return sys_fail(err, "poll");
    }
  }
  // What the child wrote before it exited (or was killed) is in the pipes; take it without
  // waiting for descendants that may still hold the write ends.
  const std::function<bool(std::string_view)> no_callback;
  (void)drain(stdout_, result.out, result.out_truncated, max,
              result.stopped ? no_callback : options.on_stdout);
  drain(stderr_, result.err, result.err_truncated, max);
  stdout_.reset();
  stderr_.reset();
  result.exit = exit_;
  return result;
}

}  // namespace banger::posix
