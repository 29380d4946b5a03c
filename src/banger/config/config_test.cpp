#include "banger/config/config.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "banger/sys/fs.hpp"
#include "banger/testkit/temp_dir.hpp"

namespace banger::config {
namespace {

using std::chrono::seconds;

paths::Environment env_for(const std::string& home, std::map<std::string, std::string> extra = {}) {
  paths::Environment env;
  env.vars = std::move(extra);
  env.vars["BANGER_HOME"] = home;
  env.home = "/home/u";
  env.uid = 1000;
  return env;
}

paths::Paths test_paths(const std::string& home = "/bh") {
  auto p = paths::resolve_paths(env_for(home));
  EXPECT_TRUE(p);
  return *p;
}

Expected<Config> parse(std::string_view text) {
  return parse_config(text, "config.toml", test_paths());
}

// The error message parse() gives for text (or "parsed" when there is none).
std::string error_of(std::string_view text) {
  auto config = parse(text);
  if (config) {
    return "parsed";
  }
  EXPECT_EQ(config.error().code, Errc::invalid_argument) << text;
  return config.error().message;
}

TEST(Config, EmptyFileGivesEveryDefault) {
  auto config = parse("");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->log_level, base::LogLevel::info);
  EXPECT_EQ(config->vmm, VmmChoice::auto_detect);
  EXPECT_EQ(config->firecracker_bin, "");
  EXPECT_EQ(config->qemu_bin, "");
  EXPECT_EQ(config->accel, AccelChoice::auto_detect);
  EXPECT_EQ(config->ssh_key_path, "/bh/state/ssh/id_ed25519");
  EXPECT_EQ(config->default_image, "debian-bookworm");
  EXPECT_EQ(config->default_kernel, "");
  EXPECT_EQ(config->bridge_name, "br-fc");
  EXPECT_EQ(config->bridge_ip, "172.16.0.1");
  EXPECT_EQ(config->cidr, 24);
  EXPECT_EQ(config->tap_pool_size, 4);
  EXPECT_EQ(config->default_dns, "");
  EXPECT_EQ(config->dns_listen, "127.0.0.1:42069");
  EXPECT_EQ(config->auto_stop_stale_after, seconds(0));
  EXPECT_EQ(config->stats_poll_interval, seconds(10));
  EXPECT_EQ(config->vm_defaults, VmDefaultsConfig{});
  EXPECT_TRUE(config->file_sync.empty());
  EXPECT_EQ(*config, default_config(test_paths()));
}

TEST(Config, EveryKeyIsRead) {
  auto config = parse(R"(
log_level = "debug"
vmm = "qemu"
firecracker_bin = "/opt/fc/firecracker"
qemu_bin = "qemu-system-x86_64"
jailer_enabled = true
jailer_bin = "/opt/fc/jailer"
accel = "tcg"
ssh_key_path = "/keys/banger"
default_image = "tiny"
default_kernel = "custom-6.1.0"
bridge_name = "br-fc.test_1"
bridge_ip = "10.20.0.1"
cidr = 16
tap_pool_size = 0
default_dns = "1.1.1.1"
dns_listen = "0.0.0.0:5353"
auto_stop_stale_after = "1h30m"
stats_poll_interval = "2s"
catalog_url = ""
workspace_max_size = "512M"
insecure_registries = ["registry.lan:5000", "10.0.0.5"]
pull_size_headroom = 2.5

[vm_defaults]
vcpu = 2
memory_mib = "2G"
disk_size = "16GiB"
rootfs_overlay_size = 1024

[[file_sync]]
host = "~/.aws"
guest = "~/.aws"

[[file_sync]]
host = "/etc/gitconfig"
guest = "/root/.gitconfig"
mode = "0600"
)");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->log_level, base::LogLevel::debug);
  EXPECT_EQ(config->vmm, VmmChoice::qemu);
  EXPECT_EQ(config->firecracker_bin, "/opt/fc/firecracker");
  EXPECT_EQ(config->qemu_bin, "qemu-system-x86_64");
  EXPECT_TRUE(config->jailer_enabled);
  EXPECT_EQ(config->jailer_bin, "/opt/fc/jailer");
  EXPECT_EQ(config->accel, AccelChoice::tcg);
  EXPECT_EQ(config->ssh_key_path, "/keys/banger");
  EXPECT_EQ(config->default_image, "tiny");
  EXPECT_EQ(config->default_kernel, "custom-6.1.0");
  EXPECT_EQ(config->bridge_name, "br-fc.test_1");
  EXPECT_EQ(config->bridge_ip, "10.20.0.1");
  EXPECT_EQ(config->cidr, 16);
  EXPECT_EQ(config->tap_pool_size, 0);
  EXPECT_EQ(config->default_dns, "1.1.1.1");
  EXPECT_EQ(config->dns_listen, "0.0.0.0:5353");
  EXPECT_EQ(config->auto_stop_stale_after, seconds(5400));
  EXPECT_EQ(config->stats_poll_interval, seconds(2));
  EXPECT_EQ(config->workspace_max_size_mib, 512);
  EXPECT_EQ(config->insecure_registries,
            (std::vector<std::string>{"registry.lan:5000", "10.0.0.5"}));
  EXPECT_EQ(config->pull_size_headroom, 2.5);
  EXPECT_EQ(config->vm_defaults.vcpu, 2);
  EXPECT_EQ(config->vm_defaults.memory_mib, 2048);
  EXPECT_EQ(config->vm_defaults.disk_size_mib, 16384);
  EXPECT_EQ(config->vm_defaults.rootfs_overlay_size_mib, 1024);
  ASSERT_EQ(config->file_sync.size(), 2u);
  // "~/" hosts are expanded by load_config, which knows the home.
  EXPECT_EQ(config->file_sync[0], (FileSync{.host = "~/.aws",
                                            .guest = "~/.aws",
                                            .mode = std::nullopt,
                                            .host_path = "",
                                            .guest_path = "/root/.aws"}));
  EXPECT_EQ(config->file_sync[1], (FileSync{.host = "/etc/gitconfig",
                                            .guest = "/root/.gitconfig",
                                            .mode = 0600,
                                            .host_path = "/etc/gitconfig",
                                            .guest_path = "/root/.gitconfig"}));
}

TEST(Config, EveryEnumValueIsAccepted) {
  const std::pair<const char*, base::LogLevel> levels[] = {
      {"trace", base::LogLevel::trace}, {"debug", base::LogLevel::debug},
      {"info", base::LogLevel::info},   {"warn", base::LogLevel::warn},
      {"error", base::LogLevel::error}, {"off", base::LogLevel::off}};
  for (const auto& [name, level] : levels) {
    auto config = parse(std::string("log_level = \"") + name + "\"");
    ASSERT_TRUE(config) << name;
    EXPECT_EQ(config->log_level, level);
  }
  for (auto choice : {VmmChoice::auto_detect, VmmChoice::firecracker, VmmChoice::qemu}) {
    auto config = parse("vmm = \"" + std::string(vmm_choice_name(choice)) + "\"");
    ASSERT_TRUE(config) << vmm_choice_name(choice);
    EXPECT_EQ(config->vmm, choice);
  }
  for (auto choice : {AccelChoice::auto_detect, AccelChoice::kvm, AccelChoice::tcg}) {
    auto config = parse("accel = \"" + std::string(accel_choice_name(choice)) + "\"");
    ASSERT_TRUE(config) << accel_choice_name(choice);
    EXPECT_EQ(config->accel, choice);
  }
}

TEST(Config, SizesAcceptIntegersAsMib) {
  auto config = parse("[vm_defaults]\nmemory_mib = 4096\ndisk_size = 8192\n");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->vm_defaults.memory_mib, 4096);
  EXPECT_EQ(config->vm_defaults.disk_size_mib, 8192);
  EXPECT_EQ(config->vm_defaults.rootfs_overlay_size_mib, std::nullopt);
}

TEST(Config, ZeroIntegerTurnsAutoStopOff) {
  auto config = parse("auto_stop_stale_after = 0");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->auto_stop_stale_after, seconds(0));
}

TEST(Config, EmptyFileSyncArrayIsFine) {
  auto config = parse("file_sync = []");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_TRUE(config->file_sync.empty());
}

TEST(Config, UnknownKeysAreErrorsNamingTheKey) {
  EXPECT_EQ(error_of("brige_name = \"x\""),
            "config.toml:1: unknown key \"brige_name\" (did you mean \"bridge_name\"?)");
  EXPECT_EQ(error_of("colour = \"blue\""), "config.toml:1: unknown key \"colour\"");
  EXPECT_EQ(error_of("[vm_defaults]\ncpus = 2"),
            "config.toml:2: unknown key \"vm_defaults.cpus\" (did you mean \"vm_defaults.vcpu\"?)");
  EXPECT_EQ(error_of("[vm_defaults]\nmemory = \"2G\""),
            "config.toml:2: unknown key \"vm_defaults.memory\"");
  EXPECT_EQ(error_of("[[file_sync]]\nhost = \"/a\"\nguest = \"/root/a\"\n"
                     "[[file_sync]]\nhost = \"/b\"\nguest = \"/root/b\"\nowner = \"me\""),
            "config.toml:7: unknown key \"file_sync[1].owner\"");
  EXPECT_EQ(error_of("[network]\nbridge_name = \"br0\""), "config.toml:1: unknown key \"network\"");
}

// The line an error about text is reported on: its last line unless the case says otherwise.
struct BadCase {
  const char* text;
  const char* message;
  int line = 0;  // 0 = the last line of text
};

TEST(Config, BadValuesAreErrorsNamingTheLineTheKeyAndWhatIsAllowed) {
  const BadCase cases[] = {
      {"log_level = \"loud\"",
       "log_level must be one of trace, debug, info, warn, error or off, got \"loud\""},
      {"log_level = 3", "log_level must be one of trace, debug, info, warn, error or off, got 3"},
      {"vmm = \"kvm\"", "vmm must be one of auto, qemu or firecracker, got \"kvm\""},
      {"accel = \"hvf\"", "accel must be one of auto, kvm or tcg, got \"hvf\""},
      {"firecracker_bin = \"bin/firecracker\"",
       "firecracker_bin must be a program name looked up in PATH, an absolute path or a path "
       "starting with ~/, got \"bin/firecracker\""},
      {"qemu_bin = \"\"",
       "qemu_bin must be a program name looked up in PATH, an absolute path or a path starting "
       "with ~/, got \"\""},
      {"qemu_bin = true", "qemu_bin must be a string, got true"},
      {"jailer_enabled = \"yes\"", "jailer_enabled must be true or false, got \"yes\""},
      {"jailer_bin = \"jail er/x\"",
       "jailer_bin must be a program name looked up in PATH, an absolute path or a path "
       "starting with ~/, got \"jail er/x\""},
      {"ssh_key_path = \"~bob/.ssh/id\"",
       "ssh_key_path must be an absolute path or a path starting with ~/, got \"~bob/.ssh/id\""},
      {"ssh_key_path = \"~/.ssh/id\"",
       "ssh_key_path: \"~/\" needs a home directory, and neither HOME nor the passwd entry names "
       "one"},
      {"default_image = \"../etc\"",
       "default_image must be an image name of letters, digits, '.', '_' or '-', got \"../etc\""},
      {"default_image = \"\"",
       "default_image must be an image name of letters, digits, '.', '_' or '-', got \"\""},
      {"default_kernel = \"a/b\"",
       "default_kernel must be a kernel name of letters, digits, '.', '_' or '-' (or \"\" for the "
       "image's), got \"a/b\""},
      {"bridge_name = \"bridge-with-a-long-name\"",
       "bridge_name must be a network interface name of 1 to 15 letters, digits, '.', '_' or '-', "
       "got \"bridge-with-a-long-name\""},
      {"bridge_name = \"my br\"",
       "bridge_name must be a network interface name of 1 to 15 letters, digits, '.', '_' or '-', "
       "got \"my br\""},
      {"bridge_ip = \"300.1.1.1\"",
       "bridge_ip must be an IPv4 address such as 172.16.0.1, got \"300.1.1.1\""},
      {"bridge_ip = \"172.16.0.0\"",
       "bridge_ip 172.16.0.0 is the network address of 172.16.0.0/24: use a host address inside "
       "the network, such as the first one"},
      {"bridge_ip = \"10.0.255.255\"\ncidr = 16",
       "bridge_ip 10.0.255.255 is the broadcast address of 10.0.0.0/16: use a host address "
       "inside the network, such as the first one",
       1},
      {"cidr = 40", "cidr must be an integer between 8 and 30, got 40"},
      {"cidr = 7", "cidr must be an integer between 8 and 30, got 7"},
      {"cidr = \"24\"", "cidr must be an integer between 8 and 30, got \"24\""},
      {"tap_pool_size = 65", "tap_pool_size must be an integer between 0 and 64, got 65"},
      {"tap_pool_size = -1", "tap_pool_size must be an integer between 0 and 64, got -1"},
      {"default_dns = \"dns.google\"",
       "default_dns must be an IPv4 address such as 1.1.1.1 (or \"\" for banger's DNS on the "
       "bridge IP), got \"dns.google\""},
      {"dns_listen = \"127.0.0.1\"",
       "dns_listen must be an IPv4 address and a port from 1 to 65535, such as 127.0.0.1:42069, "
       "got \"127.0.0.1\""},
      {"dns_listen = \"127.0.0.1:0\"",
       "dns_listen must be an IPv4 address and a port from 1 to 65535, such as 127.0.0.1:42069, "
       "got \"127.0.0.1:0\""},
      {"dns_listen = \"localhost:53\"",
       "dns_listen must be an IPv4 address and a port from 1 to 65535, such as 127.0.0.1:42069, "
       "got \"localhost:53\""},
      {"auto_stop_stale_after = \"soon\"",
       "auto_stop_stale_after: invalid duration \"soon\": use numbers with a unit s, m, h or d, "
       "like 90s, 30m, 2h or 1h30m"},
      {"auto_stop_stale_after = 30",
       "auto_stop_stale_after must be a duration string such as \"90s\", \"30m\" or \"2h\", got "
       "30"},
      {"stats_poll_interval = \"0\"", "stats_poll_interval must be at least 1s, got \"0\""},
      {"catalog_url = \"http://example.com/c.json\"",
       "catalog_url must be \"\", an absolute path, a path starting with ~/, file:///path, "
       "https://... or http:// to a loopback host, got \"http://example.com/c.json\""},
      {"catalog_url = \"catalog.json\"",
       "catalog_url must be \"\", an absolute path, a path starting with ~/, file:///path, "
       "https://... or http:// to a loopback host, got \"catalog.json\""},
      {"catalog_url = 1", "catalog_url must be a string, got 1"},
      {"insecure_registries = \"registry.lan\"",
       "insecure_registries must be a list of registry hosts such as [\"registry.lan:5000\"], got "
       "\"registry.lan\""},
      {"insecure_registries = [\"http://registry.lan\"]",
       "insecure_registries: \"http://registry.lan\" is not a registry host: give host or "
       "host:port, without a scheme or path"},
      {"insecure_registries = [\"r.lan:99999\"]",
       "insecure_registries: \"r.lan:99999\" is not a registry host: give host or host:port, "
       "without a scheme or path"},
      {"insecure_registries = [5]", "insecure_registries must be a string, got 5"},
      {"pull_size_headroom = 0.5",
       "pull_size_headroom must be a number from 1.0 to 10.0, such as 1.5, got 0.5"},
      {"pull_size_headroom = \"2x\"",
       "pull_size_headroom must be a number from 1.0 to 10.0, such as 1.5, got \"2x\""},
      {"vm_defaults = 5", "vm_defaults must be a table ([vm_defaults]), got 5"},
      {"[vm_defaults]\nvcpu = 0", "vm_defaults.vcpu must be an integer between 1 and 64, got 0"},
      {"[vm_defaults]\nvcpu = 65", "vm_defaults.vcpu must be an integer between 1 and 64, got 65"},
      {"[vm_defaults]\nmemory_mib = \"lots\"",
       "vm_defaults.memory_mib: invalid size \"lots\": use a number with an optional unit M, MiB, "
       "G, GiB, T or TiB (a bare number is MiB)"},
      {"[vm_defaults]\nmemory_mib = 64", "vm_defaults.memory_mib must be at least 128M, got 64M"},
      {"[vm_defaults]\nmemory_mib = -5",
       "vm_defaults.memory_mib: invalid size \"-5\": use a number with an optional unit M, MiB, "
       "G, GiB, T or TiB (a bare number is MiB)"},
      {"[vm_defaults]\nmemory_mib = 1.5",
       "vm_defaults.memory_mib must be a size such as \"8G\" or \"512M\", or an integer number of "
       "MiB, got 1.5"},
      {"[vm_defaults]\ndisk_size = \"0G\"",
       "vm_defaults.disk_size: invalid size \"0G\": must be greater than 0"},
      {"[vm_defaults]\nrootfs_overlay_size = \"1000K\"",
       "vm_defaults.rootfs_overlay_size: invalid size \"1000K\": not a whole number of MiB (1M = "
       "1024K)"},
      {"[file_sync]\nhost = \"/a\"",
       "file_sync must be an array of tables ([[file_sync]] entries), got a table", 1},
      {"file_sync = [\"/a\"]",
       "file_sync must be an array of tables ([[file_sync]] entries), got \"/a\" at index 0"},
      {"[[file_sync]]\nguest = \"/root/a\"", "file_sync[0].host is required", 1},
      {"[[file_sync]]\nhost = \"/a\"", "file_sync[0].guest is required", 1},
      {"[[file_sync]]\nhost = \"a\"\nguest = \"/root/a\"",
       "file_sync[0].host must be an absolute path or start with ~/, got \"a\"", 2},
      {"[[file_sync]]\nhost = \"/a\"\nguest = \"/root/a\"\n[[file_sync]]\nhost = \"/b\"\n"
       "guest = \"/etc/b\"",
       "file_sync[1].guest must be a path under /root or ~/ without \"..\", got \"/etc/b\""},
      {"[[file_sync]]\nhost = \"/a\"\nguest = \"/root/../etc/shadow\"",
       "file_sync[0].guest must be a path under /root or ~/ without \"..\", got "
       "\"/root/../etc/shadow\""},
      {"[[file_sync]]\nhost = \"/a\"\nguest = \"/root/\"",
       "file_sync[0].guest must be a path under /root or ~/ without \"..\", got \"/root/\""},
      {"[[file_sync]]\nhost = \"/a\"\nguest = \"/rootkit/a\"",
       "file_sync[0].guest must be a path under /root or ~/ without \"..\", got \"/rootkit/a\""},
      {"[[file_sync]]\nhost = \"/a\"\nguest = \"~/a\"\nmode = 600",
       "file_sync[0].mode must be an octal string such as \"0600\" or \"0755\", got 600"},
      {"[[file_sync]]\nhost = \"/a\"\nguest = \"~/a\"\nmode = \"0800\"",
       "file_sync[0].mode must be an octal string such as \"0600\" or \"0755\", got \"0800\""},
      {"[[file_sync]]\nhost = \"/a\"\nguest = \"~/a\"\nmode = \"rw\"",
       "file_sync[0].mode must be an octal string such as \"0600\" or \"0755\", got \"rw\""},
      {"[[file_sync]]\nhost = \"/a\"\nguest = \"~/a\"\nmode = \"4755\"",
       "file_sync[0].mode must be permission bits only (0000 to 0777), got \"4755\""},
      {"[[file_sync]]\nhost = \"~bob/.aws\"\nguest = \"~/a\"",
       "file_sync[0].host must be an absolute path or start with ~/, got \"~bob/.aws\"", 2},
      {"[[file_sync]]\nhost = \"/a\"\nguest = \"~bob/.aws\"",
       "file_sync[0].guest must be a path under /root or ~/ without \"..\", got \"~bob/.aws\""},
      {"[[file_sync]]\nhost = \"/a\"\nguest = \".aws\"",
       "file_sync[0].guest must be a path under /root or ~/ without \"..\", got \".aws\""},
      {"[[file_sync]]\nhost = \"/a\"\nguest = \"~/a/../../etc\"",
       "file_sync[0].guest must be a path under /root or ~/ without \"..\", got \"~/a/../../etc\""},
      {"[[file_sync]]\nhost = \"/a\"\nguest = \"~/./\"",
       "file_sync[0].guest must be a path under /root or ~/ without \"..\", got \"~/./\""},
      {"[[file_sync]]\nhost = \"/a\"\nguest = \"~/a\\nb\"",
       "file_sync[0].guest must not contain control characters"},
      {"[[file_sync]]\nhost = \"/a\"\nguest = \"/root/.banger/agent.token\"",
       "file_sync[0].guest must not be in /root/.banger, which banger rewrites at every start, got "
       "\"/root/.banger/agent.token\""},
      {"[[file_sync]]\nhost = \"/a\"\nguest = \"~/a\"\n[[file_sync]]\nhost = \"/b\"\n"
       "guest = \"~/b\"\n[[file_sync]]\nhost = \"/c\"\nguest = \"~/c\"\nowner = 0",
       "unknown key \"file_sync[2].owner\""},
  };
  for (const auto& c : cases) {
    int line = c.line;
    if (line == 0) {
      line = 1 + static_cast<int>(std::count(c.text, c.text + std::strlen(c.text), '\n'));
    }
    EXPECT_EQ(error_of(c.text), fmt::format("config.toml:{}: {}", line, c.message)) << c.text;
  }
}

TEST(Config, HomePathsExpandAgainstTheHome) {
  auto config = parse_config(
      "ssh_key_path = \"~/.ssh/banger\"\nqemu_bin = \"~/bin/qemu\"\n"
      "firecracker_bin = \"~/bin/firecracker\"\n",
      "config.toml", test_paths(), "/home/u");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->ssh_key_path, "/home/u/.ssh/banger");
  EXPECT_EQ(config->qemu_bin, "/home/u/bin/qemu");
  EXPECT_EQ(config->firecracker_bin, "/home/u/bin/firecracker");
  EXPECT_TRUE(config->notes.empty());
}

TEST(Config, OriginalBangerNamesAreAcceptedWithANoteNamingTheNewKey) {
  auto config = parse_config(
      "# written for the original banger\n"
      "default_image_name = \"tiny\"\n"
      "system_overlay_size = \"8G\"\n"
      "metrics_poll_interval = \"30s\"\n",
      "config.toml", test_paths(), "/home/u");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->default_image, "tiny");
  EXPECT_EQ(config->vm_defaults.rootfs_overlay_size_mib, 8192);
  EXPECT_EQ(config->stats_poll_interval, seconds(30));
  EXPECT_EQ(config->notes,
            (std::vector<std::string>{
                "config.toml:2: \"default_image_name\" is deprecated: use \"default_image\"",
                "config.toml:3: \"system_overlay_size\" is deprecated: use "
                "\"rootfs_overlay_size\" in [vm_defaults]",
                "config.toml:4: \"metrics_poll_interval\" is deprecated: use "
                "\"stats_poll_interval\""}));
}

TEST(Config, OldAndNewNameTogetherIsAnError) {
  EXPECT_EQ(error_of("default_image = \"a\"\ndefault_image_name = \"b\""),
            "config.toml:2: \"default_image_name\" is deprecated and \"default_image\" is set as "
            "well: remove \"default_image_name\"");
  EXPECT_EQ(error_of("system_overlay_size = \"2G\"\n[vm_defaults]\nrootfs_overlay_size = \"4G\""),
            "config.toml:1: \"system_overlay_size\" is deprecated and \"rootfs_overlay_size\" in "
            "[vm_defaults] is set as well: remove \"system_overlay_size\"");
  EXPECT_EQ(error_of("metrics_poll_interval = \"5s\"\nstats_poll_interval = \"5s\""),
            "config.toml:1: \"metrics_poll_interval\" is deprecated and \"stats_poll_interval\" "
            "is set as well: remove \"metrics_poll_interval\"");
  EXPECT_EQ(error_of("metrics_poll_interval = \"0\""),
            "config.toml:1: metrics_poll_interval must be at least 1s, got \"0\"");
}

TEST(Config, CatalogUrlTakesPathsFileHttpsAndLoopbackHttpLocations) {
  for (std::string url : {"https://example.com/catalog.json", "http://127.0.0.1:8000/c.json",
                          "/srv/banger/catalog.json", "file:///srv/banger/catalog.json"}) {
    auto parsed = parse("catalog_url = \"" + url + "\"");
    ASSERT_TRUE(parsed) << url << ": " << parsed.error().message;
    EXPECT_EQ(parsed->catalog_url, url);
  }
  auto home =
      parse_config("catalog_url = \"~/catalog.json\"", "config.toml", test_paths(), "/home/me");
  ASSERT_TRUE(home) << home.error().message;
  EXPECT_EQ(home->catalog_url, "/home/me/catalog.json");
  auto empty = parse("catalog_url = \"\"");
  ASSERT_TRUE(empty) << empty.error().message;
  EXPECT_EQ(*empty, default_config(test_paths()));
}

TEST(Config, SyntaxErrorsNameSourceLineAndColumn) {
  EXPECT_EQ(error_of("cidr = 24\nbridge_name = \n"),
            "config.toml:2:15: error while parsing key-value pair: expected value, saw '\\n'");
}

TEST(Config, DuplicateKeysAreSyntaxErrors) {
  std::string message = error_of("cidr = 24\ncidr = 25\n");
  EXPECT_EQ(message.rfind("config.toml:2:", 0), 0u) << message;
}

TEST(LoadConfig, MissingFileMeansDefaults) {
  testkit::TempDir tmp;
  auto paths = test_paths(tmp.path());
  auto config = load_config(paths, env_for(tmp.path()));
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(*config, default_config(paths));
}

TEST(LoadConfig, ReadsTheConfigFile) {
  testkit::TempDir tmp;
  auto paths = test_paths(tmp.path());
  ASSERT_TRUE(sys::make_dirs(paths.config_dir));
  ASSERT_TRUE(sys::write_file_atomic(paths.config_file, "cidr = 20\nlog_level = \"warn\"\n"));
  auto config = load_config(paths, env_for(tmp.path()));
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->cidr, 20);
  EXPECT_EQ(config->log_level, base::LogLevel::warn);
}

TEST(LoadConfig, OriginalBangerConfigLoadsWithNotesAndTheHomeExpanded) {
  testkit::TempDir tmp;
  auto paths = test_paths(tmp.path());
  ASSERT_TRUE(sys::make_dirs(paths.config_dir));
  ASSERT_TRUE(sys::write_file_atomic(paths.config_file,
                                     "default_image_name = \"debian-bookworm\"\n"
                                     "ssh_key_path = \"~/.ssh/banger_ed25519\"\n"));
  auto config = load_config(paths, env_for(tmp.path()));
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->ssh_key_path, "/home/u/.ssh/banger_ed25519");
  EXPECT_EQ(config->notes, std::vector<std::string>{paths.config_file +
                                                    ":1: \"default_image_name\" is deprecated: "
                                                    "use \"default_image\""});
}

TEST(LoadConfig, ErrorsNameTheConfigFilePath) {
  testkit::TempDir tmp;
  auto paths = test_paths(tmp.path());
  ASSERT_TRUE(sys::make_dirs(paths.config_dir));
  ASSERT_TRUE(sys::write_file_atomic(paths.config_file, "cidr = 2\n"));
  auto config = load_config(paths, env_for(tmp.path()));
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().code, Errc::invalid_argument);
  EXPECT_EQ(config.error().message,
            paths.config_file + ":1: cidr must be an integer between 8 and 30, got 2");
}

TEST(LoadConfig, FileSyncHostsExpandTheHomeAndGuestPathsAreNormalised) {
  testkit::TempDir tmp;
  auto paths = test_paths(tmp.path());
  ASSERT_TRUE(sys::make_dirs(paths.config_dir));
  ASSERT_TRUE(sys::write_file_atomic(
      paths.config_file,
      "[[file_sync]]\nhost = \"~/.config/gh\"\nguest = \"/root//.config/./gh/\"\n"
      "[[file_sync]]\nhost = \"/srv/x\"\nguest = \"~/x\"\nmode = \"640\"\n"));
  auto config = load_config(paths, env_for(tmp.path()));
  ASSERT_TRUE(config) << config.error().message;
  ASSERT_EQ(config->file_sync.size(), 2u);
  EXPECT_EQ(config->file_sync[0].host_path, "/home/u/.config/gh");
  EXPECT_EQ(config->file_sync[0].guest_path, "/root/.config/gh");
  EXPECT_EQ(config->file_sync[1].host_path, "/srv/x");
  EXPECT_EQ(config->file_sync[1].guest_path, "/root/x");
  EXPECT_EQ(config->file_sync[1].mode, mode_t{0640});

  auto homeless = env_for(tmp.path());
  homeless.home.clear();
  auto refused = load_config(paths, homeless);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().message,
            paths.config_file +
                ": file_sync[0].host: \"~/\" needs a home directory, and neither HOME nor the "
                "passwd entry names one");
}

TEST(LoadConfig, EnvironmentOverridesLogLevel) {
  testkit::TempDir tmp;
  auto paths = test_paths(tmp.path());
  ASSERT_TRUE(sys::make_dirs(paths.config_dir));
  ASSERT_TRUE(sys::write_file_atomic(paths.config_file, "log_level = \"warn\"\n"));
  auto config = load_config(paths, env_for(tmp.path(), {{"BANGER_LOG_LEVEL", "trace"}}));
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->log_level, base::LogLevel::trace);
}

TEST(LoadConfig, EmptyLogLevelVariableIsIgnored) {
  testkit::TempDir tmp;
  auto config =
      load_config(test_paths(tmp.path()), env_for(tmp.path(), {{"BANGER_LOG_LEVEL", ""}}));
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->log_level, base::LogLevel::info);
}

TEST(LoadConfig, BadLogLevelVariableIsAnErrorNamingIt) {
  testkit::TempDir tmp;
  auto config =
      load_config(test_paths(tmp.path()), env_for(tmp.path(), {{"BANGER_LOG_LEVEL", "loud"}}));
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().code, Errc::invalid_argument);
  EXPECT_EQ(config.error().message,
            "BANGER_LOG_LEVEL must be one of trace, debug, info, warn, error or off, got \"loud\"");
}

TEST(LoadConfig, UnreadableConfigIsAnIoError) {
  testkit::TempDir tmp;
  auto paths = test_paths(tmp.path());
  // A directory where the file should be: open() works, read() fails with EISDIR.
  ASSERT_TRUE(sys::make_dirs(paths.config_file));
  auto config = load_config(paths, env_for(tmp.path()));
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().code, Errc::io);
  EXPECT_EQ(config.error().message,
            "loading config: reading " + paths.config_file + ": Is a directory");
}

}  // namespace
}  // namespace banger::config
