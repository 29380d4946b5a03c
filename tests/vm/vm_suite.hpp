// The shared fixture of the real-microVM suite (label `vm`): every test file of
// banger_microvm_tests uses VmSuite, so the kernel and the tiny image are obtained once and
// every VM lives in the one private network namespace the suite creates and deletes.
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "../integration/harness.hpp"
#include <nlohmann/json.hpp>

#include "banger/base/defer.hpp"
#include "banger/base/strings.hpp"
#include "banger/sys/fs.hpp"
#include "banger/testkit/eventually.hpp"
#include "banger/testkit/probes.hpp"

namespace banger::itest {

// The start of a python pty driver (python3 -c <prelude + steps> ROWS COLS argv...): runs argv
// on a new ROWSxCOLS pty (pty.fork: the child is a session leader with the pty as its
// controlling terminal, as in a terminal emulator); `master` is the terminal's other end,
// `out` collects what it printed, wait_for(text, seconds) reads until text appears (False on
// timeout or end of output).
constexpr const char* kPtyDriverPrelude = R"PY(
import fcntl, os, pty, select, struct, sys, termios, time
rows, cols, argv = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
pid, master = pty.fork()
if pid == 0:
    fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack('HHHH', rows, cols, 0, 0))
    os.execvp(argv[0], argv)
out = b''
def wait_for(text, seconds):
    global out
    deadline = time.time() + seconds
    while text not in out and time.time() < deadline:
        r, _, _ = select.select([master], [], [], 0.5)
        if r:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                return False
            if not chunk:
                return False
            out += chunk
    return text in out
)PY";

// Steps (after kPtyDriverPrelude) for a shell session: wait for a "# " prompt, type `line` and
// Enter (the line should end the shell, e.g. "...; exit 7"), collect the output until the session
// ends; then print it and "exit=<code>".
inline std::string shell_steps(const std::string& line) {
  return "\nif wait_for(b'# ', 180):\n    os.write(master, b'" + line +
         "\\r')\n    wait_for(b'\\xff-never', 30)\nelse:\n    os.kill(pid, 9)\n"
         "_, status = os.waitpid(pid, 0)\nsys.stdout.write(out.decode('utf-8', 'replace'))\n"
         "print('\\nexit=%d' % os.waitstatus_to_exitcode(status))\n";
}

class VmSuite : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    skip_reason_ = probe();
    if (!skip_reason_.empty()) {
      return;
    }
    home_ = new BangerHome();
    home_->write_config(kSizes);
    // Every prerequisite is there, so failing to obtain the artifacts is a regression of kernel
    // pull or image build: every test fails (SetUp), none is skipped.
    auto pulled = home_->banger({"kernel", "pull", "debian-cloud"});
    auto built = home_->banger({"image", "build", "tiny"});
    // The workspace tests need git in the guest (a tiny image with git's closure, ~110 MiB).
    auto with_git =
        home_->banger({"image", "build", "tiny", "--packages", "git", "--name", "tiny-git"});
    oci_skip_reason_ = pull_busybox_oci_image();
    home_->banger({"daemon", "stop"});
    if (pulled.exit_code != 0 || built.exit_code != 0 || with_git.exit_code != 0) {
      setup_error_ = "could not obtain artifacts: " + pulled.err + built.err + with_git.err;
      return;
    }
    ns_ = add_test_netns("bgt-vm", &setup_error_);
  }

  static void TearDownTestSuite() { end_vm_suite(home_, ns_); }

  void SetUp() override { BANGER_ITEST_SUITE_GATE(skip_reason_, setup_error_); }

  // Whether elf is a 64-bit ELF without a PT_INTERP program header (statically linked).
  static bool is_static_elf64(const std::string& elf) {
    auto read = [&](std::size_t at, std::size_t bytes) {
      std::uint64_t value = 0;
      for (std::size_t i = 0; i < bytes && at + i < elf.size(); ++i) {
        value |= std::uint64_t(static_cast<unsigned char>(elf[at + i])) << (8 * i);
      }
      return value;
    };
    if (elf.size() < 64 ||
        elf.compare(0, 4,
                    "\x7f"
                    "ELF") != 0 ||
        elf[4] != 2) {
      return false;
    }
    const std::uint64_t phoff = read(32, 8);
    const std::uint64_t phentsize = read(54, 2);
    const std::uint64_t phnum = read(56, 2);
    for (std::uint64_t i = 0; i < phnum; ++i) {
      if (read(phoff + i * phentsize, 4) == 3) {  // PT_INTERP: a dynamic loader is needed
        return false;
      }
    }
    return phnum > 0;
  }

  // Pulls images "bb-oci" and "debian-oci" (issue 12): the host's static busybox pushed as a
  // one-layer OCI image (no sshd, no init, no libc) to Debian's docker-registry on loopback,
  // outside the namespace like the other artifacts. Returns why the OCI tests skip ("" when
  // pulled); a failed pull is recorded as oci_error_ (those tests fail).
  static std::string pull_busybox_oci_image() {
    if (sys::find_executable("docker-registry").empty() ||
        sys::find_executable("mmdebstrap").empty()) {
      return "docker-registry or mmdebstrap is not installed (scripts/install-deps.sh installs "
             "them)";
    }
    auto busybox = sys::read_file("/bin/busybox");
    if (!busybox || !is_static_elf64(*busybox)) {
      return "/bin/busybox is missing or not static (package busybox-static)";
    }
    std::string work = home_->dir() + "/oci";
    std::string tree = work + "/tree";
    sys::PosixCommandRunner runner;
    auto sh = [&](const std::string& script) {
      auto r = runner.run({.argv = {"sh", "-ec", script}, .timeout = std::chrono::seconds(900)});
      return r && r->exit_code == 0 ? std::string() : (r ? r->out + r->err : r.error().message);
    };
    std::string fixtures = std::string(BANGER_SOURCE_DIR) + "/tests/oci";
    oci_error_ =
        sh("mkdir -p " + tree + "/bin " + tree + "/etc && cp /bin/busybox " + tree +
           "/bin/ && for a in sh cat stty ls echo env sleep; do ln -s busybox " + tree +
           "/bin/$a; done && printf 'ID=bbtest\\nPRETTY_NAME=\"banger busybox test\"\\n' > " +
           tree + "/etc/os-release");
    if (oci_error_.empty()) {
      oci_error_ = sh("python3 " + fixtures + "/registry_fixture.py start --workdir " + work +
                      "/reg > " + work + "/reg.json");
    }
    if (oci_error_.empty()) {
      oci_error_ =
          sh("url=$(python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))[\"url\"])' " +
             work + "/reg.json) && python3 " + fixtures +
             "/push_dir_image.py --url $url --repo banger-test/busybox --env PATH=/bin "
             "--env BANGER_TEST=from-image " +
             tree + " && echo ${url#http://} > " + work + "/host");
    }
    // A Debian bookworm minbase (no systemd, no sshd) from the host's apt sources, as a
    // one-layer image: the pulled Debian of issue 12's acceptance.
    if (oci_error_.empty()) {
      std::string sources = sys::path_exists("/etc/apt/sources.list.d/debian.sources")
                                ? "/etc/apt/sources.list.d/debian.sources"
                                : "/etc/apt/sources.list";
      oci_error_ = sh("mmdebstrap --variant=minbase --mode=root --format=tar --quiet bookworm " +
                      work + "/debian.tar " + sources + " && url=http://$(cat " + work +
                      "/host) && python3 " + fixtures +
                      "/push_dir_image.py --url $url --repo banger-test/debian --tag bookworm "
                      "--tar " +
                      work + "/debian.tar && rm -f " + work + "/debian.tar");
    }
    if (oci_error_.empty()) {
      auto host = sys::read_file(work + "/host").value_or("");
      auto debian = home_->banger({"image", "pull",
                                   std::string(base::trim(host)) + "/banger-test/debian:bookworm",
                                   "--name", "debian-oci"});
      if (debian.exit_code != 0) {
        oci_error_ = "image pull (debian): " + debian.out + debian.err;
      }
    }
    if (oci_error_.empty()) {
      auto host = sys::read_file(work + "/host").value_or("");
      auto pulled =
          home_->banger({"image", "pull", std::string(base::trim(host)) + "/banger-test/busybox",
                         "--name", "bb-oci"});
      if (pulled.exit_code != 0) {
        oci_error_ = "image pull: " + pulled.out + pulled.err;
      }
    }
    sh("python3 " + fixtures + "/registry_fixture.py stop --workdir " + work + "/reg");
    return "";
  }

  // The missing prerequisite ("" when none is): only these skip the suite.
  static std::string probe() {
    return testkit::first_missing(
        {testkit::probe_root("create network namespaces and TAP devices"), testkit::probe_netns(),
         testkit::probe_tools({"qemu-system-x86_64", "qemu-img", "ssh", "ssh-keyscan", "ip"}),
         testkit::probe_apt_archive()});
  }

  sys::CommandResult run(const std::vector<std::string>& args) {
    return home_->banger_in(ns_, args);
  }
  // `banger <args...>` in the suite's namespace on a rows x cols pty, driven by steps (python
  // run after kPtyDriverPrelude); TERM=xterm, 300 s at most.
  Expected<sys::CommandResult> run_on_pty(const std::string& steps, int rows, int cols,
                                          const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"python3",
                                     "-c",
                                     kPtyDriverPrelude + steps,
                                     std::to_string(rows),
                                     std::to_string(cols),
                                     "ip",
                                     "netns",
                                     "exec",
                                     ns_,
                                     bin("banger")};
    argv.insert(argv.end(), args.begin(), args.end());
    sys::PosixCommandRunner runner;
    return runner.run({.argv = argv,
                       .timeout = std::chrono::seconds(300),
                       .env_overrides = {{"BANGER_HOME", home_->dir()},
                                         {"HOME", home_->dir() + "/home"},
                                         {"NO_COLOR", "1"},
                                         {"TERM", "xterm"},
                                         {"BANGER_REQUIRE_NETNS", "1"}}});
  }
  nlohmann::json show(const std::string& name) {
    return nlohmann::json::parse(run({"vm", "show", name, "--json"}).out, nullptr, false);
  }
  std::string ssh(const std::string& name, const std::string& command) {
    auto r = run({"vm", "ssh", name, "--", command});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.out;
  }
  // The VM named `name` left nothing: no record, no VM directory (disks) at all, no VMM process
  // of this suite's home.
  void expect_vm_gone(const std::string& name) {
    auto vms = nlohmann::json::parse(run({"vm", "list", "--json"}).out, nullptr, false);
    for (const auto& vm : vms) {
      EXPECT_NE(vm["name"], name);
    }
    std::error_code ec;
    EXPECT_TRUE(std::filesystem::is_empty(home_->dir() + "/state/vms", ec)) << ec.message();
    sys::PosixCommandRunner runner;
    auto qemu = runner.run({.argv = {"pgrep", "-f", home_->dir() + "/state/vms/"}});
    ASSERT_TRUE(qemu);
    EXPECT_NE(qemu->exit_code, 0) << "a VMM still runs: " << qemu->out;
  }
  // SIGKILLs the daemon (its pid is in the instance lock file) and waits until it is gone.
  static void crash_daemon() {
    auto pid_text = sys::read_file(home_->dir() + "/run/bangerd.lock");
    ASSERT_TRUE(pid_text);
    int daemon_pid = std::atoi(pid_text->c_str());
    ASSERT_EQ(::kill(daemon_pid, SIGKILL), 0);
    EXPECT_TRUE(testkit::eventually([&] { return ::kill(daemon_pid, 0) != 0; }));
  }
  // No qemu process of this suite's BANGER_HOME runs for the VM id.
  static bool qemu_running_for(const std::string& vm_id) {
    sys::PosixCommandRunner runner;
    auto r = runner.run({.argv = {"pgrep", "-f", "vms/" + vm_id + "/"}});
    return r && r->exit_code == 0;
  }

  static constexpr const char* kSizes =
      "[vm_defaults]\nvcpu = 1\nmemory_mib = 256\ndisk_size = \"256M\"\n";
  static inline std::string skip_reason_;
  // Set when a prerequisite is there but the suite's setup still failed: every test fails.
  static inline std::string setup_error_;
  static inline BangerHome* home_ = nullptr;
  static inline std::string ns_;
  static inline std::string oci_skip_reason_;  // the OCI image tests skip with this reason
  static inline std::string oci_error_;        // ... or fail with this setup error
};

// 198.51.100.2 on the suite side, no route back to the VM network. A TCP listener there
// records the peer address of each connection.
class Upstream {
 public:
  explicit Upstream(const std::string& host_ns) : host_ns_(host_ns) {
    ns_ = "bgt-up-" + std::to_string(::getpid());
    sys::PosixCommandRunner runner;
    for (std::vector<std::string> argv : std::vector<std::vector<std::string>>{
             {"ip", "netns", "add", ns_},
             {"ip", "-n", host_ns_, "link", "add", "bgt-up0", "type", "veth", "peer", "name",
              "bgt-up1", "netns", ns_},
             {"ip", "-n", host_ns_, "addr", "add", "198.51.100.2/24", "dev", "bgt-up0"},
             {"ip", "-n", host_ns_, "link", "set", "bgt-up0", "up"},
             {"ip", "-n", ns_, "addr", "add", "198.51.100.1/24", "dev", "bgt-up1"},
             {"ip", "-n", ns_, "link", "set", "bgt-up1", "up"},
             {"ip", "-n", ns_, "link", "set", "lo", "up"}}) {
      auto r = runner.run({.argv = argv});
      EXPECT_TRUE(r && r->exit_code == 0) << sys::to_display(argv) << ": " << (r ? r->err : "");
    }
    peers_file_ = dir_.path() + "/peers";
    ready_file_ = dir_.path() + "/ready";
    std::string script =
        "import socket\n"
        "s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
        "s.bind(('198.51.100.1', 9000)); s.listen(8)\n"
        "open('" +
        ready_file_ +
        "','w').close()\n"
        "while True:\n"
        "  c,a=s.accept(); open('" +
        peers_file_ +
        "','a').write(a[0]+'\\n')\n"
        "  c.sendall(b'HTTP/1.0 200 OK\\r\\nContent-Length: 3\\r\\n\\r\\nok\\n'); c.close()\n";
    pid_t pid = ::fork();
    if (pid == 0) {
      ::execlp("ip", "ip", "netns", "exec", ns_.c_str(), "python3", "-c", script.c_str(),
               static_cast<char*>(nullptr));
      ::_exit(127);
    }
    server_pid_ = pid;
    // The listener touches ready_file_ once it listens (connecting to check would record a
    // peer, and the socket lives in another namespace than this process).
    EXPECT_TRUE(testkit::eventually([&] { return sys::path_exists(ready_file_); }))
        << "the upstream listener did not start";
  }
  ~Upstream() {
    if (server_pid_ > 0) {
      ::kill(server_pid_, SIGKILL);
      ::waitpid(server_pid_, nullptr, 0);
    }
    sys::PosixCommandRunner runner;
    (void)runner.run({.argv = {"ip", "-n", host_ns_, "link", "del", "bgt-up0"}});
    (void)runner.run({.argv = {"ip", "netns", "del", ns_}});
  }
  std::string peers() const { return sys::read_file(peers_file_).value_or(""); }

 private:
  std::string host_ns_;
  std::string ns_;
  testkit::TempDir dir_;
  std::string peers_file_;
  std::string ready_file_;
  pid_t server_pid_ = -1;
};

// Runs argv inside the suite's namespace (dig, nft, ip, python3).
inline sys::CommandResult in_ns(const std::string& ns, std::vector<std::string> argv,
                                std::chrono::seconds timeout = std::chrono::seconds(30)) {
  argv.insert(argv.begin(), {"ip", "netns", "exec", ns});
  sys::PosixCommandRunner runner;
  auto r = runner.run({.argv = argv, .timeout = timeout});
  EXPECT_TRUE(r) << r.error().message;
  return r ? *r : sys::CommandResult{-1, "", ""};
}

// Sends raw bytes to a VM's agent socket (QEMU virtio-serial chardev) and returns what came back
// until a line containing `until` arrived, or timeout passed. Replies to an earlier connection's
// requests may come first (the channel is one byte stream): callers look for their own.
inline std::string agent_exchange(const std::string& socket_path, const std::string& bytes,
                                  const std::string& until, std::chrono::milliseconds timeout) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", socket_path.c_str());
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0) << socket_path;
  EXPECT_EQ(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(bytes.size()));
  std::string got;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto done = [&] {
    auto at = got.find(until);
    return !until.empty() && at != std::string::npos && got.find('\n', at) != std::string::npos;
  };
  while (std::chrono::steady_clock::now() < deadline && !done()) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) == 1) {
      char buf[4096];
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) {
        break;
      }
      got.append(buf, static_cast<std::size_t>(n));
    }
  }
  ::close(fd);
  return got;
}

}  // namespace banger::itest
