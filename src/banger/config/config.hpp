// The user's config.toml (SPEC S3) parsed into a Config value with every default filled in;
// unknown keys and bad values are errors naming the key. No I/O beyond reading the file.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "banger/base/error.hpp"
#include "banger/base/log.hpp"
#include "banger/model/vmm_backend.hpp"
#include "banger/paths/paths.hpp"

namespace banger::config {

// `vmm`: which VMM backend new VMs get; policy::decide_vmm decides what "auto" means.
using VmmChoice = model::VmmChoice;
// `accel`: QEMU acceleration. auto_detect = kvm when usable, else tcg.
enum class AccelChoice { auto_detect, kvm, tcg };

inline constexpr auto kAccelChoiceNames = base::make_enum_names<AccelChoice>(
    {{AccelChoice::auto_detect, "auto"}, {AccelChoice::kvm, "kvm"}, {AccelChoice::tcg, "tcg"}});

// The config spelling of each choice ("auto", "firecracker", "kvm", ...).
std::string_view vmm_choice_name(VmmChoice choice);
std::string_view accel_choice_name(AccelChoice choice);

// [vm_defaults]: sizing the user pinned; unset fields fall back (see vm_defaults.hpp).
struct VmDefaultsConfig {
  std::optional<int> vcpu;                         // 1..64
  std::optional<int64_t> memory_mib;               // >= 128
  std::optional<int64_t> disk_size_mib;            // work disk, > 0  (TOML key: disk_size)
  std::optional<int64_t> rootfs_overlay_size_mib;  // > 0  (TOML key: rootfs_overlay_size)

  bool operator==(const VmDefaultsConfig&) const = default;
};

// One [[file_sync]] entry: a host file or directory copied onto the guest's work disk (its
// /root) at every start (SPEC S3/S12, docs/config.md). Errors name the entry as file_sync[i].
struct FileSync {
  std::string host;            // as written: absolute, or "~/..." (the daemon user's home)
  std::string guest;           // as written: "/root/..." or "~/..."
  std::optional<mode_t> mode;  // permission bits (<= 0777) from an octal string such as "0600"
  // host with "~/" expanded: set by parse_config for absolute paths, by load_config for "~/".
  std::string host_path;
  // guest as an absolute guest path below /root, normalised ("/root/.aws").
  std::string guest_path;

  bool operator==(const FileSync&) const = default;
};

inline constexpr int kMinCidr = 8;
inline constexpr int kMaxCidr = 30;
inline constexpr int kMaxTapPoolSize = 64;
inline constexpr int kMaxVcpu = 64;
inline constexpr int64_t kMinMemoryMib = 128;
inline constexpr std::size_t kMaxInterfaceNameLength = 15;

// Every config key with its default. Empty strings mean "not set" where noted.
struct Config {
  base::LogLevel log_level = base::LogLevel::info;
  VmmChoice vmm = VmmChoice::auto_detect;
  std::string firecracker_bin;  // "" = search PATH for "firecracker"
  std::string qemu_bin;         // "" = search PATH for "qemu-system-x86_64"
  // Firecracker VMs start through Firecracker's jailer (docs/firecracker.md "The jailer"): a
  // root daemon only; off by default.
  bool jailer_enabled = false;
  std::string jailer_bin;  // "" = search PATH for "jailer"
  AccelChoice accel = AccelChoice::auto_detect;
  std::string ssh_key_path;  // default <state>/ssh/id_ed25519 (set by default_config)
  std::string default_image = "debian-bookworm";
  std::string
      default_kernel;  // "" = the image's kernel, else the newest built kernel, else debian-cloud
  std::string bridge_name = "br-fc";
  std::string bridge_ip = "172.16.0.1";
  int cidr = 24;
  int tap_pool_size = 4;
  std::string default_dns;  // "" = the bridge IP (banger's DNS server)
  std::string dns_listen = "127.0.0.1:42069";
  std::chrono::seconds auto_stop_stale_after{0};  // 0 = off
  std::chrono::seconds stats_poll_interval{10};
  // The published catalog merged with the embedded one (S11): "" (none), an absolute path,
  // file:///path, https://..., or http:// to a loopback host.
  std::string catalog_url;
  // Registries `image pull` reaches over plain http ("host[:port]"); loopback ones always are.
  std::vector<std::string> insecure_registries;
  // Root filesystem size of a pulled image without --size: content x this, at least 1 GiB.
  double pull_size_headroom = 1.5;
  // Largest workspace `vm run <path>` copies without --force (the CLI's preflight).
  std::int64_t workspace_max_size_mib = 2048;
  VmDefaultsConfig vm_defaults;
  std::vector<FileSync> file_sync;
  // One line per deprecated key the file used (the original banger's names), such as
  // `config.toml:2: "default_image_name" is deprecated: use "default_image"`. The daemon logs
  // them at warn level when it starts; doctor shows them in its "config" row.
  std::vector<std::string> notes;

  bool operator==(const Config&) const = default;
};

// All defaults; paths-dependent ones (ssh_key_path) resolved against paths.
Config default_config(const paths::Paths& paths);

// Parses config.toml text over default_config(paths). Every error is Errc::invalid_argument
// with a message starting "<source_name>:<line>: ": TOML syntax errors with line and column
// ("<source>:3:7: ..."), unknown keys anywhere (`unknown key "vm_defaults.cpu"`), wrong
// types and bad values (naming the key and what is allowed). ssh_key_path, qemu_bin,
// firecracker_bin and jailer_bin starting with "~/" are expanded against home (an error when
// it is empty).
// The original banger's key names are accepted with a note in Config::notes; an old name
// together with its replacement is an error.
Expected<Config> parse_config(std::string_view toml_text, const std::string& source_name,
                              const paths::Paths& paths, const std::string& home = "");

// Reads paths.config_file (a missing file means all defaults), parses it (with env.home for
// "~/" paths), then applies
// BANGER_LOG_LEVEL from env (an empty value is ignored) and expands file_sync hosts starting
// with "~/" against env.home. Errc::io (permission_denied for
// EACCES) when the file exists but cannot be read;
// Errc::invalid_argument for parse errors, a bad BANGER_LOG_LEVEL (naming it), and a "~/"
// file_sync host without a home directory.
Expected<Config> load_config(const paths::Paths& paths, const paths::Environment& env);

}  // namespace banger::config
