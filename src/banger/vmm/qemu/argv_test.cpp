#include "banger/vmm/qemu/argv.hpp"

#include <gtest/gtest.h>

namespace banger::vmm::qemu {
namespace {

using Argv = std::vector<std::string>;

VmConfig full_config() {
  return VmConfig{
      .vm_id = "3f2a",
      .name = "calm-otter",
      .vcpu = 2,
      .memory_mib = 512,
      .kernel_path = "/k/vmlinux",
      .initrd_path = "/k/initrd.img",
      .kernel_cmdline = "console=ttyS0 root=/dev/vda rw",
      .root_disk = {.path = "/vms/a/root.qcow2", .format = DiskFormat::qcow2, .read_only = false},
      .work_disk = DiskConfig{.path = "/vms/a/work.ext4", .format = DiskFormat::raw},
      .tap_name = "tap-fc-3",
      .mac = "52:54:00:10:00:02",
      .agent_socket_path = "/run/a/agent.sock",
      .control_socket_path = "/run/a/qmp.sock",
      .console_log_path = "/vms/a/console.log",
      .run_dir = "/run/a",
      .accel = Accel::kvm,
  };
}

const QemuHostCaps kCaps{.vhost_net = false, .host_khz = 2994374, .binary = "/usr/bin/qemu"};

TEST(QemuArgv, KvmWithEveryDevice) {
  Argv expected{"/usr/bin/qemu",
                "-M",
                "microvm",
                "-accel",
                "kvm",
                "-cpu",
                "host",
                "-m",
                "512",
                "-smp",
                "2",
                "-nodefaults",
                "-no-user-config",
                "-nographic",
                "-no-reboot",
                "-chardev",
                "file,id=console,path=/vms/a/console.log,append=on",
                "-serial",
                "chardev:console",
                "-kernel",
                "/k/vmlinux",
                "-initrd",
                "/k/initrd.img",
                "-append",
                "console=ttyS0 root=/dev/vda rw",
                "-drive",
                "id=root,file=/vms/a/root.qcow2,format=qcow2,if=none,cache=writeback",
                "-device",
                "virtio-blk-device,drive=root",
                "-drive",
                "id=work,file=/vms/a/work.ext4,format=raw,if=none,cache=writeback",
                "-device",
                "virtio-blk-device,drive=work",
                "-netdev",
                "tap,id=n0,ifname=tap-fc-3,script=no,downscript=no,vhost=off",
                "-device",
                "virtio-net-device,netdev=n0,mac=52:54:00:10:00:02",
                "-device",
                "virtio-serial-device",
                "-chardev",
                "socket,id=agent,path=/run/a/agent.sock,server=on,wait=off",
                "-device",
                "virtserialport,chardev=agent,name=org.banger.agent",
                "-qmp",
                "unix:/run/a/qmp.sock,server=on,wait=off"};
  EXPECT_EQ(qemu_argv(full_config(), kCaps), expected);
}

TEST(QemuArgv, TcgMinimalAddsTscArgumentsAndOmitsOptionalDevices) {
  VmConfig config = full_config();
  config.accel = Accel::tcg;
  config.vcpu = 1;
  config.memory_mib = 128;
  config.initrd_path.reset();
  config.work_disk.reset();
  config.tap_name.clear();
  config.root_disk = {.path = "/img/tiny.ext4", .format = DiskFormat::raw, .read_only = true};
  Argv expected{"/usr/bin/qemu",
                "-M",
                "microvm",
                "-accel",
                "tcg,tb-size=32",
                "-cpu",
                "max",
                "-m",
                "128",
                "-smp",
                "1",
                "-nodefaults",
                "-no-user-config",
                "-nographic",
                "-no-reboot",
                "-chardev",
                "file,id=console,path=/vms/a/console.log,append=on",
                "-serial",
                "chardev:console",
                "-kernel",
                "/k/vmlinux",
                "-append",
                "console=ttyS0 root=/dev/vda rw tsc_early_khz=2994374 tsc=reliable",
                "-drive",
                "id=root,file=/img/tiny.ext4,format=raw,if=none,cache=writeback,readonly=on",
                "-device",
                "virtio-blk-device,drive=root",
                "-device",
                "virtio-serial-device",
                "-chardev",
                "socket,id=agent,path=/run/a/agent.sock,server=on,wait=off",
                "-device",
                "virtserialport,chardev=agent,name=org.banger.agent",
                "-qmp",
                "unix:/run/a/qmp.sock,server=on,wait=off"};
  EXPECT_EQ(qemu_argv(config, kCaps), expected);
}

TEST(QemuArgv, VhostOnlyWhenTheHostHasVhostNet) {
  QemuHostCaps caps = kCaps;
  caps.vhost_net = true;
  Argv argv = qemu_argv(full_config(), caps);
  EXPECT_EQ(std::count(argv.begin(), argv.end(),
                       "tap,id=n0,ifname=tap-fc-3,script=no,downscript=no,vhost=on"),
            1);
}

TEST(QemuArgv, VhostVsockDeviceOnlyWithHostSupportAndACid) {
  VmConfig config = full_config();
  config.vsock_cid = 0x0BA00002;
  Argv without = qemu_argv(config, kCaps);
  EXPECT_EQ(std::count(without.begin(), without.end(), "vhost-vsock-device,guest-cid=195035138"),
            0);
  QemuHostCaps caps = kCaps;
  caps.vhost_vsock = true;
  Argv with = qemu_argv(config, caps);
  EXPECT_EQ(std::count(with.begin(), with.end(), "vhost-vsock-device,guest-cid=195035138"), 1);
  config.vsock_cid = 0;
  Argv no_cid = qemu_argv(config, caps);
  EXPECT_EQ(no_cid, without);
}

TEST(QemuArgv, TcgWithUnknownHostKhzAddsNoTscArguments) {
  VmConfig config = full_config();
  config.accel = Accel::tcg;
  QemuHostCaps caps = kCaps;
  caps.host_khz = 0;
  Argv argv = qemu_argv(config, caps);
  auto append = std::find(argv.begin(), argv.end(), "-append");
  ASSERT_NE(append, argv.end());
  EXPECT_EQ(*(append + 1), "console=ttyS0 root=/dev/vda rw");
}

TEST(QemuArgv, DoublesCommasInPathsInsideOptions) {
  VmConfig config = full_config();
  config.root_disk.path = "/vms/a,b/root.qcow2";
  config.console_log_path = "/vms/a,b/console.log";
  config.agent_socket_path = "/run/a,b/agent.sock";
  config.control_socket_path = "/run/a,b/qmp.sock";
  Argv argv = qemu_argv(config, kCaps);
  for (const char* want : {"id=root,file=/vms/a,,b/root.qcow2,format=qcow2,if=none,cache=writeback",
                           "file,id=console,path=/vms/a,,b/console.log,append=on",
                           "socket,id=agent,path=/run/a,,b/agent.sock,server=on,wait=off",
                           "unix:/run/a,,b/qmp.sock,server=on,wait=off"}) {
    EXPECT_EQ(std::count(argv.begin(), argv.end(), want), 1) << want;
  }
}

}  // namespace
}  // namespace banger::vmm::qemu
