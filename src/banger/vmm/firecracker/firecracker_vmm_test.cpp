#include "banger/vmm/firecracker/firecracker_vmm.hpp"

#include <gtest/gtest.h>

#include "banger/agentproto/constants.hpp"
#include "banger/agentproto/stream.hpp"
#include "banger/sys/fs.hpp"
#include "banger/testkit/fake_jail_stager.hpp"
#include "banger/testkit/fake_process_launcher.hpp"
#include "banger/testkit/temp_dir.hpp"

namespace banger::vmm::firecracker {
namespace {

VmConfig config_in(const std::string& dir) {
  return VmConfig{.vm_id = "3f2a",
                  .name = "calm-otter",
                  .vcpu = 1,
                  .memory_mib = 64,
                  .kernel_path = dir + "/vmlinux",
                  .initrd_path = std::nullopt,
                  .kernel_cmdline = "console=ttyS0",
                  .root_disk = {.path = dir + "/root.ext4"},
                  .work_disk = std::nullopt,
                  .tap_name = "",
                  .mac = "",
                  .agent_socket_path = dir + "/fc.vsock",
                  .vsock_cid = 0x0BA00002,
                  .control_socket_path = dir + "/fc.sock",
                  .console_log_path = dir + "/console.log",
                  .run_dir = dir,
                  .accel = Accel::kvm};
}

TEST(FirecrackerVmm, LayoutCmdlineAndEndpointsUseTheVsockSocket) {
  testkit::FakeProcessLauncher launcher;
  testkit::FakeJailStager jails;
  FirecrackerVmm vmm({.launcher = launcher, .jails = jails}, {.binary = "/usr/bin/firecracker"});
  auto paths = vmm.layout("3f2a", "/run/b", "/var/lib/b/vms/3f2a");
  EXPECT_EQ(paths.control_socket, "/run/b/3f2a.fc");
  EXPECT_EQ(paths.agent_socket, "/run/b/3f2a.vsock");
  EXPECT_TRUE(paths.stream_sockets.empty());
  EXPECT_EQ(paths.console_log, "/var/lib/b/vms/3f2a/console.log");
  EXPECT_NE(vmm.kernel_cmdline({}).find(" reboot=k panic=1 pci=off"), std::string::npos);
  VmmHandle handle{
      .backend = Backend::firecracker, .agent_socket = paths.agent_socket, .vsock_cid = 0x0BA00002};
  auto agent = vmm.agent_endpoint(handle);
  EXPECT_EQ(agent.kind, AgentEndpoint::Kind::firecracker_vsock_uds);
  EXPECT_EQ(agent.path, "/run/b/3f2a.vsock");
  EXPECT_EQ(agent.port, agentproto::kAgentVsockPort);
  auto streams = vmm.stream_endpoints(handle, paths);
  ASSERT_EQ(streams.size(), agentproto::kStreamChannels);
  EXPECT_EQ(streams[0].port, agentproto::kStreamVsockPort);
  EXPECT_TRUE(vmm.launched_with(
      {"/usr/bin/firecracker", "--api-sock", "/run/b/3f2a.fc", "--id", "3f2a"}, paths));
  EXPECT_FALSE(vmm.launched_with({"/usr/bin/firecracker", "--api-sock", "/run/b/other.fc"}, paths));
  EXPECT_FALSE(vmm.launched_with({"/usr/bin/firecracker", "/run/b/3f2a.fc"}, paths));
}

TEST(FirecrackerVmm, WhatFirecrackerCannotTakeIsRefusedBeforeAnythingStarts) {
  testkit::TempDir dir;
  testkit::FakeProcessLauncher launcher;
  testkit::FakeJailStager jails;
  FirecrackerVmm vmm({.launcher = launcher, .jails = jails}, {.binary = "/usr/bin/firecracker"});
  auto qcow2 = config_in(dir.path());
  qcow2.root_disk.format = DiskFormat::qcow2;
  auto refused = vmm.launch(qcow2);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, Errc::invalid_argument);
  auto no_vsock = config_in(dir.path());
  no_vsock.vsock_cid = 0;
  auto novsock = vmm.launch(no_vsock);
  ASSERT_FALSE(novsock);
  EXPECT_EQ(novsock.error().message,
            "vm config: a firecracker VM needs a vsock CID (the agent is reached over vsock)");
  auto no_socket = config_in(dir.path());
  no_socket.control_socket_path.clear();
  EXPECT_FALSE(vmm.launch(no_socket));
  EXPECT_TRUE(launcher.processes().empty()) << "nothing was started";
}

TEST(FirecrackerVmm, AFirecrackerThatExitsDuringStartUpFailsWithItsLogAndIsNotKept) {
  testkit::TempDir dir;
  testkit::FakeProcessLauncher launcher;
  auto config = config_in(dir.path());
  launcher.on_launch([&](testkit::FakeProcess& process) {
    FILE* log = std::fopen(config.console_log_path.c_str(), "a");
    std::fputs("Error: Bad KVM version\n", log);
    std::fclose(log);
    // It had created its sockets before dying: the failed launch removes them.
    EXPECT_TRUE(sys::write_file_atomic(config.control_socket_path, ""));
    EXPECT_TRUE(sys::write_file_atomic(config.agent_socket_path, ""));
    process.exit(1);
  });
  testkit::FakeJailStager jails;
  FirecrackerVmm vmm({.launcher = launcher, .jails = jails}, {.binary = "/usr/bin/firecracker"});
  auto launched = vmm.launch(config);
  ASSERT_FALSE(launched);
  EXPECT_EQ(launched.error().code, Errc::command_failed);
  EXPECT_EQ(launched.error().message,
            "firecracker exited during start-up (status 1): Error: Bad KVM version");
  ASSERT_EQ(launcher.processes().size(), 1u);
  EXPECT_EQ(launcher.processes()[0]->argv(),
            (std::vector<std::string>{"/usr/bin/firecracker", "--api-sock",
                                      config.control_socket_path, "--id", "3f2a"}));
  EXPECT_FALSE(sys::path_exists(config.control_socket_path));
  EXPECT_FALSE(sys::path_exists(config.agent_socket_path));
}

FirecrackerVmmOptions jailed_options(const std::string& dir) {
  return {.binary = "/usr/bin/firecracker",
          .jailer = {
              .enabled = true, .binary = "/usr/bin/jailer", .chroot_base = dir + "/state/jailer"}};
}

// Under the jailer: the jail is staged before the jailer starts, Firecracker is started as the
// jailer's exec file with the jail's socket, and a failed start takes the jail and the host-side
// symlinks away again.
TEST(FirecrackerVmm, AJailedLaunchStagesTheJailStartsTheJailerAndCleansUpAfterAFailure) {
  testkit::TempDir dir;
  testkit::FakeProcessLauncher launcher;
  testkit::FakeJailStager jails;
  auto config = config_in(dir.path());
  config.run_as = std::pair{0x0BA00002u, 0x0BA00002u};
  std::string jail = dir.path() + "/state/jailer/firecracker/3f2a";
  launcher.on_launch([&](testkit::FakeProcess& process) {
    EXPECT_EQ(jails.jails().count(jail), 1u) << "staged before the jailer runs";
    EXPECT_TRUE(sys::write_file_atomic(config.control_socket_path, ""));  // the symlinks
    process.exit(1);
  });
  FirecrackerVmm vmm({.launcher = launcher, .jails = jails}, jailed_options(dir.path()));
  EXPECT_EQ(vmm.layout("3f2a", "/run/b", "/vms/3f2a").jail_dir, jail);
  auto launched = vmm.launch(config);
  ASSERT_FALSE(launched);
  ASSERT_EQ(launcher.processes().size(), 1u);
  EXPECT_EQ(launcher.processes()[0]->argv(),
            (std::vector<std::string>{
                "/usr/bin/jailer", "--id", "3f2a", "--exec-file", "/usr/bin/firecracker", "--uid",
                "195035138", "--gid", "195035138", "--chroot-base-dir",
                dir.path() + "/state/jailer", "--", "--api-sock", "/api.sock"}));
  EXPECT_TRUE(jails.jails().empty());
  EXPECT_EQ(jails.removed(), std::vector<std::string>{jail});
  EXPECT_FALSE(sys::path_exists(config.control_socket_path));

  // A jailed Firecracker found in the process list is this VM's.
  VmmPaths paths = vmm.layout("3f2a", dir.path(), dir.path());
  EXPECT_TRUE(vmm.launched_with(
      {"/firecracker", "--id", "3f2a", "--start-time-us", "1", "--api-sock", "/api.sock"}, paths));
  EXPECT_FALSE(
      vmm.launched_with({"/firecracker", "--id", "3f2b", "--api-sock", "/api.sock"}, paths));
}

TEST(FirecrackerVmm, AJailedLaunchIsRefusedWithoutAJailerOrARootDaemon) {
  testkit::TempDir dir;
  testkit::FakeProcessLauncher launcher;
  testkit::FakeJailStager jails;
  auto options = jailed_options(dir.path());
  options.jailer.binary.clear();
  FirecrackerVmm no_jailer({.launcher = launcher, .jails = jails}, options);
  auto config = config_in(dir.path());
  config.run_as = std::pair{0x0BA00002u, 0x0BA00002u};
  auto missing = no_jailer.launch(config);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::failed_precondition);
  EXPECT_NE(missing.error().message.find("no jailer binary was found"), std::string::npos);

  FirecrackerVmm vmm({.launcher = launcher, .jails = jails}, jailed_options(dir.path()));
  config.run_as.reset();  // a daemon that is not root
  auto unprivileged = vmm.launch(config);
  ASSERT_FALSE(unprivileged);
  EXPECT_NE(unprivileged.error().message.find("needs a root daemon"), std::string::npos);
  config.run_as = std::pair{0x0BA00002u, 0x0BA00002u};
  jails.fail_next_stage(Error{Errc::failed_precondition, "jail: kernel not readable", 0, {}});
  EXPECT_FALSE(vmm.launch(config));
  EXPECT_TRUE(launcher.processes().empty()) << "nothing was started";
}

// At daemon start: jails of VMs that do not run are removed, running ones' kept.
TEST(FirecrackerVmm, RemoveLeftoversKeepsOnlyTheJailsOfRunningVms) {
  testkit::TempDir dir;
  testkit::FakeProcessLauncher launcher;
  testkit::FakeJailStager jails;
  std::string base = dir.path() + "/state/jailer/firecracker/";
  jails.add_leftover(base + "aaaa");
  jails.add_leftover(base + "bbbb");
  jails.add_leftover(dir.path() + "/state/jailer/other/cccc");
  FirecrackerVmm vmm({.launcher = launcher, .jails = jails}, jailed_options(dir.path()));
  vmm.remove_leftovers({"bbbb"});
  EXPECT_EQ(jails.removed(), std::vector<std::string>{base + "aaaa"});
  FirecrackerVmm unjailed({.launcher = launcher, .jails = jails},
                          {.binary = "/usr/bin/firecracker"});
  unjailed.remove_leftovers({});
  EXPECT_EQ(jails.removed().size(), 1u) << "without the jailer there are no jails to look at";
}

}  // namespace
}  // namespace banger::vmm::firecracker
