#include "banger/agentd/host_attach.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <pthread.h>
#include <unistd.h>

#include <chrono>
#include <thread>

namespace banger::agentd {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

// A pipe stands in for a virtio-serial port: both raise SIGIO for their owner on new data.
struct Pipe {
  int fds[2] = {-1, -1};
  Pipe() { EXPECT_EQ(::pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0); }
  ~Pipe() {
    ::close(fds[0]);
    ::close(fds[1]);
  }
};

bool sigio_blocked() {
  sigset_t mask;
  ::pthread_sigmask(SIG_SETMASK, nullptr, &mask);
  return ::sigismember(&mask, SIGIO) == 1;
}

// The armed wait lasts 100 idle sleeps (here 100 s): returning well before that means SIGIO
// woke it. (A generous bound, not a timing measurement.)
constexpr milliseconds kIdleSleep{1000};
constexpr auto kWokenWithin = std::chrono::seconds(20);

TEST(HostAttachWait, DataFromTheHostWakesTheWait) {
  Pipe pipe;
  std::thread waiter([&] {
    HostAttachWait wait(pipe.fds[0], kIdleSleep);
    ASSERT_TRUE(wait.armed());
    const auto start = steady_clock::now();
    std::thread host([&] {
      std::this_thread::sleep_for(milliseconds(50));
      ASSERT_EQ(::write(pipe.fds[1], "x", 1), 1);
    });
    wait.wait();
    host.join();
    EXPECT_LT(steady_clock::now() - start, kWokenWithin);
  });
  waiter.join();
}

TEST(HostAttachWait, ASignalRaisedBeforeTheWaitIsNotLost) {
  Pipe pipe;
  std::thread waiter([&] {
    HostAttachWait wait(pipe.fds[0], kIdleSleep);
    ASSERT_EQ(::write(pipe.fds[1], "x", 1), 1);  // between the EOF and the wait
    const auto start = steady_clock::now();
    wait.wait();
    EXPECT_LT(steady_clock::now() - start, kWokenWithin);
  });
  waiter.join();
}

TEST(HostAttachWait, EndingConsumesAPendingSignalAndRestoresTheMask) {
  Pipe pipe;
  std::thread waiter([&] {
    ASSERT_FALSE(sigio_blocked());
    {
      HostAttachWait wait(pipe.fds[0], kIdleSleep);
      EXPECT_TRUE(sigio_blocked());
      // Pending at destruction: restoring the mask must not deliver it (that would end the
      // process, SIGIO's default action).
      ASSERT_EQ(::write(pipe.fds[1], "x", 1), 1);
    }
    EXPECT_FALSE(sigio_blocked());
    EXPECT_EQ(::fcntl(pipe.fds[0], F_GETFL) & O_ASYNC, 0) << "the fd is disarmed";
    ASSERT_EQ(::write(pipe.fds[1], "y", 1), 1);  // no owner any more: no signal
  });
  waiter.join();
}

TEST(HostAttachWait, AnFdWithoutAsyncSupportSleepsTheIdleSleep) {
  HostAttachWait wait(-1, milliseconds(1));
  EXPECT_FALSE(wait.armed());
  wait.wait();  // returns after about 1 ms
}

}  // namespace
}  // namespace banger::agentd
