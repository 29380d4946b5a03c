#include "banger/catalog/fetch.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <string>
#include <thread>

#include "banger/sys/fs.hpp"
#include "banger/sys/sha256.hpp"
#include "banger/testkit/temp_dir.hpp"

namespace banger::catalog {
namespace {

// A loopback HTTP server that answers every connection with the same raw bytes (status line,
// headers and body as given), then optionally keeps the connection open silently.
class CannedHttpServer {
 public:
  explicit CannedHttpServer(std::string response, bool hang_after = false)
      : response_(std::move(response)), hang_after_(hang_after) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::listen(fd_, 8);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~CannedHttpServer() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  std::string url(const std::string& path = "/c.json") const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }

 private:
  void serve() {
    while (!stop_) {
      int client = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) {
        return;
      }
      char buffer[4096];
      (void)::recv(client, buffer, sizeof buffer, 0);  // the request; its content is not used
      (void)::send(client, response_.data(), response_.size(), MSG_NOSIGNAL);
      while (hang_after_ && !stop_) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      ::close(client);
    }
  }
  std::string response_;
  bool hang_after_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

std::string ok_response(const std::string& body) {
  return "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\nConnection: close\r\n\r\n" + body;
}

TEST(CatalogLocation, AcceptsPathsFileUrlsHttpsAndLoopbackHttpOnly) {
  EXPECT_EQ(parse_location("/srv/catalog.json")->target, "/srv/catalog.json");
  EXPECT_EQ(parse_location("file:///srv/catalog.json")->target, "/srv/catalog.json");
  EXPECT_EQ(parse_location("https://example.com/c.json")->kind, LocationKind::http);
  EXPECT_TRUE(parse_location("http://127.0.0.1:8000/c.json"));
  EXPECT_TRUE(parse_location("http://localhost/c.json"));
  EXPECT_TRUE(parse_location("http://[::1]:80/c.json"));
  auto plain = parse_location("http://example.com/c.json");
  ASSERT_FALSE(plain);
  EXPECT_EQ(plain.error().code, Errc::invalid_argument);
  EXPECT_NE(plain.error().message.find("http:// is only used for loopback hosts: use https://"),
            std::string::npos);
  EXPECT_FALSE(parse_location("catalog.json"));
  EXPECT_FALSE(parse_location("file://host/srv/c.json"));
  EXPECT_FALSE(parse_location("ftp://example.com/c.json"));
}

TEST(CatalogFetch, ReadsFilesAndBoundsDocuments) {
  testkit::TempDir dir;
  ASSERT_TRUE(sys::write_file_atomic(dir.path() + "/c.json", "{\"version\":1}"));
  EXPECT_EQ(*fetch_document(dir.path() + "/c.json", 100), "{\"version\":1}");
  auto big = fetch_document(dir.path() + "/c.json", 5);
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().code, Errc::invalid_argument);
  EXPECT_NE(big.error().message.find("larger than 5 bytes"), std::string::npos);
  auto missing = fetch_document(dir.path() + "/none.json", 100);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::not_found);
}

TEST(CatalogFetch, CopiesAFileOnlyWhenSizeAndSha256Match) {
  testkit::TempDir dir;
  std::string body(300000, 'b');
  ASSERT_TRUE(sys::write_file_atomic(dir.path() + "/b.tar.zst", body));
  std::string sha = sys::sha256_hex(body);
  std::uint64_t last = 0;
  ASSERT_TRUE(fetch_file(dir.path() + "/b.tar.zst", dir.path() + "/copy", body.size(), sha,
                         [&last](std::uint64_t done) { last = done; }));
  EXPECT_EQ(*sys::read_file(dir.path() + "/copy"), body);
  EXPECT_EQ(last, body.size());

  auto wrong_sha =
      fetch_file(dir.path() + "/b.tar.zst", dir.path() + "/x", body.size(), std::string(64, '0'));
  ASSERT_FALSE(wrong_sha);
  EXPECT_EQ(wrong_sha.error().code, Errc::invalid_argument);
  EXPECT_NE(wrong_sha.error().message.find("sha256 is " + sha), std::string::npos);
  EXPECT_FALSE(sys::path_exists(dir.path() + "/x"));

  auto longer = fetch_file(dir.path() + "/b.tar.zst", dir.path() + "/x", 10, sha);
  ASSERT_FALSE(longer);
  EXPECT_NE(longer.error().message.find("longer than the 10 bytes the catalog says"),
            std::string::npos);
  EXPECT_FALSE(sys::path_exists(dir.path() + "/x"));

  auto shorter = fetch_file(dir.path() + "/b.tar.zst", dir.path() + "/x", body.size() + 1, sha);
  ASSERT_FALSE(shorter);
  EXPECT_NE(shorter.error().message.find("truncated"), std::string::npos);
  EXPECT_FALSE(sys::path_exists(dir.path() + "/x"));
}

TEST(CatalogFetch, FetchesOverLoopbackHttp) {
  CannedHttpServer server(ok_response("{\"version\":1}"));
  auto doc = fetch_document(server.url(), 1000);
  ASSERT_TRUE(doc) << doc.error().message;
  EXPECT_EQ(*doc, "{\"version\":1}");
}

TEST(CatalogFetch, MapsHttpStatusesToErrorsNamingTheUrl) {
  CannedHttpServer missing("HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nno!");
  auto gone = fetch_document(missing.url(), 1000);
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, Errc::not_found);
  EXPECT_EQ(gone.error().message, missing.url() + ": HTTP 404");
  CannedHttpServer forbidden("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(fetch_document(forbidden.url(), 1000).error().code, Errc::permission_denied);
  CannedHttpServer broken("HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(fetch_document(broken.url(), 1000).error().code, Errc::unavailable);
}

TEST(CatalogFetch, RefusesOversizedTruncatedAndRedirectedToPlainHttpAnswers) {
  CannedHttpServer huge(ok_response(std::string(5000, 'x')));
  auto big = fetch_document(huge.url(), 1000);
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().code, Errc::invalid_argument);

  CannedHttpServer truncated(
      "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nConnection: close\r\n\r\nonly this");
  testkit::TempDir dir;
  auto cut = fetch_file(truncated.url("/b.tar.zst"), dir.path() + "/b", 100, std::string(64, 'a'));
  ASSERT_FALSE(cut);
  EXPECT_FALSE(sys::path_exists(dir.path() + "/b"));

  CannedHttpServer target(ok_response("{}"));
  CannedHttpServer redirect("HTTP/1.1 302 Found\r\nLocation: " + target.url() +
                            "\r\nContent-Length: 0\r\n\r\n");
  auto moved = fetch_document(redirect.url(), 1000);
  ASSERT_FALSE(moved) << "a redirect may only lead to https";
}

TEST(CatalogFetch, AServerThatGoesSilentIsAbandoned) {
  CannedHttpServer silent("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc", true);
  FetchOptions options;
  options.stall_timeout = std::chrono::seconds(1);
  auto started = std::chrono::steady_clock::now();
  auto result = fetch_document(silent.url(), 1000, options);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, Errc::unavailable);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(20));
}

TEST(CatalogFetch, CancellationStopsATransfer) {
  CannedHttpServer silent("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc", true);
  auto result = fetch_document(silent.url(), 1000, {}, [] { return true; });
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, Errc::cancelled);
}

}  // namespace
}  // namespace banger::catalog
