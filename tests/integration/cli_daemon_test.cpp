// The CLI and the daemon as a user meets them: real binaries, a private BANGER_HOME each.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

#include "harness.hpp"
#include <nlohmann/json.hpp>

#include "banger/sys/fs.hpp"
#include "banger/testkit/probes.hpp"

namespace banger::itest {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(CliDaemon, FirstCommandStartsTheDaemonAndStopStopsIt) {
  BangerHome home;
  auto status = home.banger({"daemon", "status"});
  EXPECT_EQ(status.exit_code, 3) << status.out << status.err;

  auto list = home.banger({"vm", "list"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_EQ(list.out, "NAME  STATE  IMAGE  VMM  VCPU  MEMORY  IP  CREATED\n");

  status = home.banger({"daemon", "status"});
  EXPECT_EQ(status.exit_code, 0);
  EXPECT_THAT(status.out, HasSubstr("bangerd is running (pid "));

  // A second daemon refuses while the first one runs.
  auto second = home.bangerd({"--foreground"});
  EXPECT_EQ(second.exit_code, 1);
  EXPECT_THAT(second.err, HasSubstr("bangerd: another bangerd is running (pid "));

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

TEST(CliDaemon, VmmFirecrackerIsRefusedByVmCreateAndDoctorAlike) {
  BangerHome home;
  home.write_config("vmm = \"firecracker\"\n");
  const std::string reason =
      "the firecracker backend is not supported yet; set vmm = \"qemu\" or \"auto\"";
  auto created = home.banger({"vm", "create", "--no-start", "--name", "web"});
  EXPECT_EQ(created.exit_code, 1);
  EXPECT_THAT(created.err, HasSubstr("banger: " + reason + " (failed_precondition, op-"));
  EXPECT_EQ(doctor_vmm_row(home), "fail: " + reason);
  auto list = home.banger({"vm", "list", "--json"});
  EXPECT_EQ(nlohmann::json::parse(list.out).size(), 0u);
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

TEST(CliDaemon, UsageErrorsExitTwo) {
  BangerHome home;
  EXPECT_EQ(home.banger({"vm", "frobnicate"}).exit_code, 2);
  EXPECT_EQ(home.banger({"vm", "create", "--memory", "lots", "--no-start"}).exit_code, 2);
  auto version = home.banger({"--version"});
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_THAT(version.out, HasSubstr("banger 0.1.0"));
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
