// Cross-check with the real `dig` client (dnsutils): what users and doctor hints run.
#include <gtest/gtest.h>

#include <regex>
#include <string>

#include "banger/dns/server.hpp"
#include "banger/sys/command_runner.hpp"
#include "banger/sys/fs.hpp"

namespace banger::dns {
namespace {

struct DigResult {
  std::string status;                // "NOERROR"
  std::string flags;                 // "qr aa"
  std::vector<std::string> answers;  // "web.vm. 5 IN A 172.16.0.2" (whitespace collapsed)
};

std::string collapse(const std::string& line) {
  std::string out;
  for (char c : line) {
    bool space = c == ' ' || c == '\t';
    if (space && (out.empty() || out.back() == ' ')) {
      continue;
    }
    out += space ? ' ' : c;
  }
  return out;
}

DigResult dig(std::uint16_t port, const std::string& name, const std::string& type) {
  sys::PosixCommandRunner runner;
  auto out = sys::run_checked(runner, {.argv = {"dig", "@127.0.0.1", "-p", std::to_string(port),
                                                name, type, "+norecurse", "+time=2", "+tries=1"}});
  EXPECT_TRUE(out) << out.error().message;
  DigResult result;
  if (!out) {
    return result;
  }
  std::smatch m;
  if (std::regex_search(*out, m, std::regex("status: ([A-Z]+),"))) {
    result.status = m[1];
  }
  if (std::regex_search(*out, m, std::regex(";; flags: ([a-z ]*);"))) {
    result.flags = m[1];
  }
  auto answer = out->find(";; ANSWER SECTION:\n");
  if (answer != std::string::npos) {
    std::size_t pos = answer + std::string(";; ANSWER SECTION:\n").size();
    while (pos < out->size() && (*out)[pos] != '\n') {
      auto end = out->find('\n', pos);
      result.answers.push_back(collapse(out->substr(pos, end - pos)));
      pos = end + 1;
    }
  }
  return result;
}

TEST(DnsDig, RealDigSeesAuthoritativeAnswers) {
  if (sys::find_executable("dig").empty()) {
    GTEST_SKIP() << "dig is not installed (Debian package dnsutils)";
  }
  RecordTable records;
  ASSERT_TRUE(records.set("web", "172.16.0.2"));
  DnsServer server(records, {.listen = "127.0.0.1:0", .mode = Mode::authoritative});
  ASSERT_TRUE(server.start());

  auto a = dig(server.port(), "web.vm", "A");
  EXPECT_EQ(a.status, "NOERROR");
  EXPECT_EQ(a.flags, "qr aa");
  EXPECT_EQ(a.answers, std::vector<std::string>{"web.vm. 5 IN A 172.16.0.2"});

  auto nx = dig(server.port(), "nope.vm", "A");
  EXPECT_EQ(nx.status, "NXDOMAIN");
  EXPECT_EQ(nx.flags, "qr aa");
  EXPECT_TRUE(nx.answers.empty());

  auto refused = dig(server.port(), "example.com", "A");
  EXPECT_EQ(refused.status, "REFUSED");
  EXPECT_EQ(refused.flags, "qr");

  auto aaaa = dig(server.port(), "WEB.vm", "AAAA");
  EXPECT_EQ(aaaa.status, "NOERROR");
  EXPECT_EQ(aaaa.flags, "qr aa");
  EXPECT_TRUE(aaaa.answers.empty());
}

}  // namespace
}  // namespace banger::dns
