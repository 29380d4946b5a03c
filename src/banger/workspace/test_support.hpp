// Test-only helpers of the workspace tests: shell snippets, a fixture repository with every
// awkward thing issue 11 names, and running a guest command on the host with a stdin feeder.
#pragma once

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <functional>
#include <string>

#include "banger/posix/env.hpp"
#include "banger/posix/fd.hpp"
#include "banger/posix/io.hpp"
#include "banger/posix/subprocess.hpp"
#include "banger/sys/command_runner.hpp"
#include "banger/workspace/workspace.hpp"

namespace banger::workspace::testing_support {

// Deterministic git for tests: no user or system config, fixed identities.
inline void isolate_git(const std::string& home) {
  ::setenv("HOME", home.c_str(), 1);
  ::setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
  ::setenv("GIT_CONFIG_GLOBAL", "/dev/null", 1);
  ::setenv("GIT_AUTHOR_NAME", "Test", 1);
  ::setenv("GIT_AUTHOR_EMAIL", "test@example.invalid", 1);
  ::setenv("GIT_COMMITTER_NAME", "Test", 1);
  ::setenv("GIT_COMMITTER_EMAIL", "test@example.invalid", 1);
}

struct ShellResult {
  int exit_code = 0;
  std::string out;
  std::string err;
};

// bash -c script with $1.. = args.
inline ShellResult bash(const std::string& script, const std::vector<std::string>& args = {},
                        const std::string& cwd = "/") {
  sys::PosixCommandRunner runner;
  std::vector<std::string> argv{"bash", "-c", "set -e\n" + script, "bash"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto result = runner.run({.argv = argv, .timeout = std::chrono::minutes(5), .cwd = cwd});
  EXPECT_TRUE(result.has_value()) << (result ? "" : result.error().message);
  if (!result) {
    return {-1, "", ""};
  }
  return {result->exit_code, result->out, result->err};
}

// Runs the script and fails the test when it exits non-zero; returns stdout.
inline std::string bash_ok(const std::string& script, const std::vector<std::string>& args = {},
                           const std::string& cwd = "/") {
  auto result = bash(script, args, cwd);
  EXPECT_EQ(result.exit_code, 0) << script << "\n" << result.err;
  return result.out;
}

// A repository at `repo` (its submodule's origin at `sub_origin`) with: spaces, a newline,
// quotes, non-UTF-8 bytes, unicode and a leading dash in names, an executable script (exit 7),
// symlinks inside, outside and above the repository, a submodule, an ignored file and directory,
// an unstaged edit, a staged new file, a staged-then-edited file (MM), a deleted tracked file,
// an untracked file and an origin remote.
inline void make_fixture_repo(const std::string& repo, const std::string& sub_origin) {
  bash_ok(R"SH(
sub_origin=$2
mkdir -p "$sub_origin" && cd "$sub_origin"
git init -q -b main && echo sub > s.txt && git add . && git commit -q -m sub
mkdir -p "$1" && cd "$1"
git init -q -b main
mkdir -p src deep/er
printf 'hello\n' > README.md
printf '#!/bin/sh\necho script ran\nexit 7\n' > script.sh && chmod 755 script.sh
printf 'a\n' > 'with space.txt'
printf 'nl\n' > "$(printf 'new\nline.txt')"
printf 'q\n' > "quote\"'s.txt"
printf 'latin\n' > "$(printf 'latin\351.txt')"
printf 'dash\n' > ./-leading-dash.txt
printf 'unicode\n' > "$(printf 'uni\303\274 \342\230\203.txt')"
printf 'deep\n' > deep/er/file.txt
printf 'x%.0s' $(seq 1 200) > "deep/er/$(printf 'long%.0s' $(seq 1 40)).txt"
ln -s README.md link-in
ln -s /etc/passwd link-out
ln -s ../../outside link-up
printf 'delete me\n' > gone.txt
printf 'ignored.log\nbuild/\n' > .gitignore
printf 'int main() { return 0; }\n' > src/mod.c
head -c 300000 /dev/zero | tr '\0' 'z' > src/blob.bin
printf '\0\1\2binary\377' > src/raw.bin
git add -A && git commit -q -m init
git -c protocol.file.allow=always submodule add -q "$sub_origin" sub
git commit -q -m 'add sub'
git remote add origin https://example.invalid/repo.git
echo '// edited' >> src/mod.c
echo staged > staged-new.txt && git add staged-new.txt
echo both > README.md && git add README.md && echo more >> README.md
rm gone.txt
chmod 755 src/raw.bin
echo untracked > untracked.txt
echo ig > ignored.log && mkdir build && echo out > build/out
)SH",
          {repo, sub_origin});
}

struct GuestRun {
  int exit_code = -1;
  std::string out;
  std::string err;
  Status feed;  // what the stdin feeder returned
};

inline std::string read_memfd(int fd) {
  std::string out;
  char buffer[65536];
  ::lseek(fd, 0, SEEK_SET);
  ssize_t n = 0;
  while ((n = ::read(fd, buffer, sizeof buffer)) > 0) {
    out.append(buffer, static_cast<std::size_t>(n));
  }
  return out;
}

// Runs command on the host (cwd ignored unless it exists) with PATH = path_prefix:$PATH, its
// stdin fed by feeder (given the pipe's write end; called in this thread while the command
// runs) or empty.
inline GuestRun run_guest(const GuestCommand& command, const std::string& path_prefix,
                          const std::function<Status(int)>& feeder) {
  GuestRun run;
  auto pipe = posix::make_pipe();
  EXPECT_TRUE(pipe.has_value());
  posix::Fd out(::memfd_create("out", MFD_CLOEXEC));
  posix::Fd err(::memfd_create("err", MFD_CLOEXEC));
  std::string path = std::getenv("PATH") ? std::getenv("PATH") : "/usr/bin:/bin";
  if (!path_prefix.empty()) {
    path = path_prefix + ":" + path;
  }
  auto child = posix::Subprocess::spawn({
      .argv = command.argv,
      .env = posix::build_env(posix::current_env(), {{"PATH", path}}),
      .cwd = command.cwd,
      .stdio = posix::Stdio::redirect,
      .redirect = {pipe->read.get(), out.get(), err.get()},
  });
  EXPECT_TRUE(child.has_value());
  if (!child) {
    return run;
  }
  pipe->read.reset();
  run.feed = feeder ? feeder(pipe->write.get()) : Status{};
  pipe->write.reset();
  auto status = child->wait();
  EXPECT_TRUE(status.has_value());
  run.exit_code = status ? status->code : -1;
  run.out = read_memfd(out.get());
  run.err = read_memfd(err.get());
  return run;
}

// Prepares guest_dir from plan on the host, as the guest would (tar from PATH, busybox's when
// path_prefix holds a busybox `tar` link).
inline GuestRun prepare(const Plan& plan, const std::string& guest_dir,
                        const std::string& path_prefix = "") {
  return run_guest(guest_prepare_command(plan, guest_dir), path_prefix,
                   [&](int fd) { return write_upload_stream(plan, fd); });
}

}  // namespace banger::workspace::testing_support
