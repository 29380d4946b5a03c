#include "banger/sys/process_watch.hpp"

#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "banger/sys/process_launcher.hpp"

namespace banger::sys {
namespace {

bool readable(int fd, int timeout_ms) {
  pollfd pfd{.fd = fd, .events = POLLIN, .revents = 0};
  return ::poll(&pfd, 1, timeout_ms) == 1 && (pfd.revents & POLLIN) != 0;
}

// A child that waits until its stdin pipe closes, then exits with code.
struct Child {
  pid_t pid = -1;
  int release_fd = -1;
  explicit Child(int code) {
    int fds[2];
    EXPECT_EQ(::pipe(fds), 0);
    pid = ::fork();
    if (pid == 0) {
      ::close(fds[1]);
      char byte;
      (void)::read(fds[0], &byte, 1);
      ::_exit(code);
    }
    ::close(fds[0]);
    release_fd = fds[1];
  }
  void release() {
    if (release_fd >= 0) {
      ::close(release_fd);
      release_fd = -1;
    }
  }
  ~Child() {
    release();
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, WNOHANG);
    }
  }
};

TEST(ProcessWatch, BecomesReadableWhenTheProcessExitsAndReportsItsCode) {
  Child child(3);
  auto start = process_start_time(child.pid);
  ASSERT_TRUE(start);
  auto watch = open_process_watch(child.pid, *start);
  ASSERT_TRUE(watch) << watch.error().message;
  EXPECT_FALSE(readable(watch->get(), 50));
  child.release();
  ASSERT_TRUE(readable(watch->get(), 5000));
  auto how = collect_process_exit(watch->get());
  EXPECT_EQ(how.exit_code, 3);
  EXPECT_FALSE(how.signal);
  child.pid = -1;  // reaped by collect_process_exit
}

TEST(ProcessWatch, ReportsTheSignalThatKilledIt) {
  Child child(0);
  auto start = process_start_time(child.pid);
  ASSERT_TRUE(start);
  auto watch = open_process_watch(child.pid, *start);
  ASSERT_TRUE(watch) << watch.error().message;
  ASSERT_EQ(::kill(child.pid, SIGKILL), 0);
  ASSERT_TRUE(readable(watch->get(), 5000));
  auto how = collect_process_exit(watch->get());
  EXPECT_EQ(how.signal, SIGKILL);
  EXPECT_FALSE(how.exit_code);
  child.pid = -1;
}

TEST(ProcessWatch, RefusesAProcessWithAnotherStartTime) {
  Child child(0);
  auto start = process_start_time(child.pid);
  ASSERT_TRUE(start);
  auto watch = open_process_watch(child.pid, *start + 1);
  ASSERT_FALSE(watch);
  EXPECT_EQ(watch.error().code, Errc::not_found);
}

TEST(ProcessWatch, AGoneProcessIsNotFound) {
  pid_t pid = ::fork();
  if (pid == 0) {
    ::_exit(0);
  }
  ASSERT_EQ(::waitpid(pid, nullptr, 0), pid);
  auto watch = open_process_watch(pid, 1);
  ASSERT_FALSE(watch);
  EXPECT_EQ(watch.error().code, Errc::not_found);
}

TEST(ProcessWatch, ExitOfAProcessThatIsNotOurChildIsSeenButItsStatusIsUnknown) {
  // The middle process forks the watched grandchild, writes its pid and exits, so the
  // grandchild is re-parented (to init or a subreaper): like a VMM after a daemon restart.
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  int hold[2];
  ASSERT_EQ(::pipe(hold), 0);
  pid_t middle = ::fork();
  if (middle == 0) {
    pid_t grandchild = ::fork();
    if (grandchild == 0) {
      ::close(hold[1]);
      char byte;
      (void)::read(hold[0], &byte, 1);
      ::_exit(0);
    }
    (void)::write(fds[1], &grandchild, sizeof grandchild);
    ::_exit(0);
  }
  ::close(fds[1]);
  ::close(hold[0]);
  pid_t grandchild = -1;
  ASSERT_EQ(::read(fds[0], &grandchild, sizeof grandchild),
            static_cast<ssize_t>(sizeof grandchild));
  ::close(fds[0]);
  ASSERT_EQ(::waitpid(middle, nullptr, 0), middle);
  auto start = process_start_time(grandchild);
  ASSERT_TRUE(start);
  auto watch = open_process_watch(grandchild, *start);
  ASSERT_TRUE(watch) << watch.error().message;
  EXPECT_FALSE(readable(watch->get(), 50));
  ::close(hold[1]);
  ASSERT_TRUE(readable(watch->get(), 5000));
  auto how = collect_process_exit(watch->get());
  EXPECT_FALSE(how.exit_code);
  EXPECT_FALSE(how.signal);
}

}  // namespace
}  // namespace banger::sys
