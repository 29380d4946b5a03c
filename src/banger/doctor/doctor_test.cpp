#include "banger/doctor/doctor.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "banger/sys/fs.hpp"
#include "banger/testkit/temp_dir.hpp"

namespace banger::doctor {
namespace {

// A host where everything is fine.
Facts healthy() {
  Facts f;
  f.arch = "x86_64";
  f.kvm = {true, 0, true, false};
  f.tun = {true, 0};
  for (const auto& r : hosttools::host_tools()) {
    f.tools.push_back({r, "/usr/bin/" + r.tool});
  }
  f.qemu_path = "/usr/bin/qemu-system-x86_64";
  f.uid = 1000;
  f.runtime_dir = "/run/user/1000/banger";
  f.runtime = {true, false, true, 1000, 0700};
  f.db_path = "/home/u/.local/state/banger/state.db";
  f.store = {true, 1, 1, ""};
  f.vm_defaults = {{2, "host heuristic"}, {2048, "config"}, {4096, "built-in floor"}};
  f.storage.qemu_img = true;
  f.vhost_net = true;
  f.config.dns_listen = "127.0.0.1:42069";
  f.agent_binary = "/usr/libexec/banger/banger-agent";
  f.agent_present = true;
  f.dns_listener = {.answered = true, .like_banger = true, .error = ""};
  f.dns_routing = {.resolved_running = true, .routed = true, .detail = ""};
  f.ssh_config = "/home/u/.local/state/banger/ssh_config";
  f.ssh_included = true;
  f.config_file = "/home/u/.config/banger/config.toml";
  f.config_file_exists = true;
  return f;
}

const Check& row(const std::vector<Check>& checks, const std::string& name) {
  for (const auto& c : checks) {
    if (c.name == name) {
      return c;
    }
  }
  ADD_FAILURE() << "no check named " << name;
  static Check none;
  return none;
}

TEST(Doctor, HealthyHostPassesEveryCheck) {
  auto checks = evaluate(healthy());
  ASSERT_EQ(checks.size(), 19u);
  for (const auto& c : checks) {
    EXPECT_EQ(c.status, CheckStatus::pass) << c.name << ": " << c.detail;
  }
  EXPECT_FALSE(has_failure(checks));
  EXPECT_EQ(row(checks, "vm defaults").detail,
            "vcpu 2 (host heuristic), memory 2048 MiB (config), disk 4096 MiB (built-in floor)");
  EXPECT_EQ(row(checks, "vmm").detail, "qemu (/usr/bin/qemu-system-x86_64), chosen automatically");
  EXPECT_EQ(row(checks, "config").detail,
            "/home/u/.config/banger/config.toml loaded, no deprecated keys");
  EXPECT_EQ(checks.front().name, "config") << "no daemon row when the daemon answered";
}

TEST(Doctor, AConfigThatDoesNotLoadIsAFailRowWithTheLoadersMessage) {
  auto f = healthy();
  f.config_error = "/home/u/.config/banger/config.toml:3: unknown key \"brige_name\"";
  auto checks = evaluate(f);
  EXPECT_TRUE(has_failure(checks));
  const auto& config = row(checks, "config");
  EXPECT_EQ(config.status, CheckStatus::fail);
  EXPECT_EQ(config.detail, f.config_error);
  EXPECT_NE(config.hint.find("defaults"), std::string::npos) << config.hint;
}

TEST(Doctor, NoConfigFileMeansEveryDefault) {
  auto f = healthy();
  f.config_file_exists = false;
  EXPECT_EQ(row(evaluate(f), "config").detail,
            "no /home/u/.config/banger/config.toml: every default");
}

TEST(Doctor, ChecksRunWithoutTheDaemonSaySoInAFirstFailRow) {
  auto f = healthy();
  f.daemon_error = "bangerd failed to start: bad config";
  f.daemon_log = "/home/u/.local/state/banger/bangerd.log";
  auto checks = evaluate(f);
  ASSERT_EQ(checks.size(), 20u);
  EXPECT_EQ(checks.front().name, "daemon");
  EXPECT_EQ(checks.front().status, CheckStatus::fail);
  EXPECT_EQ(checks.front().detail, "bangerd is not running: bangerd failed to start: bad config");
  EXPECT_NE(checks.front().hint.find(f.daemon_log), std::string::npos);

  // The DNS listener is the daemon's: its silence is no failure then.
  f.dns_listener = {.answered = false, .like_banger = false, .error = "connection refused"};
  EXPECT_EQ(row(evaluate(f), "dns listener").status, CheckStatus::warn);
  // A config error is named once, in the config row.
  f.config_error = "config.toml:2: unknown key";
  EXPECT_EQ(evaluate(f).front().detail,
            "bangerd is not running: it cannot start with this config (see the config row)");
}

TEST(Doctor, VmmRowNamesTheBackendTheDaemonRecordsForEachChoice) {
  // The row and VM records both come from policy::decide_vmm: auto means firecracker only when
  // it is found and KVM is usable, and vmm = "firecracker" without a binary is refused as the
  // daemon refuses it.
  auto f = healthy();
  EXPECT_EQ(row(evaluate(f), "vmm").detail,
            "qemu (/usr/bin/qemu-system-x86_64), chosen automatically");
  f.firecracker_path = "/usr/local/bin/firecracker";
  EXPECT_EQ(row(evaluate(f), "vmm").detail,
            "firecracker (/usr/local/bin/firecracker), chosen automatically");
  f.kvm = {true, 0, false, true};  // KVM-PVM: Firecracker could not boot a guest
  EXPECT_EQ(row(evaluate(f), "vmm").detail,
            "qemu (/usr/bin/qemu-system-x86_64), chosen automatically");
  f.config.vmm = config::VmmChoice::qemu;
  EXPECT_EQ(row(evaluate(f), "vmm").detail, "qemu (/usr/bin/qemu-system-x86_64)");
  f.config.vmm = config::VmmChoice::firecracker;
  EXPECT_EQ(row(evaluate(f), "vmm").detail, "firecracker (/usr/local/bin/firecracker)");
  f.firecracker_path = "";
  auto checks = evaluate(f);
  const auto& refused = row(checks, "vmm");
  EXPECT_EQ(refused.status, CheckStatus::fail);
  EXPECT_EQ(refused.detail,
            "vmm firecracker: no firecracker binary was found (firecracker_bin or PATH): install "
            "it (docs/firecracker.md) or set vmm = \"qemu\"");
}

// A found binary as gather_facts reports a safe one that printed version.
FirecrackerFacts safe_firecracker(const std::string& version_output) {
  return {.regular_file = true, .owner = 0, .mode = 0755, .version_output = version_output};
}

TEST(Doctor, JailerRowChecksTheSettingTheDaemonsUidAndTheBinary) {
  auto f = healthy();
  EXPECT_EQ(row(evaluate(f), "jailer").detail, "off (jailer_enabled = false)");
  f.uid = 0;  // a root daemon running Firecracker VMs unjailed
  f.config.vmm = config::VmmChoice::firecracker;
  f.firecracker_path = "/usr/bin/firecracker";
  f.firecracker = safe_firecracker("Firecracker v1.14.1\n");
  auto unjailed = row(evaluate(f), "jailer");
  EXPECT_EQ(unjailed.status, CheckStatus::warn);
  EXPECT_EQ(unjailed.detail, "off: firecracker VMs run as root, unjailed");

  f.config.jailer_enabled = true;
  auto missing = row(evaluate(f), "jailer");
  EXPECT_EQ(missing.status, CheckStatus::fail);
  EXPECT_EQ(missing.detail, "jailer_enabled is set but no jailer is in PATH");
  f.config.jailer_bin = "/opt/fc/jailer";
  EXPECT_EQ(row(evaluate(f), "jailer").detail,
            "jailer_bin = \"/opt/fc/jailer\" is not an executable");
  f.jailer_path = "/opt/fc/jailer";
  f.jailer = safe_firecracker("Jailer v1.14.1\n");
  auto ok = row(evaluate(f), "jailer");
  EXPECT_EQ(ok.status, CheckStatus::pass);
  EXPECT_EQ(ok.detail,
            "/opt/fc/jailer v1.14.1; firecracker VMs start jailed, as their vm's own uid");
  f.jailer = safe_firecracker("Jailer v1.13.0\n");
  auto mismatch = row(evaluate(f), "jailer");
  EXPECT_EQ(mismatch.status, CheckStatus::warn);
  EXPECT_EQ(mismatch.detail, "/opt/fc/jailer v1.13.0 is not firecracker's release (v1.14.1)");
  f.jailer.mode = 0777;
  auto writable = row(evaluate(f), "jailer");
  EXPECT_EQ(writable.status, CheckStatus::fail);
  EXPECT_EQ(writable.hint, "chown root:root /opt/fc/jailer && chmod 0755 /opt/fc/jailer");
  f.uid = 1000;
  auto unprivileged = row(evaluate(f), "jailer");
  EXPECT_EQ(unprivileged.status, CheckStatus::fail);
  EXPECT_EQ(unprivileged.detail,
            "jailer_enabled needs a root daemon (this one runs as uid 1000): firecracker VMs fail "
            "to start");
}

TEST(Doctor, FirecrackerRowChecksPresenceSafetyAndTheVersionWindow) {
  auto f = healthy();
  EXPECT_EQ(row(evaluate(f), "firecracker").detail, "not found (not needed: VMs run under QEMU)");
  f.firecracker_path = "/usr/bin/firecracker";
  f.firecracker = safe_firecracker("Firecracker v1.14.1\n");
  auto supported = row(evaluate(f), "firecracker");
  EXPECT_EQ(supported.status, CheckStatus::pass);
  EXPECT_EQ(supported.detail, "/usr/bin/firecracker v1.14.1 (PATH); new VMs run under it");
  f.config.firecracker_bin = "/opt/fc/firecracker";
  f.firecracker_path = "/opt/fc/firecracker";
  f.firecracker = safe_firecracker("Firecracker v1.4.1\n");
  auto old = row(evaluate(f), "firecracker");
  EXPECT_EQ(old.status, CheckStatus::fail);
  EXPECT_EQ(old.detail,
            "/opt/fc/firecracker v1.4.1 (firecracker_bin): older than banger "
            "supports (v1.5.0 to v1.14.1)");
  f.firecracker = safe_firecracker("Firecracker v1.16.1\n");
  auto newer = row(evaluate(f), "firecracker");
  EXPECT_EQ(newer.status, CheckStatus::warn);
  EXPECT_EQ(newer.detail,
            "/opt/fc/firecracker v1.16.1 (firecracker_bin): newer than banger is "
            "tested with (v1.5.0 to v1.14.1)");
  f.firecracker = safe_firecracker("Firecracker v1.14.1\n");
  f.firecracker.mode = 0777;
  auto writable = row(evaluate(f), "firecracker");
  EXPECT_EQ(writable.status, CheckStatus::fail);
  EXPECT_EQ(writable.detail,
            "/opt/fc/firecracker is owned by uid 0 with mode 0777: whoever can "
            "write it runs code as banger");
  EXPECT_EQ(writable.hint, "chown root:root /opt/fc/firecracker && chmod 0755 /opt/fc/firecracker");
  f.firecracker = safe_firecracker("");
  f.firecracker.version_error = "--version exited 2";
  EXPECT_EQ(row(evaluate(f), "firecracker").status, CheckStatus::warn);

  // Missing: a warning for a configured path, a failure when the config asks for Firecracker,
  // with the install hint of the distribution.
  f.firecracker_path = "";
  f.distro_ids = "fedora";
  auto checks = evaluate(f);
  const auto& missing = row(checks, "firecracker");
  EXPECT_EQ(missing.status, CheckStatus::warn);
  EXPECT_EQ(missing.detail, "firecracker_bin = \"/opt/fc/firecracker\" is not an executable");
  EXPECT_EQ(missing.hint,
            "fix or remove firecracker_bin; to install Firecracker: dnf install "
            "firecracker");
  f.config.firecracker_bin = "";
  f.config.vmm = config::VmmChoice::firecracker;
  f.distro_ids = "debian";
  auto wanted = row(evaluate(f), "firecracker");
  EXPECT_EQ(wanted.status, CheckStatus::fail);
  EXPECT_NE(wanted.hint.find("github.com/firecracker-microvm/firecracker/releases"),
            std::string::npos);
}

TEST(Doctor, OsReleaseIdsAreIdThenIdLike) {
  EXPECT_EQ(os_release_ids("NAME=\"Ubuntu\"\nID=ubuntu\nID_LIKE=debian\n"), "ubuntu debian");
  EXPECT_EQ(os_release_ids("ID=\"Fedora\"\n"), "fedora");
  EXPECT_EQ(os_release_ids("ID_LIKE='rhel centos'\nID=rocky\n"), "rocky rhel centos");
  EXPECT_EQ(os_release_ids(""), "");
}

// Real files run by gather_facts (issue 13 acceptance: doctor rows for a missing, too old, too
// new and world-writable Firecracker, with fake binaries that print versions).
TEST(Doctor, GatherFactsRunsOnlyASafeFirecrackerAndReadsItsVersion) {
  testkit::TempDir dir;
  paths::Environment env;
  env.vars["BANGER_HOME"] = dir.path() + "/home";
  env.uid = ::getuid();
  auto paths = paths::resolve_paths(env);
  ASSERT_TRUE(paths) << paths.error().message;
  config::Config config = config::default_config(*paths);
  config.dns_listen = "127.0.0.1:9";  // nothing answers; the probe only records that
  const auto fake = [&](const std::string& name, const std::string& version, mode_t mode) {
    const std::string path = dir.path() + "/" + name;
    // It leaves a mark when run: a world-writable one must not be.
    EXPECT_TRUE(sys::write_file_atomic(
        path, "#!/bin/sh\ntouch \"$0.ran\"\necho 'Firecracker " + version + "'\n", 0755));
    EXPECT_EQ(::chmod(path.c_str(), mode), 0);
    return path;
  };
  const auto row_for = [&](const std::string& path) {
    config.firecracker_bin = path;
    auto facts = gather_facts(*paths, config, ::getuid());
    return row(evaluate(facts), "firecracker");
  };
  auto old = row_for(fake("old", "v1.4.0", 0755));
  EXPECT_EQ(old.status, CheckStatus::fail);
  EXPECT_THAT(old.detail, ::testing::HasSubstr("v1.4.0 (firecracker_bin): older than"));
  auto newer = row_for(fake("new", "v1.16.1", 0755));
  EXPECT_EQ(newer.status, CheckStatus::warn);
  EXPECT_THAT(newer.detail, ::testing::HasSubstr("v1.16.1 (firecracker_bin): newer than"));
  auto good = row_for(fake("good", "v1.14.1", 0755));
  EXPECT_EQ(good.status, CheckStatus::pass) << good.detail;
  const std::string writable = fake("writable", "v1.14.1", 0777);
  auto unsafe = row_for(writable);
  EXPECT_EQ(unsafe.status, CheckStatus::fail);
  EXPECT_THAT(unsafe.detail, ::testing::HasSubstr("mode 0777"));
  EXPECT_FALSE(sys::path_exists(writable + ".ran")) << "doctor ran a world-writable binary";
  EXPECT_TRUE(sys::path_exists(dir.path() + "/good.ran"));
  auto missing = row_for(dir.path() + "/missing");
  EXPECT_EQ(missing.status, CheckStatus::warn);
  EXPECT_THAT(missing.detail, ::testing::HasSubstr("is not an executable"));
}

TEST(Doctor, DeprecatedConfigKeysAreAWarningListingTheNotes) {
  auto f = healthy();
  EXPECT_EQ(row(evaluate(f), "config").detail,
            "/home/u/.config/banger/config.toml loaded, no deprecated keys");
  f.config.notes = {"config.toml:1: \"default_image_name\" is deprecated: use \"default_image\"",
                    "config.toml:2: \"metrics_poll_interval\" is deprecated: use "
                    "\"stats_poll_interval\""};
  auto checks = evaluate(f);
  const auto& config_row = row(checks, "config");
  EXPECT_EQ(config_row.status, CheckStatus::warn);
  EXPECT_EQ(config_row.detail,
            "config.toml:1: \"default_image_name\" is deprecated: use \"default_image\"; "
            "config.toml:2: \"metrics_poll_interval\" is deprecated: use \"stats_poll_interval\"");
  EXPECT_FALSE(has_failure(checks));
}

TEST(Doctor, KvmPvmIsAWarningWithTcgFallback) {
  auto f = healthy();
  f.kvm = {true, 0, false, true};
  auto checks = evaluate(f);
  const auto& kvm = row(checks, "kvm");
  EXPECT_EQ(kvm.status, CheckStatus::warn);
  EXPECT_EQ(kvm.detail,
            "/dev/kvm is KVM-PVM, which cannot boot stock guest kernels: guests run under TCG "
            "(software emulation, slower)");
  EXPECT_FALSE(has_failure(checks));
}

TEST(Doctor, ForcedKvmThatIsUnusableFails) {
  auto f = healthy();
  f.kvm = {false, ENOENT, false, false};
  f.config.accel = config::AccelChoice::kvm;
  EXPECT_EQ(row(evaluate(f), "kvm").status, CheckStatus::fail);
}

TEST(Doctor, MissingRequiredToolFailsWithPackageHint) {
  auto f = healthy();
  for (auto& t : f.tools) {
    if (t.requirement.tool == "nft") {
      t.path.clear();
    }
  }
  auto checks = evaluate(f);
  const auto& tools = row(checks, "host tools");
  EXPECT_EQ(tools.status, CheckStatus::fail);
  EXPECT_EQ(tools.detail, "missing: nft (per-VM NAT rules)");
  EXPECT_EQ(tools.hint, "apt-get install nftables");
  EXPECT_TRUE(has_failure(checks));
}

TEST(Doctor, MissingOptionalToolOnlyWarns) {
  auto f = healthy();
  for (auto& t : f.tools) {
    if (t.requirement.tool == "mmdebstrap") {
      t.path.clear();
    }
  }
  EXPECT_EQ(row(evaluate(f), "host tools").status, CheckStatus::warn);
}

TEST(Doctor, NoVmmAtAllFails) {
  auto f = healthy();
  f.qemu_path.clear();
  auto checks = evaluate(f);
  const auto& vmm = row(checks, "vmm");
  EXPECT_EQ(vmm.status, CheckStatus::fail);
  EXPECT_EQ(vmm.detail, "qemu-system-x86_64 was not found");
  EXPECT_EQ(vmm.hint, "apt-get install qemu-system-x86");
}

TEST(Doctor, RuntimeDirWithGroupBitsOrForeignOwnerFails) {
  auto f = healthy();
  f.runtime.mode = 0755;
  EXPECT_EQ(row(evaluate(f), "runtime dir").detail, "/run/user/1000/banger has mode 0755");
  f = healthy();
  f.runtime.owner = 0;
  EXPECT_EQ(row(evaluate(f), "runtime dir").status, CheckStatus::fail);
  f = healthy();
  f.runtime.is_symlink = true;
  EXPECT_EQ(row(evaluate(f), "runtime dir").status, CheckStatus::fail);
}

TEST(Doctor, StoreNewerThanThisBuildFails) {
  auto f = healthy();
  f.store = {true, 7, 1, ""};
  auto checks = evaluate(f);
  const auto& store = row(checks, "store");
  EXPECT_EQ(store.status, CheckStatus::fail);
  EXPECT_EQ(store.hint, "upgrade banger");
  f.store = {false, std::nullopt, 1, ""};
  EXPECT_EQ(row(evaluate(f), "store").status, CheckStatus::pass);
}

TEST(Doctor, TunMissingFails) {
  auto f = healthy();
  f.tun = {false, ENOENT};
  EXPECT_EQ(row(evaluate(f), "/dev/net/tun").status, CheckStatus::fail);
}

TEST(Doctor, NoVhostWarnsAndBridgeStateIsShown) {
  auto f = healthy();
  f.vhost_net = false;
  EXPECT_EQ(row(evaluate(f), "vhost").status, CheckStatus::warn);
  EXPECT_EQ(row(evaluate(f), "bridge").detail,
            "br-fc not created yet (created when the first VM starts)");
  f.bridge = hostnat::LinkInfo{
      .name = "br-fc", .kind = "bridge", .up = true, .master = "", .ipv4 = {"172.16.0.1/24"}};
  EXPECT_EQ(row(evaluate(f), "bridge").detail, "br-fc 172.16.0.1/24 up");
  f.bridge->kind = "veth";
  EXPECT_EQ(row(evaluate(f), "bridge").status, CheckStatus::fail);
  EXPECT_EQ(row(evaluate(f), "rootfs strategy").status, CheckStatus::pass);
}

TEST(Doctor, RootfsStrategyIsShownPerBackendTheConfiguredOneFirst) {
  auto f = healthy();
  f.storage.qemu_img = true;
  f.storage.device_mapper = false;
  f.storage.device_mapper_detail = "/dev/mapper/control missing";
  f.storage.reflink = false;
  f.storage.reflink_detail = "ext4 has no reflink";
  f.config.vmm = model::VmmChoice::qemu;
  EXPECT_EQ(row(evaluate(f), "rootfs strategy").detail,
            "qemu: qcow2_overlay; firecracker: sparse_copy (no qcow2: firecracker needs a raw "
            "disk; no device-mapper: /dev/mapper/control missing; no reflink: ext4 has no "
            "reflink)");
  f.config.vmm = model::VmmChoice::firecracker;
  f.firecracker_path = "/usr/bin/firecracker";
  EXPECT_THAT(row(evaluate(f), "rootfs strategy").detail,
              ::testing::StartsWith("firecracker: sparse_copy (no qcow2"));
}

TEST(Doctor, ForeignArchitectureFails) {
  auto f = healthy();
  f.arch = "aarch64";
  EXPECT_EQ(row(evaluate(f), "architecture").status, CheckStatus::fail);
}

TEST(Doctor, MissingAgentBinaryFails) {
  auto f = healthy();
  f.agent_present = false;
  auto checks = evaluate(f);
  const auto& agent = row(checks, "guest agent");
  EXPECT_EQ(agent.status, CheckStatus::fail);
  EXPECT_EQ(agent.detail,
            "banger-agent not found at /usr/libexec/banger/banger-agent: images cannot be built "
            "with it and VMs would not become ready");
}

TEST(Doctor, DnsListenerMustAnswerLikeBanger) {
  auto f = healthy();
  EXPECT_EQ(row(evaluate(f), "dns listener").detail, "127.0.0.1:42069 answers <name>.vm");
  f.dns_listener = {.answered = true, .like_banger = false, .error = ""};
  auto other = row(evaluate(f), "dns listener");
  EXPECT_EQ(other.status, CheckStatus::fail);
  EXPECT_EQ(other.detail, "127.0.0.1:42069 answers, but not like banger (another DNS server?)");
  f.dns_listener = {.answered = false, .like_banger = false, .error = "connection refused"};
  EXPECT_EQ(row(evaluate(f), "dns listener").detail,
            "127.0.0.1:42069 does not answer: connection refused");
}

TEST(Doctor, DnsRoutingWarnsWithoutResolvedOrWithoutTheRoute) {
  auto f = healthy();
  f.dns_routing = {.resolved_running = false, .routed = false, .detail = ""};
  auto no_resolved = row(evaluate(f), "dns routing");
  EXPECT_EQ(no_resolved.status, CheckStatus::warn);
  EXPECT_NE(no_resolved.hint.find("docs/dns-routing.md"), std::string::npos);
  f.dns_routing = {.resolved_running = true, .routed = false, .detail = "no ~vm"};
  EXPECT_EQ(row(evaluate(f), "dns routing").detail,
            "systemd-resolved does not route .vm yet: no ~vm");
}

TEST(Doctor, NatAndSshConfigOnlyWarn) {
  auto f = healthy();
  f.nat_error = "nft not found: install the nftables package";
  f.ssh_included = false;
  auto checks = evaluate(f);
  EXPECT_EQ(row(checks, "nat").status, CheckStatus::warn);
  EXPECT_EQ(row(checks, "nat").detail, "nft not found: install the nftables package");
  EXPECT_EQ(row(checks, "ssh-config").status, CheckStatus::warn);
  EXPECT_EQ(row(checks, "ssh-config").hint,
            "run `banger ssh-config --install` to use `ssh <name>.vm` directly");
  EXPECT_FALSE(has_failure(checks));
}

}  // namespace
}  // namespace banger::doctor
