// Readiness against a real sshd: a throwaway /usr/sbin/sshd on 127.0.0.1 (loopback only, a free
// port), run in a private mount namespace so its privilege-separation directory (/run/sshd) is a
// private tmpfs and the host's /run is untouched. Needs root, sshd, unshare and openssh-client.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>

#include "banger/base/clock.hpp"
#include "banger/base/expected.hpp"
#include "banger/base/fd.hpp"
#include "banger/base/strings.hpp"
#include "banger/guest/ssh_command.hpp"
#include "banger/guest/ssh_keys.hpp"
#include "banger/guest/ssh_probe.hpp"
#include "banger/sys/fs.hpp"
#include "banger/sys/process_launcher.hpp"
#include "banger/sys/ssh_command.hpp"
#include "banger/testkit/probes.hpp"
#include "banger/testkit/temp_dir.hpp"

namespace banger::guest {
namespace {

using namespace std::chrono_literals;

constexpr const char* kSshd = "/usr/sbin/sshd";
// sh -c script: a private tmpfs on /run holding sshd's privilege-separation dir, then exec argv.
constexpr const char* kPrivateRunThenExec =
    "mount -t tmpfs -o mode=0755 tmpfs /run && mkdir -m 0755 /run/sshd && exec \"$0\" \"$@\"";

std::string missing_prerequisite() {
  return testkit::first_missing(
      {testkit::probe_root("run a throwaway sshd"),
       sys::path_exists(kSshd) ? "" : "/usr/sbin/sshd (openssh-server) is not installed",
       testkit::probe_tools({"unshare", "ssh-keygen", "ssh-keyscan", "ssh"})});
}

// A port the kernel just handed out on 127.0.0.1 (closed again, so sshd can bind it).
int free_loopback_port() {
  base::UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (!fd || ::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    return 0;
  }
  socklen_t len = sizeof addr;
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return 0;
  }
  return ntohs(addr.sin_port);
}

// The key blob of a .pub file ("ssh-ed25519 AAAA... comment" -> "AAAA...").
std::string blob_of(const std::string& pub_path) {
  auto fields = base::split(base::trim(sys::read_file(pub_path).value()), ' ');
  return fields.size() >= 2 ? fields[1] : std::string();
}

class Sshd {
 public:
  Sshd(const std::string& dir, int port) : dir_(dir), port_(port) {}
  Sshd(const Sshd&) = delete;
  Sshd& operator=(const Sshd&) = delete;
  ~Sshd() { stop(); }

  // Starts sshd with host_key; the client key in authorized_keys may log in as root.
  Status start(const std::string& host_key, const std::string& authorized_keys) {
    sys::PosixProcessLauncher launcher;
    std::string config = dir_ + "/sshd_config";
    BANGER_TRY(sys::write_file_atomic(config, ""));
    auto launched =
        launcher.launch(sys::LaunchSpec{.argv = {"unshare",
                                                 "-m",
                                                 "--propagation",
                                                 "private",
                                                 "--",
                                                 "sh",
                                                 "-c",
                                                 kPrivateRunThenExec,
                                                 kSshd,
                                                 "-D",
                                                 "-e",
                                                 "-f",
                                                 config,
                                                 "-h",
                                                 host_key,
                                                 "-p",
                                                 std::to_string(port_),
                                                 "-o",
                                                 "ListenAddress=127.0.0.1",
                                                 "-o",
                                                 "PidFile=none",
                                                 "-o",
                                                 "StrictModes=no",
                                                 "-o",
                                                 "AuthorizedKeysFile=" + authorized_keys,
                                                 "-o",
                                                 "PasswordAuthentication=no",
                                                 "-o",
                                                 "KbdInteractiveAuthentication=no"},
                                        .cwd = dir_,
                                        .umask = 077,
                                        .env_overrides = {},
                                        .log_path = dir_ + "/sshd.log"});
    if (!launched) {
      return tl::unexpected(launched.error());
    }
    process_ = std::move(*launched);
    return {};
  }

  void stop() {
    if (process_) {
      (void)process_->signal(SIGTERM);
      if (!process_->wait_for(5s).value_or(std::nullopt)) {
        (void)process_->signal(SIGKILL);
        (void)process_->wait_for(5s);
      }
      process_.reset();
    }
  }

  std::string log() const { return sys::read_file(dir_ + "/sshd.log").value_or(""); }

 private:
  std::string dir_;
  int port_;
  std::unique_ptr<sys::Process> process_;
};

TEST(SshdReadiness, PinsOnFirstBootAndRejectsAChangedHostKey) {
  if (auto why = missing_prerequisite(); !why.empty()) {
    GTEST_SKIP() << why;
  }
  testkit::TempDir dir;
  sys::PosixCommandRunner runner;
  base::SystemClock clock;
  auto host1 = ensure_key(runner, dir.path() + "/host1");
  auto host2 = ensure_key(runner, dir.path() + "/host2");
  auto client = ensure_key(runner, dir.path() + "/client/id_ed25519");
  ASSERT_TRUE(host1 && host2 && client);
  ASSERT_TRUE(sys::write_file_atomic(dir.path() + "/authorized_keys", client->public_key + "\n"));
  int port = free_loopback_port();
  ASSERT_NE(port, 0);

  KnownHosts known_hosts(dir.path() + "/state/known_hosts");
  // Non-22 ports are "[host]:port" in known_hosts; a real VM uses {ip, "<name>.vm"}.
  std::vector<std::string> names = {fmt::format("[127.0.0.1]:{}", port),
                                    fmt::format("[loop.vm]:{}", port)};
  auto options = [&] {
    return WaitForSshOptions{.ip = "127.0.0.1",
                             .port = port,
                             .host_names = names,
                             .deadline = clock.steady_now() + 30s,
                             .scan_timeout = 2s,
                             .cancel = {}};
  };

  Sshd sshd(dir.path(), port);
  ASSERT_TRUE(sshd.start(host1->private_key_path, dir.path() + "/authorized_keys"));
  auto first = wait_for_ssh(runner, clock, known_hosts, options());
  ASSERT_TRUE(first) << first.error().message << "\n" << sshd.log();
  EXPECT_EQ(
      sys::read_file(known_hosts.path()).value(),
      fmt::format("{} ssh-ed25519 {}\n", base::join(names, ","), blob_of(host1->public_key_path)));
  // A later boot with the same key is verified, not re-pinned.
  ASSERT_TRUE(wait_for_ssh(runner, clock, known_hosts, options()));

  // `banger vm ssh` argv logs in with the banger key and checks the pinned key.
  auto argv = sys::ssh_argv({.key_path = client->private_key_path,
                             .known_hosts_path = known_hosts.path(),
                             .ip = "127.0.0.1",
                             .port = port,
                             .command = {"echo", "ready"}});
  argv.insert(argv.begin() + 1, {"-F", "/dev/null", "-o", "BatchMode=yes"});
  auto out = sys::run_checked(runner, sys::Command{.argv = argv});
  ASSERT_TRUE(out) << out.error().message << "\n" << sshd.log();
  EXPECT_EQ(*out, "ready\n");

  // The ssh-config block works for "<name>.vm" against the same pinned entry.
  std::string config = dir.path() + "/ssh_config";
  ASSERT_TRUE(
      sys::write_file_atomic(config, render_ssh_config({.key_path = client->private_key_path,
                                                        .known_hosts_path = known_hosts.path()})));
  out = sys::run_checked(
      runner,
      sys::Command{.argv = {"ssh", "-F", config, "-o", "BatchMode=yes", "-o", "HostName=127.0.0.1",
                            "-p", std::to_string(port), "loop.vm", "--", "echo", "via", "config"}});
  ASSERT_TRUE(out) << out.error().message;
  EXPECT_EQ(*out, "via config\n");
  EXPECT_EQ(base::split(sys::read_file(known_hosts.path()).value(), '\n').size(), 2u);

  // The VM comes back with a different host key: readiness fails with "host key changed".
  sshd.stop();
  ASSERT_TRUE(sshd.start(host2->private_key_path, dir.path() + "/authorized_keys"));
  auto changed = wait_for_ssh(runner, clock, known_hosts, options());
  ASSERT_FALSE(changed);
  EXPECT_EQ(changed.error().code, Errc::failed_precondition);
  std::string head = changed.error().message.substr(0, changed.error().message.find(';'));
  EXPECT_EQ(head,
            fmt::format("host key for [loop.vm]:{} ([127.0.0.1]:{}) changed: expected {}, "
                        "got {}",
                        port, port, fingerprint_sha256(blob_of(host1->public_key_path)).value(),
                        fingerprint_sha256(blob_of(host2->public_key_path)).value()));

  // The real ssh refuses it as well, and the pinned entry is unchanged.
  argv.back() = "never";
  auto refused = sys::run_checked(runner, sys::Command{.argv = argv});
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, Errc::command_failed);
  EXPECT_EQ(known_hosts.lookup(names[0]).value(), "ssh-ed25519 " + blob_of(host1->public_key_path));

  // After vm delete forgets the names, the new key is pinned.
  ASSERT_TRUE(known_hosts.remove(names));
  EXPECT_TRUE(wait_for_ssh(runner, clock, known_hosts, options()));
}

}  // namespace
}  // namespace banger::guest
