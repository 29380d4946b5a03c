#include "banger/agentproto/methods.hpp"

#include <gtest/gtest.h>

#include "banger/agentproto/constants.hpp"

namespace banger::agentproto {
namespace {

using nlohmann::json;

TEST(Methods, HealthRoundTrips) {
  const HealthResult in{12.5, "b-1", "0.1.0", "vm1"};
  HealthResult out;
  EXPECT_EQ(decode(encode(in), out), "");
  EXPECT_EQ(out.uptime_s, 12.5);
  EXPECT_EQ(out.boot_id, "b-1");
  EXPECT_EQ(out.version, "0.1.0");
  EXPECT_EQ(out.hostname, "vm1");
  EXPECT_EQ(decode(json{{"uptime_s", "x"}}, out), "field \"uptime_s\": expected a number");
}

TEST(Methods, HealthSshHostKeyIsOptionalBoundedAndAString) {
  const json base{{"uptime_s", 1.0}, {"boot_id", "b"}, {"version", "v"}, {"hostname", "h"}};
  HealthResult old_agent;
  EXPECT_EQ(decode(base, old_agent), "");
  EXPECT_EQ(old_agent.ssh_host_key, std::nullopt);  // an agent from before the field

  HealthResult in{1.0, "b", "v", "h", "ssh-ed25519 AAAAC3Nza"};
  HealthResult out;
  EXPECT_EQ(decode(encode(in), out), "");
  EXPECT_EQ(out.ssh_host_key, std::optional<std::string>("ssh-ed25519 AAAAC3Nza"));

  // A hostile guest: not a string, or longer than the host accepts.
  auto wrong_type = base;
  wrong_type["ssh_host_key"] = json::array({1, 2});
  HealthResult rejected;
  EXPECT_EQ(decode(wrong_type, rejected), "field \"ssh_host_key\": expected a string");
  auto too_long = base;
  too_long["ssh_host_key"] = "ssh-ed25519 " + std::string(kMaxSshHostKeyChars, 'A');
  EXPECT_EQ(decode(too_long, rejected), "field \"ssh_host_key\": longer than 256 characters");
  EXPECT_EQ(rejected.ssh_host_key, std::nullopt);
}

TEST(Methods, PortsRoundTripsAndNamesBadEntry) {
  PortsResult in;
  in.ports.push_back(PortEntry{"tcp", "ipv4", "0.0.0.0", 8080, 12, "httpd"});
  PortsResult out;
  EXPECT_EQ(decode(encode(in), out), "");
  ASSERT_EQ(out.ports.size(), 1u);
  EXPECT_EQ(out.ports[0].port, 8080);
  EXPECT_EQ(out.ports[0].pid, 12);
  EXPECT_EQ(out.ports[0].process, "httpd");
  auto bad = encode(in);
  bad["ports"][0]["port"] = 70000;
  EXPECT_EQ(decode(bad, out), "ports[0]: field \"port\": expected an integer from 0 to 65535");
}

TEST(Methods, ExecParamsRoundTripsBinaryStdin) {
  ExecParams in;
  in.argv = {"cat", "-"};
  in.env = {{"A", "1"}};
  in.cwd = "/tmp";
  in.stdin_data = std::string("\0\xff\n", 3);
  in.timeout_s = 2.5;
  const auto j = encode(in);
  EXPECT_EQ(j["stdin_b64"], "AP8K");
  ExecParams out;
  EXPECT_EQ(decode(j, out), "");
  EXPECT_EQ(out.argv, in.argv);
  EXPECT_EQ(out.env, in.env);
  EXPECT_EQ(out.cwd, "/tmp");
  EXPECT_EQ(out.stdin_data, in.stdin_data);
  EXPECT_EQ(out.timeout_s, 2.5);
}

TEST(Methods, ExecParamsDefaultsOptionalFields) {
  ExecParams out;
  EXPECT_EQ(decode(json{{"argv", {"true"}}}, out), "");
  EXPECT_EQ(out.argv, std::vector<std::string>{"true"});
  EXPECT_TRUE(out.env.empty());
  EXPECT_EQ(out.cwd, "");
  EXPECT_EQ(out.stdin_data, "");
  EXPECT_EQ(out.timeout_s, 0);
}

TEST(Methods, ExecParamsRejectsBadFields) {
  ExecParams out;
  EXPECT_EQ(decode(json{{"argv", json::array()}}, out),
            "field \"argv\": expected a non-empty array of strings");
  EXPECT_EQ(decode(json{{"argv", {1}}}, out),
            "field \"argv\": expected a non-empty array of strings without NUL bytes");
  EXPECT_EQ(decode(json{{"argv", {""}}}, out),
            "field \"argv\": expected a non-empty program name in argv[0]");
  EXPECT_EQ(decode(json{{"argv", {"x"}}, {"env", {{"A=B", "1"}}}}, out),
            "field \"env\": expected an object of strings with names without '=' or NUL bytes");
  EXPECT_EQ(decode(json{{"argv", {"x"}}, {"stdin_b64", "%%"}}, out),
            "field \"stdin_b64\": expected base64 text");
  EXPECT_EQ(decode(json{{"argv", {"x"}}, {"timeout_s", -1}}, out),
            "field \"timeout_s\": expected a number >= 0");
  EXPECT_EQ(decode(json::array(), out), "expected a json object");
}

TEST(Methods, ExecResultRoundTrips) {
  ExecResult in;
  in.exit_code = 137;
  in.signal = 9;
  in.timed_out = true;
  in.stdout_data = "out";
  in.stderr_data = std::string("e\0r", 3);
  in.stdout_truncated = true;
  ExecResult out;
  EXPECT_EQ(decode(encode(in), out), "");
  EXPECT_EQ(out.exit_code, 137);
  EXPECT_EQ(out.signal, 9);
  EXPECT_TRUE(out.timed_out);
  EXPECT_EQ(out.stdout_data, "out");
  EXPECT_EQ(out.stderr_data, in.stderr_data);
  EXPECT_TRUE(out.stdout_truncated);
  EXPECT_FALSE(out.stderr_truncated);
}

}  // namespace
}  // namespace banger::agentproto

namespace banger::agentproto {
namespace {

// Regression for H3 (security review): a guest listing 40,000 ports gets at most
// kMaxPortEntries distinct entries through the decoder. Fails on 8f38f5a: decode(PortsResult)
// kept all 40,000 (checked by reverting the cap in methods.cpp: size was 40000).
TEST(Methods, PortsAreCappedAndDeduplicated) {
  nlohmann::json list = nlohmann::json::array();
  for (int i = 0; i < 40'000; ++i) {
    list.push_back(encode(
        PortEntry{"tcp", "ipv4", "0.0.0.0", static_cast<std::uint16_t>(i % 60000 + 1), 0, ""}));
  }
  PortsResult out;
  ASSERT_EQ(decode(nlohmann::json{{"ports", list}}, out), "");
  EXPECT_EQ(out.ports.size(), kMaxPortEntries);
  EXPECT_EQ(out.dropped, 40'000 - kMaxPortEntries);

  nlohmann::json same = nlohmann::json::array();
  for (int i = 0; i < 5; ++i) {
    same.push_back(encode(PortEntry{"tcp", "ipv4", "0.0.0.0", 22, 1, "sshd"}));
  }
  same.push_back(encode(PortEntry{"tcp", "ipv6", "::", 22, 1, "sshd"}));
  ASSERT_EQ(decode(nlohmann::json{{"ports", same}}, out), "");
  EXPECT_EQ(out.ports.size(), 2u);
  EXPECT_EQ(out.dropped, 4u);
}

TEST(Methods, AuthParamsNeedAToken) {
  AuthParams out;
  EXPECT_EQ(decode(encode(AuthParams{"abc"}), out), "");
  EXPECT_EQ(out.token, "abc");
  EXPECT_EQ(decode(nlohmann::json::object(), out), "field \"token\": expected a string");
}

}  // namespace
}  // namespace banger::agentproto
