#include "banger/guestconfig/guestconfig.hpp"

#include <gtest/gtest.h>

namespace banger::guestconfig {
namespace {

GuestConfigSpec valid_spec() {
  return {.vm_name = "calm-otter",
          .vm_id = "0123456789abcdef",
          .guest_ip = "172.16.0.5",
          .gateway = "172.16.0.1",
          .prefix = 24,
          .dns_servers = {},
          .authorized_keys = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB banger\n"};
}

void expect_invalid(const GuestConfigSpec& spec, const std::string& message) {
  auto r = validate_spec(spec);
  ASSERT_FALSE(r) << message;
  EXPECT_EQ(r.error().code, Errc::invalid_argument);
  EXPECT_EQ(r.error().message, message);
}

TEST(GuestConfig, ValidSpecPasses) { EXPECT_TRUE(validate_spec(valid_spec())); }

TEST(GuestConfig, RendersHostname) { EXPECT_EQ(render_hostname(valid_spec()), "calm-otter\n"); }

TEST(GuestConfig, RendersHostsWithNameAndVmAlias) {
  EXPECT_EQ(render_hosts(valid_spec()),
            "# managed by banger: rewritten at every vm start\n"
            "127.0.0.1 localhost\n"
            "127.0.1.1 calm-otter calm-otter.vm\n"
            "::1 localhost ip6-localhost ip6-loopback\n"
            "ff02::1 ip6-allnodes\n"
            "ff02::2 ip6-allrouters\n");
}

TEST(GuestConfig, ResolvConfFallsBackToGateway) {
  EXPECT_EQ(render_resolv_conf(valid_spec()),
            "# managed by banger: rewritten at every vm start\n"
            "nameserver 172.16.0.1\n"
            "search vm\n");
}

TEST(GuestConfig, ResolvConfListsConfiguredServersInOrder) {
  auto spec = valid_spec();
  spec.dns_servers = {"9.9.9.9", "2620:fe::fe"};
  ASSERT_TRUE(validate_spec(spec));
  EXPECT_EQ(render_resolv_conf(spec),
            "# managed by banger: rewritten at every vm start\n"
            "nameserver 9.9.9.9\n"
            "nameserver 2620:fe::fe\n"
            "search vm\n");
}

TEST(GuestConfig, RendersEnv) {
  EXPECT_EQ(render_env(valid_spec()),
            "BANGER_VM_NAME=calm-otter\n"
            "BANGER_VM_ID=0123456789abcdef\n"
            "BANGER_GUEST_IP=172.16.0.5\n"
            "BANGER_GATEWAY=172.16.0.1\n"
            "BANGER_PREFIX=24\n");
}

TEST(GuestConfig, NormalizesAuthorizedKeys) {
  auto spec = valid_spec();
  spec.authorized_keys = "ssh-ed25519 AAAA one\r\n\n  \nssh-rsa BBBB two";
  ASSERT_TRUE(validate_spec(spec));
  EXPECT_EQ(render_authorized_keys(spec), "ssh-ed25519 AAAA one\nssh-rsa BBBB two\n");
}

TEST(GuestConfig, WorkDiskLayoutIsCompleteAndOrdered) {
  auto files = render_work_disk_files(valid_spec());
  ASSERT_TRUE(files) << files.error().message;
  using T = GuestFile::Type;
  auto spec = valid_spec();
  std::vector<GuestFile> want = {
      {".ssh", "", 0700, T::directory},
      {".banger", "", 0755, T::directory},
      {".banger/etc", "", 0755, T::directory},
      {".ssh/authorized_keys", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB banger\n", 0600, T::file},
      {".hushlogin", "", 0644, T::file},
      {".banger/etc/hostname", "calm-otter\n", 0644, T::file},
      {".banger/etc/hosts", render_hosts(spec), 0644, T::file},
      {".banger/etc/resolv.conf", render_resolv_conf(spec), 0644, T::file},
      {".banger/etc/banger.env", render_env(spec), 0644, T::file},
      {".banger/agent.token", "", 0600, T::file},
  };
  EXPECT_EQ(*files, want);
}

// The agent token travels on the work disk, owner-only (never on the kernel command line).
TEST(GuestConfig, AgentTokenIsAnOwnerOnlyFile) {
  auto spec = valid_spec();
  spec.agent_token = std::string(64, 'c');
  auto files = render_work_disk_files(spec);
  ASSERT_TRUE(files) << files.error().message;
  EXPECT_EQ(files->back(), (GuestFile{".banger/agent.token", std::string(64, 'c') + "\n", 0600,
                                      GuestFile::Type::file}));
  spec.agent_token = "not-a-token";
  expect_invalid(spec, "invalid agent token: want 64 lowercase hex characters");
}

TEST(GuestConfig, RootEtcLayout) {
  auto files = render_root_etc_files(valid_spec());
  ASSERT_TRUE(files) << files.error().message;
  ASSERT_EQ(files->size(), 3u);
  EXPECT_EQ((*files)[0].path, "etc/hostname");
  EXPECT_EQ((*files)[1].path, "etc/hosts");
  EXPECT_EQ((*files)[2].path, "etc/resolv.conf");
  EXPECT_EQ((*files)[2].content, render_resolv_conf(valid_spec()));
}

TEST(GuestConfig, RendererRefusesInvalidSpec) {
  auto spec = valid_spec();
  spec.vm_name = "";
  auto r = render_work_disk_files(spec);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::invalid_argument);
  EXPECT_FALSE(render_root_etc_files(spec));
}

TEST(GuestConfig, RejectsBadName) {
  auto spec = valid_spec();
  spec.vm_name = "Web_1";
  expect_invalid(spec,
                 "invalid vm name \"Web_1\": use 1-63 characters: lowercase letters, digits and "
                 "'-', starting with a letter or digit");
  spec.vm_name = "-web";
  EXPECT_FALSE(validate_spec(spec));
  spec.vm_name = std::string(64, 'a');
  EXPECT_FALSE(validate_spec(spec));
  spec.vm_name = std::string(63, 'a');
  EXPECT_TRUE(validate_spec(spec));
}

TEST(GuestConfig, RejectsBadId) {
  auto spec = valid_spec();
  spec.vm_id = "0123456789ABCDEF";
  expect_invalid(spec, "invalid vm id \"0123456789ABCDEF\": want 16 lowercase hex characters");
}

TEST(GuestConfig, RejectsBadAddresses) {
  auto spec = valid_spec();
  spec.guest_ip = "172.16.0";
  expect_invalid(spec, "invalid guest ip \"172.16.0\": want an IPv4 address");
  spec = valid_spec();
  spec.gateway = "::1";
  expect_invalid(spec, "invalid gateway \"::1\": want an IPv4 address");
  spec = valid_spec();
  spec.prefix = 31;
  expect_invalid(spec, "invalid prefix 31: use 1-30");
  spec = valid_spec();
  spec.guest_ip = "172.16.1.5";
  expect_invalid(spec, "guest ip 172.16.1.5 is not in the gateway's network 172.16.0.1/24");
  spec = valid_spec();
  spec.guest_ip = "172.16.0.1";
  expect_invalid(spec, "guest ip 172.16.0.1 is the gateway's address");
}

TEST(GuestConfig, RejectsBadDnsServers) {
  auto spec = valid_spec();
  spec.dns_servers = {"1.1.1.1", "dns.example"};
  expect_invalid(spec, "invalid dns server \"dns.example\": want an IPv4 or IPv6 address");
  spec.dns_servers = {"1.1.1.1", "1.0.0.1", "8.8.8.8", "8.8.4.4"};
  expect_invalid(spec, "4 dns servers given: at most 3 are used by the guest resolver");
}

TEST(GuestConfig, RejectsBadAuthorizedKeys) {
  auto spec = valid_spec();
  spec.authorized_keys = "# only a comment\n\n";
  expect_invalid(spec, "authorized_keys is empty: at least one public key is needed");
  spec.authorized_keys = "ssh-ed25519 AAAA ok\nnot-a-key\n";
  expect_invalid(spec,
                 "authorized_keys line 2 is not a public key: want \"<type> <base64> [comment]\"");
  spec.authorized_keys = std::string("ssh-ed25519 AAAA\0x", 18);
  expect_invalid(spec, "authorized_keys contains a NUL byte");
}

}  // namespace
}  // namespace banger::guestconfig
