#include "banger/cli/vm_support.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <sstream>
#include <thread>

#include "banger/sys/fs.hpp"
#include "banger/testkit/eventually.hpp"
#include "banger/testkit/temp_dir.hpp"

namespace banger::cli {
namespace {

using namespace std::chrono_literals;
using Strings = std::vector<std::string>;

void (*current_handler(int signo))(int) {
  struct sigaction now{};
  ::sigaction(signo, nullptr, &now);
  return now.sa_handler;
}

// The "still running" reminder follows only a shell a person used: no command, no --rm, and
// both stdin and stderr terminals.
TEST(StillRunningReminder, OnlyAfterAnInteractiveShellWithoutRm) {
  const SessionEnd shell{.shell = true, .rm = false, .stdin_is_tty = true, .stderr_is_tty = true};
  EXPECT_TRUE(wants_still_running_reminder(shell));
  auto with = [&](auto change) {
    SessionEnd end = shell;
    change(end);
    return wants_still_running_reminder(end);
  };
  EXPECT_FALSE(with([](SessionEnd& e) { e.shell = false; }));  // vm run -- cmd, vm ssh -- cmd
  EXPECT_FALSE(with([](SessionEnd& e) { e.rm = true; }));      // deleted anyway
  EXPECT_FALSE(with([](SessionEnd& e) { e.stdin_is_tty = false; }));   // a shell fed by a pipe
  EXPECT_FALSE(with([](SessionEnd& e) { e.stderr_is_tty = false; }));  // captured by a script
  EXPECT_EQ(still_running_reminder("web"),
            "web is still running: banger vm stop web (or banger vm delete web)\n");
}

TEST(BuildSshArgv, LoginShellWithBangersKeyAndKnownHosts) {
  SshSpec spec;
  spec.key_path = "/s/ssh/id_ed25519";
  spec.known_hosts_path = "/s/ssh/known_hosts";
  spec.ip = "172.16.0.2";
  EXPECT_EQ(build_ssh_argv(spec), (Strings{"ssh",
                                           "-i",
                                           "/s/ssh/id_ed25519",
                                           "-o",
                                           "UserKnownHostsFile=/s/ssh/known_hosts",
                                           "-o",
                                           "StrictHostKeyChecking=accept-new",
                                           "-o",
                                           "IdentitiesOnly=yes",
                                           "-o",
                                           "HashKnownHosts=no",
                                           "-o",
                                           "LogLevel=ERROR",
                                           "-o",
                                           "ForwardAgent=no",
                                           "-o",
                                           "ForwardX11=no",
                                           "-o",
                                           "ClearAllForwardings=yes",
                                           "-o",
                                           "PermitLocalCommand=no",
                                           "--",
                                           "root@172.16.0.2"}));
}

TEST(BuildSshArgv, CommandFollowsTheSeparatorAndTtyIsForcedOnRequest) {
  SshSpec spec;
  spec.ssh_program = "/usr/bin/ssh";
  spec.key_path = "/k";
  spec.known_hosts_path = "/h";
  spec.ip = "10.0.0.3";
  spec.user = "dev";
  spec.force_tty = true;
  spec.command = {"sh", "-c", "exit 7"};
  EXPECT_EQ(build_ssh_argv(spec), (Strings{"/usr/bin/ssh",
                                           "-i",
                                           "/k",
                                           "-o",
                                           "UserKnownHostsFile=/h",
                                           "-o",
                                           "StrictHostKeyChecking=accept-new",
                                           "-o",
                                           "IdentitiesOnly=yes",
                                           "-o",
                                           "HashKnownHosts=no",
                                           "-o",
                                           "LogLevel=ERROR",
                                           "-o",
                                           "ForwardAgent=no",
                                           "-o",
                                           "ForwardX11=no",
                                           "-o",
                                           "ClearAllForwardings=yes",
                                           "-o",
                                           "PermitLocalCommand=no",
                                           "-t",
                                           "--",
                                           "dev@10.0.0.3",
                                           "sh",
                                           "-c",
                                           "exit 7"}));
  spec.preserve_argv = true;
  EXPECT_EQ(build_ssh_argv(spec).back(), "sh -c 'exit 7'");
}

TEST(BuildSshArgv, EscapesPercentAndQuotesKnownHostsWithBlanks) {
  SshSpec spec;
  spec.key_path = "/home/a%b/key";
  spec.known_hosts_path = "/home/my dir/\"k\"%";
  spec.ip = "10.0.0.3";
  auto argv = build_ssh_argv(spec);
  EXPECT_EQ(argv[2], "/home/a%%b/key");
  EXPECT_EQ(argv[4], "UserKnownHostsFile=\"/home/my dir/\\\"k\\\"%%\"");
}

TEST(SshSpecFor, ForcesTtyOnlyForAnInteractiveShellOnATerminal) {
  api::VmSshInfo::Response info{
      .name = "web", .ip = "10.0.0.9", .user = "", .key_path = "/k", .known_hosts_path = "/h"};
  auto shell_on_tty = ssh_spec_for(info, {}, true);
  ASSERT_TRUE(shell_on_tty) << shell_on_tty.error().message;
  EXPECT_TRUE(shell_on_tty->force_tty);
  EXPECT_EQ(shell_on_tty->user, "root");
  EXPECT_EQ(shell_on_tty->ip, "10.0.0.9");
  EXPECT_EQ(shell_on_tty->key_path, "/k");
  EXPECT_EQ(shell_on_tty->known_hosts_path, "/h");
  EXPECT_FALSE(ssh_spec_for(info, {}, false)->force_tty);
  auto command_on_tty = ssh_spec_for(info, {"uname", "-r"}, true);
  EXPECT_FALSE(command_on_tty->force_tty);
  EXPECT_EQ(command_on_tty->command, (Strings{"uname", "-r"}));
}

// Regression for H2 (security review): daemon-supplied ssh_info values that ssh would read as
// options, or paths it would expand, never reach the argv. Fails on 8f38f5a: ran with the
// check_ssh_target() call removed from ssh_spec_for: every case was accepted.
TEST(SshSpecFor, RefusesValuesSshWouldReadAsOptions) {
  api::VmSshInfo::Response good{.name = "web",
                                .ip = "10.0.0.9",
                                .user = "root",
                                .key_path = "/s/ssh/id_ed25519",
                                .known_hosts_path = "/s/ssh/known_hosts"};
  ASSERT_TRUE(ssh_spec_for(good, {}, false));
  auto refused = [&](auto mutate) {
    auto info = good;
    mutate(info);
    auto spec = ssh_spec_for(info, {"true"}, false);
    EXPECT_FALSE(spec) << info.user << " " << info.ip;
    return spec ? std::string() : spec.error().message;
  };
  using Info = api::VmSshInfo::Response;
  EXPECT_EQ(refused([](Info& i) { i.user = "-oProxyCommand=x"; }),
            "the daemon's ssh_info for web: refusing ssh user \"-oProxyCommand=x\": a login name "
            "is letters, digits, '_', '.' and '-', not starting with '-' or '.'");
  EXPECT_EQ(refused([](Info& i) { i.ip = "-x"; }),
            "the daemon's ssh_info for web: refusing ssh address \"-x\": it must be a dotted "
            "IPv4 address");
  refused([](Info& i) { i.user = "root@evil"; });
  refused([](Info& i) { i.user = "ro ot"; });
  refused([](Info& i) { i.ip = "10.0.0.9 -oProxyCommand=x"; });
  refused([](Info& i) { i.ip = "host.example"; });
  refused([](Info& i) { i.key_path = "k"; });
  refused([](Info& i) { i.key_path = "/k\nProxyCommand x"; });
  refused([](Info& i) { i.known_hosts_path = "/h/${HOME}"; });
  refused([](Info& i) { i.known_hosts_path = ""; });
}

// Regression for H2 (security review): "--" ends ssh's options before the destination, so even
// a destination or command word that looks like an option stays an argument. Fails on
// 8f38f5a: the argv had the destination before "--".
TEST(BuildSshArgv, SeparatorComesBeforeTheDestination) {
  SshSpec spec;
  spec.key_path = "/k";
  spec.known_hosts_path = "/h";
  spec.ip = "10.0.0.3";
  spec.command = {"-oProxyCommand=x"};
  auto argv = build_ssh_argv(spec);
  ASSERT_GE(argv.size(), 3u);
  EXPECT_EQ(Strings(argv.end() - 3, argv.end()),
            (Strings{"--", "root@10.0.0.3", "-oProxyCommand=x"}));
}

TEST(WithSshHint, AddsTheInstallHintToNotFoundOnly) {
  EXPECT_EQ(with_ssh_hint(Error{Errc::not_found, "ssh not found on PATH"}).message,
            "ssh not found on PATH: install the OpenSSH client (apt install openssh-client)");
  EXPECT_EQ(with_ssh_hint(Error{Errc::io, "running ssh: boom"}).message, "running ssh: boom");
}

TEST(PruneGate, ForceDeletesATerminalAsksOtherwiseRefuses) {
  EXPECT_EQ(prune_gate(true, false), PruneGate::delete_now);
  EXPECT_EQ(prune_gate(true, true), PruneGate::delete_now);
  EXPECT_EQ(prune_gate(false, true), PruneGate::ask);
  EXPECT_EQ(prune_gate(false, false), PruneGate::refuse);
}

TEST(ReadYes, AcceptsOnlyYOrYes) {
  auto answer = [](const std::string& text) {
    std::istringstream in(text);
    return read_yes(in);
  };
  EXPECT_TRUE(answer("y\n"));
  EXPECT_TRUE(answer("  YES \n"));
  EXPECT_TRUE(answer("Yes"));
  EXPECT_FALSE(answer("n\n"));
  EXPECT_FALSE(answer("\n"));
  EXPECT_FALSE(answer(""));
  EXPECT_FALSE(answer("yess\n"));
  EXPECT_FALSE(answer("no\ny\n"));
}

// A scripted vm.logs: returns the pages in order and records the offsets asked for.
struct FakeLogs {
  std::vector<api::VmLogs::Response> pages;
  std::vector<std::int64_t> offsets;
  std::string written;
  int waits = 0;
  bool keep_waiting = true;
  LogFollowIo io() {
    return LogFollowIo{
        .fetch = [this](std::int64_t offset) -> Expected<api::VmLogs::Response> {
          offsets.push_back(offset);
          if (offsets.size() > pages.size()) {
            return fail(Errc::not_found, "vm \"web\" not found");
          }
          return pages[offsets.size() - 1];
        },
        .write = [this](std::string_view text) { written += text; },
        .wait =
            [this] {
              ++waits;
              return keep_waiting;
            },
    };
  }
};

TEST(PrintLogs, WithoutFollowPrintsTheTailOnce) {
  FakeLogs logs;
  logs.pages = {{"boot\nlogin:\n", 2000, "running"}};
  ASSERT_TRUE(print_logs(logs.io(), false));
  EXPECT_EQ(logs.offsets, (std::vector<std::int64_t>{-65536}));
  EXPECT_EQ(logs.written, "boot\nlogin:\n");
  EXPECT_EQ(logs.waits, 0);
}

TEST(PrintLogs, FollowReadsOnWhileTextArrivesAndStopsOnceStoppedAndDrained) {
  FakeLogs logs;
  logs.pages = {{"a", 10, "running"},
                {"b", 12, "running"},
                {"", 12, "running"},
                {"c", 13, "stopping"},
                {"", 13, "stopped"}};
  ASSERT_TRUE(print_logs(logs.io(), true));
  EXPECT_EQ(logs.offsets, (std::vector<std::int64_t>{-65536, 10, 12, 12, 13}));
  EXPECT_EQ(logs.written, "abc");
  EXPECT_EQ(logs.waits, 1);  // only after the empty read of a running VM
}

TEST(PrintLogs, FollowEndsWhenInterrupted) {
  FakeLogs logs;
  logs.pages = {{"a", 1, "running"}, {"", 1, "running"}};
  logs.keep_waiting = false;
  ASSERT_TRUE(print_logs(logs.io(), true));
  EXPECT_EQ(logs.offsets, (std::vector<std::int64_t>{-65536, 1}));
  EXPECT_EQ(logs.waits, 1);
}

TEST(PrintLogs, ReturnsTheFetchError) {
  FakeLogs logs;
  logs.pages = {{"a", 1, "running"}};
  auto printed = print_logs(logs.io(), true);
  ASSERT_FALSE(printed);
  EXPECT_EQ(printed.error().code, Errc::not_found);
  EXPECT_EQ(printed.error().message, "vm \"web\" not found");
  EXPECT_EQ(logs.written, "a");
}

TEST(RunChild, ReturnsTheExitCode) {
  auto ran = run_child({"sh", "-c", "exit 7"});
  ASSERT_TRUE(ran) << ran.error().message;
  EXPECT_EQ(*ran, 7);
}

TEST(RunChild, ReportsADeathBySignalAs128PlusTheSignal) {
  auto ran = run_child({"sh", "-c", "kill -TERM $$"});
  ASSERT_TRUE(ran) << ran.error().message;
  EXPECT_EQ(*ran, 128 + SIGTERM);
}

TEST(RunChild, MissingProgramIsNotFound) {
  auto ran = run_child({"banger-no-such-program", "x"});
  ASSERT_FALSE(ran);
  EXPECT_EQ(ran.error().code, Errc::not_found);
  EXPECT_EQ(ran.error().message, "banger-no-such-program not found on PATH");
}

TEST(RunChild, ForwardsSigintToTheChildAndSurvivesIt) {
  // Given a child that exits 42 on SIGINT, a SIGINT sent to this process reaches the child
  // and the caller gets its exit code instead of dying.
  testkit::TempDir dir;
  std::string ready = dir.path() + "/ready";
  std::thread interrupter([&] {
    if (testkit::eventually([&] { return sys::path_exists(ready); })) {
      ::kill(::getpid(), SIGINT);
    }
  });
  auto ran = run_child(
      {"sh", "-c", "trap 'exit 42' INT; touch " + ready + "; while :; do sleep 0.01; done"});
  interrupter.join();
  ASSERT_TRUE(ran) << ran.error().message;
  EXPECT_EQ(*ran, 42);
  EXPECT_EQ(current_handler(SIGINT), SIG_DFL);  // restored
}

TEST(InterruptCatcher, RecordsSigintAndCutsTheSleepShort) {
  {
    InterruptCatcher catcher;
    EXPECT_FALSE(catcher.interrupted());
    EXPECT_TRUE(catcher.sleep_for(1ms));
    ::kill(::getpid(), SIGINT);
    EXPECT_TRUE(testkit::eventually([&] { return catcher.interrupted(); }));
    auto start = std::chrono::steady_clock::now();
    EXPECT_FALSE(catcher.sleep_for(10s));
    EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  }
  EXPECT_EQ(current_handler(SIGINT), SIG_DFL);
}

}  // namespace
}  // namespace banger::cli
