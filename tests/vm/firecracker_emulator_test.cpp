// The Firecracker backend end to end on these machines (issue 13): firecracker_bin points at
// tests/firecracker/emulator.py, a test tool that answers Firecracker's API on the API socket
// (validating every body against the official specification) and boots the configured machine
// with QEMU microvm, bridging Firecracker's vsock host protocol ("CONNECT <port>\n") to the
// guest agent's virtio-serial ports. So banger's FirecrackerVmm, its API requests, its vsock
// dialer (agent and stream channels: `vm exec -it` on a PTY) and its raw root disk are
// exercised for real; only the VMM binary is stood in for.
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "vm_suite.hpp"

#include "banger/base/defer.hpp"
#include "banger/vmm/vmm.hpp"

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

const std::string kFakeJailer =
    std::string(BANGER_SOURCE_DIR) + "/tests/firecracker/fake_jailer.py";

// The "Uid:" line of /proc/<pid>/status ("" when it cannot be read).
std::string uid_line(std::int64_t pid) {
  auto status = sys::read_file("/proc/" + std::to_string(pid) + "/status");
  if (!status) {
    return {};
  }
  auto at = status->find("\nUid:");
  return at == std::string::npos ? std::string()
                                 : status->substr(at + 1, status->find('\n', at + 1) - at - 1);
}

std::uint64_t inode_of(const std::string& path) {
  struct stat st{};
  return ::stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

// jailer_enabled (issue 13 item 4): Firecracker (the emulator) starts through the jailer (the
// fake jailer: the jailer's staging and argv, no chroot) in a jail under <state>/jailer, as the
// VM's own unprivileged uid, opening its TAP through the jail's /dev/net/tun as that uid
// (TUNSETOWNER) and its hard-linked disks inside the jail; the daemon reaches it through the
// socket symlinks. The jail survives a daemon crash while the VM runs, goes with stop and
// delete, and one a crash left for a VM that does not run is removed at daemon start.
TEST_F(VmSuite, AJailedFirecrackerVmRunsAsItsOwnUidInItsJailAndLeavesNothingBehind) {
  if (auto why = emulator_missing(); !why.empty()) {
    GTEST_SKIP() << why;
  }
  if (::geteuid() != 0) {
    GTEST_SKIP() << "the jailer needs a root daemon";
  }
  home_->write_config("firecracker_bin = \"" + kEmulator + "\"\njailer_enabled = true\n" +
                      "jailer_bin = \"" + kFakeJailer + "\"\n" + std::string(kSizes));
  run({"daemon", "stop"});  // the daemon reads the jailer settings when it starts
  base::Defer restore([&] {
    run({"vm", "delete", "fj"});
    home_->write_config(kSizes);
    run({"daemon", "stop"});
  });
  const std::string jails = home_->dir() + "/state/jailer/emulator.py";
  auto doctor = run({"doctor"});
  EXPECT_THAT(doctor.out, HasSubstr(kFakeJailer + " v1.14.1; firecracker VMs start jailed"));

  auto created = run({"vm", "create", "--vmm", "firecracker", "--image", "tiny", "--name", "fj"});
  ASSERT_EQ(created.exit_code, 0) << created.out << created.err;
  auto shown = show("fj");
  const std::string id = shown.value("id", "");
  const std::int64_t pid = shown.value("pid", std::int64_t{0});
  const std::string root = jails + "/" + id + "/root";
  const std::uint32_t uid = vmm::vmm_id_for_ip(shown.value("guest_ip", ""));
  ASSERT_NE(uid, 0u);
  // The VMM runs as the VM's uid, in its jail, on hard links of the VM's disks.
  EXPECT_EQ(uid_line(pid), fmt::format("Uid:\t{0}\t{0}\t{0}\t{0}", uid));
  char cwd[512] = {};
  ASSERT_GT(::readlink(("/proc/" + std::to_string(pid) + "/cwd").c_str(), cwd, sizeof cwd - 1), 0);
  EXPECT_EQ(std::string(cwd), root);
  EXPECT_EQ(inode_of(root + "/work.img"),
            inode_of(home_->dir() + "/state/vms/" + id + "/work.ext4"))
      << "the work disk is hard-linked into the jail";
  // The agent (vsock through the symlinked socket), ssh over the TAP the VM's uid opened.
  auto exec = run({"vm", "exec", "fj", "--", "sh", "-c", "echo jailed-ok"});
  EXPECT_EQ(exec.exit_code, 0) << exec.err;
  EXPECT_EQ(exec.out, "jailed-ok\n");
  EXPECT_EQ(ssh("fj", "echo kept > /root/note; cat /root/note"), "kept\n");

  // A daemon killed with SIGKILL keeps the running VM and its jail; a jail a crash left for a
  // VM that does not run is removed.
  ASSERT_TRUE(sys::make_dirs(jails + "/0123456789abcdef/root/dev", 0700));
  crash_daemon();
  auto after_crash = run({"vm", "exec", "fj", "--", "cat", "/root/note"});
  EXPECT_EQ(after_crash.exit_code, 0) << after_crash.err;
  EXPECT_EQ(after_crash.out, "kept\n");
  EXPECT_TRUE(sys::path_exists(root));
  EXPECT_FALSE(sys::path_exists(jails + "/0123456789abcdef")) << "a leftover jail survived";

  // Stop takes the jail and its socket symlinks away; start makes them again.
  ASSERT_EQ(run({"vm", "stop", "fj"}).exit_code, 0);
  EXPECT_FALSE(sys::path_exists(jails + "/" + id));
  EXPECT_FALSE(sys::path_exists(home_->dir() + "/run/" + id + ".fc"));
  EXPECT_FALSE(sys::path_exists(home_->dir() + "/run/" + id + ".vsock"));
  ASSERT_EQ(run({"vm", "start", "fj"}).exit_code, 0);
  auto again = run({"vm", "exec", "fj", "--", "cat", "/root/note"});
  EXPECT_EQ(again.out, "kept\n") << again.err;
  ASSERT_EQ(run({"vm", "delete", "fj"}).exit_code, 0);
  expect_vm_gone("fj");
  std::error_code ec;
  EXPECT_TRUE(std::filesystem::is_empty(jails, ec)) << "a jail is left after delete";
}

}  // namespace
}  // namespace banger::itest
