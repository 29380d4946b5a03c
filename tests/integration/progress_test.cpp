// `banger kernel pull` progress as a user sees it (docs/cli.md "Progress"): under a real PTY a
// live bar with bytes and a rate, redrawn in place; into a pipe plain lines without escapes;
// with --quiet nothing but the error. No internet: the daemon's apt (APT_CONFIG) reads a flat
// repository served on 127.0.0.1 by a throttled HTTP server in this test, whose "kernel"
// package is random bytes, so the pull fails after its download (the error must print cleanly
// below where the bars were).
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <pty.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <random>
#include <regex>
#include <thread>

#include "harness.hpp"

#include "banger/sys/fs.hpp"

namespace banger::itest {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::chrono_literals;

constexpr std::size_t kKernelBytes = 6 * 1024 * 1024;
constexpr const char* kKernelPackage = "linux-image-6.1.0-99-cloud-amd64";

// Serves the files of a directory over HTTP/1.1 on 127.0.0.1 (one thread per connection,
// Connection: close), 64 KiB every 10 ms, so a few MiB take a second or two. 404 otherwise.
class ThrottledHttpServer {
 public:
  explicit ThrottledHttpServer(std::string root) : root_(std::move(root)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(fd_, 16) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      return;
    }
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
  }
  ~ThrottledHttpServer() {
    stop_ = true;
    if (acceptor_.joinable()) {
      acceptor_.join();
    }
    for (auto& t : connections_) {
      t.join();
    }
    if (fd_ >= 0) {
      ::close(fd_);
    }
  }
  int port() const { return port_; }

 private:
  void accept_loop() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) {
        continue;
      }
      int conn = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (conn >= 0) {
        connections_.emplace_back([this, conn] { serve(conn); });
      }
    }
  }
  void serve(int conn) {
    std::string request;
    char buf[4096];
    while (request.find("\r\n\r\n") == std::string::npos && !stop_) {
      pollfd p{conn, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) {
        continue;
      }
      ssize_t n = ::read(conn, buf, sizeof buf);
      if (n <= 0) {
        break;
      }
      request.append(buf, static_cast<std::size_t>(n));
    }
    std::smatch match;
    std::string body;
    bool found = false;
    if (std::regex_search(request, match, std::regex("^GET /(?:\\./)?([A-Za-z0-9_.-]+) "))) {
      if (auto file = sys::read_file(root_ + "/" + match[1].str())) {
        body = std::move(*file);
        found = true;
      }
    }
    std::string head = found ? "HTTP/1.1 200 OK\r\n" : "HTTP/1.1 404 Not Found\r\n";
    head += "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n";
    bool ok = send_all(conn, head);
    for (std::size_t at = 0; ok && at < body.size() && !stop_; at += kChunk) {
      ok = send_all(conn, std::string_view(body).substr(at, kChunk));
      std::this_thread::sleep_for(10ms);  // the throttle: what makes a rate to show
    }
    ::close(conn);
  }
  static bool send_all(int conn, std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(conn, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) {
        return false;
      }
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  static constexpr std::size_t kChunk = 64 * 1024;
  std::string root_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread acceptor_;
  std::vector<std::thread> connections_;
};

std::string random_bytes(std::size_t n) {
  std::mt19937_64 gen(42);
  std::string out(n, '\0');
  for (auto& c : out) {
    c = static_cast<char>(gen() & 0xff);
  }
  return out;
}

std::string sha256_of(const std::string& path) {
  sys::PosixCommandRunner runner;
  auto result = runner.run({.argv = {"sha256sum", path}});
  return result && result->exit_code == 0 ? result->out.substr(0, 64) : "";
}

// What a PTY run saw: everything the terminal received, and the exit code.
struct PtyRun {
  std::string output;
  int exit_code = -1;
};

// Runs `banger <args>` with stdin/stdout/stderr on a new 120x24 PTY and env set (and NO_COLOR
// removed unless env sets it); reads until the child closes the terminal.
PtyRun run_in_pty(const std::vector<std::string>& args,
                  const std::map<std::string, std::string>& env) {
  std::vector<std::string> argv = {bin("banger")};
  argv.insert(argv.end(), args.begin(), args.end());
  winsize size{};
  size.ws_row = 24;
  size.ws_col = 120;
  int master = -1;
  pid_t pid = ::forkpty(&master, nullptr, nullptr, &size);
  if (pid == 0) {
    ::unsetenv("NO_COLOR");
    for (const auto& [name, value] : env) {
      ::setenv(name.c_str(), value.c_str(), 1);
    }
    std::vector<char*> cargv;
    for (auto& a : argv) {
      cargv.push_back(a.data());
    }
    cargv.push_back(nullptr);
    ::execv(cargv[0], cargv.data());
    ::_exit(127);
  }
  PtyRun run;
  if (pid < 0) {
    return run;
  }
  const auto deadline = std::chrono::steady_clock::now() + 120s;
  char buf[4096];
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{master, POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) {
      continue;
    }
    ssize_t n = ::read(master, buf, sizeof buf);
    if (n <= 0) {
      break;  // EIO: the child and its daemon-free session closed the terminal
    }
    run.output.append(buf, static_cast<std::size_t>(n));
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  ::close(master);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

class ProgressDisplay : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* tool : {"apt-get", "apt-cache", "sha256sum"}) {
      if (sys::find_executable(tool).empty()) {
        GTEST_SKIP() << tool << " not installed";
      }
    }
    const std::string srv = repo_.path() + "/srv";
    const std::string apt = repo_.path() + "/apt";
    for (const auto& dir :
         {srv, apt + "/lists/partial", apt + "/cache/archives/partial", apt + "/sources.list.d"}) {
      ASSERT_TRUE(sys::make_dirs(dir));
    }
    ASSERT_TRUE(sys::write_file_atomic(srv + "/k.deb", random_bytes(kKernelBytes)));
    ASSERT_TRUE(sys::write_file_atomic(srv + "/b.deb", random_bytes(1000)));
    auto stanza = [&](const std::string& package, const std::string& version,
                      const std::string& file, std::size_t bytes, const std::string& extra) {
      return "Package: " + package + "\nVersion: " + version + "\nArchitecture: amd64\n" + extra +
             "Filename: ./" + file + "\nSize: " + std::to_string(bytes) +
             "\nSHA256: " + sha256_of(srv + "/" + file) + "\nDescription: test\n\n";
    };
    ASSERT_TRUE(sys::write_file_atomic(
        srv + "/Packages", stanza("linux-image-cloud-amd64", "6.1.999-1", "b.deb", 1000,
                                  std::string("Depends: ") + kKernelPackage + "\n") +
                               stanza(kKernelPackage, "6.1.999-1", "k.deb", kKernelBytes, "") +
                               stanza("busybox-static", "1:99.0-1", "b.deb", 1000, "")));
    server_ = std::make_unique<ThrottledHttpServer>(srv);
    ASSERT_GT(server_->port(), 0);
    ASSERT_TRUE(sys::write_file_atomic(
        apt + "/sources.list",
        "deb [trusted=yes] http://127.0.0.1:" + std::to_string(server_->port()) + "/ ./\n"));
    apt_config_ = apt + "/apt.conf";
    ASSERT_TRUE(sys::write_file_atomic(apt_config_, "Dir::Etc::SourceList \"" + apt +
                                                        "/sources.list\";\n"
                                                        "Dir::Etc::SourceParts \"" +
                                                        apt +
                                                        "/sources.list.d\";\n"
                                                        "Dir::State::Lists \"" +
                                                        apt +
                                                        "/lists\";\n"
                                                        "Dir::Cache \"" +
                                                        apt +
                                                        "/cache\";\n"
                                                        "APT::Sandbox::User \"root\";\n"
                                                        "Acquire::Languages \"none\";\n"));
    sys::PosixCommandRunner runner;
    auto update = runner.run({.argv = {"apt-get", "update"},
                              .timeout = 60s,
                              .env_overrides = {{"APT_CONFIG", apt_config_}}});
    ASSERT_TRUE(update && update->exit_code == 0)
        << (update ? update->out + update->err : update.error().message);
  }

  std::map<std::string, std::string> env() const {
    return {{"BANGER_HOME", home_.dir()},
            {"HOME", home_.dir() + "/home"},
            {"BANGER_REQUIRE_NETNS", "1"},
            {"APT_CONFIG", apt_config_},
            {"TERM", "xterm"}};
  }

  testkit::TempDir repo_;
  std::unique_ptr<ThrottledHttpServer> server_;
  std::string apt_config_;
  BangerHome home_;
};

TEST_F(ProgressDisplay, KernelPullShowsALiveBarOnATtyAndPlainLinesInAPipe) {
  // Into a pipe (this also starts the daemon, with APT_CONFIG): plain lines, no escapes.
  auto piped = home_.banger({"kernel", "pull", "debian-cloud"}, "", {{"APT_CONFIG", apt_config_}});
  EXPECT_NE(piped.exit_code, 0);
  EXPECT_EQ(piped.err.find('\033'), std::string::npos) << piped.err;
  EXPECT_THAT(piped.err, HasSubstr("resolve: resolving linux-image-cloud-amd64\n"));
  EXPECT_THAT(piped.err, HasSubstr(std::string("download: downloading ") + kKernelPackage +
                                   ", busybox-static (0 B/6.0 MiB, 0%)\n"));
  EXPECT_THAT(piped.err, HasSubstr("6.0 MiB/6.0 MiB, 100%)\n"));
  EXPECT_THAT(piped.err, HasSubstr("\nbanger: "));

  // On a terminal: a bar, bytes, a rate (and colour, NO_COLOR being unset), redrawn in place
  // (cursor up), then erased before the error, which starts its own line.
  auto tty = run_in_pty({"kernel", "pull", "debian-cloud"}, env());
  EXPECT_NE(tty.exit_code, 0);
  EXPECT_TRUE(std::regex_search(tty.output, std::regex("\\[\033\\[32m=+>?\033\\[0m *\\] +\\d+%")))
      << tty.output;
  EXPECT_TRUE(std::regex_search(tty.output, std::regex("\\d+\\.\\d (KiB|MiB)/s"))) << tty.output;
  EXPECT_THAT(tty.output, HasSubstr("/6.0 MiB"));
  EXPECT_THAT(tty.output, HasSubstr("\033[1A"));
  auto last_erase = tty.output.rfind("\033[J");
  ASSERT_NE(last_erase, std::string::npos);
  EXPECT_EQ(tty.output.substr(last_erase + 3, 8), "banger: ") << tty.output;

  // NO_COLOR: the same bar without colour codes.
  auto env_no_color = env();
  env_no_color["NO_COLOR"] = "1";
  auto plain_tty = run_in_pty({"kernel", "pull", "debian-cloud"}, env_no_color);
  EXPECT_FALSE(std::regex_search(plain_tty.output, std::regex("\033\\[[0-9;]*m")))
      << plain_tty.output;
  EXPECT_TRUE(std::regex_search(plain_tty.output, std::regex("\\[=+>? *\\] +\\d+%")))
      << plain_tty.output;

  // --quiet after the subcommand (the root flag falls through): only the error.
  auto quiet = run_in_pty({"kernel", "pull", "debian-cloud", "--quiet"}, env_no_color);
  EXPECT_NE(quiet.exit_code, 0);
  EXPECT_THAT(quiet.output, Not(HasSubstr("download")));
  EXPECT_THAT(quiet.output, Not(HasSubstr("\033[")));
  EXPECT_EQ(quiet.output.rfind("banger: ", 0), 0u) << quiet.output;
}

}  // namespace
}  // namespace banger::itest
