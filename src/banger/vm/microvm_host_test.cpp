// MicrovmHost against in-memory fakes: FakeVmm (serving a real guest agent), FakeLinkOps,
// FakeCommandRunner, real SQLite catalogs. Checks the VmHost contract: prepare's rollback,
// launch under the VM's recorded backend, reconcile, ports and health through the agent, the
// console tail and every shutdown path. The guest network is TEST-NET-1 (192.0.2.0/24), which no
// host carries, and no link, rule or process is made for real.
#include "banger/vm/microvm_host.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <optional>
#include <set>
#include <thread>

#include "banger/agentproto/stream_pump.hpp"
#include "banger/store/database.hpp"
#include "banger/store/image_repository.hpp"
#include "banger/store/kernel_repository.hpp"
#include "banger/sys/fs.hpp"
#include "banger/testkit/fake_clock.hpp"
#include "banger/testkit/fake_command_runner.hpp"
#include "banger/testkit/fake_link_ops.hpp"
#include "banger/testkit/fake_vmm.hpp"
#include "banger/testkit/fixture_files.hpp"
#include "banger/testkit/temp_dir.hpp"

namespace banger::vm {
namespace {

using testkit::FakeVmEnd;

paths::Paths paths_in(const std::string& home) {
  paths::Environment env;
  env.vars["BANGER_HOME"] = home;
  env.uid = ::getuid();
  auto paths = paths::resolve_paths(env);
  EXPECT_TRUE(paths) << paths.error().message;
  return paths ? *paths : paths::Paths{};
}

config::Config test_config(const paths::Paths& paths) {
  auto config = config::default_config(paths);
  config.bridge_name = "bg-test0";
  config.bridge_ip = "192.0.2.1";
  config.cidr = 24;
  return config;
}

class FakeIpForwarding final : public hostnat::IpForwarding {
 public:
  Status enable() override { return {}; }
};

// A guest /proc for the agent: health answers, one loopback TCP listener, one UDP socket.
void write_guest_proc(const std::string& root) {
  ASSERT_TRUE(sys::make_dirs(root + "/net"));
  ASSERT_TRUE(sys::make_dirs(root + "/sys/kernel/random"));
  ASSERT_TRUE(sys::write_file_atomic(root + "/uptime", "12.5 20.0\n"));
  ASSERT_TRUE(sys::write_file_atomic(root + "/sys/kernel/random/boot_id", "boot-7\n"));
  ASSERT_TRUE(sys::write_file_atomic(
      root + "/net/tcp",
      "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  "
      "timeout inode\n"
      "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        "
      "0 111 1 0000000000000000 100 0 0 10 0\n"));
  ASSERT_TRUE(sys::write_file_atomic(
      root + "/net/udp",
      "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  "
      "timeout inode ref pointer drops\n"
      "  123: 00000000:14E9 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        "
      "0 222 2 0000000000000000 0\n"));
}

class MicrovmHostTest : public ::testing::Test {
 protected:
  MicrovmHostTest() {
    EXPECT_TRUE(sys::make_dirs(paths_.runtime_dir, 0700));
    EXPECT_TRUE(sys::make_dirs(paths_.ssh_dir, 0700));
    // An existing key: ensure_key reads it instead of running ssh-keygen.
    EXPECT_TRUE(sys::write_file_atomic(config_.ssh_key_path, "PRIVATE\n", 0600));
    EXPECT_TRUE(sys::write_file_atomic(config_.ssh_key_path + ".pub", "ssh-ed25519 AAAA banger\n"));
    EXPECT_TRUE(sys::write_file_atomic(dir_.path() + "/rootfs.ext4", std::string(8192, 'r')));
    EXPECT_TRUE(sys::write_file_atomic(dir_.path() + "/vmlinux", "ELF"));
    write_guest_proc(dir_.path() + "/guest-proc");
    EXPECT_TRUE(kernel_repo_.insert({.name = "k1",
                                     .distro = "debian",
                                     .arch = "x86_64",
                                     .version = "6.1",
                                     .vmlinux_path = dir_.path() + "/vmlinux",
                                     .initrd_path = "",
                                     .sha256 = "",
                                     .source = "test",
                                     .imported_at = 1}));
    EXPECT_TRUE(image_repo_.insert({.name = "img",
                                    .rootfs_path = dir_.path() + "/rootfs.ext4",
                                    .work_seed_path = "",
                                    .kernel_ref = "k1",
                                    .distro = "debian",
                                    .init_flavour = model::InitFlavour::systemd,
                                    .extra_kernel_args = "quiet",
                                    .managed = false,
                                    .size_bytes = 8192,
                                    .created_at = 1}));
  }

  static model::Vm new_vm(const std::string& id, const std::string& name, bool nat = false) {
    model::Vm vm;
    vm.id = id;
    vm.name = name;
    vm.image = "img";
    vm.vcpu = 1;
    vm.memory_mib = 256;
    vm.disk_size_mib = 16;
    vm.nat = nat;
    return vm;
  }

  // prepare + launch, copying what they decided into the record as VmService does.
  model::Vm started(model::Vm vm) {
    auto prepared = host_.prepare(vm, {}, {});
    EXPECT_TRUE(prepared) << prepared.error().message;
    if (!prepared) {
      return vm;
    }
    prepared->apply_to(vm);
    auto launched = host_.launch(vm, {});
    EXPECT_TRUE(launched) << launched.error().message;
    if (launched) {
      vm.vmm_pid = launched->pid;
      vm.vmm_start_time = launched->start_time;
      vm.state = model::VmState::running;
    }
    return vm;
  }

  bool ran_command_starting(const std::string& prefix) const {
    for (const auto& line : runner_.ran()) {
      if (line.rfind(prefix, 0) == 0) {
        return true;
      }
    }
    return false;
  }

  testkit::TempDir dir_;
  paths::Paths paths_ = paths_in(dir_.path());
  config::Config config_ = test_config(paths_);
  testkit::FakeCommandRunner runner_;
  testkit::FakeClock clock_;
  store::Database db_ = std::move(*store::Database::open_in_memory());
  store::ImageRepository image_repo_{db_};
  store::KernelRepository kernel_repo_{db_};
  kernelcat::KernelService kernels_{
      {.kernels = kernel_repo_,
       .runner = runner_,
       .paths = paths_,
       .clock = clock_,
       .users_of = [](const std::string&) { return std::vector<std::string>{}; },
       .find_tool = [](const std::string& t) { return t; }}};
  imagecat::ImageService images_{
      {.images = image_repo_,
       .runner = runner_,
       .paths = paths_,
       .clock = clock_,
       .users_of = [](const std::string&) { return std::vector<std::string>{}; },
       .register_kernel = [](const std::string& name, const std::string&,
                             const std::string&) -> Expected<std::string> { return name; },
       .find_tool = [](const std::string& t) { return t; },
       .agent_binary = ""}};
  testkit::FakeLinkOps links_;
  hostnat::NetworkService network_{{.links = links_,
                                    .bridge_name = config_.bridge_name,
                                    .bridge_ip = config_.bridge_ip,
                                    .cidr = config_.cidr,
                                    .tap_pool_size = 1}};
  guest::KnownHosts known_hosts_{paths_.known_hosts};
  dns::DnsService dns_{{.runner = runner_,
                        .listen = "127.0.0.1:0",
                        .bridge_name = config_.bridge_name,
                        .bridge_ip = config_.bridge_ip,
                        .upstreams = {"127.0.0.1:53"},
                        .use_resolved = false}};
  FakeIpForwarding forwarding_;
  hostnat::NatService nat_{{.runner = runner_,
                            .ip_forwarding = forwarding_,
                            .bridge_name = config_.bridge_name,
                            .bridge_cidr = "192.0.2.1/24"}};
  forward::TcpForwarder forwarder_;
  testkit::FakeVmm vmm_{{.backend = vmm::Backend::qemu,
                         .serve_agent = true,
                         .agent_proc_root = dir_.path() + "/guest-proc",
                         .agent_version = "fake-agent",
                         .cmdline_args = {"backend=fake"}}};
  vmm::VmmRegistry vmms_{vmm_};
  // The host's processes as reconcile sees them, and the ids the passwd/group databases hold.
  std::vector<sys::ProcessInfo> processes_;
  std::set<std::uint32_t> taken_ids_;
  MicrovmHostDeps deps() { return deps_with(vmms_); }
  MicrovmHostDeps deps_with(vmm::VmmRegistry& vmms) {
    return {.runner = runner_,
            .clock = clock_,
            .paths = paths_,
            .config = config_,
            .network = network_,
            .images = images_,
            .kernels = kernels_,
            .vmms = vmms,
            .known_hosts = known_hosts_,
            .dns = dns_,
            .nat = nat_,
            .forwarder = forwarder_,
            .sample_process = sys::sample_process,
            .list_processes = [this] { return processes_; },
            .check_ids_unused = [this](std::uint32_t uid, std::uint32_t) -> Status {
              if (taken_ids_.contains(uid)) {
                return fail(Errc::failed_precondition,
                            fmt::format("uid {} belongs to user \"someone\"", uid));
              }
              return {};
            }};
  }
  static MicrovmHostOptions options() {
    return {.accel = vmm::Accel::tcg,
            .rootfs_strategy = vmstorage::RootfsStrategy::sparse_copy,
            .boot_timeout = std::chrono::seconds(5),
            .vhost_vsock = false};
  }
  MicrovmHost host_{deps(), options()};
};

TEST_F(MicrovmHostTest, LaunchBootsThePreparedVmUnderItsBackend) {
  auto vm = started(new_vm("0123456789abcdef", "web"));
  auto launches = vmm_.launches();
  ASSERT_EQ(launches.size(), 1u);
  const auto& config = launches[0];
  const std::string vm_dir = paths_.vm_dir(vm.id);
  EXPECT_EQ(config.kernel_path, dir_.path() + "/vmlinux");
  EXPECT_EQ(config.kernel_cmdline,
            "console=ttyS0 reboot=k panic=1 root=/dev/vda rw rootfstype=ext4 "
            "ip=192.0.2.2::192.0.2.1:255.255.255.0:web:eth0:off backend=fake quiet");
  EXPECT_EQ(config.root_disk.path, vm_dir + "/root.ext4");
  EXPECT_EQ(config.root_disk.format, vmm::DiskFormat::raw);
  ASSERT_TRUE(config.work_disk);
  EXPECT_EQ(config.work_disk->path, vm_dir + "/work.ext4");
  EXPECT_EQ(config.tap_name, vm.tap_name);
  EXPECT_EQ(config.control_socket_path, paths_.runtime_dir + "/" + vm.id + ".ctl");
  EXPECT_EQ(config.agent_socket_path, paths_.runtime_dir + "/" + vm.id + ".agent");
  EXPECT_EQ(config.console_log_path, vm_dir + "/console.log");
  EXPECT_TRUE(host_.alive(vm));
  EXPECT_EQ(dns_.records().snapshot(), (std::map<std::string, std::string>{{"web", "192.0.2.2"}}));
}

TEST_F(MicrovmHostTest, OnlyQemuGuestsUnderTcgHaveEmulatedCpus) {
  auto vm = new_vm("0123456789abcdef", "web");
  vm.vmm = model::VmmBackend::qemu;
  EXPECT_TRUE(host_.emulates_cpus(vm));  // the fixture's accel is tcg
  vm.vmm = model::VmmBackend::firecracker;
  EXPECT_FALSE(host_.emulates_cpus(vm));
  auto on_kvm = options();
  on_kvm.accel = vmm::Accel::kvm;
  MicrovmHost kvm_host(deps(), on_kvm);
  vm.vmm = model::VmmBackend::qemu;
  EXPECT_FALSE(kvm_host.emulates_cpus(vm));
}

// stats_poll_interval: the daemon's UsagePoller calls poll_usage() every interval; usage() then
// measures CPU% from that sample instead of sleeping for its own window.
TEST_F(MicrovmHostTest, UsageMeasuresCpuSinceThePolledSample) {
  const double ticks_per_second = static_cast<double>(sys::clock_ticks_per_second());
  std::uint64_t ticks = 1000;
  auto scripted = deps();
  scripted.sample_process = [&](pid_t pid) -> Expected<sys::ProcessSample> {
    EXPECT_EQ(pid, 4242);
    return sys::ProcessSample{.cpu_ticks = ticks, .rss_bytes = 64 << 20};
  };
  MicrovmHost host(scripted, options());
  auto vm = new_vm("0123456789abcdef", "web");
  vm.state = model::VmState::running;
  vm.vmm_pid = 4242;
  vm.vmm_start_time = 77;

  // No sample yet: a kUsageWindow of its own (the fake clock moves by the sleep).
  auto before = clock_.steady_now();
  ASSERT_TRUE(host.usage(vm));
  EXPECT_EQ(clock_.steady_now() - before, kUsageWindow);

  host.poll_usage({vm});
  clock_.advance(std::chrono::seconds(10));
  ticks += static_cast<std::uint64_t>(5 * ticks_per_second);  // 5 CPU seconds in 10 s
  before = clock_.steady_now();
  auto usage = host.usage(vm);
  ASSERT_TRUE(usage) << usage.error().message;
  EXPECT_EQ(clock_.steady_now(), before) << "no sleep: the polled sample is the first one";
  EXPECT_NEAR(usage->cpu_percent, 50.0, 0.01);
  EXPECT_EQ(usage->rss_bytes, 64 << 20);

  // A sample of another VMM process (pid reused after a restart) is not used.
  auto restarted = vm;
  restarted.vmm_start_time = 78;
  before = clock_.steady_now();
  ASSERT_TRUE(host.usage(restarted));
  EXPECT_EQ(clock_.steady_now() - before, kUsageWindow);

  // Neither is one taken just now (too short for a meaningful number), nor one of a VM that
  // is no longer running (the next poll forgets it).
  host.poll_usage({vm});
  before = clock_.steady_now();
  ASSERT_TRUE(host.usage(vm));
  EXPECT_EQ(clock_.steady_now() - before, kUsageWindow);
  host.poll_usage({});
  clock_.advance(std::chrono::seconds(10));
  before = clock_.steady_now();
  ASSERT_TRUE(host.usage(vm));
  EXPECT_EQ(clock_.steady_now() - before, kUsageWindow);
}

TEST_F(MicrovmHostTest, RootDiskGetsTheRecordedRootfsOverlaySize) {
  // [vm_defaults] rootfs_overlay_size reaches the record (VmService::create); the root disk is
  // grown to it. 0 keeps the image rootfs's size.
  auto sized = new_vm("0123456789abcdef", "web");
  sized.rootfs_overlay_size_mib = 3;
  started(sized);
  struct stat st{};
  ASSERT_EQ(::stat((paths_.vm_dir(sized.id) + "/root.ext4").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 3 * 1024 * 1024);
  auto plain = started(new_vm("fedcba9876543210", "db"));
  ASSERT_EQ(::stat((paths_.vm_dir(plain.id) + "/root.ext4").c_str(), &st), 0);
  struct stat base{};
  ASSERT_EQ(::stat((dir_.path() + "/rootfs.ext4").c_str(), &base), 0);
  EXPECT_EQ(st.st_size, base.st_size);
}

TEST_F(MicrovmHostTest, AgentReadinessPinsTheKeyTheAgentReportsAndRefusesAChangedOne) {
  const std::string key_path = dir_.path() + "/guest-host-key.pub";
  const std::string key = "AAAAC3NzaC1lZDI1NTE5AAAAIGIov89ORwN9tfN6MsuhmZlBuD4njrmg+NojQqHV1rXO";
  testkit::write_fixture(key_path, "ssh-ed25519 " + key + " root@web\n");
  testkit::FakeVmm vmm{{.backend = vmm::Backend::qemu,
                        .serve_agent = true,
                        .agent_proc_root = dir_.path() + "/guest-proc",
                        .agent_reports_ssh_host_key = true,
                        .agent_ssh_host_key_paths = {key_path}}};
  vmm::VmmRegistry vmms{vmm};
  MicrovmHost host{deps_with(vmms), options()};
  auto vm = new_vm("0123456789abcdef", "web");
  auto prepared = host.prepare(vm, {}, {});
  ASSERT_TRUE(prepared) << prepared.error().message;
  prepared->apply_to(vm);
  auto launched = host.launch(vm, {});
  ASSERT_TRUE(launched) << launched.error().message;
  vm.vmm_pid = launched->pid;
  vm.vmm_start_time = launched->start_time;
  // Agent readiness: no sshd probe and no ssh-keyscan; the key comes from the agent.
  auto ready = host.wait_ready(vm, Readiness::agent, {});
  ASSERT_TRUE(ready) << ready.error().message;
  EXPECT_EQ(known_hosts_.lookup(vm.guest_ip)->value_or(""), "ssh-ed25519 " + key);
  EXPECT_EQ(known_hosts_.lookup("web.vm")->value_or(""), "ssh-ed25519 " + key);
  EXPECT_FALSE(ran_command_starting("ssh-keyscan"));

  // The guest now claims another key: refused, nothing re-pinned.
  testkit::write_fixture(key_path, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH0=\n");
  auto changed = host.wait_ready(vm, Readiness::agent, {});
  ASSERT_FALSE(changed);
  EXPECT_EQ(changed.error().code, Errc::failed_precondition);
  EXPECT_NE(changed.error().message.find("changed"), std::string::npos) << changed.error().message;
  EXPECT_EQ(known_hosts_.lookup(vm.guest_ip)->value_or(""), "ssh-ed25519 " + key);

  // A guest that never makes a key times out with the console, not a hang.
  ::unlink(key_path.c_str());
  auto none = host.wait_ready(vm, Readiness::agent, {});
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, Errc::timeout);
  EXPECT_NE(none.error().message.find("reported no ssh host key"), std::string::npos)
      << none.error().message;
  ASSERT_TRUE(host.kill(vm));
}

TEST_F(MicrovmHostTest, ConsoleTailReadsTheBackendsConsoleLog) {
  auto vm = started(new_vm("0123456789abcdef", "web"));
  EXPECT_EQ(host_.console_log_path(vm), paths_.vm_dir(vm.id) + "/console.log");
  EXPECT_EQ(host_.console_tail(vm, 5), "[fake-vmm] web booted (pid 6000000)");
}

// Regression for M10 (security review): the failed-boot console tail reads a bounded window
// from the end of a multi-MiB console log (here one 6 MiB line a guest printed without a
// newline), never the whole file into the daemon. Fails on 8f38f5a: console_tail read the whole
// file (checked by putting back sys::read_file + tail_lines: the tail was 6 MiB).
TEST_F(MicrovmHostTest, ConsoleTailOfAHugeLogIsBounded) {
  auto vm = started(new_vm("0123456789abcdef", "web"));
  std::string huge(6 << 20, 'x');
  huge += "\nlast words\n";
  ASSERT_TRUE(sys::write_file_atomic(host_.console_log_path(vm), huge, 0600));
  std::string tail = host_.console_tail(vm, 20);
  EXPECT_LE(tail.size(), 64u * 1024u);
  EXPECT_TRUE(tail.ends_with("last words")) << tail.substr(tail.size() - 20);
}

TEST_F(MicrovmHostTest, PrepareReleasesWhatItAttachedWhenTheWorkDiskFails) {
  // Given a NAT'd VM whose work disk cannot be made, then its TAP goes back to the pool and
  // its DNS record and NAT rules are gone again.
  runner_.on("mkfs.ext4", {.exit_code = 1, .out = "", .err = "mkfs.ext4: No space left on device"});
  auto vm = new_vm("0123456789abcdef", "web", /*nat=*/true);
  auto prepared = host_.prepare(vm, {}, {});
  ASSERT_FALSE(prepared);
  EXPECT_NE(prepared.error().message.find("No space left on device"), std::string::npos)
      << prepared.error().message;
  for (const auto& lease : network_.leases()) {
    EXPECT_EQ(lease.tap, "") << lease.vm_id;
  }
  EXPECT_EQ(network_.idle_taps().size(), 1u);
  EXPECT_TRUE(dns_.records().snapshot().empty());
  EXPECT_FALSE(nat_.enabled(vm.id));
  EXPECT_TRUE(vmm_.launches().empty());
}

TEST_F(MicrovmHostTest, ABuiltKernelReplacesTheDefaultKernelButNotAnImagesOwn) {
  // Two `kernel build` kernels (the newer wins) and an image naming the default kernel.
  for (auto [name, at] : {std::pair<const char*, std::int64_t>{"fc-old", 3}, {"fc-new", 5}}) {
    const std::string vmlinux = dir_.path() + "/vmlinux-" + name;
    ASSERT_TRUE(sys::write_file_atomic(vmlinux, "ELF"));
    ASSERT_TRUE(kernel_repo_.insert({.name = name,
                                     .distro = "linux",
                                     .arch = "x86_64",
                                     .version = "6.1.192",
                                     .vmlinux_path = vmlinux,
                                     .initrd_path = "",
                                     .sha256 = "",
                                     .source = "build: linux-source-6.1 6.1.192-3, config x",
                                     .imported_at = at}));
  }
  auto image = *image_repo_.get("img");
  image.name = "recipe-like";
  image.kernel_ref = "debian-cloud";
  ASSERT_TRUE(image_repo_.insert(image));

  auto defaulted = new_vm("0123456789abcdef", "web");
  defaulted.image = "recipe-like";
  started(defaulted);
  auto own = new_vm("1123456789abcdef", "api");  // image img names k1
  started(own);
  auto launches = vmm_.launches();
  ASSERT_EQ(launches.size(), 2u);
  EXPECT_EQ(launches[0].kernel_path, dir_.path() + "/vmlinux-fc-new");
  EXPECT_EQ(launches[1].kernel_path, dir_.path() + "/vmlinux");
}

TEST_F(MicrovmHostTest, CheckSourcesAcceptsWhatExistsOrCanBeHadOnFirstUse) {
  auto vm = new_vm("0123456789abcdef", "web");
  EXPECT_TRUE(host_.check_sources(vm));  // image img, its kernel k1
  vm.image = "tiny";                     // a built-in recipe: built on first use
  vm.kernel = "debian-cloud";            // a catalog kernel: pulled on first use
  EXPECT_TRUE(host_.check_sources(vm));

  vm.image = "nosuch";
  vm.kernel = "";
  auto image = host_.check_sources(vm);
  ASSERT_FALSE(image);
  EXPECT_EQ(image.error().code, Errc::not_found);
  EXPECT_EQ(image.error().message,
            "image \"nosuch\" not found: `banger image list` shows the images, `banger image "
            "list --available` what `banger image pull` can make");
  vm.image = "img";
  vm.kernel = "k9";
  auto kernel = host_.check_sources(vm);
  ASSERT_FALSE(kernel);
  EXPECT_EQ(kernel.error().code, Errc::not_found);
  EXPECT_EQ(kernel.error().message,
            "kernel \"k9\" not found: `banger kernel list` shows the kernels, `banger kernel "
            "pull` gets one from the catalog");
  EXPECT_TRUE(vmm_.launches().empty());
}

TEST_F(MicrovmHostTest, RefusesAVmWhoseBackendThisDaemonDoesNotRun) {
  auto vm = new_vm("0123456789abcdef", "web");
  vm.vmm = vmm::Backend::firecracker;
  auto prepared = host_.prepare(vm, {}, {});
  ASSERT_FALSE(prepared);
  EXPECT_EQ(prepared.error().code, Errc::failed_precondition);
  EXPECT_EQ(prepared.error().message, "no firecracker backend runs in this daemon");
  EXPECT_TRUE(network_.leases().empty());
  EXPECT_FALSE(host_.alive(vm));
}

TEST_F(MicrovmHostTest, LaunchFailureLeavesNoVmmRunning) {
  auto vm = new_vm("0123456789abcdef", "web");
  auto prepared = host_.prepare(vm, {}, {});
  ASSERT_TRUE(prepared) << prepared.error().message;
  vm.kernel = prepared->kernel;
  vm.rootfs_strategy = prepared->rootfs_strategy;
  vm.overlay_path = prepared->overlay_path;
  vmm_.fail_next_launch({Errc::not_found, "starting qemu: qemu-system-x86_64: not found"});
  auto launched = host_.launch(vm, {});
  ASSERT_FALSE(launched);
  EXPECT_EQ(launched.error().code, Errc::not_found);
  EXPECT_FALSE(host_.alive(vm));
}

TEST_F(MicrovmHostTest, HealthAndPortsComeFromTheGuestAgent) {
  auto vm = started(new_vm("0123456789abcdef", "web"));
  auto health = host_.guest_health(vm);
  ASSERT_TRUE(health) << health.error().message;
  EXPECT_EQ(health->uptime_s, 12.5);
  EXPECT_EQ(health->boot_id, "boot-7");
  EXPECT_EQ(health->agent_version, "fake-agent");
  auto ports = host_.guest_ports(vm);
  ASSERT_TRUE(ports) << ports.error().message;
  ASSERT_EQ(ports->size(), 2u);
  const GuestPort* tcp = &(*ports)[0];
  const GuestPort* udp = &(*ports)[1];
  if (tcp->proto != "tcp") {
    std::swap(tcp, udp);
  }
  EXPECT_EQ(tcp->address, "127.0.0.1");
  EXPECT_EQ(tcp->port, 8080);
  EXPECT_FALSE(tcp->reachable);  // loopback in the guest: not probed, not reachable
  EXPECT_EQ(tcp->scheme, "");
  EXPECT_EQ(udp->proto, "udp");
  EXPECT_EQ(udp->address, "0.0.0.0");
  EXPECT_EQ(udp->port, 5353);
  EXPECT_TRUE(udp->reachable);
}

TEST_F(MicrovmHostTest, ShutdownSyncsAndPowersOffThroughTheAgent) {
  auto vm = started(new_vm("0123456789abcdef", "web"));
  ASSERT_TRUE(host_.shutdown(vm, std::chrono::seconds(5)));
  EXPECT_EQ(vmm_.agent_syncs(), 1);
  EXPECT_EQ(vmm_.agent_poweroffs(), 1);
  EXPECT_EQ(vmm_.end_of(vm.vmm_pid), FakeVmEnd::agent_poweroff);
  EXPECT_FALSE(ran_command_starting("ssh "));
  EXPECT_FALSE(host_.alive(vm));
}

TEST_F(MicrovmHostTest, ShutdownFallsBackToSshWhenTheImageHasNoAgent) {
  auto vm = started(new_vm("0123456789abcdef", "web"));
  runner_.on("debugfs", {.exit_code = 0,
                         .out = "",
                         .err = "/usr/local/bin/banger-agent: File not found by ext2_lookup"});
  ASSERT_TRUE(host_.shutdown(vm, std::chrono::seconds(5)));
  EXPECT_TRUE(ran_command_starting("ssh "));
  EXPECT_EQ(vmm_.agent_poweroffs(), 0);
  EXPECT_EQ(vmm_.end_of(vm.vmm_pid), FakeVmEnd::acpi_poweroff);
}

TEST_F(MicrovmHostTest, ShutdownKillsAGuestThatIgnoresThePowerOff) {
  auto vm = started(new_vm("0123456789abcdef", "web"));
  vmm_.set_guest_ignores_poweroff(true);
  ASSERT_TRUE(host_.shutdown(vm, std::chrono::seconds(5)));
  EXPECT_EQ(vmm_.agent_poweroffs(), 1);
  EXPECT_EQ(vmm_.end_of(vm.vmm_pid), FakeVmEnd::killed);
}

TEST_F(MicrovmHostTest, ShutdownReportsAVmmThatSurvives) {
  auto vm = started(new_vm("0123456789abcdef", "web"));
  vmm_.set_guest_ignores_poweroff(true);
  vmm_.set_stop_times_out(true);
  auto stopped = host_.shutdown(vm, std::chrono::seconds(5));
  ASSERT_FALSE(stopped);
  EXPECT_EQ(stopped.error().code, Errc::timeout);
  EXPECT_TRUE(host_.alive(vm));
}

TEST_F(MicrovmHostTest, KillEndsTheVmmAndIsANoOpOnceItIsGone) {
  auto vm = started(new_vm("0123456789abcdef", "web"));
  ASSERT_TRUE(host_.kill(vm));
  EXPECT_EQ(vmm_.end_of(vm.vmm_pid), FakeVmEnd::killed);
  ASSERT_TRUE(host_.kill(vm));
  ASSERT_TRUE(host_.shutdown(vm, std::chrono::seconds(1)));
  EXPECT_EQ(vmm_.calls(), (std::vector<std::string>{"launch web", "kill 6000000"}));
}

TEST_F(MicrovmHostTest, ReconcileKeepsLiveVmsAndReleasesDeadOnes) {
  // Given two running records whose second VMM died (say, while the daemon was down), then
  // only the live one keeps its TAP, DNS record and NAT rules.
  auto web = started(new_vm("0123456789abcdef", "web", /*nat=*/true));
  auto db = started(new_vm("fedcba9876543210", "db", /*nat=*/true));
  vmm_.die(db.vmm_pid);
  ASSERT_TRUE(host_.reconcile({web, db}));
  EXPECT_EQ(network_.leases(), (std::vector<hostnat::Lease>{{web.id, web.guest_ip, web.tap_name},
                                                            {db.id, db.guest_ip, ""}}));
  EXPECT_EQ(dns_.records().snapshot(), (std::map<std::string, std::string>{{"web", web.guest_ip}}));
  EXPECT_TRUE(nat_.enabled(web.id));
  EXPECT_FALSE(nat_.enabled(db.id));
  EXPECT_TRUE(host_.alive(web));
  EXPECT_FALSE(host_.alive(db));
  // Each backend removes what it left for VMs that do not run (jails), keeping web's.
  EXPECT_EQ(vmm_.leftover_calls(), (std::vector<std::vector<std::string>>{{web.id}}));
}

// Regression for M2 (security review): a VMM that a daemon SIGKILLed between spawn and record
// left behind (its VM's record holds no pid) is found by its control socket and killed at
// reconcile, before the TAP pool is reconciled; the VMM a running record holds is kept, and a
// process that merely mentions another path is left alone. Fails on 8f38f5a: checked by
// removing the kill_unrecorded_vmms call from MicrovmHost::reconcile (8f38f5a never looked
// beyond the record): end_of(orphan) stayed `running`.
TEST_F(MicrovmHostTest, ReconcileKillsAVmmThatNoRecordHolds) {
  auto web = started(new_vm("0123456789abcdef", "web"));
  auto lost = started(new_vm("fedcba9876543210", "lost"));
  const pid_t orphan = lost.vmm_pid;
  const std::uint64_t orphan_start = lost.vmm_start_time;
  // What VmService::reconcile leaves for a VM caught between spawn and record.
  lost.vmm_pid = 0;
  lost.vmm_start_time = 0;
  lost.tap_name.clear();
  lost.state = model::VmState::stopped;
  auto control = [&](const model::Vm& vm) { return paths_.runtime_dir + "/" + vm.id + ".ctl"; };
  processes_ = {
      {.pid = web.vmm_pid, .start_time = web.vmm_start_time, .argv = {"fakevmm", control(web)}},
      {.pid = orphan, .start_time = orphan_start, .argv = {"fakevmm", control(lost)}},
      {.pid = 42, .start_time = 1, .argv = {"cat", control(lost) + ".bak"}}};
  ASSERT_TRUE(host_.reconcile({web, lost}));
  EXPECT_EQ(vmm_.end_of(orphan), FakeVmEnd::killed);
  EXPECT_EQ(vmm_.end_of(web.vmm_pid), FakeVmEnd::running);
  EXPECT_TRUE(host_.alive(web));
  // Only the orphan was signalled.
  auto calls = vmm_.calls();
  EXPECT_EQ(std::count(calls.begin(), calls.end(), "kill " + std::to_string(orphan)), 1);
  EXPECT_EQ(std::count(calls.begin(), calls.end(), "kill 42"), 0);
}

// Regression for M2 (security review): launch() hands the VMM's pid + start time to the caller
// before it returns (VmService stores them at once), and a failure to store them kills the
// VMM. Fails on 8f38f5a: launch() took no callback (checked by not calling on_spawned in
// MicrovmHost::launch: `spawned` stayed empty and the VMM kept running).
TEST_F(MicrovmHostTest, LaunchReportsTheSpawnedVmmAndKillsItWhenItCannotBeRecorded) {
  auto vm = new_vm("0123456789abcdef", "web");
  auto prepared = host_.prepare(vm, {}, {});
  ASSERT_TRUE(prepared) << prepared.error().message;
  prepared->apply_to(vm);
  std::vector<Launched> spawned;
  auto launched = host_.launch(vm, [&](const Launched& l) -> Status {
    spawned.push_back(l);
    return {};
  });
  ASSERT_TRUE(launched) << launched.error().message;
  ASSERT_EQ(spawned.size(), 1u);
  EXPECT_EQ(spawned[0].pid, launched->pid);
  EXPECT_EQ(spawned[0].start_time, launched->start_time);

  ASSERT_TRUE(host_.kill([&] {
    auto copy = vm;
    copy.vmm_pid = launched->pid;
    copy.vmm_start_time = launched->start_time;
    return copy;
  }()));
  pid_t refused_pid = 0;
  auto refused = host_.launch(vm, [&](const Launched& l) -> Status {
    refused_pid = l.pid;
    return fail(Errc::io, "disk I/O error");
  });
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().message, "disk I/O error");
  ASSERT_NE(refused_pid, 0);
  EXPECT_EQ(vmm_.end_of(refused_pid), FakeVmEnd::killed);
}

// Regression for M8 (security review): a root daemon runs each VM's VMM as the VM's own
// unprivileged id (kVmmIdBase | low 20 bits of its IP), and refuses an id that the passwd or
// group database already holds. Fails on 8f38f5a: VmConfig had no run_as (QEMU ran as root);
// checked by making vmm_ids() return nullopt: run_as was empty and the taken id was accepted.
TEST_F(MicrovmHostTest, RootDaemonRunsEachVmmAsTheVmsOwnUnprivilegedId) {
  auto options_dropping = options();
  options_dropping.drop_vmm_privileges = true;
  MicrovmHost host{deps(), options_dropping};
  auto vm = new_vm("0123456789abcdef", "web");
  auto prepared = host.prepare(vm, {}, {});
  ASSERT_TRUE(prepared) << prepared.error().message;
  prepared->apply_to(vm);
  ASSERT_TRUE(host.launch(vm, {}));
  ASSERT_EQ(vmm_.launches().size(), 1u);
  const std::uint32_t id = vmm::kVmmIdBase + 0x00202;  // the low 20 bits of 192.0.2.2
  EXPECT_EQ(vmm_.launches()[0].run_as, (std::pair<std::uint32_t, std::uint32_t>{id, id}));
  // Its TAP is that id's while it runs (a jailed Firecracker opens it after dropping to it).
  EXPECT_EQ(links_.links().at(vm.tap_name).owner, std::optional<uid_t>(id));
  // Not root: no drop.
  auto other = new_vm("fedcba9876543210", "db");
  auto other_prepared = host_.prepare(other, {}, {});
  ASSERT_TRUE(other_prepared) << other_prepared.error().message;
  other_prepared->apply_to(other);
  ASSERT_TRUE(host_.launch(other, {}));
  ASSERT_EQ(vmm_.launches().size(), 2u);
  EXPECT_FALSE(vmm_.launches()[1].run_as);

  taken_ids_.insert(vmm::vmm_id_for_ip(other.guest_ip));
  auto refused = host.launch(other, {});
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, Errc::failed_precondition);
  EXPECT_NE(refused.error().message.find("belongs to user \"someone\""), std::string::npos)
      << refused.error().message;
  EXPECT_EQ(vmm_.launches().size(), 2u);
}

TEST_F(MicrovmHostTest, ReleaseReturnsTheTapAndUnpublishes) {
  auto vm = started(new_vm("0123456789abcdef", "web", /*nat=*/true));
  ASSERT_TRUE(host_.kill(vm));
  ASSERT_TRUE(host_.release(vm));
  EXPECT_EQ(vmm_.discarded(), std::vector<pid_t>{vm.vmm_pid});  // its sockets (and jail) go
  EXPECT_EQ(network_.leases(), (std::vector<hostnat::Lease>{{vm.id, vm.guest_ip, ""}}));
  EXPECT_TRUE(dns_.records().snapshot().empty());
  EXPECT_FALSE(nat_.enabled(vm.id));
}

// --- Guest network isolation at start and at daemon start (security review M3, M7, L6) ---

// Regression for L6 (security review): at daemon start the nftables tables are rebuilt even
// when no VM runs, so rules an earlier daemon left for VMs that are gone do not outlive them.
// Fails on 8f38f5a: its reconcile returned before NatService::rebuild() with no VM running
// (checked by restoring its two early returns: no `nft -f -` ran in this test or the next).
TEST_F(MicrovmHostTest, ReconcileRebuildsTheTablesWithNoVmRunning) {
  // The bridge exists (an earlier daemon networked VMs): the tables are rebuilt, empty.
  ASSERT_TRUE(links_.ensure_bridge(config_.bridge_name, "192.0.2.1/24"));
  ASSERT_TRUE(host_.reconcile({}));
  EXPECT_TRUE(ran_command_starting("nft -f -"));
  EXPECT_TRUE(nat_.vms().empty());
}

TEST_F(MicrovmHostTest, ReconcileRebuildsLeftoverTablesEvenWithoutTheBridge) {
  // No bridge, but `nft list table` finds a table (the fake runner's default exit 0).
  ASSERT_TRUE(host_.reconcile({}));
  EXPECT_TRUE(ran_command_starting("nft list table ip banger"));
  EXPECT_TRUE(ran_command_starting("nft -f -"));
}

TEST_F(MicrovmHostTest, ReconcileLeavesAHostWithoutBangerNetworkingAlone) {
  runner_.on("nft list table", {.exit_code = 1});
  ASSERT_TRUE(host_.reconcile({}));
  EXPECT_FALSE(ran_command_starting("nft -f -"));
  EXPECT_TRUE(links_.links().empty());
}

// Regression for M3 (security review): TAPs left by an earlier daemon (its warm pool) are
// reconciled at daemon start even when no VM has an address: adopted up to the pool size,
// the rest deleted, so they cannot pile up until no tap-fc-<n> name is free. Fails on
// 8f38f5a: its reconcile returned early (no VM with an address, a new pool is empty), so all
// 64 leftovers stayed (checked by restoring that early return: 65 links remained, none idle).
TEST_F(MicrovmHostTest, ReconcileAdoptsOrDeletesLeftoverTapsWithoutAddressedVms) {
  ASSERT_TRUE(links_.ensure_bridge(config_.bridge_name, "192.0.2.1/24"));
  for (unsigned n = 0; n < 64; ++n) {
    ASSERT_TRUE(links_.create_tap(hostnat::tap_name(n), std::nullopt));
  }
  ASSERT_TRUE(host_.reconcile({}));
  EXPECT_EQ(network_.idle_taps(), std::vector<std::string>{"tap-fc-0"});  // tap_pool_size 1
  EXPECT_EQ(links_.links().size(), 2U);  // the bridge and the adopted TAP
  auto vm = started(new_vm("0123456789abcdef", "web"));
  EXPECT_EQ(vm.tap_name, "tap-fc-0");
}

// Regression for M7 (security review): a starting VM is admitted to the bridge table (pinned
// to its TAP, address and MAC) with or without NAT, and the guest resolver forwards names
// outside .vm only for the VM with NAT; `vm set --nat` and stop follow. Fails on 8f38f5a:
// checked by restoring 8f38f5a's publish() (NAT rules for NAT VMs only, no forwarding set):
// the VM without NAT was missing from the rules and nobody was in the forwarding set.
TEST_F(MicrovmHostTest, StartAdmitsEveryVmAndForwardsDnsOnlyForNatVms) {
  auto web = started(new_vm("0123456789abcdef", "web", /*nat=*/true));
  auto db = started(new_vm("fedcba9876543210", "db", /*nat=*/false));
  EXPECT_EQ(nat_.vms(),
            (std::vector<hostnat::NatVm>{
                {.vm_id = web.id, .ip = web.guest_ip, .tap = web.tap_name, .nat = true},
                {.vm_id = db.id, .ip = db.guest_ip, .tap = db.tap_name, .nat = false}}));
  EXPECT_EQ(dns_.forwarding().snapshot(), std::vector<std::string>{web.guest_ip});
  ASSERT_TRUE(host_.set_nat(db, true));
  EXPECT_EQ(dns_.forwarding().snapshot(), (std::vector<std::string>{web.guest_ip, db.guest_ip}));
  ASSERT_TRUE(host_.set_nat(web, false));
  EXPECT_EQ(dns_.forwarding().snapshot(), std::vector<std::string>{db.guest_ip});
  EXPECT_EQ(nat_.vms().size(), 2U);  // losing NAT does not take the VM off the bridge
  ASSERT_TRUE(host_.kill(db));
  ASSERT_TRUE(host_.release(db));
  EXPECT_TRUE(dns_.forwarding().snapshot().empty());
  EXPECT_EQ(nat_.vms(),
            (std::vector<hostnat::NatVm>{
                {.vm_id = web.id, .ip = web.guest_ip, .tap = web.tap_name, .nat = false}}));
  // The links the attach made: each TAP an isolated bridge port.
  EXPECT_TRUE(links_.links().at(web.tap_name).isolated);
}

// Regression for H1 (security review): every start writes a new token to the host's
// vms/<id>/agent.token (0600) and to the guest's work disk, and the agent accepts only it.
// Fails on 8f38f5a: there was no token (no file, and the agent served anyone).
TEST_F(MicrovmHostTest, EveryStartRotatesTheAgentToken) {
  auto vm = started(new_vm("0123456789abcdef", "web"));
  const std::string path = paths_.vm_dir(vm.id) + "/agent.token";
  auto first = sys::read_file(path);
  ASSERT_TRUE(first) << first.error().message;
  struct stat st{};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_TRUE(host_.guest_health(vm));
  ASSERT_TRUE(host_.shutdown(vm, std::chrono::seconds(5)));
  ASSERT_TRUE(host_.release(vm));
  // The fake runner's mkfs.ext4 made no real filesystem: start over with a new work disk.
  ASSERT_EQ(::unlink((paths_.vm_dir(vm.id) + "/work.ext4").c_str()), 0);
  vm = started(vm);
  auto second = sys::read_file(path);
  ASSERT_TRUE(second);
  EXPECT_NE(*first, *second);
  EXPECT_EQ(second->size(), 65u);
  auto health = host_.guest_health(vm);
  EXPECT_TRUE(health) << health.error().message;
}

// Regression for M9 (security review): a running exec does not make stop wait for it. Fails on
// 8f38f5a: shutdown's sync queued on the agent mutex behind the exec, which (no timeout_s)
// waits up to an hour (checked by making AgentClient's channel wait unbounded: this test hung
// until `timeout 60` stopped it).
TEST_F(MicrovmHostTest, ShutdownDoesNotWaitForARunningExec) {
  auto vm = started(new_vm("0123456789abcdef", "web"));
  vmm_.set_agent_hostility(testkit::AgentHostility::hanging_exec);
  std::optional<Expected<GuestExecResult>> result;
  std::thread exec([&] { result = host_.guest_exec(vm, {.argv = {"sleep", "3000"}}); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the exec holds the channel
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(host_.shutdown(vm, std::chrono::seconds(5)));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(8));
  EXPECT_FALSE(host_.alive(vm));
  exec.join();
  ASSERT_TRUE(result.has_value());
  EXPECT_FALSE(*result);  // the VM went away under it
}

// Regression for L9 (security review): timeout_s that is NaN, negative or huge causes no
// undefined conversion. Fails on 8f38f5a: `static_cast<std::int64_t>(timeout_s * 1000)` with
// 1e300 is undefined behaviour (not observable reliably), and NaN was sent on (nlohmann writes
// it as null, which the agent reads as "no timeout"): checked by removing the new check, the NaN
// exec ran.
TEST_F(MicrovmHostTest, ExecTimeoutsAreCheckedBeforeConversion) {
  auto vm = started(new_vm("0123456789abcdef", "web"));
  for (double bad : {std::nan(""), -1.0}) {
    auto refused = host_.guest_exec(vm, {.argv = {"true"}, .timeout_s = bad});
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code, Errc::invalid_argument);
  }
  auto huge = host_.guest_exec(vm, {.argv = {"true"}, .timeout_s = 1e300});
  ASSERT_TRUE(huge) << huge.error().message;
  EXPECT_EQ(huge->exit_code, 0);
}

// ADR 0009: a stream session through the VM's stream sockets (the fake VMM's in-process agent
// serves <runtime>/<id>.s<n>), authenticated with the VM's token, while the control channel
// stays free; a VMM exit ends the session with a clear error instead of a hang.
TEST_F(MicrovmHostTest, StreamSessionsRunBesideTheControlChannel) {
  auto vm = started(new_vm("0123456789abcdef", "web"));
  const auto launches = vmm_.launches();
  ASSERT_FALSE(launches.empty());
  EXPECT_EQ(launches.back().stream_socket_paths.size(), agentproto::kStreamChannels);
  EXPECT_EQ(launches.back().stream_socket_paths[3], paths_.runtime_dir + "/" + vm.id + ".s3");
  auto session = host_.open_stream(vm, {.argv = {"sh", "-c", "echo out; exit 9"}},
                                   std::chrono::seconds(5), {});
  ASSERT_TRUE(session) << session.error().message;
  EXPECT_GT(session->pid, 0);
  EXPECT_TRUE(host_.guest_health(vm));  // M9: not blocked by the session
  int out[2];
  ASSERT_EQ(::pipe(out), 0);
  auto outcome = agentproto::pump_host_session(session->channel.get(), {.stdout_fd = out[1]});
  ::close(out[1]);
  char buffer[16] = {};
  EXPECT_EQ(::read(out[0], buffer, sizeof buffer), 4);
  ::close(out[0]);
  EXPECT_EQ(outcome.error, "");
  EXPECT_EQ(outcome.exit_code, 9);
  EXPECT_EQ(std::string(buffer), "out\n");

  auto running = host_.open_stream(vm, {.argv = {"sleep", "60"}}, std::chrono::seconds(5), {});
  ASSERT_TRUE(running) << running.error().message;
  ASSERT_TRUE(host_.kill(vm));  // the VMM goes away mid-session
  auto cut = agentproto::pump_host_session(running->channel.get(), {});
  EXPECT_EQ(cut.error, "the guest closed the stream before the command exited");
}

TEST_F(MicrovmHostTest, StreamOfAStoppedVmIsUnavailable) {
  auto vm = started(new_vm("0123456789abcdef", "web"));
  ASSERT_TRUE(host_.kill(vm));
  auto session = host_.open_stream(vm, {.argv = {"true"}}, std::chrono::milliseconds(500), {});
  ASSERT_FALSE(session);
  EXPECT_EQ(session.error().code, Errc::unavailable);
}

}  // namespace
}  // namespace banger::vm
