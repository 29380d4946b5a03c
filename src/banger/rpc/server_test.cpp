#include "banger/rpc/server.hpp"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <memory>
#include <thread>

#include "banger/api/daemon.hpp"
#include "banger/api/vm.hpp"
#include "banger/rpc/client.hpp"
#include "banger/rpc/frame.hpp"
#include "banger/sys/fs.hpp"
#include "banger/testkit/eventually.hpp"
#include "banger/testkit/probes.hpp"
#include "banger/testkit/temp_dir.hpp"

namespace banger::rpc {
namespace {

using Json = nlohmann::json;
using namespace std::chrono_literals;

// A test-only method: the handler waits for the client to go away.
struct WaitForCancel {
  static constexpr std::string_view kMethod = "test.wait_for_cancel";
  struct Request {
    template <class V>
    void fields(V& /*v*/) {}
  };
  using Response = Request;
};

// A test-only method whose handler ignores cancellation (it waits for the test's release).
struct IgnoreCancel {
  static constexpr std::string_view kMethod = "test.ignore_cancel";
  struct Request {
    template <class V>
    void fields(V& /*v*/) {}
  };
  using Response = Request;
};

// A test-only method: returns once `count` calls are running at the same time.
struct Rendezvous {
  static constexpr std::string_view kMethod = "test.rendezvous";
  struct Request {
    int count = 0;
    template <class V>
    void fields(V& v) {
      v("count", count);
    }
  };
  struct Response {
    int seen = 0;
    template <class V>
    void fields(V& v) {
      v("seen", seen);
    }
  };
};

// A test-only method: emits big events until cancelled (or 256 MiB went out).
struct Flood {
  static constexpr std::string_view kMethod = "test.flood";
  struct Request {
    template <class V>
    void fields(V& /*v*/) {}
  };
  using Response = Request;
};

// A test-only method: the reply carries the read end of a pipe whose write end the test keeps
// (fail = true: the handler attaches it and then fails).
struct PassPipe {
  static constexpr std::string_view kMethod = "test.pass_pipe";
  struct Request {
    bool fail = false;
    template <class V>
    void fields(V& v) {
      v("fail", fail);
    }
  };
  struct Response {
    template <class V>
    void fields(V& /*v*/) {}
  };
};

class ServerTest : public ::testing::Test {
 protected:
  ServerTest() {
    registry.add<api::Ping>([](const api::Ping::Request&, CallContext&) {
      return Expected<api::Ping::Response>(api::Ping::Response{});
    });
    registry.add<api::Shutdown>([this](const api::Shutdown::Request&, CallContext&) {
      server->stop();
      return Expected<api::Shutdown::Response>(api::Shutdown::Response{});
    });
    registry.add<api::VmShow>([](const api::VmShow::Request& r, CallContext&) {
      return Expected<api::VmShow::Response>(
          fail(Errc::not_found, "vm \"" + r.name + "\" not found"));
    });
    registry.add<api::VmCreate>([](const api::VmCreate::Request& r, CallContext& ctx) {
      for (int i = 1; i <= 3; ++i) {
        ctx.emit(api::Event{"step", "step " + std::to_string(i), i, 3});
      }
      api::VmCreate::Response response;
      response.vm.name = r.name;
      return Expected<api::VmCreate::Response>(response);
    });
    registry.add<WaitForCancel>([this](const WaitForCancel::Request&, CallContext& ctx) {
      handler_entered = true;
      bool seen = testkit::eventually([&] { return ctx.cancelled(); });
      handler_saw_cancel = seen;
      return Expected<WaitForCancel::Response>(WaitForCancel::Response{});
    });
    registry.add<Flood>([this](const Flood::Request&, CallContext& ctx) {
      std::string chunk(64 * 1024, 'x');
      for (int i = 0; i < 4096 && !ctx.cancelled(); ++i) {
        ctx.emit(api::Event{"flood", chunk, i, 4096});
      }
      flood_cancelled = ctx.cancelled();
      flood_done = true;
      return Expected<Flood::Response>(Flood::Response{});
    });
    registry.add<PassPipe>([this](const PassPipe::Request& r, CallContext& ctx) {
      int ends[2];
      EXPECT_EQ(::pipe2(ends, O_CLOEXEC), 0);
      pipe_write_end.reset(ends[1]);
      ctx.attach_fd(base::UniqueFd(ends[0]));
      auto lease = std::make_shared<int>(1);
      pipe_lease = lease;
      ctx.keep_until_hangup(lease);
      if (r.fail) {
        return Expected<PassPipe::Response>(fail(Errc::not_found, "no pipe for you"));
      }
      return Expected<PassPipe::Response>(PassPipe::Response{});
    });
    registry.add<Rendezvous>([this](const Rendezvous::Request& r, CallContext&) {
      int now = ++in_rendezvous;
      bool all_there = testkit::eventually([&] { return in_rendezvous.load() >= r.count; });
      if (!all_there) {
        return Expected<Rendezvous::Response>(fail(Errc::timeout, "rendezvous never completed"));
      }
      return Expected<Rendezvous::Response>(Rendezvous::Response{now});
    });
  }

  ~ServerTest() override { stop(); }

  void start(std::chrono::milliseconds grace = 10s) {
    start_with(ServerOptions{
        .socket_path = socket_path(), .allowed_uid = ::getuid(), .stop_grace = grace});
  }

  void start_with(ServerOptions options) {
    server = std::make_unique<Server>(std::move(options), registry, random);
    auto listening = server->listen();
    ASSERT_TRUE(listening) << listening.error().message;
    thread = std::thread([this] { run_status = server->run(); });
  }

  void stop() {
    if (server) {
      server->stop();
    }
    if (thread.joinable()) {
      thread.join();
    }
  }

  std::string socket_path() const { return dir.path() + "/s.sock"; }

  Client connect() {
    auto client = Client::connect(socket_path());
    if (!client) {
      ADD_FAILURE() << client.error().message;
      std::abort();  // the test cannot go on without a connection
    }
    return std::move(*client);
  }

  // A raw connection for sending arbitrary bytes.
  base::UniqueFd connect_raw() {
    base::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, socket_path().c_str(), sizeof addr.sun_path - 1);
    EXPECT_EQ(::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0);
    return fd;
  }

  static Json read_json(LineReader& reader) {
    auto line = reader.next();
    if (!line || !line->has_value()) {
      ADD_FAILURE() << "no reply line";
      return Json();
    }
    return Json::parse(**line);
  }

  testkit::TempDir dir;
  base::Mt19937Random random{7};
  Registry registry{random};
  std::unique_ptr<Server> server;
  std::thread thread;
  Status run_status;
  std::atomic<bool> handler_entered{false};
  std::atomic<bool> handler_saw_cancel{false};
  std::atomic<int> in_rendezvous{0};
  std::atomic<bool> flood_done{false};
  std::atomic<bool> flood_cancelled{false};
  base::UniqueFd pipe_write_end;
  std::weak_ptr<int> pipe_lease;  // what the last PassPipe kept until hang-up
};

// Regression for L5 (security review): connections beyond max_connections get one clear
// `unavailable` line and are closed; a slot frees up when a connection ends. Fails on
// 8f38f5a: ran with the max_connections check removed from start_connection: the third
// connection was served (its ping got a pong, no error line).
TEST_F(ServerTest, RefusesConnectionsBeyondTheLimit) {
  start_with(
      ServerOptions{.socket_path = socket_path(), .allowed_uid = ::getuid(), .max_connections = 2});
  Client first = connect();
  auto second = std::make_unique<Client>(connect());
  ASSERT_TRUE(first.call<api::Ping>({}));
  ASSERT_TRUE(second->call<api::Ping>({}));
  base::UniqueFd third = connect_raw();
  const char ping[] = "{\"v\":1,\"id\":1,\"method\":\"ping\"}\n";
  [[maybe_unused]] auto sent = ::send(third.get(), ping, sizeof ping - 1, MSG_NOSIGNAL);
  LineReader reader(third.get());
  Json reply = read_json(reader);
  EXPECT_EQ(reply["error"]["code"], "unavailable") << reply.dump();
  EXPECT_NE(reply.dump().find("too many connections to bangerd (2 open)"), std::string::npos);
  second.reset();
  EXPECT_TRUE(testkit::eventually([&] {
    auto again = Client::connect(socket_path());
    return again && again->call<api::Ping>({}).has_value();
  }));
}

// Regression for L5 (security review): a client that stops reading (Ctrl-Z during a build with
// progress events) cannot keep a handler blocked in send(): after send_timeout the connection is
// dropped and the call cancelled. Fails on 8f38f5a: ran with send_line writing through
// write_line without SO_SNDTIMEO (8f38f5a's send_line): the handler stayed blocked in send()
// and flood_done never became true.
TEST_F(ServerTest, AClientThatStopsReadingCannotBlockAHandler) {
  start_with(ServerOptions{.socket_path = socket_path(),
                           .allowed_uid = ::getuid(),
                           .send_timeout = std::chrono::milliseconds(200)});
  base::UniqueFd fd = connect_raw();
  const char flood[] = "{\"v\":1,\"id\":1,\"method\":\"test.flood\"}\n";
  ASSERT_EQ(::send(fd.get(), flood, sizeof flood - 1, MSG_NOSIGNAL),
            static_cast<ssize_t>(sizeof flood - 1));
  // Never read: the socket buffers fill up within a few events.
  EXPECT_TRUE(testkit::eventually([&] { return flood_done.load(); }));
  EXPECT_TRUE(flood_cancelled.load());
  // The server still serves others.
  Client other = connect();
  EXPECT_TRUE(other.call<api::Ping>({}));
}

TEST_F(ServerTest, RoundTripsATypedCall) {
  start();
  Client client = connect();
  auto pong = client.call<api::Ping>({});
  ASSERT_TRUE(pong) << pong.error().message;
  EXPECT_TRUE(pong->pong);
  // A second call on the same connection.
  EXPECT_TRUE(client.call<api::Ping>({}));
}

TEST_F(ServerTest, SocketIsOwnerOnly) {
  start();
  struct stat st{};
  ASSERT_EQ(::stat(socket_path().c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(ServerTest, ErrorReplyMapsBackWithOpId) {
  start();
  Client client = connect();
  auto shown = client.call<api::VmShow>({.name = "ghost"});
  ASSERT_FALSE(shown);
  EXPECT_EQ(shown.error().code, Errc::not_found);
  EXPECT_EQ(shown.error().message, R"(vm "ghost" not found)");
  EXPECT_EQ(shown.error().op_id.size(), 9u);
  EXPECT_EQ(shown.error().op_id.rfind("op-", 0), 0u);
}

TEST_F(ServerTest, UnknownMethodThroughClient) {
  start();
  Client client = connect();
  auto r = client.call_raw("vm.frob", Json::object());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::unknown_method);
  EXPECT_EQ(r.error().message, R"(unknown method "vm.frob" (see docs/rpc.md))");
}

TEST_F(ServerTest, EventsStreamBeforeTheReply) {
  start();
  Client client = connect();
  std::vector<std::string> seen;
  auto created = client.call<api::VmCreate>(
      {.name = "dev"}, [&](const api::Event& e) { seen.push_back(e.stage + ":" + e.message); });
  ASSERT_TRUE(created) << created.error().message;
  EXPECT_EQ(created->vm.name, "dev");
  EXPECT_EQ(seen, (std::vector<std::string>{"step:step 1", "step:step 2", "step:step 3"}));
}

TEST_F(ServerTest, ServesClientsConcurrently) {
  // Given four clients whose handlers each wait for all four to be running, then all succeed.
  start();
  constexpr int kClients = 4;
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < kClients; ++i) {
    threads.emplace_back([&] {
      auto client = Client::connect(socket_path());
      ASSERT_TRUE(client);
      auto r = client->call<Rendezvous>({.count = kClients});
      EXPECT_TRUE(r) << r.error().message;
      if (r) {
        ++ok;
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_EQ(ok.load(), kClients);
}

TEST_F(ServerTest, MalformedLinesGetErrorsAndTheConnectionKeepsServing) {
  start();
  base::UniqueFd fd = connect_raw();
  ASSERT_TRUE(write_all(fd.get(),
                        "not json\n"
                        "{\"v\":1,\"id\":\"x\",\"method\":\"ping\"}\n"
                        "{\"v\":1,\"id\":2,\"method\":\"nope\"}\n"
                        "{\"v\":1,\"id\":3,\"method\":\"vm.show\",\"params\":{\"name\":1}}\n"
                        "{\"v\":1,\"id\":4,\"method\":\"ping\"}\n"));
  LineReader reader(fd.get());
  Json r1 = read_json(reader);
  EXPECT_EQ(r1["error"]["code"], "bad_request");
  EXPECT_EQ(r1["error"]["message"], "request is not valid JSON");
  Json r2 = read_json(reader);
  EXPECT_EQ(r2["error"]["message"], R"(request field "id" must be an integer)");
  Json r3 = read_json(reader);
  EXPECT_EQ(r3["id"], 2);
  EXPECT_EQ(r3["error"]["code"], "unknown_method");
  Json r4 = read_json(reader);
  EXPECT_EQ(r4["error"]["message"], "params.name: expected string, got integer");
  EXPECT_EQ(read_json(reader), Json::parse(R"({"id":4,"result":{"pid":0,"pong":true}})"));
  // Another connection is served too.
  Client other = connect();
  EXPECT_TRUE(other.call<api::Ping>({}));
}

TEST_F(ServerTest, OversizedLineGetsAnErrorAndServingContinues) {
  start();
  base::UniqueFd fd = connect_raw();
  std::string huge(api::kMaxFrameBytes + 1024, 'a');
  huge += "\n{\"v\":1,\"id\":5,\"method\":\"ping\"}\n";
  ASSERT_TRUE(write_all(fd.get(), huge));
  LineReader reader(fd.get());
  Json r1 = read_json(reader);
  EXPECT_TRUE(r1["id"].is_null());
  EXPECT_EQ(r1["error"]["code"], "bad_request");
  EXPECT_EQ(r1["error"]["message"], "line exceeds the maximum frame size of 16777216 bytes");
  EXPECT_EQ(read_json(reader), Json::parse(R"({"id":5,"result":{"pid":0,"pong":true}})"));
  Client other = connect();
  EXPECT_TRUE(other.call<api::Ping>({}));
}

TEST_F(ServerTest, ClosingTheConnectionCancelsTheHandler) {
  start();
  {
    base::UniqueFd fd = connect_raw();
    ASSERT_TRUE(write_line(fd.get(), R"({"v":1,"id":1,"method":"test.wait_for_cancel"})"));
    ASSERT_TRUE(testkit::eventually([&] { return handler_entered.load(); }));
    EXPECT_FALSE(handler_saw_cancel.load());
  }  // closes the socket
  EXPECT_TRUE(testkit::eventually([&] { return handler_saw_cancel.load(); }));
  Client other = connect();
  EXPECT_TRUE(other.call<api::Ping>({}));
}

TEST_F(ServerTest, ShutdownMethodRepliesThenStops) {
  start();
  Client client = connect();
  auto r = client.call<api::Shutdown>({});
  ASSERT_TRUE(r) << r.error().message;
  thread.join();
  EXPECT_TRUE(run_status);
  EXPECT_FALSE(::access(socket_path().c_str(), F_OK) == 0);
  auto again = Client::connect(socket_path());
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, Errc::unavailable);
}

TEST_F(ServerTest, StopCancelsHandlersStillRunningAfterTheGrace) {
  start(20ms);
  base::UniqueFd fd = connect_raw();
  ASSERT_TRUE(write_line(fd.get(), R"({"v":1,"id":1,"method":"test.wait_for_cancel"})"));
  ASSERT_TRUE(testkit::eventually([&] { return handler_entered.load(); }));
  server->stop();
  thread.join();
  EXPECT_TRUE(handler_saw_cancel.load());
}

// Regression for L4 (security review): a handler that ignores cancellation is abandoned at
// stop, and the server says so, so bangerd exits without destroying what the handler uses.
// Fails on 8f38f5a: the server detached such a handler and told nobody (bangerd then
// destroyed the Daemon under it); checked by reading 8f38f5a's close_connections, as the
// counter did not exist there.
TEST_F(ServerTest, AHandlerThatIgnoresCancellationIsReportedAsStillRunning) {
  auto entered = std::make_shared<std::atomic<bool>>(false);
  auto release = std::make_shared<std::atomic<bool>>(false);
  registry.add<IgnoreCancel>([entered, release](const IgnoreCancel::Request&, CallContext&) {
    entered->store(true);
    (void)testkit::eventually([&] { return release->load(); }, 20s);
    return Expected<IgnoreCancel::Response>(IgnoreCancel::Response{});
  });
  start(20ms);
  base::UniqueFd fd = connect_raw();
  ASSERT_TRUE(write_line(fd.get(), R"({"v":1,"id":1,"method":"test.ignore_cancel"})"));
  ASSERT_TRUE(testkit::eventually([&] { return entered->load(); }));
  server->stop();
  thread.join();  // run() returns after 2 x 20 ms although the handler still runs
  EXPECT_EQ(server->abandoned_running(), 1u);
  release->store(true);
  EXPECT_TRUE(testkit::eventually([&] { return server->abandoned_running() == 0; }));
}

TEST_F(ServerTest, StopClosesIdleConnections) {
  start();
  base::UniqueFd fd = connect_raw();
  Client client = connect();
  ASSERT_TRUE(client.call<api::Ping>({}));
  stop();
  LineReader reader(fd.get());
  auto line = reader.next();
  ASSERT_TRUE(line);
  EXPECT_FALSE(line->has_value());
}

TEST_F(ServerTest, ReplacesAStaleSocketFile) {
  {
    // A socket file left behind by a dead daemon.
    base::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, socket_path().c_str(), sizeof addr.sun_path - 1);
    ASSERT_EQ(::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0);
  }
  auto refused = Client::connect(socket_path());
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, Errc::unavailable);
  EXPECT_EQ(refused.error().message,
            "connecting to bangerd at " + socket_path() + ": Connection refused");
  start();
  Client client = connect();
  EXPECT_TRUE(client.call<api::Ping>({}));
}

TEST_F(ServerTest, RefusesToReplaceANonSocket) {
  ASSERT_TRUE(sys::write_file_atomic(socket_path(), "x"));
  Server s(ServerOptions{.socket_path = socket_path(), .allowed_uid = ::getuid()}, registry,
           random);
  auto r = s.listen();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::failed_precondition);
  EXPECT_EQ(r.error().message,
            socket_path() + " exists and is not a socket: remove it or choose another path");
}

TEST_F(ServerTest, RejectsTooLongSocketPath) {
  Server s(ServerOptions{.socket_path = "/tmp/" + std::string(200, 'x'), .allowed_uid = 0},
           registry, random);
  auto r = s.listen();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::invalid_argument);
  EXPECT_EQ(r.error().message,
            "socket path \"/tmp/" + std::string(200, 'x') + "\" must be 1 to 107 bytes long");
}

TEST(Client, MissingSocketIsUnavailableNamingThePath) {
  testkit::TempDir dir;
  auto r = Client::connect(dir.path() + "/none.sock");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::unavailable);
  EXPECT_EQ(r.error().message,
            "connecting to bangerd at " + dir.path() + "/none.sock: No such file or directory");
}

// A listener on `path` in a forked child running as `uid` (when not us: needs root). The child
// accepts one connection and exits with the number of bytes it received (capped at 100), so a
// test sees whether a client sent anything to an impostor.
pid_t listen_as(uid_t uid, const std::string& path, int ready_fd) {
  pid_t child = ::fork();
  if (child != 0) {
    return child;
  }
  if (uid != ::getuid() && (::setresgid(uid, uid, uid) != 0 || ::setresuid(uid, uid, uid) != 0)) {
    ::_exit(201);
  }
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 ||
      ::chmod(path.c_str(), 0777) != 0 || ::listen(fd, 4) != 0) {
    ::_exit(202);
  }
  [[maybe_unused]] auto told = ::write(ready_fd, "r", 1);
  int conn = ::accept(fd, nullptr, nullptr);
  if (conn < 0) {
    ::_exit(203);
  }
  // A client that sends sends at once; one that refused closes the connection (read
  // returns 0). Either way the child answers nothing and is done within 2 s.
  pollfd pfd{conn, POLLIN, 0};
  char buf[256];
  ssize_t n = ::poll(&pfd, 1, 2000) == 1 ? ::read(conn, buf, sizeof buf) : 0;
  ::_exit(n > 100 ? 100 : static_cast<int>(n > 0 ? n : 0));
}

// Regression for H2 (security review): the CLI's client checks SO_PEERCRED and refuses a socket
// served by a uid that is neither the caller's nor root, before sending a byte, with a message
// naming the socket and the peer uid. Fails on 8f38f5a: ran with check_peer() commented out in
// client.cpp: connect() succeeded and the impostor received the 43-byte ping request.
TEST(Client, RefusesAPeerOfAnotherUidBeforeSendingAnything) {
  testkit::TempDir dir;
  ASSERT_EQ(::chmod(dir.path().c_str(), 0777), 0);
  std::string path = dir.path() + "/bangerd.sock";
  // As root, the impostor really is another uid (nobody); otherwise the seam says which uid
  // the client trusts, and the listener (us, not root) is not it.
  const bool root = ::getuid() == 0;
  const uid_t impostor = root ? 65534 : ::getuid();
  const uid_t trusted = root ? 0 : ::getuid() + 1;
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  pid_t child = listen_as(impostor, path, ready[1]);
  ASSERT_GE(child, 0);
  ::close(ready[1]);
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1) << "the listener did not come up";
  ::close(ready[0]);

  auto client = Client::connect(path, trusted);
  bool connected = client.has_value();
  if (connected) {
    [[maybe_unused]] auto pong = client->call<api::Ping>({});
    client = tl::unexpected(Error{});  // closes the connection
  } else {
    EXPECT_EQ(client.error().code, Errc::permission_denied);
    EXPECT_NE(client.error().message.find("refusing to talk to " + path + ": it is served by uid " +
                                          std::to_string(impostor)),
              std::string::npos)
        << client.error().message;
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_FALSE(connected);
  EXPECT_EQ(WEXITSTATUS(status), 0) << "bytes the impostor received";
}

TEST(Client, AcceptsAPeerOfTheTrustedUid) {
  testkit::TempDir dir;
  std::string path = dir.path() + "/bangerd.sock";
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  pid_t child = listen_as(::getuid(), path, ready[1]);
  ASSERT_GE(child, 0);
  ::close(ready[1]);
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  ::close(ready[0]);
  {
    auto client = Client::connect(path, ::getuid());
    EXPECT_TRUE(client) << client.error().message;
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
}

TEST_F(ServerTest, RefusesOtherUsers) {
  if (auto why = testkit::probe_root("connect as another uid"); !why.empty()) {
    GTEST_SKIP() << why;
  }
  start();
  ASSERT_EQ(::chmod(dir.path().c_str(), 0755), 0);
  ASSERT_EQ(::chmod(socket_path().c_str(), 0666), 0);
  std::string path = socket_path();
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // Child: only async-signal-safe-ish calls, exit code is the verdict.
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) {
      ::_exit(10);
    }
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
      ::_exit(11);
    }
    const char request[] = "{\"v\":1,\"id\":1,\"method\":\"ping\"}\n";
    // The server may already have answered and shut the connection: no SIGPIPE.
    [[maybe_unused]] auto sent = ::send(fd, request, sizeof request - 1, MSG_NOSIGNAL);
    char buf[1024] = {};
    std::size_t got = 0;
    while (got < sizeof buf - 1) {
      ssize_t n = ::read(fd, buf + got, sizeof buf - 1 - got);
      if (n <= 0) {
        break;
      }
      got += static_cast<std::size_t>(n);
    }
    // One unauthorized line, then the server closes the connection (read returned 0).
    bool unauthorized = std::strstr(buf, "\"code\":\"unauthorized\"") != nullptr &&
                        std::strstr(buf, "uid 65534 may not use this daemon") != nullptr &&
                        std::strstr(buf, "pong") == nullptr;
    ::_exit(unauthorized ? 0 : 12);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status)) << "child killed by signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0);
  // The owner is still served.
  Client client = connect();
  EXPECT_TRUE(client.call<api::Ping>({}));
}

// vm.stream hands the CLI a connected agent channel this way (ADR 0009): the reply's descriptor
// reaches call_with_fd and works; a failed call passes none, so the client sees only the error;
// a plain call() on the same connection afterwards is not confused by it.
TEST_F(ServerTest, AReplyCanCarryADescriptorAndAFailedOneCarriesNone) {
  start();
  Client client = connect();
  auto passed = client.call_with_fd<PassPipe>({});
  ASSERT_TRUE(passed) << passed.error().message;
  ASSERT_TRUE(passed->second.valid());
  ASSERT_EQ(::write(pipe_write_end.get(), "hello", 5), 5);
  char buffer[8] = {};
  ASSERT_EQ(::read(passed->second.get(), buffer, sizeof buffer), 5);
  EXPECT_EQ(std::string(buffer, 5), "hello");
  EXPECT_NE(::fcntl(passed->second.get(), F_GETFD) & FD_CLOEXEC, 0) << "received fds are CLOEXEC";

  auto refused = client.call_with_fd<PassPipe>({.fail = true});
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, Errc::not_found);
  EXPECT_EQ(refused.error().message, "no pipe for you");
  // The handler's read end was closed by the server: the write end sees no reader.
  EXPECT_TRUE(testkit::eventually([&] {
    pollfd p{pipe_write_end.get(), POLLOUT, 0};
    return ::poll(&p, 1, 0) == 1 && (p.revents & POLLERR) != 0;
  }));

  auto plain = client.call<api::Ping>({});
  EXPECT_TRUE(plain) << plain.error().message;
}

// What a call keeps until hang-up (vm.stream: the channel's lease) outlives the call and is
// released when the client's connection closes.
TEST_F(ServerTest, WhatACallKeepsIsReleasedWhenTheClientHangsUp) {
  start();
  {
    Client client = connect();
    auto passed = client.call_with_fd<PassPipe>({});
    ASSERT_TRUE(passed) << passed.error().message;
    ASSERT_TRUE(client.call<api::Ping>({}));
    EXPECT_FALSE(pipe_lease.expired()) << "released while the client is still connected";
  }
  EXPECT_TRUE(testkit::eventually([&] { return pipe_lease.expired(); }));
}

// A method that passes nothing, asked for a descriptor: an internal error, not a hang or a
// descriptor from somewhere else.
TEST_F(ServerTest, AskingForADescriptorThatIsNotSentIsAnError) {
  start();
  Client client = connect();
  auto none = client.call_with_fd<api::Ping>({});
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, Errc::internal);
  EXPECT_THAT(none.error().message, ::testing::HasSubstr("carried 0 descriptors"));
}

}  // namespace
}  // namespace banger::rpc
