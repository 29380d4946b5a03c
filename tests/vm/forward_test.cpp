// Port forwarding end to end (issue 14 item 6 acceptance; docs/forwarding.md): a busybox httpd
// in a tiny guest is reached from the host through the daemon's forwards (a published one and
// one added by `vm forward`), a taken host port is refused naming it, and stop closes them.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "vm_suite.hpp"

namespace banger::itest {
namespace {

using ::testing::HasSubstr;

// `curl` inside the suite's namespace (where the daemon and its forwards live).
sys::CommandResult curl_in(const std::string& ns, int port) {
  sys::PosixCommandRunner runner;
  auto r = runner.run({.argv = {"ip", "netns", "exec", ns, "curl", "-sS", "--max-time", "20",
                                "http://127.0.0.1:" + std::to_string(port) + "/"}});
  EXPECT_TRUE(r);
  return r ? *r : sys::CommandResult{.exit_code = -1};
}

TEST_F(VmSuite, ForwardCarriesAnHttpRequestToTheGuestAndATakenPortIsRefused) {
  auto created = run({"vm", "create", "--image", "tiny", "--name", "fw", "--publish", "0:8080"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  ssh("fw",
      "mkdir -p /www && echo hello-through-forward > /www/index.html && busybox httpd -p 8080 -h "
      "/www");
  auto shown = show("fw");
  ASSERT_EQ(shown["forwards"].size(), 1u) << shown.dump();
  EXPECT_EQ(shown["forwards"][0]["published"], true);
  const int published = shown["forwards"][0]["host_port"].get<int>();
  ASSERT_GT(published, 0);

  // A second forward added at runtime, to a free port the host picks.
  auto forwarded = run({"vm", "forward", "fw", "0:8080", "--json"});
  ASSERT_EQ(forwarded.exit_code, 0) << forwarded.err;
  auto reply = nlohmann::json::parse(forwarded.out, nullptr, false);
  ASSERT_EQ(reply["bound"].size(), 1u) << forwarded.out;
  const int runtime = reply["bound"][0]["host_port"].get<int>();

  for (int port : {published, runtime}) {
    auto got = curl_in(ns_, port);
    EXPECT_EQ(got.exit_code, 0) << got.err;
    EXPECT_EQ(got.out, "hello-through-forward\n");
  }

  // The runtime forward's port is taken now: a second forward there is refused, naming it.
  auto taken = run({"vm", "forward", "fw", std::to_string(runtime) + ":8080"});
  EXPECT_NE(taken.exit_code, 0);
  EXPECT_THAT(taken.err,
              HasSubstr("host port 127.0.0.1:" + std::to_string(runtime) + " is already in use"));
  auto ports = run({"vm", "ports", "fw"});
  EXPECT_THAT(ports.out,
              HasSubstr("forwarded: 127.0.0.1:" + std::to_string(runtime) + " -> fw:8080"));

  ASSERT_EQ(run({"vm", "stop", "fw"}).exit_code, 0);
  EXPECT_NE(curl_in(ns_, published).exit_code, 0);  // closed with the VM
  EXPECT_TRUE(show("fw")["forwards"].empty());
  run({"vm", "delete", "fw"});
}

}  // namespace
}  // namespace banger::itest
