#include "banger/sys/command_runner.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "banger/base/defer.hpp"
#include "banger/base/fd.hpp"
#include "banger/base/strings.hpp"

extern char** environ;

namespace banger::sys {
namespace {

struct Pipe {
  base::UniqueFd read;
  base::UniqueFd write;
};

Expected<Pipe> make_pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    return fail_errno("pipe2", errno);
  }
  return Pipe{base::UniqueFd(fds[0]), base::UniqueFd(fds[1])};
}

std::vector<std::string> build_env(const std::map<std::string, std::string>& overrides) {
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view entry(*e);
    auto eq = entry.find('=');
    std::string key(entry.substr(0, eq));
    if (!overrides.contains(key)) {
      env.emplace_back(entry);
    }
  }
  for (const auto& [k, v] : overrides) {
    env.push_back(k + "=" + v);
  }
  return env;
}

}  // namespace

std::string to_display(const std::vector<std::string>& argv) { return base::join(argv, " "); }

Expected<std::string> run_checked(CommandRunner& runner, const Command& command) {
  auto result = runner.run(command);
  if (!result) {
    return tl::unexpected(result.error());
  }
  if (result->exit_code != 0) {
    std::string err(base::trim(result->err));
    if (err.empty()) {
      err = std::string(base::trim(result->out));
    }
    return fail(Errc::command_failed,
                fmt::format("{} exited {}{}{}", command.argv.empty() ? "" : command.argv[0],
                            result->exit_code, err.empty() ? "" : ": ", err));
  }
  return std::move(result->out);
}

Expected<CommandResult> PosixCommandRunner::run(const Command& command) {
  if (command.argv.empty()) {
    return fail(Errc::invalid_argument, "empty command");
  }
  auto in = make_pipe();
  auto out = make_pipe();
  auto err = make_pipe();
  if (!in || !out || !err) {
    return fail(Errc::io, "creating pipes for " + command.argv[0]);
  }

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  base::Defer destroy_actions([&] { posix_spawn_file_actions_destroy(&actions); });
  posix_spawn_file_actions_adddup2(&actions, in->read.get(), 0);
  posix_spawn_file_actions_adddup2(&actions, out->write.get(), 1);
  posix_spawn_file_actions_adddup2(&actions, err->write.get(), 2);
  if (!command.cwd.empty()) {
    posix_spawn_file_actions_addchdir_np(&actions, command.cwd.c_str());
  }
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  base::Defer destroy_attr([&] { posix_spawnattr_destroy(&attr); });
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  sigaddset(&defaults, SIGTERM);
  sigaddset(&defaults, SIGINT);
  sigaddset(&defaults, SIGCHLD);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);

  std::vector<char*> argv;
  for (const auto& a : command.argv) {
    argv.push_back(const_cast<char*>(a.c_str()));
  }
  argv.push_back(nullptr);
  std::vector<std::string> env_storage = build_env(command.env_overrides);
  std::vector<char*> envp;
  for (auto& e : env_storage) {
    envp.push_back(e.data());
  }
  envp.push_back(nullptr);

  pid_t pid = 0;
  int rc = posix_spawnp(&pid, argv[0], &actions, &attr, argv.data(), envp.data());
  if (rc != 0) {
    if (rc == ENOENT) {
      return fail(Errc::not_found, fmt::format("{}: command not found", command.argv[0]));
    }
    return fail_errno("spawning " + command.argv[0], rc);
  }
  in->read.reset();
  out->write.reset();
  err->write.reset();

  CommandResult result;
  std::size_t written = 0;
  if (command.stdin_data.empty()) {
    in->write.reset();
  } else {
    ::fcntl(in->write.get(), F_SETFL, O_NONBLOCK);
  }
  auto deadline = std::chrono::steady_clock::now() + command.timeout;
  bool timed_out = false;
  char buf[65536];
  while (out->read.valid() || err->read.valid() || in->write.valid()) {
    pollfd fds[3];
    nfds_t n = 0;
    auto add = [&](base::UniqueFd& fd, short events) {
      if (fd.valid()) {
        fds[n++] = pollfd{fd.get(), events, 0};
      }
    };
    add(out->read, POLLIN);
    add(err->read, POLLIN);
    add(in->write, POLLOUT);
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    int pr = ::poll(fds, n, static_cast<int>(left.count()));
    if (pr < 0) {
      if (errno == EINTR) {
        continue;
      }
      break;
    }
    for (nfds_t i = 0; i < n; ++i) {
      if (fds[i].revents == 0) {
        continue;
      }
      if (fds[i].fd == in->write.get()) {
        ssize_t w = ::write(fds[i].fd, command.stdin_data.data() + written,
                            command.stdin_data.size() - written);
        if (w > 0) {
          written += static_cast<std::size_t>(w);
        }
        if (w < 0 && errno == EAGAIN) {
          continue;
        }
        if (w <= 0 || written == command.stdin_data.size()) {
          in->write.reset();
        }
        continue;
      }
      ssize_t r = ::read(fds[i].fd, buf, sizeof buf);
      if (r < 0 && errno == EINTR) {
        continue;
      }
      std::string& sink = fds[i].fd == out->read.get() ? result.out : result.err;
      if (r <= 0) {
        (fds[i].fd == out->read.get() ? out->read : err->read).reset();
      } else {
        sink.append(buf, static_cast<std::size_t>(r));
      }
    }
  }
  if (timed_out) {
    ::kill(pid, SIGKILL);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) {
    return fail(Errc::timeout,
                fmt::format("{} timed out after {} ms", command.argv[0], command.timeout.count()));
  }
  if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.exit_code = 128 + WTERMSIG(status);
  }
  return result;
}

}  // namespace banger::sys
