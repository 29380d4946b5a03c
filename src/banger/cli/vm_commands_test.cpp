// The vm commands against a scripted in-process daemon (a real rpc::Server on a temp socket).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <memory>
#include <mutex>
#include <sstream>
#include <thread>

#include "banger/agentproto/stream.hpp"
#include "banger/api/vm.hpp"
#include "banger/base/random.hpp"
#include "banger/cli/command.hpp"
#include "banger/cli/vm_support.hpp"
#include "banger/rpc/registry.hpp"
#include "banger/rpc/server.hpp"
#include "banger/sys/command_runner.hpp"
#include "banger/sys/fs.hpp"
#include "banger/testkit/eventually.hpp"
#include "banger/testkit/temp_dir.hpp"

namespace banger::cli {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;
using Strings = std::vector<std::string>;

api::VmInfo vm_info(const std::string& name, const std::string& state) {
  api::VmInfo vm;
  vm.id = "0123456789abcdef";
  vm.name = name;
  vm.state = state;
  vm.image = "tiny";
  vm.vcpu = 2;
  vm.memory_mib = 1024;
  vm.disk_size_mib = 8192;
  vm.guest_ip = "172.16.0.2";
  vm.created_at = "2026-11-28T03:48:41Z";
  return vm;
}

// Sets an environment variable for the test's duration.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() { ::unsetenv(name_); }

 private:
  const char* name_;
};

class VmCommandsTest : public ::testing::Test {
 protected:
  ~VmCommandsTest() override {
    if (server) {
      server->stop();
    }
    if (thread.joinable()) {
      thread.join();
    }
  }

  // Call after registering the handlers the test needs.
  void start() {
    server = std::make_unique<rpc::Server>(
        rpc::ServerOptions{.socket_path = dir.path() + "/s.sock", .allowed_uid = ::getuid()},
        registry, random);
    auto listening = server->listen();
    ASSERT_TRUE(listening) << listening.error().message;
    thread = std::thread([this] { (void)server->run(); });
  }

  int banger(Strings args) {
    args.insert(args.begin(), "banger");
    std::vector<char*> argv;
    for (auto& arg : args) {
      argv.push_back(arg.data());
    }
    return run_command_line(static_cast<int>(argv.size()), argv.data(), ctx);
  }

  // Runs banger (expecting exit 0) and returns what it printed on stdout.
  std::string out_of(Strings args) {
    const std::size_t mark = printer.out_text().size();
    EXPECT_EQ(banger(std::move(args)), 0) << printer.err_text();
    return printer.out_text().substr(mark);
  }

  template <class M, class F>
  void on(F handler) {
    registry.add<M>(typename rpc::Registry::Handler<M>(handler));
  }

  // vm.list answers with the current `vms`; vm.delete removes from it and records the names.
  void serve_list_and_delete() {
    on<api::VmList>([this](const api::VmList::Request&, rpc::CallContext&) {
      std::lock_guard lock(mutex);
      return Expected<api::VmList::Response>(api::VmList::Response{vms});
    });
    on<api::VmDelete>([this](const api::VmDelete::Request& r, rpc::CallContext&) {
      std::lock_guard lock(mutex);
      deleted.insert(deleted.end(), r.names.begin(), r.names.end());
      std::erase_if(vms, [&](const api::VmInfo& vm) {
        return std::find(r.names.begin(), r.names.end(), vm.name) != r.names.end();
      });
      return Expected<api::VmDelete::Response>(api::VmDelete::Response{r.names});
    });
  }

  testkit::TempDir dir;
  base::Mt19937Random random{11};
  rpc::Registry registry{random};
  std::unique_ptr<rpc::Server> server;
  std::thread thread;
  CapturePrinter printer;
  Context ctx{printer, [this](Connect) { return rpc::Client::connect(dir.path() + "/s.sock"); }};
  std::mutex mutex;
  std::vector<api::VmInfo> vms;
  Strings deleted;
};

TEST_F(VmCommandsTest, CreateWithSeveralNamesSendsTheRequestsConcurrently) {
  // Given a daemon whose vm.create only returns once all three requests are in flight.
  std::atomic<int> in_flight{0};
  on<api::VmCreate>([&](const api::VmCreate::Request& r, rpc::CallContext& call) {
    ++in_flight;
    if (!testkit::eventually([&] { return in_flight.load() == 3; })) {
      return Expected<api::VmCreate::Response>(fail(Errc::timeout, "not concurrent"));
    }
    EXPECT_FALSE(r.no_start);
    EXPECT_EQ(r.image, "tiny");
    EXPECT_EQ(r.memory_mib, std::optional<std::int64_t>(1024));
    call.emit(api::Event{"boot", "booting " + r.name, 0, 0});
    return Expected<api::VmCreate::Response>(api::VmCreate::Response{vm_info(r.name, "running")});
  });
  start();
  EXPECT_EQ(banger({"vm", "create", "a", "b", "--name", "c", "--image", "tiny", "--memory", "1G"}),
            0)
      << printer.err_text();
  EXPECT_EQ(printer.out_text(),
            "a running (01234567, 2 vCPU, 1G memory, 8G disk, image tiny, ip 172.16.0.2)\n"
            "b running (01234567, 2 vCPU, 1G memory, 8G disk, image tiny, ip 172.16.0.2)\n"
            "c running (01234567, 2 vCPU, 1G memory, 8G disk, image tiny, ip 172.16.0.2)\n");
  EXPECT_THAT(printer.err_text(), HasSubstr("b: boot: booting b\n"));
}

TEST_F(VmCommandsTest, CreateReportsEachFailureAndExitsOne) {
  on<api::VmCreate>([](const api::VmCreate::Request& r, rpc::CallContext&) {
    if (r.name == "b") {
      return Expected<api::VmCreate::Response>(
          fail(Errc::command_failed, "qemu exited early: no kernel"));
    }
    return Expected<api::VmCreate::Response>(api::VmCreate::Response{vm_info(r.name, "running")});
  });
  start();
  EXPECT_EQ(banger({"vm", "create", "a", "b", "--json"}), 1);
  EXPECT_THAT(printer.err_text(), MatchesRegex("banger: creating b: qemu exited early: no kernel "
                                               "\\(operation_failed, op-[0-9a-f]{6}\\)\n"));
  auto json = nlohmann::json::parse(printer.out_text());
  ASSERT_EQ(json.size(), 1u);
  EXPECT_EQ(json[0]["name"], "a");
}

TEST_F(VmCommandsTest, CreateRefusesANameGivenTwice) {
  start();
  EXPECT_EQ(banger({"vm", "create", "a", "--name", "a"}), 2);
  EXPECT_EQ(printer.err_text(), "banger: vm name \"a\" is given twice\n");
}

TEST_F(VmCommandsTest, LifecycleVerbsSendAllNamesInOneRequestAndPrintStates) {
  on<api::VmStop>([](const api::VmNames& r, rpc::CallContext&) {
    api::VmInfos infos;
    for (const auto& name : r.names) {
      infos.vms.push_back(vm_info(name, "stopped"));
    }
    return Expected<api::VmInfos>(infos);
  });
  on<api::VmKill>([](const api::VmKill::Request&, rpc::CallContext&) {
    return Expected<api::VmInfos>(fail(Errc::not_found, "vm \"nope\" not found"));
  });
  start();
  EXPECT_EQ(banger({"vm", "stop", "web", "db"}), 0);
  EXPECT_EQ(printer.out_text(), "web stopped\ndb stopped\n");
  EXPECT_EQ(banger({"vm", "kill", "nope"}), 1);
  EXPECT_THAT(printer.err_text(), HasSubstr("banger: vm \"nope\" not found (not_found, op-"));
}

TEST_F(VmCommandsTest, TheReminderIsPrintedOnlyWhileTheVmRuns) {
  on<api::VmShow>([](const api::VmShow::Request& r, rpc::CallContext&) {
    return Expected<api::VmShow::Response>(
        api::VmShow::Response{vm_info(r.name, r.name == "web" ? "running" : "stopped")});
  });
  start();
  remind_if_still_running(ctx, "web");
  remind_if_still_running(ctx, "db");
  remind_if_still_running(ctx, "");  // whatever the daemon says, nothing breaks
  EXPECT_EQ(printer.err_text(),
            "web is still running: banger vm stop web (or banger vm delete web)\n");
}

// vm kill -s: the CLI checks the signal against the shared table (usage error otherwise) and
// sends its canonical name; no -s sends no signal field (SIGKILL). A VMM that survived is said.
TEST_F(VmCommandsTest, KillSendsTheCanonicalSignalAndSaysWhenTheVmmSurvived) {
  std::vector<std::optional<std::string>> sent;
  on<api::VmKill>([&](const api::VmKill::Request& r, rpc::CallContext&) {
    sent.push_back(r.signal);
    const bool survives = r.signal == std::optional<std::string>("SIGUSR1");
    return Expected<api::VmInfos>(
        api::VmInfos{{vm_info(r.names[0], survives ? "running" : "stopped")}});
  });
  start();
  EXPECT_EQ(out_of({"vm", "kill", "web"}), "web stopped\n");
  EXPECT_EQ(out_of({"vm", "kill", "-s", "term", "web"}), "web stopped\n");
  EXPECT_EQ(out_of({"vm", "kill", "--signal", "15", "web"}), "web stopped\n");
  EXPECT_EQ(out_of({"vm", "kill", "--signal=USR1", "web"}),
            "web running (its VMM survived SIGUSR1; banger vm kill web ends it)\n");
  EXPECT_EQ(sent, (std::vector<std::optional<std::string>>{std::nullopt, "SIGTERM", "SIGTERM",
                                                           "SIGUSR1"}));
  EXPECT_EQ(banger({"vm", "kill", "-s", "STOP", "web"}), 2);
  EXPECT_THAT(printer.err_text(),
              HasSubstr("banger: --signal: unknown or unsupported signal \"STOP\": use one of "
                        "SIGKILL, SIGTERM"));
  EXPECT_EQ(sent.size(), 4u);  // nothing sent
}

TEST_F(VmCommandsTest, PruneShowsTheTableAndDeletesAfterYes) {
  std::vector<bool> dry_runs;
  on<api::VmPrune>([&](const api::VmPrune::Request& r, rpc::CallContext&) {
    dry_runs.push_back(r.dry_run);
    return Expected<api::VmPrune::Response>(api::VmPrune::Response{{"old"}});
  });
  vms = {vm_info("old", "stopped"), vm_info("live", "running")};
  serve_list_and_delete();
  start();
  std::istringstream yes("y\n");
  EXPECT_EQ(run_prune(ctx, false, yes, true), 0) << printer.err_text();
  EXPECT_EQ(printer.out_text(),
            "NAME  STATE    IMAGE  CREATED\n"
            "old   stopped  tiny   2026-11-28 03:48\n"
            "deleted old\n");
  EXPECT_EQ(printer.err_text(), "Delete this VM? [y/N] ");
  EXPECT_EQ(dry_runs, (std::vector<bool>{true, false}));
}

// Regression for M5 (security review): after "yes" the CLI sends the ids of exactly the VMs it
// showed, and prints the VMs the daemon kept because they were no longer idle. Fails on
// 8f38f5a: ran with run_prune not passing the dry run's ids: the second vm.prune had no ids.
TEST_F(VmCommandsTest, PruneSendsTheConfirmedIdsAndPrintsTheVmsKept) {
  std::vector<api::VmPrune::Request> requests;
  on<api::VmPrune>([&](const api::VmPrune::Request& r, rpc::CallContext&) {
    requests.push_back(r);
    if (r.dry_run) {
      return Expected<api::VmPrune::Response>(
          api::VmPrune::Response{.deleted = {"old"}, .ids = {"00000000000000aa"}, .skipped = {}});
    }
    return Expected<api::VmPrune::Response>(api::VmPrune::Response{
        .deleted = {}, .ids = {}, .skipped = {{.name = "old", .reason = "it is running now"}}});
  });
  vms = {vm_info("old", "stopped")};
  serve_list_and_delete();
  start();
  std::istringstream yes("y\n");
  EXPECT_EQ(run_prune(ctx, false, yes, true), 0) << printer.err_text();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].ids, std::nullopt);
  EXPECT_EQ(requests[1].ids, (std::vector<std::string>{"00000000000000aa"}));
  EXPECT_EQ(printer.out_text(),
            "NAME  STATE    IMAGE  CREATED\n"
            "old   stopped  tiny   2026-11-28 03:48\n"
            "kept old: it is running now\n");
}

TEST_F(VmCommandsTest, PruneDeletesNothingAfterNo) {
  std::vector<bool> dry_runs;
  on<api::VmPrune>([&](const api::VmPrune::Request& r, rpc::CallContext&) {
    dry_runs.push_back(r.dry_run);
    return Expected<api::VmPrune::Response>(api::VmPrune::Response{{"a", "b"}});
  });
  vms = {vm_info("a", "stopped"), vm_info("b", "error")};
  serve_list_and_delete();
  start();
  std::istringstream no("n\n");
  EXPECT_EQ(run_prune(ctx, false, no, true), 1);
  EXPECT_EQ(printer.err_text(),
            "Delete these 2 VMs? [y/N] banger: prune cancelled: nothing deleted\n");
  EXPECT_EQ(dry_runs, (std::vector<bool>{true}));
}

TEST_F(VmCommandsTest, PruneRefusesWithoutATerminalUnlessForced) {
  std::vector<bool> dry_runs;
  on<api::VmPrune>([&](const api::VmPrune::Request& r, rpc::CallContext&) {
    dry_runs.push_back(r.dry_run);
    return Expected<api::VmPrune::Response>(api::VmPrune::Response{{"a", "b"}});
  });
  vms = {vm_info("a", "stopped"), vm_info("b", "stopped")};
  serve_list_and_delete();
  start();
  std::istringstream unused("y\n");
  EXPECT_EQ(run_prune(ctx, false, unused, false), 1);
  EXPECT_EQ(printer.err_text(),
            "banger: refusing to delete 2 VMs without confirmation: stdin is not a terminal "
            "(pass -f to delete without asking)\n");
  EXPECT_EQ(dry_runs, (std::vector<bool>{true}));

  CapturePrinter forced_printer;
  Context forced{forced_printer, ctx.connect};
  EXPECT_EQ(run_prune(forced, true, unused, false), 0);
  EXPECT_EQ(forced_printer.out_text(), "deleted a\ndeleted b\n");
  EXPECT_EQ(dry_runs, (std::vector<bool>{true, false}));
}

TEST_F(VmCommandsTest, PruneWithNothingToDelete) {
  on<api::VmPrune>([](const api::VmPrune::Request&, rpc::CallContext&) {
    return Expected<api::VmPrune::Response>(api::VmPrune::Response{});
  });
  serve_list_and_delete();
  start();
  std::istringstream in("");
  EXPECT_EQ(run_prune(ctx, false, in, false), 0);
  EXPECT_EQ(printer.out_text(), "nothing to prune: every VM is running\n");
}

TEST_F(VmCommandsTest, SetSendsOnlyTheGivenFields) {
  api::VmSet::Request seen;
  on<api::VmSet>([&](const api::VmSet::Request& r, rpc::CallContext&) {
    seen = r;
    auto vm = vm_info(r.name, "running");
    vm.nat = true;
    vm.vcpu = 4;
    return Expected<api::VmSet::Response>(api::VmSet::Response{vm});
  });
  start();
  EXPECT_EQ(banger({"vm", "set", "web"}), 2);
  EXPECT_EQ(printer.err_text(),
            "banger: nothing to change: pass --vcpu, --memory, --nat or --no-nat\n");
  EXPECT_EQ(banger({"vm", "set", "web", "--nat", "--no-nat"}), 2);
  EXPECT_EQ(banger({"vm", "set", "web", "--vcpu", "4", "--nat"}), 0);
  EXPECT_EQ(seen.name, "web");
  EXPECT_EQ(seen.vcpu, std::optional<int>(4));
  EXPECT_EQ(seen.memory_mib, std::nullopt);
  EXPECT_EQ(seen.nat, std::optional<bool>(true));
  EXPECT_EQ(printer.out_text(),
            "web: 4 vCPU, 1G memory, nat on (vCPU and memory apply at the next start)\n");
}

TEST_F(VmCommandsTest, LogsPrintsTheTail) {
  on<api::VmLogs>([](const api::VmLogs::Request& r, rpc::CallContext&) {
    EXPECT_EQ(r.offset, -65536);
    return Expected<api::VmLogs::Response>(api::VmLogs::Response{"login: \n", 42, "running"});
  });
  start();
  EXPECT_EQ(banger({"vm", "logs", "web"}), 0);
  EXPECT_EQ(printer.out_text(), "login: \n");
}

TEST_F(VmCommandsTest, ShowListsTheRuntimeFields) {
  on<api::VmShow>([](const api::VmShow::Request& r, rpc::CallContext&) {
    auto vm = vm_info(r.name, "running");
    vm.tap = "tap-fc-0";
    vm.pid = 4242;
    vm.rootfs_strategy = "qcow2_overlay";
    vm.vmm = "qemu";
    return Expected<api::VmShow::Response>(api::VmShow::Response{vm});
  });
  start();
  EXPECT_EQ(banger({"vm", "show", "web"}), 0);
  EXPECT_THAT(printer.out_text(), HasSubstr("\ntap:      tap-fc-0\n"));
  EXPECT_THAT(printer.out_text(), HasSubstr("\npid:      4242\n"));
  EXPECT_THAT(printer.out_text(), HasSubstr("\nrootfs:   qcow2_overlay\n"));
  EXPECT_THAT(printer.out_text(), HasSubstr("\nvmm:      qemu\n"));
}

TEST_F(VmCommandsTest, ShowNamesTheRootfsSizeFromTheConfig) {
  on<api::VmShow>([](const api::VmShow::Request& r, rpc::CallContext&) {
    auto vm = vm_info(r.name, r.name == "web" ? "running" : "created");
    vm.rootfs_strategy = r.name == "web" ? "qcow2_overlay" : "";
    vm.rootfs_size_mib = 8192;  // [vm_defaults] rootfs_overlay_size = "8G"
    return Expected<api::VmShow::Response>(api::VmShow::Response{vm});
  });
  start();
  EXPECT_EQ(banger({"vm", "show", "web"}), 0);
  EXPECT_THAT(printer.out_text(), HasSubstr("\nrootfs:   qcow2_overlay, size 8G\n"));
  EXPECT_EQ(banger({"vm", "show", "db"}), 0);
  EXPECT_THAT(printer.out_text(), HasSubstr("\nrootfs:   size 8G\n"));
}

TEST_F(VmCommandsTest, ListShowsEachVmsBackend) {
  vms = {vm_info("web", "running"), vm_info("db", "stopped")};
  vms[0].vmm = "qemu";
  serve_list_and_delete();
  start();
  EXPECT_EQ(banger({"vm", "list"}), 0) << printer.err_text();
  EXPECT_THAT(printer.out_text(), HasSubstr("NAME  STATE    IMAGE  VMM   VCPU"));
  EXPECT_THAT(printer.out_text(), HasSubstr("web   running  tiny   qemu  "));
  EXPECT_THAT(printer.out_text(), HasSubstr("db    stopped  tiny   -     "));
}

// docker ps habits: `ps` lists the VMs whose VMM is up, -a every VM, -q names only (also
// combined as -aq); `vm list` lists every VM and takes -q too.
TEST_F(VmCommandsTest, PsListsRunningVmsAndAllWithA) {
  vms = {vm_info("web", "running"), vm_info("db", "stopped"), vm_info("boot", "starting"),
         vm_info("bad", "error")};
  serve_list_and_delete();
  start();
  const std::string running = out_of({"ps"});
  EXPECT_THAT(running, HasSubstr("\nweb "));
  EXPECT_THAT(running, HasSubstr("\nboot "));
  EXPECT_THAT(running, Not(HasSubstr("db ")));
  EXPECT_THAT(running, Not(HasSubstr("bad ")));
  const std::string all = out_of({"ps", "-a"});
  EXPECT_THAT(all, HasSubstr("\ndb "));
  EXPECT_THAT(all, HasSubstr("\nbad "));
  EXPECT_EQ(out_of({"vm", "list"}), all);
}

TEST_F(VmCommandsTest, PsQuietPrintsOneNamePerLine) {
  vms = {vm_info("web", "running"), vm_info("db", "stopped")};
  serve_list_and_delete();
  start();
  EXPECT_EQ(out_of({"ps", "-q"}), "web\n");
  EXPECT_EQ(out_of({"ps", "-aq"}), "web\ndb\n");
  EXPECT_EQ(out_of({"ps", "--all", "--quiet"}), "web\ndb\n");
  EXPECT_EQ(out_of({"vm", "list", "-q"}), "web\ndb\n");
}

TEST_F(VmCommandsTest, PsJsonHoldsOnlyWhatTheTableWouldShow) {
  vms = {vm_info("web", "running"), vm_info("db", "stopped")};
  serve_list_and_delete();
  start();
  auto json = nlohmann::json::parse(out_of({"ps", "--json"}));
  ASSERT_EQ(json.size(), 1U);
  EXPECT_EQ(json[0]["name"], "web");
}

TEST(CommandTable, EveryCommandHasExamples) {
  for (const auto& entry : command_table()) {
    std::string path;
    for (const auto& word : entry.path) {
      path += (path.empty() ? "" : " ") + word;
    }
    EXPECT_FALSE(entry.examples.empty()) << "banger " << path << " has no examples";
    EXPECT_NE(entry.examples.find("banger " + path), std::string::npos)
        << "banger " << path << ": no example runs the command itself";
  }
}

// Regression for L2 (security review): guest-controlled strings (a process named with an OSC 52
// clipboard write, a hostname that clears the screen, a start error quoting the console) reach
// the terminal with their control characters escaped, never raw. Fails on 8f38f5a: ran with
// escape_control() returning its input unchanged: the output held raw ESC/BEL bytes.
TEST_F(VmCommandsTest, GuestStringsAreEscapedNotSentToTheTerminalRaw) {
  const std::string osc52 = "\x1b]52;c;ZWNobyBwd25lZA==\a";
  on<api::VmPorts>([&](const api::VmNames&, rpc::CallContext&) {
    api::GuestPortInfo port{.proto = "tcp",
                            .family = "ipv4",
                            .address = "0.0.0.0",
                            .port = 8080,
                            .pid = 42,
                            .process = osc52,
                            .endpoint = "web.vm:8080\x1b[2J",
                            .url = ""};
    api::VmPorts::Response response;
    response.vms.push_back(api::VmPortsEntry{.name = "web", .ports = {port}, .error = ""});
    return Expected<api::VmPorts::Response>(response);
  });
  on<api::VmHealth>([&](const api::VmHealth::Request&, rpc::CallContext&) {
    return Expected<api::VmHealth::Response>(api::VmHealth::Response{.name = "web",
                                                                     .uptime_s = 5,
                                                                     .boot_id = "b\x07",
                                                                     .agent_version = "1\x1b[8m",
                                                                     .hostname = "host\x1b[2J"});
  });
  on<api::VmShow>([&](const api::VmShow::Request&, rpc::CallContext&) {
    return Expected<api::VmShow::Response>(
        fail(Errc::failed_precondition, "vm web failed to boot; console:\n\x1b]0;owned\a"));
  });
  start();
  EXPECT_EQ(banger({"vm", "ports", "web"}), 0) << printer.err_text();
  EXPECT_EQ(banger({"vm", "health", "web"}), 0) << printer.err_text();
  EXPECT_NE(banger({"vm", "show", "web"}), 0);
  std::string all = printer.out_text() + printer.err_text();
  for (char raw : {'\x1b', '\a'}) {
    EXPECT_EQ(all.find(raw), std::string::npos) << all;
  }
  EXPECT_THAT(printer.out_text(), HasSubstr("\\x1b]52;c;ZWNobyBwd25lZA==\\x07 (42)"));
  EXPECT_THAT(printer.out_text(), HasSubstr("host\\x1b[2J"));
  EXPECT_THAT(printer.err_text(), HasSubstr("console:\n\\x1b]0;owned\\x07"));
}

// --- vm run, with a fake ssh that records its argv and runs the command after "--" ---

class VmRunTest : public VmCommandsTest {
 protected:
  VmRunTest() {
    fake_ssh = dir.path() + "/ssh";
    EXPECT_TRUE(sys::write_file_atomic(fake_ssh,
                                       "#!/bin/sh\n"
                                       "printf '%s\\n' \"$@\" > " +
                                           dir.path() +
                                           "/ssh-args\n"
                                           "while [ $# -gt 0 ] && [ \"$1\" != -- ]; do "
                                           "shift; done\n"
                                           "shift 2\n"  // "--" and user@ip
                                           "[ $# -gt 0 ] || exit 0\n"
                                           "exec sh -c \"$*\"\n"));
    ::chmod(fake_ssh.c_str(), 0755);
  }

  void serve_vms() {
    on<api::VmCreate>([this](const api::VmCreate::Request& r, rpc::CallContext&) {
      std::lock_guard lock(mutex);
      std::string name = r.name.empty() ? "calm-otter" : r.name;
      if (fail_create) {
        vms.push_back(vm_info(name, "error"));
        return Expected<api::VmCreate::Response>(
            fail(Errc::timeout, "vm " + name + " did not become ready"));
      }
      vms.push_back(vm_info(name, "running"));
      return Expected<api::VmCreate::Response>(api::VmCreate::Response{vms.back()});
    });
    on<api::VmSshInfo>([this](const api::VmSshInfo::Request& r, rpc::CallContext&) {
      return Expected<api::VmSshInfo::Response>(api::VmSshInfo::Response{
          r.name, "172.16.0.2", "root", dir.path() + "/key", dir.path() + "/known_hosts"});
    });
    on<api::VmShow>([this](const api::VmShow::Request& r, rpc::CallContext&) {
      std::lock_guard lock(mutex);
      for (const auto& vm : vms) {
        if (vm.name == r.name) {
          return Expected<api::VmShow::Response>(api::VmShow::Response{vm});
        }
      }
      return Expected<api::VmShow::Response>(fail(Errc::not_found, "not found"));
    });
    // The guest side of vm.stream: the command runs here (sh, with the argv recorded), its
    // stdout and exit code come back as frames on the passed channel.
    on<api::VmStream>([this](const api::VmStream::Request& r, rpc::CallContext& call) {
      int ends[2];
      EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends), 0);
      {
        std::lock_guard lock(mutex);
        streamed.push_back(r.argv);
        streamed_cwd = r.cwd;
      }
      sys::PosixCommandRunner runner;
      auto ran = runner.run({.argv = r.argv});
      std::string frames;
      if (ran && !ran->out.empty()) {
        frames +=
            agentproto::encode_stream_frame(agentproto::StreamFrameType::stdout_data, ran->out);
      }
      frames += agentproto::encode_stream_frame(
          agentproto::StreamFrameType::exit,
          agentproto::encode_stream_exit({.exit_code = ran ? ran->exit_code : 127}));
      EXPECT_EQ(::write(ends[1], frames.data(), frames.size()),
                static_cast<ssize_t>(frames.size()));
      ::close(ends[1]);
      call.attach_fd(base::UniqueFd(ends[0]));
      return Expected<api::VmStream::Response>(api::VmStream::Response{.pid = 42});
    });
    serve_list_and_delete();
  }

  Strings ssh_args() {
    auto text = sys::read_file(dir.path() + "/ssh-args");
    Strings lines;
    std::istringstream in(text ? *text : "");
    for (std::string line; std::getline(in, line);) {
      lines.push_back(line);
    }
    return lines;
  }

  std::string fake_ssh;
  bool fail_create = false;
  std::vector<Strings> streamed;  // the argv of each vm.stream
  std::string streamed_cwd;
};

// Command mode runs the command through the agent's stream channel (no ssh handshake): the
// argv arrives as given and banger exits with its code.
TEST_F(VmRunTest, CommandModeExitsWithTheCommandsCodeAndRmDeletes) {
  serve_vms();
  start();
  ScopedEnv ssh("BANGER_SSH_BIN", fake_ssh);
  EXPECT_EQ(banger({"vm", "run", "--rm", "--name", "t1", "--", "sh", "-c", "exit 7"}), 7)
      << printer.err_text();
  EXPECT_EQ(deleted, (Strings{"t1"}));
  EXPECT_EQ(streamed, (std::vector<Strings>{{"sh", "-c", "exit 7"}}));
  EXPECT_EQ(streamed_cwd, "");
  EXPECT_FALSE(sys::path_exists(dir.path() + "/ssh-args")) << "command mode needs no ssh";
}

TEST_F(VmRunTest, ASecondSeparatorBelongsToTheCommand) {
  serve_vms();
  start();
  ScopedEnv ssh("BANGER_SSH_BIN", fake_ssh);
  EXPECT_EQ(banger({"vm", "run", "--", "true", "--", "x"}), 0) << printer.err_text();
  EXPECT_EQ(streamed, (std::vector<Strings>{{"true", "--", "x"}}));
  EXPECT_TRUE(deleted.empty());
}

// The "still running" reminder needs terminals (wants_still_running_reminder; the reminder
// itself: TheReminderIsPrintedOnlyWhileTheVmRuns): a shell session without them, as here, ends
// silently.
TEST_F(VmRunTest, BareModeWithoutTerminalsEndsWithoutTheReminder) {
  serve_vms();
  start();
  ScopedEnv ssh("BANGER_SSH_BIN", fake_ssh);
  EXPECT_EQ(banger({"vm", "run"}), 0);
  EXPECT_EQ(printer.err_text(), "");
  EXPECT_EQ(ssh_args().back(), "root@172.16.0.2");
}

TEST_F(VmRunTest, DetachPrintsTheNameAndRunsNoSsh) {
  serve_vms();
  start();
  ScopedEnv ssh("BANGER_SSH_BIN", fake_ssh);
  EXPECT_EQ(banger({"vm", "run", "-d"}), 0);
  EXPECT_EQ(printer.out_text(), "calm-otter\n");
  EXPECT_FALSE(sys::path_exists(dir.path() + "/ssh-args"));
}

TEST_F(VmRunTest, AVmThatNeverBecameReadyIsKeptEvenWithRm) {
  fail_create = true;
  serve_vms();
  start();
  EXPECT_EQ(banger({"vm", "run", "--rm", "--", "true"}), 1);
  EXPECT_THAT(
      printer.err_text(),
      MatchesRegex("banger: vm calm-otter did not become ready \\(timeout, op-[0-9a-f]{6}\\)\n"
                   "kept calm-otter for banger vm logs calm-otter\n"));
  EXPECT_TRUE(deleted.empty());
}

// The workspace preflight runs before anything reaches the daemon: a missing path creates no
// VM; workspace flags without a path are a usage error.
TEST_F(VmRunTest, WorkspacePreflightFailsBeforeAnyVmAndFlagsNeedAPath) {
  serve_vms();
  start();
  EXPECT_NE(banger({"vm", "run", dir.path() + "/no-repo", "--", "make"}), 0);
  EXPECT_THAT(printer.err_text(), HasSubstr("no-repo"));
  EXPECT_TRUE(vms.empty());
  EXPECT_EQ(banger({"vm", "run", "--include-untracked", "--", "true"}), 2);
  EXPECT_THAT(printer.err_text(), HasSubstr("need a workspace path"));
  EXPECT_TRUE(vms.empty());
}

TEST_F(VmRunTest, RmAndDetachExcludeEachOther) {
  start();
  EXPECT_EQ(banger({"vm", "run", "--rm", "-d"}), 2);
  EXPECT_EQ(printer.err_text(), "banger: --rm and --detach cannot be combined\n");
}

}  // namespace
}  // namespace banger::cli
