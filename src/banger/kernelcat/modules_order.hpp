// Pure: which kernel module files an initramfs must insmod, in dependency order, read from a
// kernel's modules.dep.
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <vector>

namespace banger::kernelcat {

// Modules a Debian kernel needs to boot a banger guest (built-in ones are skipped).
// crc32c_generic is a soft dependency of ext4 that modules.dep does not list.
inline constexpr std::array<std::string_view, 9> kInitramfsModules = {
    "virtio_mmio",    "virtio_pci", "virtio_blk",     "virtio_net", "vmw_vsock_virtio_transport",
    "virtio_console", "virtio-rng", "crc32c_generic", "ext4"};

// Modules a guest loads after boot, with everything they depend on: what Docker needs for
// overlay2 and its bridge network with iptables (legacy and nf_tables backends), and a few
// small ones developers reach for (tun, fuse, loop, macvlan, ipvlan, ip_set). The initramfs
// carries them with depmod's index and /init installs them into a root that has /lib/modules
// (docs/kernels.md, "Guest modules"). Built-in ones are skipped.
inline constexpr auto kGuestModules = std::to_array<std::string_view>({"overlay",
                                                                       "bridge",
                                                                       "br_netfilter",
                                                                       "veth",
                                                                       "nf_nat",
                                                                       "nf_conntrack",
                                                                       "nf_conntrack_netlink",
                                                                       "nf_tables",
                                                                       "nft_compat",
                                                                       "nft_chain_nat",
                                                                       "nft_nat",
                                                                       "nft_masq",
                                                                       "nft_redir",
                                                                       "nft_ct",
                                                                       "nft_reject_inet",
                                                                       "nft_fib_inet",
                                                                       "nft_limit",
                                                                       "x_tables",
                                                                       "xt_MASQUERADE",
                                                                       "xt_conntrack",
                                                                       "xt_addrtype",
                                                                       "xt_nat",
                                                                       "xt_mark",
                                                                       "xt_comment",
                                                                       "xt_multiport",
                                                                       "xt_REDIRECT",
                                                                       "xt_tcpudp",
                                                                       "xt_physdev",
                                                                       "xt_set",
                                                                       "ip_set",
                                                                       "ip_tables",
                                                                       "iptable_nat",
                                                                       "iptable_filter",
                                                                       "iptable_mangle",
                                                                       "iptable_raw",
                                                                       "ipt_REJECT",
                                                                       "ip6_tables",
                                                                       "ip6table_nat",
                                                                       "ip6table_filter",
                                                                       "ip6table_mangle",
                                                                       "ip6table_raw",
                                                                       "ip6t_REJECT",
                                                                       "tun",
                                                                       "fuse",
                                                                       "loop",
                                                                       "macvlan",
                                                                       "ipvlan"});

enum class ModuleCompression { none, xz, zstd, gzip };

// Canonical module name of a name or path: basename, without .ko[.xz|.zst|.gz], '-' -> '_'
// ("kernel/drivers/char/hw_random/virtio-rng.ko.xz" -> "virtio_rng").
std::string module_name(std::string_view name_or_path);

// How the module file at path is compressed, from its suffix.
ModuleCompression module_compression(std::string_view path);

// File name of the module once decompressed ("a/b/virtio_blk.ko.zst" -> "virtio_blk.ko").
std::string module_file_name(std::string_view path);

// Paths (as written in modules.dep, relative to /lib/modules/<version>/) of the wanted modules
// and everything they depend on, dependencies first, each once. Names match with '-' and '_'
// equivalent; wanted modules absent from modules.dep are built in and skipped. Malformed lines
// are ignored.
std::vector<std::string> modules_load_order(std::string_view modules_dep,
                                            const std::vector<std::string>& wanted);

}  // namespace banger::kernelcat
