// oci::RegistryClient against tests/oci/hostile_registry.py on loopback: auth flows, registry
// errors, retries, and registries that lie about sizes and digests, send too much, or hang.
#include <fcntl.h>
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "banger/oci/manifest.hpp"
#include "banger/oci/reference.hpp"
#include "banger/oci/registry.hpp"
#include "banger/posix/env.hpp"
#include "banger/posix/fd.hpp"
#include "banger/posix/io.hpp"
#include "banger/posix/subprocess.hpp"
#include "banger/posix/tcp.hpp"
#include "banger/sys/fs.hpp"
#include "banger/sys/sha256.hpp"
#include "banger/testkit/probes.hpp"
#include "banger/testkit/temp_dir.hpp"

namespace banger::oci {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

constexpr std::string_view kServerScript = BANGER_OCI_FIXTURES "/hostile_registry.py";
constexpr auto kServerStartTimeout = 20s;
constexpr auto kStallTimeout = 2s;  // RegistryOptions::stall_timeout of every test client
constexpr int kAttempts = 3;
constexpr std::uint64_t kSizeLie = 10;  // hostile_registry.py SIZE_LIE

// The running hostile registry: the child, and the write end of its stdin, whose closing (also
// when this process dies) makes it exit.
struct Server {
  posix::Subprocess process;
  posix::Fd stdin_write;
  int port = 0;
};

// Starts hostile_registry.py and reads {"port": N} from its first stdout line. Its stderr is
// ours, so a Python traceback shows up in the test log.
Expected<Server> start_server() {
  auto in = posix::make_pipe();
  auto out = posix::make_pipe();
  if (!in || !out) {
    return fail(Errc::io, "pipe2 failed");
  }
  auto process =
      posix::Subprocess::spawn({.argv = {"python3", std::string(kServerScript)},
                                .env = posix::current_env(),
                                .new_session = true,
                                .stdio = posix::Stdio::redirect,
                                .redirect = {in->read.get(), out->write.get(), STDERR_FILENO}});
  if (!process) {
    return tl::unexpected(from_sys(process.error(), "starting hostile_registry.py"));
  }
  in->read.reset();
  out->write.reset();
  std::string line;
  auto end =
      posix::read_until(out->read.get(), '\n', line, 256, posix::deadline_in(kServerStartTimeout));
  if (!end || *end != posix::ReadEnd::delimiter) {
    return fail(Errc::unavailable, "hostile_registry.py printed no port line: '" + line + "'");
  }
  auto doc = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object() || !doc.contains("port") || !doc["port"].is_number_integer()) {
    return fail(Errc::unavailable, "hostile_registry.py printed '" + line + "', not a port");
  }
  return Server{.process = std::move(*process),
                .stdin_write = std::move(in->write),
                .port = doc["port"].get<int>()};
}

// GET path from 127.0.0.1:port with HTTP/1.0 and returns the body ("" on any failure): the
// debug endpoints of hostile_registry.py.
std::string http_get(int port, std::string_view path) {
  auto started = posix::start_connect_tcp4("127.0.0.1", port);
  if (!started) {
    return "";
  }
  const int fd = started->fd.get();
  const auto deadline = posix::deadline_in(5s);
  if (started->in_progress &&
      (!posix::wait_ready(fd, POLLOUT, deadline) || posix::socket_error(fd) != 0)) {
    return "";
  }
  std::string request = fmt::format("GET {} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
  if (!posix::write_all(fd, request, deadline)) {
    return "";
  }
  std::string answer;
  char buffer[4096];
  while (true) {
    auto n = posix::read_some(fd, buffer, sizeof buffer, deadline);
    if (!n || *n == 0) {
      break;
    }
    answer.append(buffer, *n);
  }
  const auto body = answer.find("\r\n\r\n");
  return body == std::string::npos ? "" : answer.substr(body + 4);
}

// Peak resident memory of this process (VmHWM), in bytes.
std::uint64_t peak_rss() {
  const auto status = sys::read_file("/proc/self/status").value_or("");
  const auto at = status.find("VmHWM:");
  return at == std::string::npos ? 0 : std::strtoull(status.c_str() + at + 6, nullptr, 10) * 1024;
}

bool exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

// Whether result is an error with code whose message contains part (exact: equals it); on
// failure it says what came instead.
template <class T>
::testing::AssertionResult failed_with(const Expected<T>& result, Errc code, std::string_view part,
                                       bool exact = false) {
  if (result) {
    return ::testing::AssertionFailure() << "succeeded; expected " << errc_name(code);
  }
  const Error& error = result.error();
  const bool matches =
      exact ? error.message == part : error.message.find(part) != std::string::npos;
  if (error.code != code || !matches) {
    return ::testing::AssertionFailure()
           << "failed with " << errc_name(error.code) << ": " << error.message << "\nexpected "
           << errc_name(code) << (exact ? ": " : " containing: ") << part;
  }
  return ::testing::AssertionSuccess();
}

// failed_with(), for a message that must be exactly `message`.
template <class T>
::testing::AssertionResult failed_exactly(const Expected<T>& result, Errc code,
                                          std::string_view message) {
  return failed_with(result, code, message, /*exact=*/true);
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// What the suite shares: the server (started once per suite), or why there is none.
struct Suite {
  std::optional<Server> server;
  std::string skip_reason;  // python3 is missing
  std::string start_error;  // the server did not start
};

Suite& suite() {
  static Suite shared;
  return shared;
}

class RegistryClientTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    suite().skip_reason = testkit::probe_tools({"python3"});
    if (!suite().skip_reason.empty()) {
      return;
    }
    auto started = start_server();
    if (!started) {
      suite().start_error = started.error().message;
      return;
    }
    suite().server.emplace(std::move(*started));
  }

  // Kills (SIGKILL to its process group) and reaps the server.
  static void TearDownTestSuite() { suite().server.reset(); }

  void SetUp() override {
    if (!suite().skip_reason.empty()) {
      GTEST_SKIP() << suite().skip_reason;
    }
    ASSERT_TRUE(suite().server) << suite().start_error;
    ASSERT_EQ(http_get(port(), "/_reset"), "{}");  // request counters and flaky paths start over
  }

  static int port() {
    const std::optional<Server>& server = suite().server;
    return server ? server->port : 0;
  }

  // A client for 127.0.0.1:<port>/<repository>:latest with the short test limits.
  static RegistryClient client(std::string_view repository,
                               std::optional<Credentials> credentials = std::nullopt,
                               base::CancelFn cancel = {}) {
    auto ref = parse_reference(fmt::format("127.0.0.1:{}/{}", port(), repository));
    EXPECT_TRUE(ref) << ref.error().message;
    return RegistryClient(ref.value_or(Reference{}),
                          RegistryOptions{.plain_http = true,
                                          .credentials = std::move(credentials),
                                          .connect_timeout = 5s,
                                          .stall_timeout = kStallTimeout,
                                          .attempts = kAttempts,
                                          .backoff = 10ms,
                                          .user_agent = "banger-test",
                                          .document_timeout = 4s},
                          std::move(cancel));
  }

  // The image every repository serves, as ok/image describes it.
  static Manifest good_manifest() {
    auto fetched = client("ok/image").fetch_manifest("latest");
    EXPECT_TRUE(fetched) << fetched.error().message;
    auto manifest = parse_manifest(fetched ? fetched->body : "", "", "ok/image");
    EXPECT_TRUE(manifest) << manifest.error().message;
    return manifest.value_or(Manifest{});
  }

  // The manifest repository serves (which may lie about the layer's size).
  static Manifest manifest_of(std::string_view repository) {
    auto fetched = client(repository).fetch_manifest("latest");
    EXPECT_TRUE(fetched) << fetched.error().message;
    auto manifest = parse_manifest(fetched ? fetched->body : "", "", repository);
    EXPECT_TRUE(manifest) << manifest.error().message;
    if (manifest && manifest->layers.size() != 1) {
      ADD_FAILURE() << repository << " serves " << manifest->layers.size() << " layers";
      return Manifest{.layers = {Descriptor{}}};
    }
    return manifest.value_or(Manifest{.layers = {Descriptor{}}});
  }

  // How many /v2/<repository>/ requests the server answered since SetUp.
  static int requests_to(std::string_view repository) {
    auto doc = nlohmann::json::parse(http_get(port(), fmt::format("/_count/{}", repository)),
                                     nullptr, /*allow_exceptions=*/false);
    return doc.is_object() && doc["count"].is_number_integer() ? doc["count"].get<int>() : -1;
  }

  // Pulls registry's image completely: manifest, config and layer (its digest checked on disk).
  void expect_pull_works(RegistryClient& registry) {
    auto fetched = registry.fetch_manifest("latest");
    ASSERT_TRUE(fetched) << fetched.error().message;
    auto manifest = parse_manifest(fetched->body, fetched->content_type, "test");
    ASSERT_TRUE(manifest) << manifest.error().message;
    ASSERT_EQ(manifest->layers.size(), 1u);
    auto config = registry.fetch_small_blob(manifest->config);
    ASSERT_TRUE(config) << config.error().message;
    EXPECT_EQ("sha256:" + sys::sha256_hex(*config), manifest->config.digest);
    const std::string dest = dir_.path() + "/layer";
    auto layer = registry.fetch_blob(manifest->layers[0], dest);
    ASSERT_TRUE(layer) << layer.error().message;
    EXPECT_EQ("sha256:" + sys::sha256_file(dest).value_or(""), manifest->layers[0].digest);
  }

  testkit::TempDir dir_;
};

// --- A well-behaved registry ---------------------------------------------------------------

TEST_F(RegistryClientTest, PullsManifestConfigAndLayerOfAnAnonymousImage) {
  auto registry = client("ok/image");
  auto fetched = registry.fetch_manifest("latest");
  ASSERT_TRUE(fetched) << fetched.error().message;
  EXPECT_EQ(fetched->content_type, media::kOciManifest);
  EXPECT_EQ(fetched->digest, "sha256:" + sys::sha256_hex(fetched->body));
  auto manifest = parse_manifest(fetched->body, fetched->content_type, "ok/image");
  ASSERT_TRUE(manifest) << manifest.error().message;
  ASSERT_EQ(manifest->layers.size(), 1u);

  auto config = registry.fetch_small_blob(manifest->config);
  ASSERT_TRUE(config) << config.error().message;
  auto image_config = parse_image_config(*config, "ok/image");
  ASSERT_TRUE(image_config) << image_config.error().message;
  EXPECT_EQ(image_config->cmd, std::vector<std::string>{"/bin/sh"});
  EXPECT_EQ(image_config->layer_count, 1u);

  const Descriptor& layer = manifest->layers[0];
  const std::string dest = dir_.path() + "/layer";
  std::uint64_t last_progress = 0;
  auto blob = registry.fetch_blob(layer, dest, [&](std::uint64_t done) { last_progress = done; });
  ASSERT_TRUE(blob) << blob.error().message;
  EXPECT_EQ("sha256:" + sys::sha256_file(dest).value_or(""), layer.digest);
  EXPECT_EQ(last_progress, layer.size);
  EXPECT_EQ(requests_to("ok/image"), 3);  // no retries, no auth round trips
}

TEST_F(RegistryClientTest, ManifestFetchedByDigestIsVerified) {
  auto registry = client("ok/image");
  auto by_tag = registry.fetch_manifest("latest");
  ASSERT_TRUE(by_tag) << by_tag.error().message;
  auto by_digest = registry.fetch_manifest(by_tag->digest);
  ASSERT_TRUE(by_digest) << by_digest.error().message;
  EXPECT_EQ(by_digest->digest, by_tag->digest);
  EXPECT_EQ(by_digest->body, by_tag->body);
}

// --- Authentication ------------------------------------------------------------------------

TEST_F(RegistryClientTest, BearerChallengeIsAnsweredWithAnAnonymousToken) {
  auto registry = client("bearer/image");
  expect_pull_works(registry);
  // One 401 for the first request only: the token is kept for the config and the layer.
  EXPECT_EQ(requests_to("bearer/image"), 4);
}

TEST_F(RegistryClientTest, BearerTokenServiceGetsTheCredentials) {
  auto with = client("bearer-creds/image", Credentials{"user", "pass"});
  expect_pull_works(with);

  EXPECT_TRUE(failed_exactly(client("bearer-creds/image").fetch_manifest("latest"),
                             Errc::permission_denied,
                             fmt::format("manifest 127.0.0.1:{0}/bearer-creds/image:latest: "
                                         "registry 127.0.0.1:{0} refused the credentials (none "
                                         "were given)",
                                         port())));
  auto wrong = client("bearer-creds/image", Credentials{"user", "nope"}).fetch_manifest("latest");
  EXPECT_TRUE(failed_with(wrong, Errc::permission_denied,
                          fmt::format("registry 127.0.0.1:{} refused the credentials", port())));
  EXPECT_THAT(wrong.error().message, ::testing::Not(HasSubstr("none were given")));
}

TEST_F(RegistryClientTest, BasicChallengeNeedsCredentialsAndSaysHowToGiveThem) {
  auto with = client("basic/image", Credentials{"user", "pass"});
  expect_pull_works(with);

  EXPECT_TRUE(failed_exactly(client("basic/image").fetch_manifest("latest"),
                             Errc::permission_denied,
                             fmt::format("manifest 127.0.0.1:{0}/basic/image:latest: registry "
                                         "127.0.0.1:{0} requires a login: add it to "
                                         "~/.docker/config.json or pass --username and "
                                         "--password-stdin",
                                         port())));
  EXPECT_TRUE(failed_with(
      client("basic/image", Credentials{"user", "nope"}).fetch_manifest("latest"),
      Errc::permission_denied,
      fmt::format("registry 127.0.0.1:{0} refused the credentials for 127.0.0.1:{0}/basic/image "
                  "(HTTP 401: authentication required)",
                  port())));
}

TEST_F(RegistryClientTest, RegistryThatRefusesItsOwnTokenIsPermissionDenied) {
  EXPECT_TRUE(failed_exactly(
      client("denied/image").fetch_manifest("latest"), Errc::permission_denied,
      fmt::format("manifest 127.0.0.1:{0}/denied/image:latest: access denied by registry "
                  "127.0.0.1:{0} (HTTP 401: authentication required); the repository may not "
                  "exist, or needs credentials in ~/.docker/config.json or "
                  "--username/--password-stdin",
                  port())));
  EXPECT_EQ(requests_to("denied/image"), 2);  // the anonymous try and the one with the token
}

TEST_F(RegistryClientTest, UnauthorizedWithoutChallengeIsPermissionDenied) {
  EXPECT_TRUE(failed_with(client("nochallenge/image").fetch_manifest("latest"),
                          Errc::permission_denied,
                          fmt::format("registry 127.0.0.1:{} refused access without saying how "
                                      "to log in",
                                      port())));
}

TEST_F(RegistryClientTest, TokenAnswerWithoutATokenIsRefused) {
  EXPECT_TRUE(failed_with(client("badtoken/image").fetch_manifest("latest"), Errc::invalid_argument,
                          "token endpoint answered without a token"));
}

TEST_F(RegistryClientTest, BlobRedirectedToAnotherHostDoesNotCarryTheToken) {
  // Given a registry that wants a token and redirects blobs to http://localhost:<port>, whose
  // storage answers 400 to any Authorization header (as S3 does), then the pull works.
  auto registry = client("redirect/image");
  expect_pull_works(registry);
}

// --- Registry errors and retries -----------------------------------------------------------

TEST_F(RegistryClientTest, MissingManifestIsNotFoundWithTheRegistryMessage) {
  EXPECT_TRUE(failed_exactly(client("missing/image").fetch_manifest("latest"), Errc::not_found,
                             fmt::format("manifest 127.0.0.1:{0}/missing/image:latest: not found "
                                         "in 127.0.0.1:{0}/missing/image: manifest unknown",
                                         port())));
  EXPECT_EQ(requests_to("missing/image"), 1);  // a 404 is not retried
}

TEST_F(RegistryClientTest, RateLimitedRequestsAreRetried) {
  auto registry = client("flaky429/image");
  expect_pull_works(registry);
  EXPECT_EQ(requests_to("flaky429/image"), 3 * kAttempts);  // manifest, config, layer: 2 x 429
}

TEST_F(RegistryClientTest, ServerErrorsAreRetried) {
  auto registry = client("flaky500/image");
  expect_pull_works(registry);
  EXPECT_EQ(requests_to("flaky500/image"), 3 * kAttempts);  // each: 500, 503, 200
}

TEST_F(RegistryClientTest, PersistentServerErrorGivesUpAfterTheAttempts) {
  EXPECT_TRUE(failed_exactly(
      client("always500/image").fetch_manifest("latest"), Errc::unavailable,
      fmt::format("manifest 127.0.0.1:{0}/always500/image:latest: registry "
                  "127.0.0.1:{0} answered HTTP 500: backend on fire (after 3 attempts)",
                  port())));
  EXPECT_EQ(requests_to("always500/image"), kAttempts);
}

TEST_F(RegistryClientTest, NoRegistryListeningIsUnavailable) {
  // Given a port that was free a moment ago (bound, then closed), then connecting fails.
  int free_port = 0;
  {
    auto listener = posix::listen_tcp4("127.0.0.1", 0);
    ASSERT_TRUE(listener);
    free_port = posix::local_port(listener->get()).value_or(0);
  }
  RegistryClient registry(Reference{.registry = fmt::format("127.0.0.1:{}", free_port),
                                    .repository = "ok/image",
                                    .tag = "latest",
                                    .digest = ""},
                          RegistryOptions{.plain_http = true,
                                          .connect_timeout = 5s,
                                          .stall_timeout = kStallTimeout,
                                          .attempts = kAttempts,
                                          .backoff = 10ms});
  EXPECT_TRUE(failed_with(registry.fetch_manifest("latest"), Errc::unavailable,
                          "Couldn't connect to server"));
}

// --- Blobs that are not what the manifest says ---------------------------------------------

TEST_F(RegistryClientTest, TruncatedBlobFailsAfterRetriesAndLeavesNoFile) {
  Manifest manifest = manifest_of("truncated/image");
  const std::string dest = dir_.path() + "/layer";
  EXPECT_TRUE(
      failed_with(client("truncated/image").fetch_blob(manifest.layers[0], dest), Errc::unavailable,
                  fmt::format("blob {}: Transferred a partial file", manifest.layers[0].digest)));
  EXPECT_FALSE(exists(dest));
  EXPECT_EQ(requests_to("truncated/image"), 1 + kAttempts);  // the manifest, then the tries
}

TEST_F(RegistryClientTest, BlobShorterThanDeclaredIsRefusedAndRemoved) {
  Manifest manifest = manifest_of("short/image");
  const Descriptor& layer = manifest.layers[0];
  const std::string dest = dir_.path() + "/layer";
  EXPECT_TRUE(
      failed_exactly(client("short/image").fetch_blob(layer, dest), Errc::invalid_argument,
                     fmt::format("blob {}: registry sent {} bytes, the manifest declares {}",
                                 layer.digest, layer.size - kSizeLie, layer.size)));
  EXPECT_FALSE(exists(dest));
}

TEST_F(RegistryClientTest, BlobLongerThanDeclaredIsRefusedAndRemoved) {
  Manifest manifest = manifest_of("long/image");
  const Descriptor& layer = manifest.layers[0];
  const std::string dest = dir_.path() + "/layer";
  EXPECT_TRUE(failed_exactly(
      client("long/image").fetch_blob(layer, dest), Errc::invalid_argument,
      fmt::format("blob {}: registry sent more than the {} bytes the manifest declares",
                  layer.digest, layer.size)));
  EXPECT_FALSE(exists(dest));
  EXPECT_EQ(requests_to("long/image"), 2);  // the manifest, and one try: a lie is not retried
}

TEST_F(RegistryClientTest, SmallBlobLongerThanDeclaredIsRefused) {
  // The layer of long/image through fetch_small_blob, which has its own size check.
  Manifest manifest = manifest_of("long/image");
  EXPECT_TRUE(failed_with(client("long/image").fetch_small_blob(manifest.layers[0]),
                          Errc::invalid_argument,
                          fmt::format("registry sent more than the {} bytes the manifest declares",
                                      manifest.layers[0].size)));
}

TEST_F(RegistryClientTest, BlobWithOtherContentIsRefusedAndRemoved) {
  Manifest manifest = manifest_of("baddigest/image");
  const std::string dest = dir_.path() + "/layer";
  EXPECT_TRUE(failed_with(client("baddigest/image").fetch_blob(manifest.layers[0], dest),
                          Errc::invalid_argument,
                          fmt::format("blob {}: content does not match its digest (got sha256:",
                                      manifest.layers[0].digest)));
  EXPECT_FALSE(exists(dest));
}

TEST_F(RegistryClientTest, ManifestThatDiffersFromThePinnedDigestIsRefused) {
  auto registry = client("wrongdigest/image");
  auto by_tag = registry.fetch_manifest("latest");
  ASSERT_TRUE(by_tag) << by_tag.error().message;
  EXPECT_TRUE(failed_with(registry.fetch_manifest(by_tag->digest), Errc::invalid_argument,
                          fmt::format("manifest 127.0.0.1:{}/wrongdigest/image@{}: registry sent "
                                      "a manifest whose digest is sha256:",
                                      port(), by_tag->digest)));
}

// --- Too much, too slow, never -------------------------------------------------------------

TEST_F(RegistryClientTest, HugeManifestIsRefusedWithoutBufferingIt) {
  // Given a 2 GiB manifest, then the client stops at kMaxDocumentBytes, quickly.
  const std::uint64_t peak_before = peak_rss();
  const auto start = Clock::now();
  auto fetched = client("hugemanifest/image").fetch_manifest("latest");
  EXPECT_LT(seconds_since(start), 10.0);
  EXPECT_TRUE(failed_exactly(fetched, Errc::invalid_argument,
                             fmt::format("manifest 127.0.0.1:{}/hugemanifest/image:latest: larger "
                                         "than {} bytes; refused",
                                         port(), kMaxDocumentBytes)));
  EXPECT_LT(peak_rss(), peak_before + (std::uint64_t{64} << 20));  // 2 GiB were offered
  EXPECT_EQ(requests_to("hugemanifest/image"), 1);                 // too large is not retried
}

TEST_F(RegistryClientTest, EndlessErrorBodyIsNotReadForever) {
  // Given a 404 whose error body never ends, then the client stops reading it after the part
  // it keeps and reports the 404. The cancel function only keeps a client that reads on from
  // hanging the test.
  const auto start = Clock::now();
  auto fetched = client("hugeerror/image", std::nullopt, [start] {
                   return Clock::now() - start > 10s;
                 }).fetch_manifest("latest");
  EXPECT_LT(seconds_since(start), 5.0);
  EXPECT_TRUE(failed_with(fetched, Errc::not_found,
                          fmt::format("manifest 127.0.0.1:{0}/hugeerror/image:latest: not found "
                                      "in 127.0.0.1:{0}/hugeerror/image",
                                      port())));
}

TEST_F(RegistryClientTest, RegistryThatStallsAfterTheHeadersIsUnavailable) {
  Manifest manifest = good_manifest();
  const std::string dest = dir_.path() + "/layer";
  const auto start = Clock::now();
  auto blob = client("hang/image").fetch_blob(manifest.layers[0], dest);
  const double took = seconds_since(start);
  EXPECT_TRUE(failed_with(
      blob, Errc::unavailable,
      fmt::format("blob {}: the registry sent nothing for 2 s", manifest.layers[0].digest)));
  // Each attempt waits stall_timeout for a byte, then gives up.
  EXPECT_GE(took, 1.0 * kAttempts * kStallTimeout.count() - 0.5);
  EXPECT_LT(took, 15.0);
  EXPECT_FALSE(exists(dest));
  EXPECT_EQ(requests_to("hang/image"), kAttempts);
}

TEST_F(RegistryClientTest, RegistryThatNeverAnswersIsUnavailable) {
  const auto start = Clock::now();
  auto fetched = client("silent/image").fetch_manifest("latest");
  EXPECT_LT(seconds_since(start), 15.0);
  EXPECT_TRUE(failed_with(fetched, Errc::unavailable,
                          fmt::format("manifest 127.0.0.1:{}/silent/image:latest: the registry "
                                      "sent nothing for 2 s",
                                      port())));
  EXPECT_EQ(requests_to("silent/image"), kAttempts);
}

TEST_F(RegistryClientTest, TrickledManifestIsCutOff) {
  // A manifest that arrives at 2.5 bytes a second (so never "nothing for stall_timeout") is
  // cut off by RegistryOptions::document_timeout (4 s here) on every attempt.
  const auto start = Clock::now();
  auto fetched = client("trickle/image", std::nullopt, [start] {
                   return Clock::now() - start > 20s;
                 }).fetch_manifest("latest");
  EXPECT_LT(seconds_since(start), 15.0);
  EXPECT_TRUE(failed_with(fetched, Errc::unavailable, "trickle/image"));
}

// --- Cancellation --------------------------------------------------------------------------

TEST_F(RegistryClientTest, CancellationStopsAHangingTransfer) {
  Manifest manifest = good_manifest();
  const std::string dest = dir_.path() + "/layer";
  const auto start = Clock::now();
  auto registry =
      client("hang/image", std::nullopt, [start] { return Clock::now() - start > 200ms; });
  EXPECT_TRUE(failed_exactly(registry.fetch_blob(manifest.layers[0], dest), Errc::cancelled,
                             "pull cancelled"));
  EXPECT_LT(seconds_since(start), 1.9);  // before the first stall_timeout ends
  EXPECT_FALSE(exists(dest));
}

TEST_F(RegistryClientTest, CancellationStopsTheRetries) {
  // Given a registry that always answers 500 and a long backoff, then cancelling during the
  // backoff ends the pull there.
  const auto start = Clock::now();
  auto ref = parse_reference(fmt::format("127.0.0.1:{}/always500/image", port()));
  ASSERT_TRUE(ref);
  RegistryClient registry(*ref,
                          RegistryOptions{.plain_http = true,
                                          .connect_timeout = 5s,
                                          .stall_timeout = kStallTimeout,
                                          .attempts = kAttempts,
                                          .backoff = 5s},
                          [start] { return Clock::now() - start > 300ms; });
  EXPECT_TRUE(failed_exactly(registry.fetch_manifest("latest"), Errc::cancelled, "pull cancelled"));
  EXPECT_LT(seconds_since(start), 2.0);
  EXPECT_EQ(requests_to("always500/image"), 1);
}

}  // namespace
}  // namespace banger::oci
