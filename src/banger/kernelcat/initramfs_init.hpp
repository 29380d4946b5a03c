// The /init script (busybox sh) of banger's initramfs for Debian kernels: loads modules, applies
// the kernel-style ip= argument itself (CONFIG_IP_PNP is off), mounts root= and switch_roots.
#pragma once

#include <string_view>

namespace banger::kernelcat {

// Where the initramfs lists module files to insmod, one file name per line, in order; the
// files themselves sit in the same directory (/lib/modules/<name>).
inline constexpr std::string_view kModulesLoadOrderPath = "lib/modules/load.order";

// The stamp file of the guest module tree (lib/modules/<release>/<this>): /init installs the
// tree into the new root only when the root's copy has no stamp of the same content, and never
// replaces a /lib/modules/<release> without a stamp (the guest's own modules).
inline constexpr std::string_view kGuestModulesStamp = "banger-guest-modules";

// Text of /init (mode 0755, busybox at /bin/busybox). It reads root= (default /dev/vda),
// rootfstype= (ext4), ro/rw (rw), init= (/sbin/init) and
// ip=<client>:<server>:<gw>:<netmask>:<host>:<dev>:<autoconf> from /proc/cmdline, waits up to
// 10 s for the root device, installs the guest module tree (lib/modules/<release>) into a
// root that has /lib/modules and is mounted rw (install_guest_modules), and on any failure prints
// "initramfs: ..." and starts a shell. With BANGER_INITRAMFS_SOURCE_ONLY=1 in the environment it
// only defines its functions (parse_cmdline, apply_ip, mask_to_prefix, install_guest_modules, ...)
// so tests can source it.
std::string_view initramfs_init_script();

}  // namespace banger::kernelcat
