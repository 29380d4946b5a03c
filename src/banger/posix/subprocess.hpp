// Subprocess: posix_spawn a child, pump its stdin/stdout/stderr concurrently against a deadline
// (no deadlock on large input and output), collect its exit. The one spawn+pump mechanism of
// the host tools runner (sys::PosixCommandRunner), the guest agent's exec and the CLI's ssh.
#pragma once

#include <sys/types.h>

#include <array>
#include <cstddef>
#include <functional>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "banger/posix/error.hpp"
#include "banger/posix/fd.hpp"
#include "banger/posix/io.hpp"

namespace banger::posix {

enum class Stdio {
  pipes,     // stdin, stdout and stderr are pipes to this process (pump() drives them)
  inherit,   // the child shares this process's 0-2 (an interactive ssh)
  redirect,  // the child's 0-2 are SpawnOptions::redirect (/dev/null, a log file)
  terminal,  // the child's 0-2 are SpawnOptions::terminal opened anew: with new_session it
             // becomes the child's controlling terminal (a PTY session's slave)
};

struct SpawnOptions {
  std::vector<std::string> argv;  // never a shell string; argv[0] must not be empty
  std::string program;            // the file to execute; empty: argv[0], searched in OUR PATH
  std::vector<std::string> env;   // the child's complete environment ("K=V"); see build_env()
  std::string cwd;                // empty: inherit
  bool new_session = false;       // setsid(): the child leads its own process group
  Stdio stdio = Stdio::pipes;
  std::array<int, 3> redirect{-1, -1, -1};  // Stdio::redirect: the descriptors for 0, 1 and 2
  std::string terminal;                     // Stdio::terminal: the tty's path (/dev/pts/N)
};

// How a child ended.
struct ExitStatus {
  int code = 0;    // the exit code; 128+N when killed by signal N
  int signal = 0;  // N when killed by a signal, else 0
};

struct PumpOptions {
  std::string_view stdin_data;  // written, then stdin is closed (EPIPE ends it early, silently)
  Deadline deadline = kNoDeadline;
  std::size_t max_output = std::numeric_limits<std::size_t>::max();  // kept per stream
  // false: done when the child has exited AND stdout/stderr reached end of stream (descendants
  // holding them keep pump() waiting up to the deadline). true: done when the child exits; what
  // is already in the pipes is collected, later output of descendants is not waited for.
  bool until_exit = false;
  // Called with every chunk read from stdout, in order, as it arrives (chunks do not follow
  // line boundaries); returning false stops the run: the child (its group with new_session)
  // gets SIGKILL and PumpResult::stopped is set. Optional.
  std::function<bool(std::string_view chunk)> on_stdout;
};

struct PumpResult {
  ExitStatus exit;
  bool stopped = false;    // on_stdout returned false: the child was killed as on a timeout
  bool timed_out = false;  // the deadline passed: the child (its group with new_session) got
                           // SIGKILL and exit says so
  std::string out;
  std::string err;
  bool out_truncated = false;  // more than max_output bytes arrived on stdout
  bool err_truncated = false;
};

class Subprocess {
 public:
  // Starts the child with every signal at its default disposition, an empty signal mask, and no
  // descriptors beyond 0-2. The error is posix_spawn's: ENOENT when the program (or cwd) does
  // not exist, EACCES when it is not executable, ...; what is "spawn <argv[0]>".
  static Result<Subprocess> spawn(const SpawnOptions& options);

  Subprocess(Subprocess&& other) noexcept;
  // Kills and reaps this object's own child first (as the destructor does).
  Subprocess& operator=(Subprocess&& other) noexcept;
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;
  // A child that was not waited for is killed (SIGKILL) and reaped.
  ~Subprocess();

  pid_t pid() const { return pid_; }

  // Feeds stdin, collects stdout and stderr and reaps the child (Stdio::pipes only; call once).
  // At the deadline the child is killed and reaped, and timed_out is set. The errno of poll when
  // waiting itself fails (the child is killed and reaped then too).
  Result<PumpResult> pump(const PumpOptions& options);

  // Waits (blocking) for the child to exit. The errno of waitpid on failure.
  Result<ExitStatus> wait();

  // Stops tracking the child and returns its pid: this object will neither kill nor reap it (a
  // daemon meant to outlive us; reaping it, if ever, is the caller's business).
  pid_t release();

  // Sends sig to the child (until it is reaped), and to its process group when it was started
  // with new_session (also after the child was reaped: its descendants may remain).
  void kill(int sig);

 private:
  Subprocess(pid_t pid, bool new_session, Pipe in, Pipe out, Pipe err);
  // Collects the exit status if the child has exited (never blocks).
  bool try_reap();
  void kill_and_reap();

  pid_t pid_ = -1;
  bool new_session_ = false;
  bool reaped_ = false;
  ExitStatus exit_;
  Fd stdin_;
  Fd stdout_;
  Fd stderr_;
  Fd pidfd_;  // readable once the child exits; invalid where the kernel has no pidfd_open
};

}  // namespace banger::posix
