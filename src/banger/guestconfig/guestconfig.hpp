// Pure renderers for the per-VM guest configuration (hostname, hosts, resolv.conf, banger.env,
// authorized_keys) and the work-disk layout that carries it; see docs/guest-config.md.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "banger/base/error.hpp"

// The contract with images (details: docs/guest-config.md). All per-VM configuration lives on
// the work disk (/dev/vdb, raw ext4, mounted at /root), because the root disk may be a qcow2
// overlay that cannot be edited offline:
//   /root/.ssh/authorized_keys (0600, dir 0700)  rewritten at every start (S9)
//   /root/.hushlogin
//   /root/.banger/etc/{hostname,hosts,resolv.conf}  the image's boot hook copies these to /etc/
//   /root/.banger/etc/banger.env                    KEY=VALUE for the agent and hooks
//   /root/.banger/agent.token (0600)                the guest agent's token, new at every start
// vmstorage writes them with mkfs.ext4 -d at create and one debugfs batch at every start.
namespace banger::guestconfig {

// Everything the guest configuration is rendered from. Validated by validate_spec().
struct GuestConfigSpec {
  std::string vm_name;                   // the hostname and DNS label: [a-z0-9][a-z0-9-]{0,62}
  std::string vm_id;                     // 16 lowercase hex characters
  std::string guest_ip;                  // IPv4, inside gateway/prefix
  std::string gateway;                   // IPv4 of the bridge
  int prefix = 24;                       // 1..30
  std::vector<std::string> dns_servers;  // 0..3 IPv4/IPv6 addresses; empty: the gateway
  std::string authorized_keys;           // authorized_keys text: one public key per line
  // The VM's agent token (64 lowercase hex characters, new at every start), written to
  // .banger/agent.token (0600) for the guest agent. Empty writes an empty file: the agent then
  // refuses every connection (docs/agent.md "Authentication").
  std::string agent_token;
};

// One file or directory to create. The work-disk layout uses paths relative to the disk's root
// (".ssh/authorized_keys"), the root-disk layout paths relative to "/" ("etc/hosts").
struct GuestFile {
  enum class Type { file, directory };
  std::string path;
  std::string content;  // empty for directories
  mode_t mode = 0644;   // permission bits; owner is always root:root
  Type type = Type::file;

  friend bool operator==(const GuestFile&, const GuestFile&) = default;
};

// Where the work disk is mounted in the guest and where banger's staged /etc files live on it.
inline constexpr const char* kWorkDiskMountPoint = "/root";
inline constexpr const char* kWorkDiskEtcDir = ".banger/etc";

// OK when every field is valid; otherwise invalid_argument naming the field and what is allowed,
// e.g. `invalid vm name "Web_1": use 1-63 characters: lowercase letters, digits and '-',
// starting with a letter or digit`, `invalid guest ip "10.0.0": want an IPv4 address`,
// `guest ip 10.0.1.5 is not in the gateway's network 10.0.0.1/24`,
// `authorized_keys is empty: at least one public key is needed`.
Status validate_spec(const GuestConfigSpec& spec);

// /etc/hostname: "<name>\n". Assumes a valid spec (see validate_spec()).
std::string render_hostname(const GuestConfigSpec& spec);

// /etc/hosts: localhost, "127.0.1.1 <name> <name>.vm" and the usual IPv6 lines.
std::string render_hosts(const GuestConfigSpec& spec);

// /etc/resolv.conf: one nameserver line per dns server (the gateway when none) and "search vm".
std::string render_resolv_conf(const GuestConfigSpec& spec);

// banger.env: KEY=VALUE lines BANGER_VM_NAME, BANGER_VM_ID, BANGER_GUEST_IP, BANGER_GATEWAY,
// BANGER_PREFIX (values never need quoting: they are validated).
std::string render_env(const GuestConfigSpec& spec);

// authorized_keys text normalized: CRLF to LF, blank lines dropped, trailing newline.
std::string render_authorized_keys(const GuestConfigSpec& spec);

// The complete work-disk layout (directories first, parents before children, then files in a
// fixed order): .ssh/ (0700), .ssh/authorized_keys (0600), .hushlogin, .banger/ and
// .banger/etc/ (0755), .banger/etc/{hostname,hosts,resolv.conf,banger.env} (0644),
// .banger/agent.token (0600).
// invalid_argument as for validate_spec().
Expected<std::vector<GuestFile>> render_work_disk_files(const GuestConfigSpec& spec);

// The files written straight into a raw (copied) root filesystem, relative to "/":
// etc/hostname, etc/hosts, etc/resolv.conf (0644). invalid_argument as for validate_spec().
Expected<std::vector<GuestFile>> render_root_etc_files(const GuestConfigSpec& spec);

}  // namespace banger::guestconfig
