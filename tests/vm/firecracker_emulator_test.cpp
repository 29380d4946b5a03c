// The Firecracker backend end to end on these machines (issue 13): firecracker_bin points at
// tests/firecracker/emulator.py, a test tool that answers Firecracker's API on the API socket
// (validating every body against the official specification) and boots the configured machine
// with QEMU microvm, bridging Firecracker's vsock host protocol ("CONNECT <port>\n") to the
// guest agent's virtio-serial ports. So banger's FirecrackerVmm, its API requests, its vsock
// dialer (agent and stream channels: `vm exec -it` on a PTY) and its raw root disk are
// exercised for real; only the VMM binary is stood in for.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "vm_suite.hpp"

#include "banger/base/defer.hpp"

namespace banger::itest {
namespace {

using ::testing::HasSubstr;

// A shell session that prints the terminal size and exits 6.
const std::string kPtySteps = shell_steps("stty size; exit 6");

const std::string kEmulator = std::string(BANGER_SOURCE_DIR) + "/tests/firecracker/emulator.py";

// Why the emulator cannot run here ("" when it can): its spec validation needs these modules.
std::string emulator_missing() {
  for (const char* module : {"yaml", "jsonschema"}) {
    sys::PosixCommandRunner runner;
    auto found = runner.run({.argv = {"python3", "-c", std::string("import ") + module}});
    if (!found || found->exit_code != 0) {
      return std::string("python3-") + module + " is missing (scripts/install-deps.sh installs it)";
    }
  }
  return {};
}

TEST_F(VmSuite, AFirecrackerVmBootsRunsCommandsThroughVsockSurvivesADaemonCrashAndStops) {
  if (auto why = emulator_missing(); !why.empty()) {
    GTEST_SKIP() << why;
  }
  home_->write_config("firecracker_bin = \"" + kEmulator + "\"\n" + std::string(kSizes));
  run({"daemon", "stop"});  // the daemon looks for firecracker when it starts
  base::Defer restore([&] {
    run({"vm", "delete", "fc1"});
    home_->write_config(kSizes);
    run({"daemon", "stop"});
  });

  auto ran = run({"vm", "run", "--vmm", "firecracker", "--image", "tiny", "--rm", "--", "sh", "-c",
                  "echo fc-ok; exit 4"});
  EXPECT_EQ(ran.exit_code, 4) << ran.out << ran.err;
  EXPECT_THAT(ran.out, HasSubstr("fc-ok"));

  auto created = run({"vm", "create", "--vmm", "firecracker", "--image", "tiny", "--name", "fc1"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  auto shown = show("fc1");
  EXPECT_EQ(shown.value("vmm", ""), "firecracker");
  EXPECT_EQ(shown.value("state", ""), "running");
  // The guest saw a raw root disk and the agent answers through the vsock socket.
  auto exec = run({"vm", "exec", "fc1", "--", "sh", "-c", "cat /proc/cmdline"});
  EXPECT_EQ(exec.exit_code, 0) << exec.err;
  EXPECT_THAT(exec.out, HasSubstr("reboot=k panic=1 pci=off"));
  // A PTY session over a stream channel (vsock CONNECT 1025), with the terminal's size.
  auto pty = run_on_pty(kPtySteps, 33, 101, {"vm", "exec", "-it", "fc1", "--", "sh"});
  ASSERT_TRUE(pty) << pty.error().message;
  EXPECT_THAT(pty->out, HasSubstr("33 101"));
  EXPECT_THAT(pty->out, HasSubstr("exit=6")) << pty->out << pty->err;
  // ssh to the guest over its TAP, and data on the work disk for the restart below.
  EXPECT_EQ(ssh("fc1", "echo kept > /root/note; cat /root/note"), "kept\n");
  // A daemon killed with SIGKILL finds the live Firecracker VM again (pid + start time).
  crash_daemon();
  auto after_crash = run({"vm", "exec", "fc1", "--", "cat", "/root/note"});
  EXPECT_EQ(after_crash.exit_code, 0) << after_crash.err;
  EXPECT_EQ(after_crash.out, "kept\n");
  auto logs = run({"vm", "logs", "fc1"});
  EXPECT_THAT(logs.out, HasSubstr("Linux version"));
  // vm stop: SendCtrlAltDel reaches the guest, which powers off; the VMM exits on its own.
  auto stopped = run({"vm", "stop", "fc1"});
  EXPECT_EQ(stopped.exit_code, 0) << stopped.err;
  EXPECT_EQ(show("fc1").value("state", ""), "stopped");
  // A second start works from the same disks.
  auto started = run({"vm", "start", "fc1"});
  EXPECT_EQ(started.exit_code, 0) << started.err;
  auto again = run({"vm", "exec", "fc1", "--", "cat", "/root/note"});
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(again.out, "kept\n") << "the work disk survives stop and start";
  ASSERT_EQ(run({"vm", "delete", "fc1"}).exit_code, 0);
  expect_vm_gone("fc1");
}

TEST_F(VmSuite, ThreeFirecrackerVmsRunAtOnceAndARefusedRequestLeavesTheVmInError) {
  if (auto why = emulator_missing(); !why.empty()) {
    GTEST_SKIP() << why;
  }
  // The emulator behind a wrapper that makes it refuse PUT /machine-config when the file
  // refuse-flag exists (test-only fault injection, tests/firecracker/emulator.py).
  const std::string flag = home_->dir() + "/refuse-flag";
  const std::string wrapper = home_->dir() + "/fc-wrapper";
  ASSERT_TRUE(sys::write_file_atomic(
      wrapper,
      "#!/bin/sh\nif [ -e " + flag +
          " ]; then export BANGER_FC_EMULATOR_REFUSE='PUT /machine-config'; fi\nexec " + kEmulator +
          " \"$@\"\n",
      0755));
  home_->write_config("firecracker_bin = \"" + wrapper + "\"\n" + std::string(kSizes));
  run({"daemon", "stop"});  // the daemon looks for firecracker when it starts
  base::Defer restore([&] {
    run({"vm", "delete", "fa", "fb", "fc", "fr"});
    home_->write_config(kSizes);
    run({"daemon", "stop"});
  });

  // Three at once: one command creates them, each boots its own emulator + QEMU.
  auto created = run({"vm", "create", "--vmm", "firecracker", "--image", "tiny", "fa", "fb", "fc"});
  ASSERT_EQ(created.exit_code, 0) << created.out << created.err;
  auto listed = run({"vm", "list"});
  for (const char* name : {"fa", "fb", "fc"}) {
    auto exec = run({"vm", "exec", name, "--", "hostname"});
    EXPECT_EQ(exec.exit_code, 0) << exec.err;
    EXPECT_THAT(exec.out, HasSubstr(name));
    EXPECT_EQ(show(name).value("vmm", ""), "firecracker");
  }
  EXPECT_THAT(listed.out, HasSubstr("firecracker"));
  ASSERT_EQ(run({"vm", "delete", "fa", "fb", "fc"}).exit_code, 0);
  expect_vm_gone("fa");

  // A request Firecracker refuses: its fault_message reaches the user verbatim with the
  // request, the VM is left in error, and no process, TAP or socket remains.
  ASSERT_TRUE(sys::write_file_atomic(flag, ""));
  auto refused = run({"vm", "create", "--vmm", "firecracker", "--image", "tiny", "--name", "fr"});
  EXPECT_EQ(refused.exit_code, 1);
  const std::string fault =
      "firecracker refused PUT /machine-config: firecracker-emulator refused PUT "
      "/machine-config on purpose (BANGER_FC_EMULATOR_REFUSE)";
  EXPECT_THAT(refused.err, HasSubstr(fault));
  auto fr = show("fr");
  EXPECT_EQ(fr.value("state", ""), "error");
  EXPECT_THAT(fr.value("last_error", ""), HasSubstr(fault));
  EXPECT_EQ(fr.value("pid", -1), 0);
  EXPECT_EQ(fr.value("tap", "?"), "");
  EXPECT_FALSE(qemu_running_for(fr.value("id", "")));
  sys::PosixCommandRunner runner;
  auto emulators = runner.run({.argv = {"pgrep", "-f", "--", "--id " + fr.value("id", "")}});
  ASSERT_TRUE(emulators);
  EXPECT_NE(emulators->exit_code, 0) << "an emulator of fr still runs: " << emulators->out;
  auto sockets =
      runner.run({.argv = {"sh", "-c", "ls " + home_->dir() + "/run/ | grep -c '\\.fc$' || true"}});
  ASSERT_TRUE(sockets);
  EXPECT_EQ(sockets->out, "0\n") << "an API socket was left behind";
  ASSERT_EQ(run({"vm", "delete", "fr"}).exit_code, 0);
  expect_vm_gone("fr");
}

}  // namespace
}  // namespace banger::itest
