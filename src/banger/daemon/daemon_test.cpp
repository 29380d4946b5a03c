// Component tests: a real Daemon (real store, real rpc::Server on a temp socket) over a fake
// Platform (FakeCommandRunner, FakeLinkOps, FakeVmm with an in-process guest agent), driven by
// a real rpc::Client. Nothing here touches the host's network, QEMU or tools.
#include "banger/daemon/daemon.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <set>
#include <thread>

#include "banger/agentproto/stream_pump.hpp"
#include "banger/api/bytes.hpp"
#include "banger/api/daemon.hpp"
#include "banger/api/image.hpp"
#include "banger/api/kernel.hpp"
#include "banger/api/vm.hpp"
#include "banger/posix/io.hpp"
#include "banger/posix/tcp.hpp"
#include "banger/posix/unix_socket.hpp"
#include "banger/rpc/client.hpp"
#include "banger/rpc/doc_check.hpp"
#include "banger/sys/fs.hpp"
#include "banger/testkit/eventually.hpp"
#include "banger/testkit/fake_command_runner.hpp"
#include "banger/testkit/fake_link_ops.hpp"
#include "banger/testkit/fake_vmlinux.hpp"
#include "banger/testkit/fake_vmm.hpp"
#include "banger/testkit/fixture_files.hpp"
#include "banger/testkit/temp_dir.hpp"

namespace banger::daemon {
namespace {

class FakeIpForwarding final : public hostnat::IpForwarding {
 public:
  Status enable() override { return {}; }
};

// What the fake ssh-keyscan reports as the guest's host key.
constexpr const char* kHostKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH0=";

class DaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // These tests run in the main network namespace: never let them create links.
    ::setenv("BANGER_REQUIRE_NETNS", "1", 1);
    paths::Environment env;
    env.vars["BANGER_HOME"] = dir_.path();
    env.uid = ::getuid();
    auto p = paths::resolve_paths(env);
    ASSERT_TRUE(p) << p.error().message;
    paths_ = *p;
    config_ = config::default_config(paths_);
    config_.dns_listen = "127.0.0.1:0";  // tests run side by side: any free loopback port
    config_.vm_defaults.vcpu = 2;
    config_.vm_defaults.memory_mib = 1024;
  }
  void TearDown() override { stop(); }

  Platform platform() {
    if (!fake_vmm_) {
      fake_vmm_ = std::make_unique<testkit::FakeVmm>(
          testkit::FakeVmmOptions{.serve_agent = serve_agent_, .agent_proc_root = guest_proc_});
    }
    return Platform{
        .runner = runner_,
        .links = links_,
        .ip_forwarding = ip_forwarding_,
        .clock = clock_,
        .random = random_,
        .vmms = vmm::VmmRegistry(*fake_vmm_),
        .find_tool = [](const std::string& tool) { return "/usr/bin/" + tool; },
        // The fake VMM burns 25 ticks between two samples and holds 64 MiB.
        .sample_process = [this](pid_t) -> Expected<sys::ProcessSample> {
          std::uint64_t ticks = samples_ += 25;
          return sys::ProcessSample{.cpu_ticks = ticks, .rss_bytes = 64 << 20};
        },
        .facts = {.host = {.cpus = 8, .memory_mib = 16384}, .vm_host = {}, .agent_binary = ""}};
  }
  void start() {
    auto d =
        Daemon::start({.paths = paths_, .config = config_, .owner_uid = ::getuid()}, platform());
    ASSERT_TRUE(d) << d.error().message;
    daemon_ = std::move(*d);
    thread_ = std::thread([this] { served_ = daemon_->run(); });
  }
  void stop() {
    shared_.reset();
    if (daemon_) {
      daemon_->stop();
      thread_.join();
      daemon_.reset();
    }
  }
  // Calls M on one shared connection and records that M was exercised.
  template <class M>
  Expected<typename M::Response> call(const typename M::Request& request) {
    if (!shared_) {
      shared_ = client();
    }
    called_.insert(std::string(M::kMethod));
    return shared_->template call<M>(request);
  }
  // A key pair where the config expects it, so nothing runs ssh-keygen.
  void write_ssh_key() {
    ASSERT_TRUE(sys::make_dirs(dir_.path() + "/state/ssh", 0700));
    ASSERT_TRUE(sys::write_file_atomic(config_.ssh_key_path, "private\n", 0600));
    ASSERT_TRUE(sys::write_file_atomic(config_.ssh_key_path + ".pub",
                                       "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH0= banger\n", 0644));
  }
  // An absolute dir holding a vmlinux kernelcat accepts, and a rootfs file.
  std::string write_artifacts() {
    std::string from = dir_.path() + "/artifacts";
    EXPECT_TRUE(sys::make_dirs(from, 0755));
    EXPECT_TRUE(sys::write_file_atomic(from + "/vmlinux", testkit::fake_vmlinux(), 0644));
    EXPECT_TRUE(sys::write_file_atomic(from + "/rootfs.ext4", std::string(4096, 'r'), 0644));
    return from;
  }
  // image.bundle/import/catalog and kernel.bundle/import of a bundle, with kernel k1 and image
  // reg stored; leaves what it found.
  void bundle_methods() {
    std::string pub = dir_.path() + "/pub";
    ASSERT_TRUE(sys::make_dirs(pub, 0755));
    auto kernel_bundle =
        call<api::KernelBundle>({.name = "k1", .output_dir = pub, .catalog = pub + "/c.json"});
    ASSERT_TRUE(kernel_bundle) << kernel_bundle.error().message;
    EXPECT_EQ(kernel_bundle->entry.url, kernel_bundle->path.substr(pub.size() + 1));
    auto k2 = call<api::KernelImport>({.name = "k2", .bundle = kernel_bundle->path});
    ASSERT_TRUE(k2) << k2.error().message;
    EXPECT_EQ(k2->kernel.source, "bundle " + kernel_bundle->path);
    ASSERT_TRUE(call<api::KernelDelete>({.name = "k2"}));
    auto both = call<api::KernelImport>({.name = "k3", .from = "/x", .bundle = "/y"});
    ASSERT_FALSE(both);
    EXPECT_EQ(both.error().code, Errc::invalid_argument);

    auto image_bundle = call<api::ImageBundle>({.name = "reg", .output_dir = pub});
    ASSERT_TRUE(image_bundle) << image_bundle.error().message;
    EXPECT_EQ(image_bundle->entry.kernel, "k1");
    // The stand-in rootfs is no ext4: the import checks that before recording anything.
    auto not_ext4 = call<api::ImageImport>({.path = image_bundle->path, .name = "reg2"});
    ASSERT_FALSE(not_ext4);
    EXPECT_NE(not_ext4.error().message.find("rootfs.ext4 is not an ext4 file system"),
              std::string::npos)
        << not_ext4.error().message;
    EXPECT_FALSE(call<api::ImageShow>({.name = "reg2"}));
    auto catalog = call<api::ImageCatalog>({});
    ASSERT_TRUE(catalog) << catalog.error().message;
    ASSERT_FALSE(catalog->entries.empty());
    EXPECT_EQ(catalog->entries.back().name, "tiny");
    EXPECT_EQ(catalog->entries.back().kind, "recipe");
  }

  // image.*, kernel.* (artifacts from write_artifacts() in `from`); leaves no image or kernel.
  void image_and_kernel_methods(const std::string& from) {
    auto imported = call<api::KernelImport>({.name = "k1", .from = from});
    ASSERT_TRUE(imported) << imported.error().message;
    EXPECT_EQ(imported->kernel.version, "6.1.0-28-cloud-amd64");
    auto kernels = call<api::KernelList>({.available = false});
    ASSERT_TRUE(kernels) << kernels.error().message;
    ASSERT_EQ(kernels->kernels.size(), 1u);
    auto verified = call<api::KernelShow>({.name = "k1", .verify = true});
    ASSERT_TRUE(verified) << verified.error().message;
    EXPECT_TRUE(verified->verified);
    auto catalog = call<api::KernelCatalog>({});
    ASSERT_TRUE(catalog) << catalog.error().message;
    EXPECT_FALSE(catalog->entries.empty());
    // Pulling needs the network: only the validation path runs here.
    auto pulled = call<api::KernelPull>({.name = "no-such-kernel", .force = false});
    ASSERT_FALSE(pulled);
    EXPECT_EQ(pulled.error().code, Errc::not_found);
    // Building compiles for minutes (vm.kernel_build): the request's validation runs here.
    auto kernel_built = call<api::KernelBuild>({.name = "fc", .from = "relative.tar.xz"});
    ASSERT_FALSE(kernel_built);
    EXPECT_EQ(kernel_built.error().code, Errc::invalid_argument);
    EXPECT_NE(kernel_built.error().message.find("--from \"relative.tar.xz\""), std::string::npos);

    auto registered = call<api::ImageRegister>(
        {.name = "reg", .rootfs = from + "/rootfs.ext4", .kernel_ref = "k1"});
    ASSERT_TRUE(registered) << registered.error().message;
    EXPECT_FALSE(registered->image.managed);
    EXPECT_EQ(call<api::ImageList>({})->images.size(), 1u);
    EXPECT_EQ(call<api::ImageShow>({.name = "reg"})->image.kernel, "k1");
    // Building needs debootstrap and friends: only the validation path runs here.
    auto built = call<api::ImageBuild>({.recipe = "no-such-recipe"});
    ASSERT_FALSE(built);
    EXPECT_EQ(built.error().code, Errc::not_found);
    // Pulling needs a registry (tests/oci): only the validation path runs here.
    auto image_pulled = call<api::ImagePull>({.reference = "Not/A/Reference"});
    ASSERT_FALSE(image_pulled);
    EXPECT_EQ(image_pulled.error().code, Errc::invalid_argument);
    EXPECT_NE(image_pulled.error().message.find("invalid image reference"), std::string::npos);
    // An empty pull cache lists nothing and prunes nothing.
    auto cached = call<api::ImageCacheList>({});
    ASSERT_TRUE(cached) << cached.error().message;
    EXPECT_TRUE(cached->blobs.empty());
    auto pruned = call<api::ImageCachePrune>({.dry_run = true});
    ASSERT_TRUE(pruned) << pruned.error().message;
    EXPECT_TRUE(pruned->removed.empty());
    EXPECT_TRUE(pruned->dry_run);
    auto bad_size = call<api::ImagePull>({.reference = "debian", .size = "lots"});
    ASSERT_FALSE(bad_size);
    EXPECT_NE(bad_size.error().message.find("--size"), std::string::npos);
    auto promoted = call<api::ImagePromote>({.name = "missing"});
    ASSERT_FALSE(promoted);
    EXPECT_EQ(promoted.error().code, Errc::not_found);
    bundle_methods();

    // Usage queries come from the store: a used kernel is refused, by name of its user.
    auto refused = call<api::KernelDelete>({.name = "k1"});
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code, Errc::failed_precondition);
    EXPECT_EQ(refused.error().message, "kernel \"k1\" is used by: image reg: delete those first");
    ASSERT_TRUE(call<api::VmCreate>({.name = "web", .image = "reg", .no_start = true}));
    auto image_in_use = call<api::ImageDelete>({.name = "reg"});
    ASSERT_FALSE(image_in_use);
    EXPECT_EQ(image_in_use.error().message,
              "image \"reg\" is used by vm web: delete those vms first");
    ASSERT_TRUE(call<api::VmDelete>({.names = {"web"}}));
    ASSERT_TRUE(call<api::ImageDelete>({.name = "reg"}));
    ASSERT_TRUE(call<api::KernelDelete>({.name = "k1"}));
    EXPECT_TRUE(call<api::KernelList>({.available = false})->kernels.empty());
  }

  // vm.* on VMs that do not run (one cannot even be prepared), and ssh_config (write_ssh_key()
  // first).
  void vm_methods_without_a_running_vm() {
    ASSERT_TRUE(call<api::VmCreate>({.name = "web", .no_start = true}));
    auto set =
        call<api::VmSet>({.name = "web", .vcpu = 3, .memory_mib = std::nullopt, .nat = true});
    ASSERT_TRUE(set) << set.error().message;
    EXPECT_EQ(set->vm.vcpu, 3);
    EXPECT_TRUE(set->vm.nat);
    auto logs = call<api::VmLogs>({.name = "web", .offset = 0, .max_bytes = 100});
    ASSERT_TRUE(logs) << logs.error().message;
    EXPECT_EQ(logs->state, "created");
    EXPECT_EQ(logs->text, "");
    auto not_running = [](const auto& result) {
      return !result && result.error().code == Errc::not_running;
    };
    EXPECT_TRUE(not_running(call<api::VmHealth>({.name = "web"})));
    EXPECT_TRUE(not_running(call<api::VmExec>({.name = "web", .argv = {"true"}})));
    EXPECT_TRUE(not_running(call<api::VmSshInfo>({.name = "web"})));
    EXPECT_TRUE(not_running(call<api::VmStream>({.name = "web", .argv = {"true"}})));
    EXPECT_TRUE(not_running(call<api::VmStatsMethod>({.names = {"web"}})));
    EXPECT_TRUE(not_running(call<api::VmForwardMethod>(
        {.name = "web", .ports = {{.host_port = 0, .guest_port = 80}}})));
    EXPECT_TRUE(not_running(call<api::VmUnforwardMethod>(
        {.name = "web", .ports = {{.host_port = 8080, .guest_port = 80}}})));
    // A stopped VM keeps its workspace record (vm workspace prepare needs it running, not this).
    auto recorded = call<api::VmWorkspaceRecord>({.name = "web",
                                                  .path = "/src/app",
                                                  .repo = "app",
                                                  .head = std::string(40, 'a'),
                                                  .branch = "main"});
    ASSERT_TRUE(recorded) << recorded.error().message;
    EXPECT_EQ(recorded->vm.workspace.path, "/src/app");
    EXPECT_EQ(recorded->vm.workspace.head, std::string(40, 'a'));
    EXPECT_FALSE(recorded->vm.workspace.prepared_at.empty());
    EXPECT_EQ(call<api::VmShow>({.name = "web"})->vm.workspace.repo, "app");
    auto bad = call<api::VmWorkspaceRecord>({.name = "web", .path = "relative", .repo = "app"});
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().code, Errc::invalid_argument);
    auto ports = call<api::VmPorts>({.names = {"web"}});
    ASSERT_TRUE(ports) << ports.error().message;
    ASSERT_EQ(ports->vms.size(), 1u);
    EXPECT_EQ(ports->vms[0].error, "vm \"web\" is created: start it with banger vm start web");
    EXPECT_TRUE(call<api::VmStatsMethod>({.names = {}})->vms.empty());  // nothing runs
    auto stopped = call<api::VmStop>({.names = {"web"}});
    ASSERT_FALSE(stopped);
    EXPECT_EQ(stopped.error().code, Errc::failed_precondition);
    EXPECT_FALSE(call<api::VmKill>({.names = {"web"}}));
    EXPECT_EQ(call<api::VmStart>({.names = {}}).error().code, Errc::invalid_argument);

    // An image that neither exists nor has a recipe is refused before anything is recorded.
    auto typo = call<api::VmCreate>({.name = "db", .image = "no-such-image", .no_start = true});
    ASSERT_FALSE(typo);
    EXPECT_EQ(typo.error().code, Errc::not_found);
    EXPECT_FALSE(call<api::VmShow>({.name = "db"}));
    // The default image is a recipe (built on first use), which this fake platform cannot
    // build: start and restart fail before the VMM and leave the reason.
    ASSERT_TRUE(call<api::VmCreate>({.name = "db", .no_start = true}));
    auto started = call<api::VmStart>({.names = {"db"}});
    ASSERT_FALSE(started);
    EXPECT_EQ(started.error().code, Errc::not_found);  // the agent binary the build needs
    EXPECT_FALSE(call<api::VmRestart>({.names = {"db"}}));
    EXPECT_EQ(call<api::VmShow>({.name = "db"})->vm.state, "error");
    auto pruned = call<api::VmPrune>({.dry_run = true});
    ASSERT_TRUE(pruned);
    // Listed by created_at (whole seconds of the real clock), then name: sort for the set.
    std::sort(pruned->deleted.begin(), pruned->deleted.end());
    EXPECT_EQ(pruned->deleted, (std::vector<std::string>{"db", "web"}));
    EXPECT_EQ(call<api::VmList>({})->vms.size(), 2u);  // dry run: both still there

    auto ssh = call<api::SshConfig>({});
    ASSERT_TRUE(ssh) << ssh.error().message;
    EXPECT_EQ(ssh->path, paths_.ssh_config);
    EXPECT_TRUE(sys::path_exists(paths_.ssh_config));
  }

  // A guest /proc for the fake agent: uptime 12.5 s, boot id b00t, one TCP listener on
  // 0.0.0.0:8080 owned by httpd (pid 100).
  void write_guest_proc() {
    std::string proc = dir_.path() + "/guest-proc";
    testkit::write_fixture(proc + "/uptime", "12.50 3.00\n");
    testkit::write_fixture(proc + "/sys/kernel/random/boot_id", "b00t\n");
    testkit::write_fixture(
        proc + "/net/tcp",
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  "
        "timeout inode\n"
        "   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        "
        "0 4242 1 0000000000000000 100 0 0 10 0\n");
    testkit::write_fixture(proc + "/100/comm", "httpd\n");
    testkit::link_fixture(proc + "/100/fd/3", "socket:[4242]");
    guest_proc_ = proc;
  }
  // Starts the daemon with what a VM needs to boot on the fake VMM with a real in-process agent:
  // kernel k1 and image "reg" registered, the ssh key, a guest /proc, ssh-keyscan answering, and
  // the bridge on loopback (the host's HTTP probe of guest ports then stays on this machine and
  // is refused at once).
  void start_with_a_bootable_image() {
    write_ssh_key();
    std::string from = write_artifacts();
    write_guest_proc();
    config_.bridge_ip = "127.77.0.1";
    runner_.on("ssh-keyscan",
               {.exit_code = 0, .out = "127.77.0.2 " + std::string(kHostKey) + "\n"});
    serve_agent_ = true;
    start();
    ASSERT_TRUE(call<api::KernelImport>({.name = "k1", .from = from}));
    ASSERT_TRUE(call<api::ImageRegister>(
        {.name = "reg", .rootfs = from + "/rootfs.ext4", .kernel_ref = "k1"}));
  }
  rpc::Client client() {
    auto c = rpc::Client::connect(paths_.socket);
    EXPECT_TRUE(c) << c.error().message;
    return std::move(*c);
  }

  testkit::TempDir dir_;
  testkit::FakeCommandRunner runner_;
  testkit::FakeLinkOps links_;
  FakeIpForwarding ip_forwarding_;
  // Real time: the fake VMM's guest agent answers over real sockets, and readiness and the
  // stats window then take real (short) time; nothing here waits on a timeout.
  base::SystemClock clock_;
  base::Mt19937Random random_{7};
  // cpu ticks the fake process sampler reports (25 more per sample; also from the poller)
  std::atomic<std::uint64_t> samples_{0};
  bool serve_agent_ = false;          // set before start(): FakeVmm serves a guest agent
  std::string guest_proc_ = "/proc";  // what that agent reads (write_guest_proc())
  std::unique_ptr<testkit::FakeVmm> fake_vmm_;
  paths::Paths paths_;
  config::Config config_;
  std::unique_ptr<Daemon> daemon_;
  std::thread thread_;
  Status served_;
  std::optional<rpc::Client> shared_;
  std::set<std::string> called_;
};

TEST_F(DaemonTest, AnswersPingAndVersion) {
  start();
  auto c = client();
  auto ping = c.call<api::Ping>({});
  ASSERT_TRUE(ping) << ping.error().message;
  EXPECT_TRUE(ping->pong);
  EXPECT_EQ(ping->pid, ::getpid());
  auto version = c.call<api::Version>({});
  ASSERT_TRUE(version);
  EXPECT_EQ(version->protocol, 1);
}

TEST_F(DaemonTest, SecondInstanceRefusesWhileOneRuns) {
  start();
  auto second =
      Daemon::start({.paths = paths_, .config = config_, .owner_uid = ::getuid()}, platform());
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, Errc::failed_precondition);
  EXPECT_EQ(second.error().message,
            "another bangerd (pid " + std::to_string(::getpid()) + ") is using the state dir " +
                paths_.state_dir +
                "; stop it with `banger daemon stop` (run with the same XDG_RUNTIME_DIR / "
                "BANGER_SOCKET as the one that started it)");
}

// Regression for M6 (security review): a second daemon on the same state dir refuses even when
// its runtime dir (socket, socket lock) is another one, as with two shells of one user where
// only one has XDG_RUNTIME_DIR. Fails on 8f38f5a: ran with the state lock taken at
// <runtime>/state.lock instead (8f38f5a's placement, lock per runtime dir): the second daemon
// started on the same store (listening on r2's socket).
TEST_F(DaemonTest, SecondInstanceOnTheSameStateDirRefusesWhateverItsRuntimeDir) {
  // Two environments of one user that differ only in XDG_RUNTIME_DIR.
  auto paths_with_runtime = [&](const std::string& runtime) {
    paths::Environment env;
    env.uid = ::getuid();
    env.home = dir_.path() + "/home";
    env.vars["XDG_RUNTIME_DIR"] = dir_.path() + "/" + runtime;
    auto p = paths::resolve_paths(env);
    EXPECT_TRUE(p) << p.error().message;
    return *p;
  };
  paths_ = paths_with_runtime("r1");
  auto other = paths_with_runtime("r2");
  ASSERT_EQ(other.state_dir, paths_.state_dir);
  auto dns_listen = config_.dns_listen;
  config_ = config::default_config(paths_);
  config_.dns_listen = dns_listen;
  start();
  auto second =
      Daemon::start({.paths = other, .config = config_, .owner_uid = ::getuid()}, platform());
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, Errc::failed_precondition);
  std::string expected = "another bangerd (pid " + std::to_string(::getpid()) +
                         ") is using the state dir " + paths_.state_dir + ";";
  EXPECT_EQ(second.error().message.rfind(expected, 0), 0u) << second.error().message;
  EXPECT_FALSE(sys::path_exists(other.socket)) << "the second daemon must not even listen";
}

TEST_F(DaemonTest, ShutdownMethodRepliesThenStops) {
  start();
  auto c = client();
  ASSERT_TRUE(c.call<api::Shutdown>({}));
  thread_.join();
  EXPECT_TRUE(served_);
  daemon_.reset();
  EXPECT_FALSE(rpc::Client::connect(paths_.socket));
}

TEST_F(DaemonTest, ConfigDefaultsFillWhatVmCreateLeavesOut) {
  config_.default_image = "tiny";
  config_.default_kernel = "debian-cloud";
  config_.vm_defaults.disk_size_mib = 2048;
  start();
  auto c = client();
  api::VmCreate::Request create;
  create.name = "web";
  create.no_start = true;
  auto created = c.call<api::VmCreate>(create);
  ASSERT_TRUE(created) << created.error().message;
  EXPECT_EQ(created->vm.image, "tiny");
  EXPECT_EQ(created->vm.kernel, "debian-cloud");
  EXPECT_EQ(created->vm.vcpu, 2);
  EXPECT_EQ(created->vm.memory_mib, 1024);
  EXPECT_EQ(created->vm.disk_size_mib, 2048);
}

TEST_F(DaemonTest, ConfiguredRootfsOverlaySizeIsRecordedAndShown) {
  config_.vm_defaults.rootfs_overlay_size_mib = 6144;
  start();
  auto c = client();
  api::VmCreate::Request create;
  create.name = "web";
  create.no_start = true;
  auto created = c.call<api::VmCreate>(create);
  ASSERT_TRUE(created) << created.error().message;
  EXPECT_EQ(created->vm.rootfs_size_mib, 6144);
  auto shown = c.call<api::VmShow>({.name = "web"});
  ASSERT_TRUE(shown) << shown.error().message;
  EXPECT_EQ(shown->vm.rootfs_size_mib, 6144);
}

TEST_F(DaemonTest, CreateListShowDeleteRecords) {
  start();
  auto c = client();
  api::VmCreate::Request create;
  create.name = "web";
  create.no_start = true;
  auto created = c.call<api::VmCreate>(create);
  ASSERT_TRUE(created) << created.error().message;
  EXPECT_EQ(created->vm.state, "created");
  EXPECT_EQ(created->vm.vcpu, 2);
  EXPECT_EQ(created->vm.memory_mib, 1024);
  EXPECT_EQ(created->vm.disk_size_mib, 4096);
  EXPECT_EQ(created->vm.rootfs_size_mib, 0);  // no [vm_defaults] rootfs_overlay_size
  EXPECT_EQ(created->vm.image, "debian-bookworm");

  auto again = c.call<api::VmCreate>(create);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, Errc::already_exists);
  EXPECT_EQ(again.error().message, "vm \"web\" already exists");
  EXPECT_EQ(again.error().op_id.rfind("op-", 0), 0u);

  auto listed = c.call<api::VmList>({});
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->vms.size(), 1u);
  EXPECT_EQ(listed->vms[0].name, "web");

  auto shown = c.call<api::VmShow>({.name = created->vm.id.substr(0, 6)});
  ASSERT_TRUE(shown) << shown.error().message;
  EXPECT_EQ(shown->vm.name, "web");

  auto deleted = c.call<api::VmDelete>({.names = {"web"}});
  ASSERT_TRUE(deleted);
  EXPECT_EQ(deleted->deleted, (std::vector<std::string>{"web"}));
  EXPECT_TRUE(c.call<api::VmList>({})->vms.empty());
}

TEST_F(DaemonTest, DeleteWithAnUnknownNameDeletesNothing) {
  start();
  auto c = client();
  ASSERT_TRUE(c.call<api::VmCreate>({.name = "a", .no_start = true}));
  auto deleted = c.call<api::VmDelete>({.names = {"a", "nope"}});
  ASSERT_FALSE(deleted);
  EXPECT_EQ(deleted.error().code, Errc::not_found);
  EXPECT_EQ(c.call<api::VmList>({})->vms.size(), 1u);
}

TEST_F(DaemonTest, StartFailureLeavesTheVmInErrorWithTheReason) {
  // The default image is a recipe this fake platform cannot build: the start fails in prepare.
  start();
  auto c = client();
  auto created = c.call<api::VmCreate>({.name = "web"});
  ASSERT_FALSE(created);
  EXPECT_EQ(created.error().code, Errc::not_found);
  EXPECT_NE(created.error().message.find("building image debian-bookworm"), std::string::npos)
      << created.error().message;
  auto shown = c.call<api::VmShow>({.name = "web"});
  ASSERT_TRUE(shown);
  EXPECT_EQ(shown->vm.state, "error");
  EXPECT_NE(shown->vm.last_error.find("starting vm \"web\": "), std::string::npos)
      << shown->vm.last_error;
  EXPECT_EQ(shown->vm.tap, "");
  EXPECT_EQ(shown->vm.pid, 0);
}

TEST_F(DaemonTest, AnImageOrKernelThatCannotBeHadIsRefusedBeforeAnythingIsRecorded) {
  start();
  auto c = client();
  auto image = c.call<api::VmCreate>({.name = "web", .image = "no-such-image"});
  ASSERT_FALSE(image);
  EXPECT_EQ(image.error().code, Errc::not_found);
  EXPECT_EQ(image.error().message,
            "image \"no-such-image\" not found: `banger image list` shows the images, `banger "
            "image list --available` what `banger image pull` can make");
  auto kernel = c.call<api::VmCreate>({.name = "web", .kernel = "no-such-kernel"});
  ASSERT_FALSE(kernel);
  EXPECT_EQ(kernel.error().code, Errc::not_found);
  EXPECT_NE(kernel.error().message.find("kernel \"no-such-kernel\" not found"), std::string::npos)
      << kernel.error().message;
  EXPECT_TRUE(c.call<api::VmList>({})->vms.empty());
}

TEST_F(DaemonTest, InvalidNameIsABadRequestSayingWhatIsAllowed) {
  start();
  auto c = client();
  auto created = c.call<api::VmCreate>({.name = "Web_1", .no_start = true});
  ASSERT_FALSE(created);
  EXPECT_EQ(created.error().code, Errc::invalid_argument);
  EXPECT_EQ(created.error().message,
            "invalid vm name \"Web_1\": use 1-63 characters: lowercase letters, digits and '-', "
            "starting with a letter or digit");
}

TEST_F(DaemonTest, ParallelCreatesOfOneNameYieldOneVm) {
  start();
  std::atomic<int> ok{0};
  std::atomic<int> exists{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 20; ++i) {
    threads.emplace_back([&] {
      auto c = rpc::Client::connect(paths_.socket);
      ASSERT_TRUE(c);
      auto r = c->call<api::VmCreate>({.name = "web", .no_start = true});
      if (r) {
        ++ok;
      } else if (r.error().code == Errc::already_exists) {
        ++exists;
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_EQ(ok.load(), 1);
  EXPECT_EQ(exists.load(), 19);
  EXPECT_EQ(client().call<api::VmList>({})->vms.size(), 1u);
}

TEST_F(DaemonTest, DoctorReportsEveryCheck) {
  start();
  auto report = client().call<api::Doctor>({});
  ASSERT_TRUE(report) << report.error().message;
  std::vector<std::string> names;
  for (const auto& check : report->checks) {
    names.push_back(check.name);
  }
  EXPECT_EQ(names,
            (std::vector<std::string>{
                "config", "architecture", "kvm", "vmm", "firecracker", "jailer", "host tools",
                "/dev/net/tun", "runtime dir", "store", "vm defaults", "rootfs strategy", "vhost",
                "bridge", "guest agent", "dns listener", "dns routing", "nat", "ssh-config"}));
  EXPECT_EQ(report->checks[0].detail, "no " + paths_.config_file + ": every default");
  EXPECT_EQ(report->checks[10].detail,
            "vcpu 2 (config), memory 1024 MiB (config), disk 4096 MiB (built-in floor)");
}

TEST_F(DaemonTest, ImageAndKernelMethodsOverTheFakePlatform) {
  std::string from = write_artifacts();
  start();
  image_and_kernel_methods(from);
}

TEST_F(DaemonTest, VmMethodsOnAVmThatIsNotRunning) {
  write_ssh_key();
  start();
  vm_methods_without_a_running_vm();
}

TEST_F(DaemonTest, VmCreateRefusesAnUnknownReadinessBeforeRecordingAnything) {
  write_ssh_key();
  start();
  auto created = call<api::VmCreate>({.name = "web", .no_start = true, .ready = "sshd\x1b[2J"});
  ASSERT_FALSE(created);
  EXPECT_EQ(created.error().code, Errc::invalid_argument);
  EXPECT_EQ(created.error().message, "ready must be \"ssh\" or \"agent\", not \"sshd\\x1b[2J\"");
  EXPECT_TRUE(call<api::VmList>({})->vms.empty());
  EXPECT_TRUE(call<api::VmCreate>({.name = "web", .no_start = true, .ready = "agent"}));
}

// vm.create's per-VM vmm is decided as the config key is, and overrides it (issue 13 item 6).
TEST_F(DaemonTest, APerVmVmmIsDecidedLikeTheConfigKeyAndOverridesIt) {
  config_.vmm = config::VmmChoice::firecracker;  // refused for VMs that do not choose
  start();
  auto refused = call<api::VmCreate>({.name = "a", .no_start = true});
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, Errc::failed_precondition);
  auto chosen = call<api::VmCreate>({.name = "b", .no_start = true, .vmm = "qemu"});
  ASSERT_TRUE(chosen) << chosen.error().message;
  EXPECT_EQ(chosen->vm.vmm, "qemu");
  auto automatic = call<api::VmCreate>({.name = "c", .no_start = true, .vmm = "auto"});
  ASSERT_TRUE(automatic) << automatic.error().message;
  EXPECT_EQ(automatic->vm.vmm, "qemu");
  auto firecracker = call<api::VmCreate>({.name = "d", .no_start = true, .vmm = "firecracker"});
  ASSERT_FALSE(firecracker);
  EXPECT_EQ(firecracker.error().code, Errc::failed_precondition);
  EXPECT_EQ(firecracker.error().message,
            "vmm firecracker: no firecracker binary was found (firecracker_bin or PATH): install "
            "it (docs/firecracker.md) or set vmm = \"qemu\"");
  auto unknown = call<api::VmCreate>({.name = "e", .no_start = true, .vmm = "kvmtool\x1b"});
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, Errc::invalid_argument);
  EXPECT_EQ(unknown.error().message,
            "unknown vmm \"kvmtool\\x1b\": use " + std::string(model::kVmmChoiceNames.allowed()));
  auto listed = call<api::VmList>({});
  ASSERT_TRUE(listed);
  EXPECT_EQ(listed->vms.size(), 2u);  // b and c: nothing recorded for the refused ones
}

TEST_F(DaemonTest, EveryRegisteredMethodIsExercisedOverTheFakePlatform) {
  write_ssh_key();
  std::string from = write_artifacts();
  start();
  image_and_kernel_methods(from);
  vm_methods_without_a_running_vm();
  ASSERT_TRUE(call<api::Ping>({}));
  ASSERT_TRUE(call<api::Version>({}));
  ASSERT_TRUE(call<api::Doctor>({}));
  auto registered = daemon_->methods();
  ASSERT_TRUE(call<api::Shutdown>({}));
  thread_.join();
  daemon_.reset();
  EXPECT_EQ(called_, std::set<std::string>(registered.begin(), registered.end()));
}

TEST_F(DaemonTest, AVmBootsOnTheFakeVmmAndAnswersThroughItsAgent) {
  ASSERT_NO_FATAL_FAILURE(start_with_a_bootable_image());

  auto created = call<api::VmCreate>({.name = "web", .image = "reg"});
  ASSERT_TRUE(created) << created.error().message;
  EXPECT_EQ(created->vm.state, "running");
  EXPECT_EQ(created->vm.guest_ip, "127.77.0.2");
  ASSERT_EQ(fake_vmm_->launches().size(), 1u);
  EXPECT_EQ(fake_vmm_->launches()[0].name, "web");

  auto logs = call<api::VmLogs>({.name = "web", .offset = 0, .max_bytes = 1 << 20});
  ASSERT_TRUE(logs) << logs.error().message;
  EXPECT_EQ(logs->state, "running");
  EXPECT_NE(logs->text.find("[fake-vmm] web booted"), std::string::npos) << logs->text;
  EXPECT_EQ(logs->next_offset, static_cast<std::int64_t>(logs->text.size()));

  auto health = call<api::VmHealth>({.name = "web"});
  ASSERT_TRUE(health) << health.error().message;
  EXPECT_EQ(health->uptime_s, 12.5);
  EXPECT_EQ(health->boot_id, "b00t");

  auto ports = call<api::VmPorts>({.names = {"web"}});
  ASSERT_TRUE(ports) << ports.error().message;
  ASSERT_EQ(ports->vms.size(), 1u);
  ASSERT_EQ(ports->vms[0].error, "");
  ASSERT_EQ(ports->vms[0].ports.size(), 1u);
  EXPECT_EQ(ports->vms[0].ports[0].port, 8080);
  EXPECT_EQ(ports->vms[0].ports[0].endpoint, "web.vm:8080");

  auto exec = call<api::VmExec>({.name = "web", .argv = {"echo", "hello"}});
  ASSERT_TRUE(exec) << exec.error().message;
  EXPECT_EQ(exec->exit_code, 0);
  EXPECT_EQ(api::base64_decode(exec->stdout_b64), std::optional<std::string>("hello\n"));

  // vm.stream: the reply carries the agent's stream channel; the frames then flow between this
  // process and the guest's command without the daemon (ADR 0009).
  {
    auto opened = client().call_with_fd<api::VmStream>(
        {.name = "web", .argv = {"sh", "-c", "tr a-z A-Z; echo err >&2; exit 3"}});
    ASSERT_TRUE(opened) << opened.error().message;
    EXPECT_GT(opened->first.pid, 0);
    int in[2];
    int out[2];
    int err[2];
    ASSERT_EQ(::pipe(in), 0);
    ASSERT_EQ(::pipe(out), 0);
    ASSERT_EQ(::pipe(err), 0);
    ASSERT_EQ(::write(in[1], "streamed\n", 9), 9);
    ::close(in[1]);
    auto outcome = agentproto::pump_host_session(
        opened->second.get(), {.stdin_fd = in[0], .stdout_fd = out[1], .stderr_fd = err[1]});
    ::close(in[0]);
    ::close(out[1]);
    ::close(err[1]);
    EXPECT_EQ(outcome.error, "");
    EXPECT_EQ(outcome.exit_code, 3);
    char buffer[64] = {};
    EXPECT_EQ(::read(out[0], buffer, sizeof buffer), 9);
    EXPECT_EQ(std::string(buffer, 9), "STREAMED\n");
    EXPECT_EQ(::read(err[0], buffer, sizeof buffer), 4);
    ::close(out[0]);
    ::close(err[0]);
    auto empty = client().call_with_fd<api::VmStream>({.name = "web", .argv = {}});
    ASSERT_FALSE(empty);
    EXPECT_EQ(empty.error().code, Errc::invalid_argument);
    // A PTY session's size is checked before anything reaches the guest.
    for (auto [rows, cols] : {std::pair<std::int64_t, std::int64_t>{0, 80}, {24, 65536}, {-1, 1}}) {
      auto bad = client().call_with_fd<api::VmStream>(
          {.name = "web", .argv = {"sh"}, .pty = true, .rows = rows, .cols = cols});
      ASSERT_FALSE(bad);
      EXPECT_EQ(bad.error().code, Errc::invalid_argument);
      EXPECT_NE(bad.error().message.find("rows and cols are 1 to 65535"), std::string::npos)
          << bad.error().message;
    }
  }

  auto ssh = call<api::VmSshInfo>({.name = "web"});
  ASSERT_TRUE(ssh) << ssh.error().message;
  EXPECT_EQ(ssh->ip, "127.77.0.2");

  auto stats = call<api::VmStatsMethod>({.names = {}});  // no names: every running VM
  ASSERT_TRUE(stats) << stats.error().message;
  ASSERT_EQ(stats->vms.size(), 1u);
  EXPECT_EQ(stats->vms[0].name, "web");
  EXPECT_EQ(stats->vms[0].rss_bytes, 64 << 20);
  EXPECT_GT(stats->vms[0].cpu_percent, 0.0);

  auto stopped = call<api::VmStop>({.names = {"web"}});
  ASSERT_TRUE(stopped) << stopped.error().message;
  EXPECT_EQ(stopped->vms[0].state, "stopped");
  EXPECT_EQ(fake_vmm_->agent_syncs(), 1);
}

// vm kill --signal: the signal reaches the VM's VMM; one it exits from (SIGTERM: QEMU exits
// cleanly) stops the VM and releases its TAP as SIGKILL does; one it survives (SIGUSR1) leaves
// it running. A hostile client's signal outside the shared table (SIGSTOP, 0, -1, a number of
// its choosing) is refused before any VMM is signalled.
TEST_F(DaemonTest, VmKillSendsTheRequestedSignalToTheVmm) {
  ASSERT_NO_FATAL_FAILURE(start_with_a_bootable_image());
  auto created = call<api::VmCreate>({.name = "web", .image = "reg"});
  ASSERT_TRUE(created) << created.error().message;
  const std::string pid = std::to_string(created->vm.pid);
  ASSERT_NE(created->vm.tap, "");

  for (const std::string hostile : {"SIGSTOP", "STOP", "19", "0", "-1", "9999", "", "SIGKILL "}) {
    SCOPED_TRACE(hostile);
    auto refused = call<api::VmKill>({.names = {"web"}, .signal = hostile});
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code, Errc::invalid_argument);
  }
  for (const auto& c : fake_vmm_->calls()) {
    EXPECT_EQ(c.rfind("signal ", 0), std::string::npos) << c;
  }
  EXPECT_EQ(call<api::VmShow>({.name = "web"})->vm.state, "running");

  auto survived = call<api::VmKill>({.names = {"web"}, .signal = "SIGUSR1"});
  ASSERT_TRUE(survived) << survived.error().message;
  EXPECT_EQ(survived->vms[0].state, "running");
  EXPECT_EQ(fake_vmm_->calls().back(), "signal " + pid + " " + std::to_string(SIGUSR1));
  auto shown = call<api::VmShow>({.name = "web"});
  EXPECT_EQ(shown->vm.state, "running");
  EXPECT_EQ(shown->vm.tap, created->vm.tap);
  ASSERT_TRUE(call<api::VmHealth>({.name = "web"}));  // still answers

  auto stopped = call<api::VmKill>({.names = {"web"}, .signal = "SIGTERM"});
  ASSERT_TRUE(stopped) << stopped.error().message;
  EXPECT_EQ(stopped->vms[0].state, "stopped");
  EXPECT_EQ(fake_vmm_->calls().back(), "signal " + pid + " " + std::to_string(SIGTERM));
  shown = call<api::VmShow>({.name = "web"});
  EXPECT_EQ(shown->vm.state, "stopped");
  EXPECT_EQ(shown->vm.tap, "");
  EXPECT_EQ(shown->vm.pid, 0);

  // The default is still SIGKILL (a second VM: this fake platform cannot restart one).
  ASSERT_TRUE(call<api::VmCreate>({.name = "db", .image = "reg"}));
  auto killed = call<api::VmKill>({.names = {"db"}});
  ASSERT_TRUE(killed) << killed.error().message;
  EXPECT_EQ(killed->vms[0].state, "stopped");
  EXPECT_EQ(fake_vmm_->calls().back().rfind("kill ", 0), 0u) << fake_vmm_->calls().back();
}

// A request through `vm forward` to a "guest" server: the fake VM's address is on loopback
// (127.77.0.2), so the daemon's forwarder carries real bytes to a listener this test runs there.
TEST_F(DaemonTest, ForwardCarriesARequestToTheGuestAndStopRemovesIt) {
  ASSERT_NO_FATAL_FAILURE(start_with_a_bootable_image());
  auto guest = posix::listen_tcp4("127.77.0.2", 0);
  ASSERT_TRUE(guest) << guest.error().message();
  ASSERT_TRUE(posix::set_nonblocking(guest->get(), false));
  const int guest_port = *posix::local_port(guest->get());
  auto taken = posix::listen_tcp4("127.0.0.1", 0);
  ASSERT_TRUE(taken);
  const int taken_port = *posix::local_port(taken->get());

  ASSERT_TRUE(call<api::VmCreate>(
      {.name = "web", .image = "reg", .publish = {{.host_port = 0, .guest_port = guest_port}}}));
  auto shown = call<api::VmShow>({.name = "web"});
  ASSERT_TRUE(shown) << shown.error().message;
  ASSERT_EQ(shown->vm.publish.size(), 1u);
  ASSERT_EQ(shown->vm.forwards.size(), 1u);
  EXPECT_TRUE(shown->vm.forwards[0].published);
  EXPECT_EQ(shown->vm.forwards[0].host_address, "127.0.0.1");

  // Hostile input is refused before anything is bound.
  for (const auto& bad : std::vector<api::PortForwardSpec>{
           {.host_port = -1, .guest_port = 80},
           {.host_port = 65536, .guest_port = 80},
           {.host_port = 0, .guest_port = 0},
           {.host_address = "127.0.0.1; rm -rf /", .host_port = 0, .guest_port = 80},
           {.host_address = "::1", .host_port = 0, .guest_port = 80}}) {
    auto refused = call<api::VmForwardMethod>({.name = "web", .ports = {bad}});
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code, Errc::invalid_argument) << refused.error().message;
  }
  auto in_use =
      call<api::VmForwardMethod>({.name = "web",
                                  .ports = {{.host_port = 0, .guest_port = 81},
                                            {.host_port = taken_port, .guest_port = guest_port}}});
  ASSERT_FALSE(in_use);
  EXPECT_EQ(in_use.error().code, Errc::already_exists);
  EXPECT_NE(in_use.error().message.find("host port 127.0.0.1:" + std::to_string(taken_port) +
                                        " is already in use"),
            std::string::npos)
      << in_use.error().message;
  EXPECT_EQ(call<api::VmShow>({.name = "web"})->vm.forwards.size(), 1u);  // nothing half-bound

  auto forwarded = call<api::VmForwardMethod>(
      {.name = "web", .ports = {{.host_port = 0, .guest_port = guest_port}}});
  ASSERT_TRUE(forwarded) << forwarded.error().message;
  ASSERT_EQ(forwarded->bound.size(), 1u);
  EXPECT_EQ(forwarded->forwards.size(), 2u);
  const int host_port = forwarded->bound[0].host_port;

  std::thread server([&] {
    posix::Fd conn(::accept4(guest->get(), nullptr, nullptr, SOCK_CLOEXEC));
    std::string request;
    // Reads the first line only: closing with the rest unread resets the connection right
    // after the reply, which must still arrive.
    (void)posix::read_until(conn.get(), '\n', request, 1024);
    (void)posix::write_all(conn.get(), "HTTP/1.0 200 OK\r\n\r\nhello from the guest\n");
  });
  auto client = posix::start_connect_tcp4("127.0.0.1", host_port);
  ASSERT_TRUE(client);
  ASSERT_TRUE(
      posix::wait_ready(client->fd.get(), POLLOUT, posix::deadline_in(std::chrono::seconds(5))));
  ASSERT_TRUE(posix::write_all(client->fd.get(), "GET / HTTP/1.0\r\n\r\n"));
  std::string reply;
  ASSERT_TRUE(posix::read_until(client->fd.get(), '\0', reply, 4096,
                                posix::deadline_in(std::chrono::seconds(10))));
  server.join();
  EXPECT_EQ(reply, "HTTP/1.0 200 OK\r\n\r\nhello from the guest\n");

  auto ports = call<api::VmPorts>({.names = {"web"}});
  ASSERT_TRUE(ports);
  EXPECT_EQ(ports->vms[0].forwards.size(), 2u);
  auto removed = call<api::VmUnforwardMethod>(
      {.name = "web", .ports = {{.host_address = "127.0.0.1", .host_port = host_port}}});
  ASSERT_TRUE(removed) << removed.error().message;
  EXPECT_EQ(removed->forwards.size(), 1u);

  ASSERT_TRUE(call<api::VmStop>({.names = {"web"}}));
  EXPECT_TRUE(call<api::VmShow>({.name = "web"})->vm.forwards.empty());
  // The published port is free again: something else may bind it.
  EXPECT_TRUE(posix::listen_tcp4("127.0.0.1", shown->vm.forwards[0].host_port));
}

// This process's resident set: "VmHWM" (peak) or "VmRSS" (now), in bytes.
std::size_t memory_of_this_process(const std::string& field) {
  const auto status = sys::read_file("/proc/self/status").value_or("");
  const auto at = status.find(field + ":");
  return at == std::string::npos ? 0 : std::stoull(status.substr(at + field.size() + 1)) * 1024;
}

// Acceptance for issue 10 and regression for H3, H4 and M1 (security review): a guest agent
// that streams junk, lists 40,000 ports, sends a 90 MiB reply or deeply nested JSON makes
// `vm health` / `vm ports` fail (or, for ports, answer capped) within the calls' 5 s deadline,
// the daemon's memory grows by a bounded amount, and the daemon stays alive and can stop the
// VM. Fails on 8f38f5a: this test was not run against 8f38f5a itself; its parts were, one by
// one, at lower levels: 40,000 listed ports meant 40,000 probe threads (the review's
// ports_threads.cpp: std::terminate), a streaming agent held a 300 ms call 3.46 s
// (AgentClient.StreamingGuestIsCutOffAtTheDeadline with 8f38f5a's read loop), a 90 MiB nested
// reply cost 85.8 s and +3.58 GB (AgentClient.NinetyMebibyteReplyIsSkippedWithBoundedMemory
// with 8f38f5a's limit and no precheck), and stop behind an exec hung
// (MicrovmHostTest.ShutdownDoesNotWaitForARunningExec with an unbounded channel wait).
// stats_poll_interval: the daemon samples every running VM's VMM in the background, once per
// interval, without anyone asking for stats.
TEST_F(DaemonTest, StatsPollIntervalSamplesRunningVmsInTheBackground) {
  config_.stats_poll_interval = std::chrono::seconds(1);
  ASSERT_NO_FATAL_FAILURE(start_with_a_bootable_image());
  auto created = call<api::VmCreate>({.name = "web", .image = "reg"});
  ASSERT_TRUE(created) << created.error().message;
  ASSERT_EQ(created->vm.state, "running");
  const std::uint64_t before = samples_.load();
  std::this_thread::sleep_for(std::chrono::milliseconds(3500));
  const std::uint64_t polls = (samples_.load() - before) / 25;
  EXPECT_GE(polls, 2u) << "one sample per second";
  EXPECT_LE(polls, 4u) << "one sample per second";
  auto stats = call<api::VmStatsMethod>({.names = {"web"}});
  ASSERT_TRUE(stats) << stats.error().message;
  EXPECT_GT(stats->vms[0].cpu_percent, 0.0);
}

TEST_F(DaemonTest, HostileGuestAgentCannotStallOrBloatTheDaemon) {
  ASSERT_NO_FATAL_FAILURE(start_with_a_bootable_image());
  auto created = call<api::VmCreate>({.name = "web", .image = "reg"});
  ASSERT_TRUE(created) << created.error().message;

  using testkit::AgentHostility;
  const auto baseline = memory_of_this_process("VmHWM");
  const auto deadline = std::chrono::seconds(5) + std::chrono::seconds(2);  // call + slack
  for (auto how : {AgentHostility::junk_stream, AgentHostility::many_ports,
                   AgentHostility::huge_reply, AgentHostility::deep_nesting}) {
    SCOPED_TRACE(static_cast<int>(how));
    fake_vmm_->set_agent_hostility(how);
    auto start = std::chrono::steady_clock::now();
    auto health = call<api::VmHealth>({.name = "web"});
    EXPECT_LT(std::chrono::steady_clock::now() - start, deadline);
    if (how != AgentHostility::many_ports) {
      EXPECT_FALSE(health);
    }
    start = std::chrono::steady_clock::now();
    auto ports = call<api::VmPorts>({.names = {"web"}});
    EXPECT_LT(std::chrono::steady_clock::now() - start, deadline + std::chrono::seconds(5));
    ASSERT_TRUE(ports) << ports.error().message;  // per-VM errors are in the reply
    ASSERT_EQ(ports->vms.size(), 1u);
    if (how == AgentHostility::many_ports) {
      EXPECT_EQ(ports->vms[0].error, "");
      EXPECT_EQ(ports->vms[0].ports.size(), 1024u);  // capped, not 40,000
    } else {
      EXPECT_NE(ports->vms[0].error, "");
    }
    ASSERT_TRUE(call<api::Ping>({}));  // alive
  }
  // The fake agent's own buffers live in this process too; the daemon adds little to them.
  const auto grown = memory_of_this_process("VmHWM") - baseline;
  std::printf("hostile agent: peak RSS grew by %zu MiB\n", grown >> 20);
  EXPECT_LT(grown, std::size_t{200} << 20) << "peak RSS grew by " << (grown >> 20) << " MiB";

  // M9: a hanging exec does not hold up stop.
  fake_vmm_->set_agent_hostility(AgentHostility::hanging_exec);
  std::thread exec([this] {
    auto c = client();
    (void)c.call<api::VmExec>({.name = "web", .argv = {"sleep", "3000"}});
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const auto stop_start = std::chrono::steady_clock::now();
  auto stopped = call<api::VmStop>({.names = {"web"}});
  EXPECT_LT(std::chrono::steady_clock::now() - stop_start, std::chrono::seconds(20));
  ASSERT_TRUE(stopped) << stopped.error().message;
  EXPECT_EQ(stopped->vms[0].state, "stopped");
  exec.join();
  ASSERT_TRUE(call<api::Ping>({}));
}

// A `vm exec` whose caller hangs up stops waiting for the guest: before, the daemon waited for
// the reply for up to an hour and kept the VM's single-stream agent channel, so every later
// agent call of that VM failed "busy" (and `daemon stop` could not finish).
TEST_F(DaemonTest, AnExecWhoseCallerHungUpReleasesTheAgentChannel) {
  ASSERT_NO_FATAL_FAILURE(start_with_a_bootable_image());
  auto created = call<api::VmCreate>({.name = "web", .image = "reg"});
  ASSERT_TRUE(created) << created.error().message;
  fake_vmm_->set_agent_hostility(testkit::AgentHostility::hanging_exec);
  {
    auto conn = posix::connect_unix(paths_.socket, posix::Clock::now() + std::chrono::seconds(5));
    ASSERT_TRUE(conn);
    const std::string request =
        R"({"v":1,"id":1,"method":"vm.exec","params":{"name":"web","argv":["sleep","3000"]}})"
        "\n";
    ASSERT_TRUE(posix::write_all(conn->get(), request));
    std::this_thread::sleep_for(std::chrono::milliseconds(500));  // the exec waits in the guest
  }  // the caller hangs up
  fake_vmm_->set_agent_hostility(testkit::AgentHostility::none);
  // The channel frees up once the daemon sees the hang-up: health answers again.
  EXPECT_TRUE(testkit::eventually([&] { return call<api::VmHealth>({.name = "web"}).has_value(); },
                                  std::chrono::seconds(20)));
}

TEST_F(DaemonTest, EveryRegisteredMethodIsDocumented) {
  start();
  auto documented = rpc::check_methods_documented(daemon_->methods(),
                                                  std::string(BANGER_SOURCE_DIR) + "/docs/rpc.md");
  EXPECT_TRUE(documented) << documented.error().message;
}

}  // namespace
}  // namespace banger::daemon
