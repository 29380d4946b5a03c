// The CLI and the daemon as a user meets them: real binaries, a private BANGER_HOME each.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <thread>

#include "harness.hpp"
#include <nlohmann/json.hpp>

#include "banger/sys/fs.hpp"
#include "banger/testkit/probes.hpp"

namespace banger::itest {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;

TEST(CliDaemon, FirstCommandStartsTheDaemonAndStopStopsIt) {
  BangerHome home;
  auto status = home.banger({"daemon", "status"});
  EXPECT_EQ(status.exit_code, 3) << status.out << status.err;

  auto list = home.banger({"vm", "list"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_EQ(list.out, "NAME  STATE  IMAGE  VMM  VCPU  MEMORY  IP  WORKSPACE  CREATED\n");

  status = home.banger({"daemon", "status"});
  EXPECT_EQ(status.exit_code, 0);
  EXPECT_THAT(status.out, HasSubstr("bangerd is running (pid "));

  // A second daemon refuses while the first one runs.
  auto second = home.bangerd({"--foreground"});
  EXPECT_EQ(second.exit_code, 1);
  EXPECT_THAT(second.err, HasSubstr("bangerd: another bangerd (pid "));
  EXPECT_THAT(second.err, HasSubstr(") is using the state dir " + home.dir() + "/state; "));

  auto stop = home.banger({"daemon", "stop"});
  EXPECT_EQ(stop.exit_code, 0) << stop.err;
  EXPECT_THAT(stop.out, HasSubstr("bangerd stopped"));
  EXPECT_EQ(home.banger({"daemon", "status"}).exit_code, 3);
}

// The doctor's vmm row for the daemon's config ("" when absent).
std::string doctor_vmm_row(BangerHome& home) {
  auto doctor = home.banger({"doctor", "--json"});
  auto report = nlohmann::json::parse(doctor.out, nullptr, false);
  if (report.is_discarded()) {
    ADD_FAILURE() << doctor.out << doctor.err;
    return "";
  }
  for (const auto& check : report["checks"]) {
    if (check["name"] == "vmm") {
      return check["status"].get<std::string>() + ": " + check["detail"].get<std::string>();
    }
  }
  return "";
}

TEST(CliDaemon, DoctorAndVmShowNameTheSameBackendForEachVmmSetting) {
  for (std::string choice : {"auto", "qemu"}) {
    BangerHome home;
    home.write_config("vmm = \"" + choice + "\"\n");
    auto created = home.banger({"vm", "create", "--no-start", "--name", "web"});
    ASSERT_EQ(created.exit_code, 0) << choice << ": " << created.err;
    auto shown = home.banger({"vm", "show", "web", "--json"});
    ASSERT_EQ(shown.exit_code, 0) << shown.err;
    auto vm = nlohmann::json::parse(shown.out);
    EXPECT_EQ(vm["vmm"], "qemu") << choice;
    std::string row = doctor_vmm_row(home);
    // doctor passes or fails on the binary, but always names the backend the VM got.
    EXPECT_THAT(row, HasSubstr(": qemu")) << choice;
    auto list = home.banger({"vm", "list"});
    EXPECT_THAT(list.out, HasSubstr("web   created  ")) << list.out;
    EXPECT_THAT(list.out, HasSubstr("  qemu  ")) << list.out;
  }
}

TEST(CliDaemon, VmmFirecrackerWithoutABinaryIsRefusedByVmCreateAndDoctorAlike) {
  BangerHome home;
  home.write_config("vmm = \"firecracker\"\nfirecracker_bin = \"/nonexistent/firecracker\"\n");
  const std::string reason =
      "vmm firecracker: no firecracker binary was found (firecracker_bin or PATH): install it "
      "(docs/firecracker.md) or set vmm = \"qemu\"";
  auto created = home.banger({"vm", "create", "--no-start", "--name", "web"});
  EXPECT_EQ(created.exit_code, 1);
  EXPECT_THAT(created.err, HasSubstr("banger: " + reason + " (failed_precondition, op-"));
  EXPECT_EQ(doctor_vmm_row(home), "fail: " + reason);
  auto list = home.banger({"vm", "list", "--json"});
  EXPECT_EQ(nlohmann::json::parse(list.out).size(), 0u);
  // --vmm chooses for one VM, decided the same way (issue 13 item 6).
  auto per_vm = home.banger({"vm", "create", "--no-start", "--vmm", "firecracker", "--name", "a"});
  EXPECT_EQ(per_vm.exit_code, 1);
  EXPECT_THAT(per_vm.err, HasSubstr("banger: " + reason));
  auto unknown = home.banger({"vm", "create", "--no-start", "--vmm", "kvmtool", "--name", "a"});
  EXPECT_EQ(unknown.exit_code, 2);  // a usage error: the CLI knows the names
  auto qemu = home.banger({"vm", "create", "--no-start", "--vmm", "qemu", "--name", "web"});
  ASSERT_EQ(qemu.exit_code, 0) << qemu.err;
  auto shown = nlohmann::json::parse(home.banger({"vm", "show", "web", "--json"}).out);
  EXPECT_EQ(shown["vmm"], "qemu");
}

TEST(CliDaemon, CreateListAndDuplicateName) {
  BangerHome home;
  auto created = home.banger({"vm", "create", "--no-start", "--name", "web"});
  ASSERT_EQ(created.exit_code, 0) << created.err;

  auto list = home.banger({"vm", "list", "--json"});
  ASSERT_EQ(list.exit_code, 0);
  auto vms = nlohmann::json::parse(list.out);
  ASSERT_EQ(vms.size(), 1u);
  EXPECT_EQ(vms[0]["name"], "web");
  EXPECT_EQ(vms[0]["state"], "created");

  auto again = home.banger({"vm", "create", "--no-start", "--name", "web"});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_THAT(again.err, HasSubstr("banger: vm \"web\" already exists (already_exists, op-"));

  auto shown = home.banger({"vm", "show", "web", "--json"});
  ASSERT_EQ(shown.exit_code, 0);
  EXPECT_EQ(nlohmann::json::parse(shown.out)["name"], "web");

  auto deleted = home.banger({"vm", "delete", "web"});
  EXPECT_EQ(deleted.exit_code, 0);
  EXPECT_EQ(deleted.out, "deleted web\n");
  auto missing = home.banger({"vm", "show", "web"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.err, HasSubstr("vm \"web\" not found (not_found, op-"));
}

TEST(CliDaemon, TwentyParallelCreatesOfOneNameYieldOneVm) {
  BangerHome home;
  // Every CLI process races to auto-start the daemon as well.
  std::vector<std::thread> threads;
  std::vector<int> codes(20, -1);
  std::vector<std::string> errs(20);
  for (int i = 0; i < 20; ++i) {
    threads.emplace_back([&, i] {
      auto r = home.banger({"vm", "create", "--no-start", "--name", "web"});
      codes[i] = r.exit_code;
      errs[i] = r.err;
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  int ok = 0;
  for (int i = 0; i < 20; ++i) {
    if (codes[i] == 0) {
      ++ok;
    } else {
      EXPECT_EQ(codes[i], 1);
      EXPECT_THAT(errs[i], HasSubstr("already exists"));
    }
  }
  EXPECT_EQ(ok, 1);
  auto vms = nlohmann::json::parse(home.banger({"vm", "list", "--json"}).out);
  EXPECT_EQ(vms.size(), 1u);
}

TEST(CliDaemon, InvalidNamesSayWhatIsAllowed) {
  BangerHome home;
  const std::string allowed =
      "use 1-63 characters: lowercase letters, digits and '-', starting with a letter or digit";
  for (const std::string& name : std::vector<std::string>{"Web_1", std::string(64, 'a'), ""}) {
    auto r = home.banger({"vm", "create", "--no-start", "--name", name});
    EXPECT_EQ(r.exit_code, 1) << name;
    EXPECT_THAT(r.err, HasSubstr("invalid vm name \"" + name + "\": " + allowed)) << name;
  }
  EXPECT_EQ(nlohmann::json::parse(home.banger({"vm", "list", "--json"}).out).size(), 0u);
}

TEST(CliDaemon, ConfigWithUnknownKeyOrBadSizeKeepsTheDaemonFromStarting) {
  BangerHome home;
  home.write_config("brige_name = \"br-x\"\n");
  auto r = home.banger({"vm", "list"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("banger: bangerd failed to start: "));
  EXPECT_THAT(r.err, HasSubstr("unknown key \"brige_name\""));

  home.write_config("[vm_defaults]\nmemory_mib = \"lots\"\n");
  r = home.banger({"vm", "list"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("vm_defaults.memory_mib"));
  EXPECT_THAT(r.err, HasSubstr("invalid size \"lots\""));

  // Fixed config: the daemon starts.
  home.write_config("[vm_defaults]\nmemory_mib = \"1G\"\n");
  EXPECT_EQ(home.banger({"vm", "list"}).exit_code, 0);
}

// log_level decides what bangerd writes to its log: info lines at "info", none at "warn" (where
// the deprecation note, a warning, still shows).
TEST(CliDaemon, LogLevelDecidesWhatTheDaemonLogs) {
  for (std::string level : {"info", "warn"}) {
    BangerHome home;
    home.write_config("log_level = \"" + level + "\"\nmetrics_poll_interval = \"5s\"\n");
    ASSERT_EQ(home.banger({"vm", "list"}).exit_code, 0) << level;
    auto log = sys::read_file(home.log_file());
    ASSERT_TRUE(log) << level;
    EXPECT_THAT(*log, HasSubstr("\"metrics_poll_interval\" is deprecated")) << level;
    if (level == "info") {
      EXPECT_THAT(*log, HasSubstr(" serving ")) << *log;
    } else {
      EXPECT_THAT(*log, Not(HasSubstr(" serving "))) << *log;
    }
  }
}

// Issue 14: a config file written for the original banger (its key names, a "~/" key path)
// starts the daemon; each old name is a one-line deprecation note naming the new key, in the
// daemon log and in doctor's config row, and every value takes effect under its new name.
TEST(CliDaemon, OriginalBangerConfigStartsTheDaemonWithDeprecationNotes) {
  BangerHome home;
  home.write_config(
      "default_image_name = \"debian-bookworm\"\n"
      "system_overlay_size = \"6G\"\n"
      "metrics_poll_interval = \"30s\"\n"
      "ssh_key_path = \"~/.ssh/banger_ed25519\"\n"
      "bridge_name = \"br-fc\"\n");
  auto created = home.banger({"vm", "create", "--no-start", "--name", "web"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  auto shown = home.banger({"vm", "show", "web", "--json"});
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  auto vm = nlohmann::json::parse(shown.out);
  EXPECT_EQ(vm["image"], "debian-bookworm");
  EXPECT_EQ(vm["rootfs_size_mib"], 6144);

  const std::string notes[] = {
      home.config_file() + ":1: \"default_image_name\" is deprecated: use \"default_image\"",
      home.config_file() +
          ":2: \"system_overlay_size\" is deprecated: use \"rootfs_overlay_size\" in [vm_defaults]",
      home.config_file() +
          ":3: \"metrics_poll_interval\" is deprecated: use \"stats_poll_interval\""};
  auto log = sys::read_file(home.log_file());
  ASSERT_TRUE(log);
  for (const auto& note : notes) {
    EXPECT_THAT(*log, HasSubstr("config: " + note)) << *log;
  }

  auto doctor = home.banger({"doctor", "--json"});
  auto report = nlohmann::json::parse(doctor.out, nullptr, false);
  ASSERT_FALSE(report.is_discarded()) << doctor.out << doctor.err;
  std::string config_row;
  for (const auto& check : report["checks"]) {
    if (check["name"] == "config") {
      config_row = check["status"].get<std::string>() + ": " + check["detail"].get<std::string>();
    }
  }
  EXPECT_EQ(config_row, "warn: " + notes[0] + "; " + notes[1] + "; " + notes[2]);

  auto printed = home.banger({"ssh-config"});
  ASSERT_EQ(printed.exit_code, 0) << printed.err;
  auto ssh_config = sys::read_file(home.dir() + "/state/ssh_config");
  ASSERT_TRUE(ssh_config);
  EXPECT_THAT(*ssh_config,
              HasSubstr("IdentityFile \"" + home.dir() + "/home/.ssh/banger_ed25519\""));
}

// Issue 14 item 4: a config that keeps the daemon from starting is diagnosed by doctor, which
// then runs its checks in the CLI and says so; nothing keeps running afterwards.
TEST(CliDaemon, DoctorWithABrokenConfigRunsWithoutTheDaemonAndFails) {
  BangerHome home;
  home.write_config("log_level = \"info\"\nbrige_name = \"br-x\"\n");
  auto r = home.banger({"doctor"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr("bangerd is not running"));
  EXPECT_THAT(r.err, HasSubstr("running the checks in the CLI"));
  EXPECT_THAT(r.out, HasSubstr("FAIL"));
  EXPECT_THAT(r.out, HasSubstr("unknown key \"brige_name\""));
  EXPECT_THAT(r.out, HasSubstr(home.config_file()));
  // The other checks still ran (on the built-in defaults).
  EXPECT_THAT(r.out, HasSubstr("runtime dir"));
  EXPECT_FALSE(sys::path_exists(home.socket())) << "no daemon may be left running";

  auto json = home.banger({"doctor", "--json"});
  EXPECT_EQ(json.exit_code, 1);
  auto report = nlohmann::json::parse(json.out, nullptr, false);
  ASSERT_TRUE(report.is_object()) << json.out;
  EXPECT_EQ(report["ran_in"], "cli");
  std::map<std::string, std::string> status;
  std::string config_detail;
  for (const auto& row : report["checks"]) {
    status[row["name"].get<std::string>()] = row["status"].get<std::string>();
    if (row["name"] == "config") {
      config_detail = row["detail"].get<std::string>();
    }
  }
  EXPECT_EQ(status["daemon"], "fail");
  EXPECT_EQ(status["config"], "fail");
  EXPECT_THAT(config_detail, HasSubstr("brige_name"));
  EXPECT_EQ(report["checks"][0]["name"], "daemon");

  // Fixed: doctor is the daemon's again, and the config row passes.
  home.write_config("log_level = \"info\"\n");
  auto fixed = home.banger({"doctor", "--json"});
  auto again = nlohmann::json::parse(fixed.out, nullptr, false);
  ASSERT_TRUE(again.is_object()) << fixed.out << fixed.err;
  EXPECT_EQ(again["ran_in"], "daemon");
  for (const auto& row : again["checks"]) {
    EXPECT_NE(row["name"], "daemon");
    if (row["name"] == "config") {
      EXPECT_EQ(row["status"], "pass") << row.dump();
    }
  }
}

// SPEC S3: a bad [[file_sync]] entry fails `vm create` with the entry's index and key.
TEST(CliDaemon, BadFileSyncEntryFailsVmCreateNamingTheEntry) {
  BangerHome home;
  home.write_config(
      "[[file_sync]]\nhost = \"~/.gitconfig\"\nguest = \"~/.gitconfig\"\n"
      "[[file_sync]]\nhost = \"/etc/hosts\"\nguest = \"/root/hosts\"\nmode = \"0600\"\n"
      "[[file_sync]]\nhost = \"/etc/passwd\"\nguest = \"/etc/passwd\"\n");
  auto r = home.banger({"vm", "create", "--name", "synced"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("file_sync[2].guest must be a path under /root or ~/ without "
                               "\"..\", got \"/etc/passwd\""));
  home.write_config("[[file_sync]]\nhost = \"/etc/hosts\"\nguest = \"~/h\"\nmode = \"0800\"\n");
  r = home.banger({"vm", "create", "--name", "synced"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("file_sync[0].mode must be an octal string"));
}

// Sends raw lines on one connection and reads one reply line per request.
std::vector<nlohmann::json> exchange(const std::string& socket_path,
                                     const std::vector<std::string>& lines) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", socket_path.c_str());
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  std::vector<nlohmann::json> replies;
  std::string buffer;
  for (const auto& line : lines) {
    std::string framed = line + "\n";
    std::size_t sent = 0;
    while (sent < framed.size()) {
      ssize_t n = ::send(fd, framed.data() + sent, framed.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) {
        break;
      }
      sent += static_cast<std::size_t>(n);
    }
    while (buffer.find('\n') == std::string::npos) {
      char chunk[4096];
      ssize_t n = ::read(fd, chunk, sizeof chunk);
      if (n <= 0) {
        break;
      }
      buffer.append(chunk, static_cast<std::size_t>(n));
    }
    auto nl = buffer.find('\n');
    if (nl == std::string::npos) {
      break;
    }
    replies.push_back(nlohmann::json::parse(buffer.substr(0, nl), nullptr, false));
    buffer.erase(0, nl + 1);
  }
  ::close(fd);
  return replies;
}

TEST(CliDaemon, ALogFileThatCannotBeOpenedIsARefusalNotACrash) {
  BangerHome home;
  // /proc refuses new directories: before, spdlog threw and bangerd aborted (exit 134).
  auto proc = home.bangerd({"--foreground", "--log-file", "/proc/nope/x.log"});
  EXPECT_EQ(proc.exit_code, 1) << proc.err;
  EXPECT_THAT(proc.err, HasSubstr("bangerd: cannot log to /proc/nope/x.log: directory /proc/nope "
                                  "does not exist\n"));
  EXPECT_THAT(proc.err, Not(HasSubstr("terminate called")));
  // A missing directory is never created for the log (a root daemon would create it as root).
  std::string missing = home.dir() + "/no/such/dir";
  auto absent = home.bangerd({"--foreground", "--log-file", missing + "/x.log"});
  EXPECT_EQ(absent.exit_code, 1) << absent.err;
  EXPECT_THAT(absent.err, HasSubstr("bangerd: cannot log to " + missing + "/x.log: directory"));
  EXPECT_FALSE(sys::path_exists(home.dir() + "/no"));
}

TEST(CliDaemon, MalformedRequestsGetErrorRepliesAndServingContinues) {
  BangerHome home;
  ASSERT_EQ(home.banger({"daemon", "start"}).exit_code, 0);
  auto replies = exchange(
      home.socket(), {"this is not json", R"({"v":1,"id":2,"method":"vm.frobnicate","params":{}})",
                      R"({"v":1,"id":3,"method":"vm.show","params":{"name":42}})",
                      R"({"v":9,"id":4,"method":"ping"})", std::string(17 * 1024 * 1024, 'x'),
                      R"({"v":1,"id":6,"method":"ping"})"});
  ASSERT_EQ(replies.size(), 6u);
  EXPECT_EQ(replies[0]["error"]["code"], "bad_request");
  EXPECT_EQ(replies[1]["error"]["code"], "unknown_method");
  EXPECT_EQ(replies[2]["error"]["code"], "bad_request");
  EXPECT_THAT(replies[2]["error"]["message"].get<std::string>(), HasSubstr("params.name"));
  EXPECT_EQ(replies[3]["error"]["code"], "bad_version");
  EXPECT_EQ(replies[4]["error"]["code"], "bad_request");
  EXPECT_EQ(replies[5]["result"]["pong"], true);
  // Another client is served normally.
  EXPECT_EQ(home.banger({"vm", "list"}).exit_code, 0);
}

TEST(CliDaemon, AnotherUidCannotUseTheSocket) {
  if (auto why = testkit::probe_root("switch to another uid"); !why.empty()) {
    GTEST_SKIP() << why;
  }
  BangerHome home;
  ASSERT_EQ(home.banger({"daemon", "start"}).exit_code, 0);
  pid_t child = ::fork();
  if (child == 0) {
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) {
      ::_exit(10);
    }
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", home.socket().c_str());
    int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::_exit(rc == 0 ? 0 : (errno == EACCES ? 20 : 30));
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 20) << "expected EACCES for uid 65534";
}

// A squatter's fake bangerd (security-poc/fake_bangerd.py in C++): a child running as nobody
// listens on `socket` and answers ssh_config and vm.ssh_info with the PoC's poisoned values.
// It writes one byte to `report_fd` per request line it receives.
class FakeBangerd {
 public:
  FakeBangerd(const std::string& socket, const std::string& marker) {
    int fds[2];
    EXPECT_EQ(::pipe(fds), 0);
    int ready[2];
    EXPECT_EQ(::pipe(ready), 0);
    pid_ = ::fork();
    if (pid_ == 0) {
      serve(socket, marker, fds[1], ready[1]);
    }
    ::close(fds[1]);
    ::close(ready[1]);
    report_fd_ = fds[0];
    char c = 0;
    EXPECT_EQ(::read(ready[0], &c, 1), 1) << "the fake bangerd did not come up";
    ::close(ready[0]);
  }
  ~FakeBangerd() {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    ::close(report_fd_);
  }
  // Requests received so far.
  int requests() const {
    int n = 0;
    char buf[64];
    ::fcntl(report_fd_, F_SETFL, O_NONBLOCK);
    for (ssize_t got; (got = ::read(report_fd_, buf, sizeof buf)) > 0;) {
      n += static_cast<int>(got);
    }
    return n;
  }

 private:
  [[noreturn]] static void serve(const std::string& socket, const std::string& marker,
                                 int report_fd, int ready_fd) {
    if (::setresgid(65534, 65534, 65534) != 0 || ::setresuid(65534, 65534, 65534) != 0) {
      ::_exit(10);
    }
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", socket.c_str());
    ::unlink(socket.c_str());
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::chmod(socket.c_str(), 0777) != 0 || ::listen(fd, 8) != 0) {
      ::_exit(11);
    }
    [[maybe_unused]] auto r = ::write(ready_fd, "r", 1);
    std::string ssh_config =
        "{\"id\":1,\"result\":{\"path\":\"/tmp/poc-squat/evil_ssh_config\","
        "\"key_path\":\"/tmp/k\",\"known_hosts_path\":\"/tmp/kh\"}}\n";
    std::string ssh_info =
        "{\"id\":1,\"result\":{\"name\":\"web\",\"ip\":\"127.0.0.1\","
        "\"user\":\"-oProxyCommand=touch " +
        marker + "\",\"key_path\":\"/tmp/k\",\"known_hosts_path\":\"/tmp/kh\"}}\n";
    while (true) {
      int conn = ::accept(fd, nullptr, nullptr);
      if (conn < 0) {
        continue;
      }
      char buf[4096] = {};
      ssize_t n = ::read(conn, buf, sizeof buf - 1);
      if (n > 0) {
        [[maybe_unused]] auto w = ::write(report_fd, "q", 1);
        const std::string& reply = std::strstr(buf, "\"ssh_config\"") != nullptr ? ssh_config
                                   : std::strstr(buf, "vm.ssh_info") != nullptr
                                       ? ssh_info
                                       : std::string("{\"id\":1,\"result\":{}}\n");
        [[maybe_unused]] auto s = ::send(conn, reply.data(), reply.size(), MSG_NOSIGNAL);
      }
      ::close(conn);
    }
  }

  pid_t pid_ = -1;
  int report_fd_ = -1;
};

// Regression for H2 (security review): a runtime dir squatted by another user (here nobody, with
// the PoC's fake bangerd listening in it) makes `vm ssh` and `ssh-config --install` refuse with
// a message naming the dir and its owner: nothing is sent to the squatter, no ProxyCommand runs,
// ~/.ssh/config is unchanged. The same with BANGER_SOCKET pointing straight at the squatter's
// socket (then the SO_PEERCRED check refuses). Fails on 8f38f5a: ran against the CLI with the
// runtime-dir checks, check_peer, check_ssh_target and check_include_path disabled (8f38f5a's
// logic, keeping only the new "--"): both squatters received 2 requests and ~/.ssh/config
// gained `Include "/tmp/poc-squat/evil_ssh_config"`.
TEST(CliDaemon, SquattedRuntimeDirIsRefusedAndNothingRuns) {
  if (auto why = testkit::probe_root("act as another uid"); !why.empty()) {
    GTEST_SKIP() << why;
  }
  BangerHome home;
  ASSERT_EQ(::chmod(home.dir().c_str(), 0755), 0);
  std::string run_dir = home.dir() + "/run";
  ASSERT_EQ(::mkdir(run_dir.c_str(), 0700), 0);
  ASSERT_EQ(::chown(run_dir.c_str(), 65534, 65534), 0);
  std::string marker = home.dir() + "/PWNED";
  std::string user_config = home.dir() + "/home/.ssh/config";
  ASSERT_TRUE(sys::make_dirs(home.dir() + "/home/.ssh", 0700));
  ASSERT_TRUE(sys::write_file_atomic(user_config, "Host gh\n  User git\n", 0600));

  FakeBangerd squatter(home.socket(), marker);
  auto ssh = home.banger({"vm", "ssh", "web", "--", "true"});
  EXPECT_NE(ssh.exit_code, 0);
  EXPECT_THAT(ssh.err, HasSubstr("runtime dir " + run_dir + " is owned by uid 65534"));
  auto install = home.banger({"ssh-config", "--install"});
  EXPECT_NE(install.exit_code, 0);
  EXPECT_THAT(install.err, HasSubstr("runtime dir " + run_dir + " is owned by uid 65534"));
  EXPECT_EQ(squatter.requests(), 0);

  // The socket path set directly: the runtime dir is ours, the peer is not.
  std::string squat_dir = home.dir() + "/squat";
  ASSERT_EQ(::mkdir(squat_dir.c_str(), 0755), 0);
  ASSERT_EQ(::chown(squat_dir.c_str(), 65534, 65534), 0);
  ASSERT_EQ(::unlink(home.socket().c_str()), 0);
  ASSERT_EQ(::rmdir(run_dir.c_str()), 0);
  FakeBangerd direct(squat_dir + "/bangerd.sock", marker);
  std::map<std::string, std::string> env{{"BANGER_SOCKET", squat_dir + "/bangerd.sock"}};
  auto ssh2 = home.banger({"vm", "ssh", "web", "--", "true"}, "", env);
  EXPECT_NE(ssh2.exit_code, 0);
  EXPECT_THAT(ssh2.err, HasSubstr("refusing to talk to " + squat_dir +
                                  "/bangerd.sock: it is served by uid 65534"));
  auto install2 = home.banger({"ssh-config", "--install"}, "", env);
  EXPECT_NE(install2.exit_code, 0);
  EXPECT_THAT(install2.err, HasSubstr("it is served by uid 65534"));
  EXPECT_EQ(direct.requests(), 0);

  EXPECT_FALSE(sys::path_exists(marker + "@127.0.0.1")) << "the ProxyCommand ran";
  EXPECT_FALSE(sys::path_exists(marker));
  EXPECT_EQ(*sys::read_file(user_config), "Host gh\n  User git\n");
}

// Regression for H2 (security review): root (`sudo -E` keeps the user's XDG_RUNTIME_DIR and
// HOME) refuses state and runtime dirs below a directory a user owns, and starts no daemon.
// Fails on 8f38f5a: ran with the check_trusted_ancestors() calls removed (8f38f5a's logic): the
// daemon started under the user's directory and `vm list` succeeded.
TEST(CliDaemon, RootRefusesDirectoriesBelowAUsersDirectory) {
  if (auto why = testkit::probe_root("own a directory as another uid"); !why.empty()) {
    GTEST_SKIP() << why;
  }
  BangerHome home;
  std::string user_dir = home.dir() + "/user";
  ASSERT_EQ(::mkdir(user_dir.c_str(), 0755), 0);
  ASSERT_EQ(::chown(user_dir.c_str(), 65534, 65534), 0);
  auto list = home.banger({"vm", "list"}, "", {{"BANGER_HOME", user_dir + "/banger"}});
  EXPECT_NE(list.exit_code, 0);
  EXPECT_THAT(list.err, HasSubstr("is inside " + user_dir +
                                  ", which belongs to uid 65534 (not "
                                  "to uid 0 or root)"));
  EXPECT_FALSE(sys::path_exists(user_dir + "/banger/state"));
  EXPECT_FALSE(sys::path_exists(user_dir + "/banger/run"));
}

// Regression for L3 (security review): the daemon the CLI starts does not inherit the user's
// ssh agent or display (it runs ssh into untrusted guests). Fails on 8f38f5a: ran with
// daemon_env() returning posix::current_env() (8f38f5a's spawn): SSH_AUTH_SOCK was in the
// daemon's /proc/<pid>/environ.
TEST(CliDaemon, TheDaemonDoesNotInheritTheSshAgent) {
  BangerHome home;
  auto status =
      home.banger({"vm", "list"}, "", {{"SSH_AUTH_SOCK", "/tmp/agent.sock"}, {"DISPLAY", ":7"}});
  ASSERT_EQ(status.exit_code, 0) << status.err;
  auto pid_text = sys::read_file(home.dir() + "/run/bangerd.lock");
  ASSERT_TRUE(pid_text);
  auto environ_text =
      sys::read_file("/proc/" + std::to_string(std::atoi(pid_text->c_str())) + "/environ");
  ASSERT_TRUE(environ_text);
  EXPECT_EQ(environ_text->find("SSH_AUTH_SOCK="), std::string::npos);
  EXPECT_EQ(environ_text->find("DISPLAY="), std::string::npos);
  EXPECT_NE(environ_text->find("BANGER_HOME="), std::string::npos);
}

TEST(CliDaemon, UsageErrorsExitTwo) {
  BangerHome home;
  EXPECT_EQ(home.banger({"vm", "frobnicate"}).exit_code, 2);
  EXPECT_EQ(home.banger({"vm", "create", "--memory", "lots", "--no-start"}).exit_code, 2);
  auto version = home.banger({"--version"});
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_THAT(version.out, HasSubstr("banger 0.1.0"));
}

// --help shows the resolved defaults, from the config when it sets them, and never starts the
// daemon (no socket, no lock file afterwards).
TEST(CliDaemon, HelpShowsResolvedDefaultsWithoutStartingTheDaemon) {
  BangerHome home;
  auto plain = home.banger({"vm", "run", "--help"});
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  EXPECT_THAT(plain.out, MatchesRegex("(.|\n)*virtual CPUs \\(default [0-9]+ (from host: [0-9]+ "
                                      "cores|built-in)\\)(.|\n)*"));
  EXPECT_THAT(plain.out, HasSubstr("(default debian-bookworm built-in)"));
  home.write_config("default_image = \"tiny\"\n[vm_defaults]\nvcpu = 3\n");
  auto configured = home.banger({"vm", "create", "--help"});
  ASSERT_EQ(configured.exit_code, 0) << configured.err;
  EXPECT_THAT(configured.out, HasSubstr("virtual CPUs (default 3 from config)"));
  EXPECT_THAT(configured.out, HasSubstr("(default tiny from config)"));
  home.write_config("[vm_defaults]\nvcpu = 0\n");
  auto broken = home.banger({"vm", "create", "--help"});
  ASSERT_EQ(broken.exit_code, 0) << broken.err;
  EXPECT_THAT(broken.out, HasSubstr("; config unreadable)"));
  EXPECT_FALSE(sys::path_exists(home.socket()));
  EXPECT_FALSE(sys::path_exists(home.dir() + "/run/bangerd.lock"));
}

// `--version`: version, commit and build time on one line, for banger and bangerd alike.
TEST(CliDaemon, VersionIsOneLineWithCommitAndBuildTime) {
  BangerHome home;
  const std::string line_pattern =
      " [0-9]+\\.[0-9]+\\.[0-9]+ \\(commit [0-9a-z]+, built "
      "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z\\)\n";
  auto banger = home.banger({"--version"});
  EXPECT_EQ(banger.exit_code, 0);
  EXPECT_THAT(banger.out, MatchesRegex("banger" + line_pattern));
  auto bangerd = home.bangerd({"--version"});
  EXPECT_EQ(bangerd.exit_code, 0);
  EXPECT_THAT(bangerd.out, MatchesRegex("bangerd" + line_pattern));
}

}  // namespace
}  // namespace banger::itest

namespace banger::itest {
namespace {

TEST(CliDaemon, SshConfigInstallAndUninstallEditOnlyTheMarkedBlock) {
  BangerHome home;
  auto printed = home.banger({"ssh-config"});
  ASSERT_EQ(printed.exit_code, 0) << printed.err;
  std::string path = home.dir() + "/state/ssh_config";
  EXPECT_EQ(printed.out, path + "\n");
  auto config = sys::read_file(path);
  ASSERT_TRUE(config);
  EXPECT_THAT(*config, HasSubstr("Host *.vm\n"));
  EXPECT_THAT(*config, HasSubstr("IdentityFile \"" + home.dir() + "/state/ssh/id_ed25519\""));

  std::string user_config = home.dir() + "/home/.ssh/config";
  ASSERT_TRUE(sys::make_dirs(home.dir() + "/home/.ssh", 0700));
  ASSERT_TRUE(sys::write_file_atomic(user_config, "Host gh\n  User git\n", 0600));
  auto installed = home.banger({"ssh-config", "--install"});
  ASSERT_EQ(installed.exit_code, 0) << installed.err;
  std::string block =
      "# >>> banger ssh-config >>>\nInclude \"" + path + "\"\n# <<< banger ssh-config <<<\n";
  EXPECT_EQ(*sys::read_file(user_config), block + "Host gh\n  User git\n");
  EXPECT_EQ(home.banger({"ssh-config", "--install"}).exit_code, 0);
  EXPECT_EQ(*sys::read_file(user_config), block + "Host gh\n  User git\n");

  auto removed = home.banger({"ssh-config", "--uninstall"});
  ASSERT_EQ(removed.exit_code, 0) << removed.err;
  EXPECT_EQ(*sys::read_file(user_config), "Host gh\n  User git\n");
  EXPECT_NE(home.banger({"ssh-config", "--install", "--uninstall"}).exit_code, 0);
}

}  // namespace
}  // namespace banger::itest
