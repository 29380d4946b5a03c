// testkit::FakeVmm models a VMM: fake pids that stay alive until stopped, a console line, a real
// guest agent on the agent socket when asked, and scripted failures.
#include "banger/testkit/fake_vmm.hpp"

#include <gtest/gtest.h>

#include "banger/agentclient/agent_client.hpp"
#include "banger/agentclient/agent_token.hpp"
#include "banger/agentclient/dialer.hpp"
#include "banger/sys/fs.hpp"
#include "banger/testkit/temp_dir.hpp"

namespace banger::testkit {
namespace {

vmm::VmConfig config_in(const TempDir& dir, FakeVmm& vmm) {
  auto paths = vmm.layout("0123456789abcdef", dir.path(), dir.path());
  vmm::VmConfig config;
  config.vm_id = "0123456789abcdef";
  config.name = "web";
  config.agent_socket_path = paths.agent_socket;
  config.control_socket_path = paths.control_socket;
  config.console_log_path = paths.console_log;
  config.run_dir = dir.path();
  return config;
}

TEST(FakeVmm, LaunchedVmmLivesUntilStoppedAndWritesAConsoleLine) {
  TempDir dir;
  FakeVmm vmm;
  auto handle = vmm.launch(config_in(dir, vmm));
  ASSERT_TRUE(handle) << handle.error().message;
  EXPECT_EQ(handle->pid, FakeVmm::kFirstPid);
  EXPECT_TRUE(vmm.alive(*handle));
  EXPECT_EQ(vmm.status(*handle)->state, vmm::VmmState::running);
  EXPECT_EQ(*sys::read_file(dir.path() + "/console.log"), "[fake-vmm] web booted (pid 6000000)\n");
  ASSERT_TRUE(vmm.stop(*handle, std::chrono::seconds(1)));
  EXPECT_FALSE(vmm.alive(*handle));
  EXPECT_EQ(vmm.end_of(handle->pid), FakeVmEnd::acpi_poweroff);
  EXPECT_EQ(vmm.calls(), (std::vector<std::string>{"launch web", "stop 6000000"}));
}

TEST(FakeVmm, ScriptedFailures) {
  TempDir dir;
  FakeVmm vmm;
  vmm.fail_next_launch({Errc::not_found, "qemu-system-x86_64: not found"});
  EXPECT_EQ(vmm.launch(config_in(dir, vmm)).error().code, Errc::not_found);
  EXPECT_TRUE(vmm.launches().empty());

  auto handle = vmm.launch(config_in(dir, vmm));
  ASSERT_TRUE(handle);
  vmm.set_stop_times_out(true);
  EXPECT_EQ(vmm.stop(*handle, std::chrono::seconds(1)).error().code, Errc::timeout);
  EXPECT_TRUE(vmm.alive(*handle));
  vmm.die(handle->pid);
  EXPECT_FALSE(vmm.alive(*handle));
  EXPECT_EQ(vmm.end_of(handle->pid), FakeVmEnd::died);
  EXPECT_TRUE(vmm.stop(*handle, std::chrono::seconds(1)));  // already gone: ok
}

TEST(FakeVmm, ServesARealAgentThatPowersTheVmOff) {
  TempDir dir;
  FakeVmm vmm({.serve_agent = true});
  const std::string token(64, 'e');
  ASSERT_TRUE(agentclient::write_agent_token(dir.path() + "/agent.token", token));
  auto handle = vmm.launch(config_in(dir, vmm));
  ASSERT_TRUE(handle) << handle.error().message;
  agentclient::AgentClient agent(
      std::make_unique<agentclient::UnixSocketDialer>(vmm.agent_endpoint(*handle).path), token);
  auto health = agent.health(std::chrono::seconds(5));
  ASSERT_TRUE(health) << health.error().message;
  EXPECT_EQ(health->version, "fake-agent");
  ASSERT_TRUE(agent.sync(std::chrono::seconds(5)));
  ASSERT_TRUE(agent.poweroff(std::chrono::seconds(5)));
  // The agent powers off after its reply; stop() lets that finish before it looks.
  ASSERT_TRUE(vmm.stop(*handle, std::chrono::seconds(1)));
  EXPECT_EQ(vmm.agent_syncs(), 1);
  EXPECT_EQ(vmm.agent_poweroffs(), 1);
  EXPECT_EQ(vmm.end_of(handle->pid), FakeVmEnd::agent_poweroff);
  EXPECT_FALSE(sys::path_exists(vmm.agent_endpoint(*handle).path));
}

}  // namespace
}  // namespace banger::testkit
