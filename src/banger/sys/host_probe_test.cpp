#include "banger/sys/host_probe.hpp"

#include <gtest/gtest.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>

namespace banger::sys {
namespace {

TEST(NetnsInterlock, RefusesLinksInTheMainNamespaceOnlyWhenRequired) {
  ::unsetenv("BANGER_REQUIRE_NETNS");
  EXPECT_TRUE(check_netns_interlock("creating bridge x"));
  if (!in_initial_netns()) {
    GTEST_SKIP() << "this test process is not in the initial network namespace";
  }
  ::setenv("BANGER_REQUIRE_NETNS", "1", 1);
  auto refused = check_netns_interlock("creating bridge x");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, Errc::failed_precondition);
  EXPECT_EQ(refused.error().message,
            "creating bridge x: refusing to create host network links in the main network "
            "namespace (BANGER_REQUIRE_NETNS is set: run inside a namespace made for the test)");
  if (::geteuid() == 0) {
    // In a namespace of its own the same check passes.
    pid_t child = ::fork();
    if (child == 0) {
      bool ok = ::unshare(CLONE_NEWNET) == 0 && !in_initial_netns() &&
                check_netns_interlock("creating bridge x").has_value();
      ::_exit(ok ? 0 : 1);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  ::unsetenv("BANGER_REQUIRE_NETNS");
}

}  // namespace
}  // namespace banger::sys
