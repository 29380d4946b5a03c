#!/usr/bin/env python3
"""fake-jailer: a TEST TOOL that stands in for Firecracker's `jailer` (v1.14.1) on machines
without Firecracker, so banger's jailer support runs end to end with the Firecracker emulator
(emulator.py). It is not the jailer and isolates nothing: never use it outside tests.

Usage (as the jailer):
    fake_jailer.py --version       prints "Jailer v1.14.1"
    fake_jailer.py --id ID --exec-file FILE --uid UID --gid GID [--chroot-base-dir DIR]
                   [--cgroup-version 1|2] [--resource-limit R=V ...] [-- firecracker args...]

What it does, in the jailer's order (Firecracker v1.14.1, src/jailer/src/env.rs, docs/jailer.md):
- validates the id (1 to 64 letters, digits and '-'), the exec file (canonicalized, a regular
  file) and the chroot base (canonicalized, a directory); errors exit 1 with the jailer's words;
- <chroot base>/<exec file name>/<id>/root: created when missing; the exec file is copied to
  <root>/<exec file name> (O_NOFOLLOW, refused when the copy has other hard links), owned by
  uid:gid with the source's mode;
- /, /dev, /dev/net and /run inside the root: created, mode 0700, owned by uid:gid;
- /dev/net/tun (10:200), /dev/kvm (10:232) and /dev/urandom (1:9) made with mknod, mode 0600,
  owned by uid:gid; an existing node fails as the jailer fails ("Failed to create /dev/net/tun
  via mknod inside the jail: File exists (os error 17)");
- <root>/<exec file name>.pid holds its pid; file descriptors above 2 are closed;
- it then runs `<exec file> --id <id> --start-time-us <n> --start-time-cpu-us <n>
  --parent-cpu-time-us <n>` plus the arguments after `--`, in the same process (exec).

Deviations, because the emulator is a Python program that needs the host's files (Python, QEMU,
its spec) and so cannot live in a chroot:
- no mount namespace, pivot_root or chroot: the working directory is set to the root instead,
  and the emulator resolves every path it is given inside it (as a chroot would);
- the original exec file runs, not the copy (the copy is made, as the jailer makes it);
- the privilege drop is the emulator's: it is started with BANGER_FC_EMULATOR_JAILED=<uid>:<gid>
  and drops to them after loading its own code, before it binds its API socket or opens any
  file it is told about (the kernel, the disks, the vsock socket, the TAP through the jail's
  /dev/net/tun);
- the environment is cleared except PATH and BANGER_FC_EMULATOR_* (the test knobs);
- --netns, --daemonize, --new-pid-ns and --cgroup/--parent-cgroup are refused (banger uses none).
"""
import os
import re
import shutil
import stat
import sys
import time

VERSION = "1.14.1"   # the jailer of the Firecracker release emulator.py stands in for
# The jailer's exit status for its errors.
ERROR_EXIT = 1
DEVICES = (("dev/net/tun", 10, 200, True), ("dev/kvm", 10, 232, True),
           ("dev/urandom", 1, 9, False))
FOLDERS = ("", "dev", "dev/net", "run")
NOT_EMULATED = ("--netns", "--daemonize", "--new-pid-ns", "--cgroup", "--parent-cgroup")


def die(message):
    print(f"Jailer error: {message}", file=sys.stderr, flush=True)
    sys.exit(ERROR_EXIT)


def parse(argv):
    """{option: value} and the arguments after `--`."""
    if "--" in argv:
        at = argv.index("--")
        argv, extra = argv[:at], argv[at + 1:]
    else:
        extra = []
    options = {"--chroot-base-dir": "/srv/jailer", "--cgroup-version": "1"}
    i = 0
    while i < len(argv):
        name = argv[i]
        if name in NOT_EMULATED:
            die(f"fake-jailer: {name} is not emulated (a test tool)")
        if name not in ("--id", "--exec-file", "--uid", "--gid", "--chroot-base-dir",
                        "--cgroup-version", "--resource-limit"):
            die(f"Arguments parsing error: Found argument '{name}' which wasn't expected.")
        if i + 1 >= len(argv):
            die(f"Arguments parsing error: Missing value for '{name}'.")
        options[name] = argv[i + 1]
        i += 2
    for required in ("--id", "--exec-file", "--uid", "--gid"):
        if required not in options:
            die(f"Arguments parsing error: Missing mandatory argument '{required}'.")
    return options, extra


def copy_exec_file(source, target, uid, gid):
    mode = os.stat(source).st_mode & 0o7777
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, mode)
    try:
        if os.fstat(fd).st_nlink > 1:
            die(f"Failed to copy {source} into the jail: {target} has more than one hard link")
        os.fchown(fd, uid, gid)
        with open(source, "rb") as src, os.fdopen(os.dup(fd), "wb") as dst:
            shutil.copyfileobj(src, dst)
    finally:
        os.close(fd)


def main(argv):
    if argv == ["--version"]:
        print(f"Jailer v{VERSION}")
        return
    started_us = time.time_ns() // 1000
    started_cpu_us = time.process_time_ns() // 1000
    options, extra = parse(argv)
    vm_id = options["--id"]
    if not re.fullmatch(r"[A-Za-z0-9-]{1,64}", vm_id):
        die(f"Invalid instance ID: {vm_id}")
    try:
        uid, gid = int(options["--uid"]), int(options["--gid"])
    except ValueError:
        die("Invalid uid or gid")
    exec_file = os.path.realpath(options["--exec-file"])
    if not os.path.isfile(exec_file):
        die(f"{exec_file} is not a file")
    base = os.path.realpath(options["--chroot-base-dir"])
    if not os.path.isdir(base):
        die(f"{base} is not a directory")
    name = os.path.basename(exec_file)
    root = os.path.join(base, name, vm_id, "root")
    os.makedirs(root, exist_ok=True)
    copy_exec_file(exec_file, os.path.join(root, name), uid, gid)
    for folder in FOLDERS:
        path = os.path.join(root, folder)
        os.makedirs(path, exist_ok=True)
        os.chmod(path, 0o700)
        os.chown(path, uid, gid)
    for device, major, minor, required in DEVICES:
        path = os.path.join(root, device)
        try:
            os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(major, minor))
            os.chown(path, uid, gid)
        except OSError as e:
            if required:
                die(f"Failed to create /{device} via mknod inside the jail: "
                    f"{e.strerror} (os error {e.errno})")
            print(f"Warning! Could not create /{device} device inside jailer: {e.strerror}.")
    with open(os.path.join(root, name + ".pid"), "w") as f:
        f.write(str(os.getpid()))
    os.chdir(root)
    os.closerange(3, 1 << 16)
    env = {k: v for k, v in os.environ.items()
           if k == "PATH" or k.startswith("BANGER_FC_EMULATOR_")}
    env["BANGER_FC_EMULATOR_JAILED"] = f"{uid}:{gid}"
    cpu_us = time.process_time_ns() // 1000
    args = ["/" + name, "--id", vm_id, "--start-time-us", str(started_us),
            "--start-time-cpu-us", str(cpu_us), "--parent-cpu-time-us",
            str(max(cpu_us - started_cpu_us, 0))] + extra
    os.execve(exec_file, args, env)


if __name__ == "__main__":
    main(sys.argv[1:])
