#include "banger/dns/server.hpp"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <chrono>
#include <cstring>
#include <functional>
#include <optional>
#include <thread>

#include "banger/dns/client.hpp"
#include "banger/testkit/eventually.hpp"

namespace banger::dns {
namespace {

using namespace std::chrono_literals;
using Bytes = std::vector<std::uint8_t>;

// A loopback UDP socket on a free port: plays a client or a fake upstream.
class UdpPeer {
 public:
  UdpPeer() : fd_(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    socklen_t len = sizeof sa;
    ::getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&sa), &len);
    port_ = ntohs(sa.sin_port);
  }
  std::uint16_t port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

  void send(const Bytes& bytes, std::uint16_t to_port) {
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    to.sin_port = htons(to_port);
    ASSERT_EQ(::sendto(fd_.get(), bytes.data(), bytes.size(), 0, reinterpret_cast<sockaddr*>(&to),
                       sizeof to),
              static_cast<ssize_t>(bytes.size()));
  }

  struct Datagram {
    Bytes bytes;
    std::uint16_t from_port = 0;
  };
  // The poll-with-deadline helper: the next datagram, or nullopt when `wait` passes first.
  std::optional<Datagram> receive(std::chrono::milliseconds wait = 2000ms) {
    pollfd pfd{fd_.get(), POLLIN, 0};
    if (::poll(&pfd, 1, static_cast<int>(wait.count())) != 1) {
      return std::nullopt;
    }
    Bytes buf(65535);
    sockaddr_in from{};
    socklen_t len = sizeof from;
    ssize_t n =
        ::recvfrom(fd_.get(), buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &len);
    if (n < 0) {
      return std::nullopt;
    }
    buf.resize(static_cast<std::size_t>(n));
    return Datagram{std::move(buf), ntohs(from.sin_port)};
  }

 private:
  base::UniqueFd fd_;
  std::uint16_t port_ = 0;
};

Bytes query_bytes(std::uint16_t id, const std::string& name, std::uint16_t qtype = kTypeA) {
  return *build_query(id, name, qtype, true, false);
}

Reply parse(const Bytes& bytes) {
  auto parsed = parse_reply(bytes);
  EXPECT_TRUE(parsed.ok) << parsed.reason;
  return parsed.reply;
}

DnsServerOptions authoritative() {
  return {.listen = "127.0.0.1:0", .mode = Mode::authoritative, .upstreams = {}};
}

DnsServerOptions resolver(std::vector<std::string> upstreams,
                          std::chrono::milliseconds timeout = 2000ms) {
  return {.listen = "127.0.0.1:0",
          .mode = Mode::resolver,
          .upstreams = std::move(upstreams),
          .forward_timeout = timeout};
}

TEST(DnsServer, AuthoritativeAnswersEveryRcodePath) {
  RecordTable records;
  ASSERT_TRUE(records.set("web", "172.16.0.2"));
  DnsServer server(records, authoritative());
  ASSERT_TRUE(server.start());
  ASSERT_NE(server.port(), 0);
  EXPECT_EQ(server.address(), "127.0.0.1:" + std::to_string(server.port()));
  std::string at = server.address();

  auto a = query_udp(at, "Web.VM");
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->rcode, Rcode::noerror);
  EXPECT_TRUE(a->aa);
  EXPECT_EQ(a->questions[0].name(), "Web.VM");
  EXPECT_EQ(a->a_records, (std::vector<Ipv4Bytes>{{172, 16, 0, 2}}));

  auto nx = query_udp(at, "nope.vm", {.edns = true});
  ASSERT_TRUE(nx);
  EXPECT_EQ(nx->rcode, Rcode::nxdomain);
  EXPECT_TRUE(nx->aa);

  auto aaaa = query_udp(at, "web.vm", {.qtype = kTypeAaaa});
  ASSERT_TRUE(aaaa);
  EXPECT_EQ(aaaa->rcode, Rcode::noerror);
  EXPECT_TRUE(aaaa->aa);
  EXPECT_EQ(aaaa->answer_count, 0);

  auto outside = query_udp(at, "example.com", {.rd = true});
  ASSERT_TRUE(outside);
  EXPECT_EQ(outside->rcode, Rcode::refused);
  EXPECT_FALSE(outside->aa);
  EXPECT_TRUE(outside->rd);

  auto stats = server.stats();
  EXPECT_EQ(stats.queries, 4u);
  EXPECT_EQ(stats.vm_answers, 3u);
  EXPECT_EQ(stats.refused, 1u);
}

TEST(DnsServer, FollowsRecordChangesLive) {
  RecordTable records;
  DnsServer server(records, authoritative());
  ASSERT_TRUE(server.start());
  EXPECT_EQ(query_udp(server.address(), "web.vm")->rcode, Rcode::nxdomain);
  ASSERT_TRUE(records.set("web", "10.0.0.7"));
  EXPECT_EQ(query_udp(server.address(), "web.vm")->a_records,
            (std::vector<Ipv4Bytes>{{10, 0, 0, 7}}));
  records.remove("web");
  EXPECT_EQ(query_udp(server.address(), "web.vm")->rcode, Rcode::nxdomain);
}

TEST(DnsServer, AnswersFormerrAndNotimpAndIgnoresResponses) {
  RecordTable records;
  DnsServer server(records, authoritative());
  ASSERT_TRUE(server.start());
  UdpPeer client;
  Bytes two_questions = query_bytes(0x0102, "web.vm");
  two_questions[5] = 2;
  client.send(two_questions, server.port());
  auto formerr = client.receive();
  ASSERT_TRUE(formerr);
  EXPECT_EQ(formerr->bytes, (Bytes{0x01, 0x02, 0x81, 0x01, 0, 0, 0, 0, 0, 0, 0, 0}));

  Bytes status_opcode = query_bytes(0x0304, "web.vm");
  status_opcode[2] |= 0x10;
  client.send(status_opcode, server.port());
  auto notimp = client.receive();
  ASSERT_TRUE(notimp);
  EXPECT_EQ(notimp->bytes, (Bytes{0x03, 0x04, 0x91, 0x04, 0, 0, 0, 0, 0, 0, 0, 0}));

  Bytes response = query_bytes(0x0506, "web.vm");
  response[2] |= 0x80;
  client.send(response, server.port());
  client.send(Bytes{1, 2, 3}, server.port());
  EXPECT_TRUE(testkit::eventually([&] { return server.stats().ignored == 2; }));
  EXPECT_EQ(server.stats().malformed, 2u);
}

TEST(DnsServer, BusyPortIsUnavailableWithAClearMessage) {
  RecordTable records;
  DnsServer first(records, authoritative());
  ASSERT_TRUE(first.start());
  DnsServer second(records, {.listen = first.address(), .mode = Mode::authoritative});
  auto status = second.start();
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code, Errc::unavailable);
  EXPECT_EQ(status.error().sys_errno, EADDRINUSE);
  EXPECT_EQ(status.error().message, "dns listen " + first.address() + ": address already in use");
  EXPECT_EQ(second.port(), 0);
}

TEST(DnsServer, RejectsBadAddressTextAndDoubleStart) {
  RecordTable records;
  DnsServer bad_listen(records, {.listen = "localhost:53"});
  auto listen = bad_listen.start();
  ASSERT_FALSE(listen);
  EXPECT_EQ(listen.error().code, Errc::invalid_argument);
  EXPECT_EQ(listen.error().message,
            "invalid dns listen address \"localhost:53\": use an IPv4 address and a port 0-65535, "
            "such as 127.0.0.1:42069");
  DnsServer bad_upstream(records, resolver({"dns.google"}));
  EXPECT_EQ(bad_upstream.start().error().message,
            "invalid dns upstream \"dns.google\": use an IPv4 address with an optional port, "
            "such as 1.1.1.1 or 127.0.0.1:5353");
  DnsServer twice(records, authoritative());
  ASSERT_TRUE(twice.start());
  auto again = twice.start();
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, Errc::failed_precondition);
  EXPECT_EQ(again.error().message, "dns server already started");
}

TEST(DnsServer, StopClosesTheSocketAndAllowsARestart) {
  RecordTable records;
  ASSERT_TRUE(records.set("web", "172.16.0.2"));
  DnsServer server(records, authoritative());
  ASSERT_TRUE(server.start());
  std::string at = server.address();
  server.stop();
  server.stop();
  EXPECT_EQ(server.port(), 0);
  EXPECT_EQ(server.address(), "");
  auto gone = query_udp(at, "web.vm", {.timeout = 300ms});
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, Errc::unavailable);
  EXPECT_EQ(gone.error().message, "dns query to " + at + ": connection refused");
  ASSERT_TRUE(server.start());
  EXPECT_EQ(query_udp(server.address(), "web.vm")->rcode, Rcode::noerror);
}

TEST(DnsServer, ResolverWithoutUpstreamsRefusesOutsideVm) {
  RecordTable records;
  ASSERT_TRUE(records.set("web", "172.16.0.2"));
  DnsServer server(records, resolver({}));
  ASSERT_TRUE(server.start());
  EXPECT_EQ(query_udp(server.address(), "example.com")->rcode, Rcode::refused);
  EXPECT_EQ(query_udp(server.address(), "web.vm")->a_records,
            (std::vector<Ipv4Bytes>{{172, 16, 0, 2}}));
}

TEST(DnsServer, ResolverForwardsWithOurIdAndRelaysWithTheClientsWithoutBlockingVm) {
  // Given a fake upstream that answers only when the test says so.
  RecordTable records;
  ASSERT_TRUE(records.set("web", "172.16.0.2"));
  UdpPeer upstream;
  DnsServer server(records, resolver({upstream.address()}));
  ASSERT_TRUE(server.start());
  UdpPeer client;
  Bytes query = query_bytes(0x4242, "Example.com");
  client.send(query, server.port());
  auto forwarded = upstream.receive();
  ASSERT_TRUE(forwarded);
  // The upstream sees the client's bytes except the id.
  EXPECT_EQ(Bytes(forwarded->bytes.begin() + 2, forwarded->bytes.end()),
            Bytes(query.begin() + 2, query.end()));
  // While the forward is pending, .vm names are answered at once.
  auto vm = query_udp(server.address(), "web.vm");
  ASSERT_TRUE(vm);
  EXPECT_EQ(vm->a_records, (std::vector<Ipv4Bytes>{{172, 16, 0, 2}}));
  // The upstream answers the forwarded id; the client gets its own id back.
  auto parsed = parse_query(forwarded->bytes);
  ASSERT_EQ(parsed.outcome, ParseOutcome::ok);
  upstream.send(build_a_reply(parsed.query, {93, 184, 216, 34}), forwarded->from_port);
  auto relayed = client.receive();
  ASSERT_TRUE(relayed);
  Reply reply = parse(relayed->bytes);
  EXPECT_EQ(reply.id, 0x4242);
  EXPECT_EQ(reply.questions[0].name(), "Example.com");
  EXPECT_EQ(reply.a_records, (std::vector<Ipv4Bytes>{{93, 184, 216, 34}}));
  EXPECT_EQ(server.stats().relayed, 1u);
}

TEST(DnsServer, ResolverIgnoresRepliesFromOtherAddresses) {
  RecordTable records;
  UdpPeer upstream;
  UdpPeer stranger;
  DnsServer server(records, resolver({upstream.address()}));
  ASSERT_TRUE(server.start());
  UdpPeer client;
  client.send(query_bytes(7, "example.com"), server.port());
  auto forwarded = upstream.receive();
  ASSERT_TRUE(forwarded);
  auto parsed = parse_query(forwarded->bytes);
  stranger.send(build_a_reply(parsed.query, {6, 6, 6, 6}), forwarded->from_port);
  upstream.send(build_a_reply(parsed.query, {1, 2, 3, 4}), forwarded->from_port);
  auto relayed = client.receive();
  ASSERT_TRUE(relayed);
  EXPECT_EQ(parse(relayed->bytes).a_records, (std::vector<Ipv4Bytes>{{1, 2, 3, 4}}));
}

TEST(DnsServer, ResolverTriesTheNextUpstreamAfterATimeout) {
  RecordTable records;
  UdpPeer silent;
  UdpPeer answering;
  DnsServer server(records, resolver({silent.address(), answering.address()}, 200ms));
  ASSERT_TRUE(server.start());
  UdpPeer client;
  client.send(query_bytes(9, "example.com"), server.port());
  ASSERT_TRUE(silent.receive());
  auto second = answering.receive();
  ASSERT_TRUE(second);
  auto parsed = parse_query(second->bytes);
  answering.send(build_a_reply(parsed.query, {1, 1, 1, 1}), second->from_port);
  auto relayed = client.receive();
  ASSERT_TRUE(relayed);
  Reply reply = parse(relayed->bytes);
  EXPECT_EQ(reply.id, 9);
  EXPECT_EQ(reply.a_records, (std::vector<Ipv4Bytes>{{1, 1, 1, 1}}));
  EXPECT_EQ(server.stats().forward_timeouts, 1u);
  EXPECT_EQ(server.stats().forwarded, 2u);
}

TEST(DnsServer, ResolverTriesTheNextUpstreamAfterServfail) {
  RecordTable records;
  UdpPeer failing;
  UdpPeer answering;
  DnsServer server(records, resolver({failing.address(), answering.address()}));
  ASSERT_TRUE(server.start());
  UdpPeer client;
  client.send(query_bytes(10, "example.com"), server.port());
  auto first = failing.receive();
  ASSERT_TRUE(first);
  failing.send(build_empty_reply(parse_query(first->bytes).query, Rcode::servfail, false),
               first->from_port);
  auto second = answering.receive();
  ASSERT_TRUE(second);
  answering.send(build_empty_reply(parse_query(second->bytes).query, Rcode::nxdomain, false),
                 second->from_port);
  auto relayed = client.receive();
  ASSERT_TRUE(relayed);
  Reply reply = parse(relayed->bytes);
  EXPECT_EQ(reply.id, 10);
  EXPECT_EQ(reply.rcode, Rcode::nxdomain);
}

TEST(DnsServer, ResolverAnswersServfailWhenEveryUpstreamTimesOut) {
  RecordTable records;
  UdpPeer silent;
  DnsServer server(records, resolver({silent.address()}, 100ms));
  ASSERT_TRUE(server.start());
  auto reply = query_udp(server.address(), "example.com", {.rd = true});
  ASSERT_TRUE(reply) << reply.error().message;
  EXPECT_EQ(reply->rcode, Rcode::servfail);
  EXPECT_FALSE(reply->aa);
  EXPECT_EQ(server.stats().servfail, 1u);
}

TEST(DnsServer, ResolverForwardsToARealDnsServerUpstream) {
  // An authoritative banger server as the upstream: the relay carries its REFUSED back.
  RecordTable records;
  DnsServer upstream(records, authoritative());
  ASSERT_TRUE(upstream.start());
  DnsServer server(records, resolver({upstream.address()}));
  ASSERT_TRUE(server.start());
  auto reply = query_udp(server.address(), "example.org");
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->rcode, Rcode::refused);
  EXPECT_EQ(upstream.stats().refused, 1u);
  EXPECT_EQ(server.stats().relayed, 1u);
}

}  // namespace
}  // namespace banger::dns
