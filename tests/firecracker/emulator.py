#!/usr/bin/env python3
"""firecracker-emulator: a TEST TOOL that stands in for the `firecracker` binary (v1.14.1) on
machines that cannot run Firecracker (no usable KVM). It is not Firecracker, not a VMM and not
meant for production: it exists so that banger's Firecracker backend can be exercised end to
end where only QEMU with software emulation (TCG) works.

Usage (as firecracker):
    emulator.py --api-sock PATH [--id ID] [--level L] [--log-path P] [--no-seccomp]
                [--boot-timer] [any other firecracker v1.14.1 option, accepted and ignored]
    emulator.py --version          prints "Firecracker v1.14.1"

What it emulates
- The API server: HTTP/1.1 on the unix socket --api-sock, keep-alive, the status codes and
  fault messages of Firecracker v1.14.1 for the calls banger makes: GET /, GET /version,
  GET /machine-config; PUT /logger, /metrics, /boot-source, /machine-config, /drives/{id},
  /network-interfaces/{id}, /vsock, /actions (InstanceStart, SendCtrlAltDel, FlushMetrics).
  Every PUT body is validated against the official specification
  (third_party/firecracker/firecracker-api-v1.14.1.yaml) with unknown properties refused,
  through fcspec.py (needs python3-yaml and python3-jsonschema; without them a warning goes to
  stderr and only required fields are checked). Pre-boot/post-boot gating and the checks Firecracker
  makes when a resource is configured (kernel/initrd/drive files can be opened, one root drive,
  unique guest MACs, the vsock socket can be bound, log/metrics files can be opened) answer with
  Firecracker's messages. Source of the messages: firecracker v1.14.1,
  src/firecracker/src/api_server/parsed_request.rs and request/*.rs (parsing, path ids),
  src/vmm/src/rpc_interface.rs (pre/post-boot errors), src/vmm/src/builder.rs,
  src/vmm/src/vmm_config/*.rs (configuration errors). Only the messages are reproduced.
- InstanceStart boots the configured machine for real with `qemu-system-x86_64 -M microvm`
  under TCG (BANGER_FC_EMULATOR_QEMU overrides the binary). Like Firecracker it appends
  "root=/dev/vda rw|ro" (or root=PARTUUID=...) for the root drive and uses Firecracker's
  default command line when boot_args is absent; it also appends tsc_early_khz=<host kHz>
  tsc=reliable (several TCG guests booting at once otherwise hang in PIT calibration).
- The vsock device's host side (Firecracker's protocol on uds_path: "CONNECT <port>\\n" ->
  "OK <host port>\\n", then a byte stream). There is no vsock in the guest: the emulator maps
  guest port 1024 to a virtio-serial port named org.banger.agent and guest port 1025 to four
  virtio-serial ports org.banger.stream.0..3 (one host connection each, the first free one is
  used); any other port is closed without an answer, as Firecracker does when nothing listens.
  So a guest agent sees virtio-serial ports, exactly as under banger's QEMU backend.
- SendCtrlAltDel presses the guest's ACPI power button (QMP system_powerdown) instead of
  Firecracker's i8042 Ctrl+Alt+Del.
- Lifecycle: it exits when QEMU exits (guest powered off, or rebooted: -no-reboot), with status
  0 when QEMU's status is 0 and 1 otherwise; SIGTERM/SIGINT kill QEMU, clean up and end the
  emulator by that signal. QEMU gets PR_SET_PDEATHSIG(SIGKILL), so it dies with the emulator
  even on SIGKILL. On exit it removes the API socket, the vsock socket and its private socket
  directory.

What it does not emulate: snapshots, balloon, MMDS, entropy, pmem, serial, memory hotplug,
cpu-config, PATCH requests, rate limiters, vhost-user drives, guest-initiated vsock connections
(uds_path_<port>), the jail itself (see "Started by the jailer"), seccomp, metrics content
(FlushMetrics writes one timestamp line).
Those API calls get 400 with a fault_message naming the emulator; --config-file and --no-api
make it exit 1.
Deviations kept on purpose: a stale socket file at --api-sock or at the vsock uds_path is
removed (Firecracker refuses an existing path); InstanceStart also needs a root drive
(Firecracker would boot without one); schema violations are worded like serde's errors where
there is one (unknown/missing field, unknown variant), else with jsonschema's message; drives
get QEMU cache=unsafe (Firecracker's "Unsafe", the default) or cache=writeback ("Writeback");
network interfaces are QEMU tap netdevs (vhost=off); "OK" is sent once QEMU's socket accepts,
not when a guest program does; the agent port carries one host connection at a time (a
virtio-serial port has one host end: a concurrent second connection gets its "OK" but no bytes
flow until the first one closes).

The socket directory: at InstanceStart a private directory (tempfile.mkdtemp under /tmp, mode
0700) holds QEMU's sockets, short enough for sun_path: qmp.sock, agent.sock, s0.sock..s3.sock.
It is removed at exit; after a SIGKILL a small `sh` child (waiting for EOF on a pipe from the
emulator) removes it.

Test-only fault injection: with BANGER_FC_EMULATOR_REFUSE="<METHOD> /<first path segment>"
(e.g. "PUT /machine-config") in its environment, that request is answered 400 with the
fault_message REFUSED_ON_PURPOSE (below) before anything else is checked, so a test can make a
configuration request fail the way Firecracker refuses one (VmSuite's Firecracker tests).

Started by the jailer: fake_jailer.py (a test tool standing in for Firecracker's jailer) runs
the emulator the way the jailer runs Firecracker (`--id <id> --start-time-us <n> ...` and the
arguments after its `--`), in the jail root as working directory, with
BANGER_FC_EMULATOR_JAILED=<uid>:<gid>. The emulator then drops to that uid and gid once its own
code and spec are loaded, and resolves every path it is given (--api-sock, kernel, initrd,
drives, the vsock uds_path, logger and metrics) inside the jail root, as a chroot would. It opens
each TAP itself through the jail's /dev/net/tun as that uid, as a jailed Firecracker does (so the
TAP must be owned by it), and hands the descriptor to QEMU (-netdev tap,fd=N).

Test-only option (hidden from --help, for tests/firecracker/emulator_test.py only):
  --test-no-qemu DIR   InstanceStart does not start QEMU: DIR is taken as the socket directory
                       (a test puts fake agent.sock, s<n>.sock and qmp.sock servers there), the
                       QEMU command line it would have run is written to DIR/qemu-argv.json, and
                       the emulator runs until it is signalled.
"""
import argparse
import ctypes
import fcntl
import json
import os
import queue
import re
import shutil
import signal
import socket
import socketserver
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from concurrent.futures import Future
from http.server import BaseHTTPRequestHandler

VERSION = "1.14.1"
DEFAULT_INSTANCE_ID = "anonymous-instance"
DEFAULT_API_SOCK = "/run/firecracker.socket"
# <linux/if_tun.h>: the TUNSETIFF ioctl and its flags (a jailed emulator opens its TAPs itself).
TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
# Firecracker's default guest command line (vmm_config/boot_source.rs), used without boot_args.
DEFAULT_BOOT_ARGS = ("reboot=k panic=1 nomodule 8250.nr_uarts=0 i8042.noaux i8042.nomux "
                     "i8042.dumbkbd swiotlb=noforce")
DEFAULT_VCPUS, DEFAULT_MEM_MIB, MAX_VCPUS = 1, 128, 32
AGENT_PORT, STREAM_PORT, STREAM_CHANNELS = 1024, 1025, 4
FIRST_HOST_PORT = 1 << 30          # Firecracker numbers host-initiated connections from 2^30
CONNECT_LINE_MAX = 32              # Firecracker reads at most 32 bytes of "CONNECT <port>\n"
QEMU_READY_TIMEOUT = 30.0          # spawn -> QEMU created its sockets
QMP_TIMEOUT = 5.0
ARG_PARSING_EXIT = 153             # FcExitCode::ArgParsing
SPEC_FILE = os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", "..", "third_party",
                         "firecracker", "firecracker-api-v1.14.1.yaml")

# Fault messages of Firecracker v1.14.1 (see the module docstring for where they come from).
POST_BOOT = "The requested operation is not supported after starting the microVM."
PRE_BOOT = "The requested operation is not supported before starting the microVM."
DRIVE_ID_MISMATCH = "The id from the path does not match the id from the body!"
NET_ID_MISMATCH = "The id from the path [{}] does not match the id from the body [{}]!"
EMPTY_ID = "The ID cannot be empty."
INVALID_ID = "API Resource IDs can only contain alphanumeric characters and underscores."
INVALID_PATH = "Invalid request method and/or path: {} {}."
DESERIALIZE = "An error occurred when deserializing the json body of a request: {}."
NO_KERNEL = "Start microvm error: Cannot start microvm without kernel configuration."
REFUSED_ON_PURPOSE = "firecracker-emulator refused {} on purpose (BANGER_FC_EMULATOR_REFUSE)"


def log(message):
    """One line of the emulator's own on stderr (the VM's console log when banger runs it)."""
    print(f"[firecracker-emulator] {message}", file=sys.stderr, flush=True)


class ApiError(Exception):
    """A refused request: answered with `status` and {"fault_message": message}."""

    def __init__(self, message, status=400):
        super().__init__(message)
        self.message, self.status = message, status


def io_error_text(err):
    """An OSError as Rust's io::Error displays it: "No such file or directory (os error 2)"."""
    if err.errno:
        return f"{os.strerror(err.errno)} (os error {err.errno})"
    return str(err)


# --- request body validation ------------------------------------------------------------------

def load_spec(path):
    """The strict validator of the specification at path, or None (warned) without
    python3-yaml/python3-jsonschema or without the file: bodies are then not validated."""
    try:
        import fcspec  # noqa: PLC0415 (optional: needs python3-yaml and python3-jsonschema)
    except ImportError as e:
        log(f"warning: {e}: request bodies are not validated "
            "(apt-get install python3-yaml python3-jsonschema)")
        return None
    try:
        return fcspec.Spec(path)
    except OSError as e:
        log(f"warning: cannot read the API specification {path}: {e}: bodies are not validated")
        return None


def serde_one_of(names):
    """serde's "expected ..." list: `a`, `a` or `b`, one of `a`, `b`, `c`."""
    quoted = [f"`{n}`" for n in names]
    if not quoted:
        return "nothing"
    if len(quoted) == 1:
        return quoted[0]
    if len(quoted) == 2:
        return f"{quoted[0]} or {quoted[1]}"
    return "one of " + ", ".join(quoted)


def describe_schema_error(error):
    """A schema violation worded like serde's error for the same body where there is one
    (unknown field, missing field, unknown variant), else jsonschema's own message."""
    schema, instance = error.schema, error.instance
    where = "/".join(map(str, error.path))
    suffix = f" (at {where})" if where else ""
    if error.validator == "additionalProperties" and isinstance(instance, dict):
        known = list(schema.get("properties", {}))
        extra = next((k for k in instance if k not in known), None)
        if extra is not None:
            return f"unknown field `{extra}`, expected {serde_one_of(known)}{suffix}"
    if error.validator == "required" and isinstance(instance, dict):
        missing = next((k for k in error.validator_value if k not in instance), None)
        if missing is not None:
            return f"missing field `{missing}`{suffix}"
    if error.validator == "enum" and isinstance(instance, str):
        return f"unknown variant `{instance}`, expected {serde_one_of(error.validator_value)}"
    return f"{error.message}{suffix}"


# Required fields per body, checked when the specification cannot be used (no jsonschema).
REQUIRED = {"/actions": ["action_type"], "/boot-source": ["kernel_image_path"],
            "/drives/{drive_id}": ["drive_id", "is_root_device"], "/logger": [],
            "/machine-config": ["vcpu_count", "mem_size_mib"], "/metrics": ["metrics_path"],
            "/network-interfaces/{iface_id}": ["iface_id", "host_dev_name"],
            "/vsock": ["guest_cid", "uds_path"]}


def parse_body(spec, template, raw):
    """The JSON object of a PUT body, validated against template's schema; ApiError with
    Firecracker's deserialization prefix when it is not valid JSON or violates the schema."""
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise ApiError(DESERIALIZE.format(e)) from None
    if spec is not None:
        import jsonschema  # noqa: PLC0415 (present: fcspec imported it)
        validator = spec.body_validator(template, "put")
        best = jsonschema.exceptions.best_match(validator.iter_errors(body))
        if best is not None:
            raise ApiError(DESERIALIZE.format(describe_schema_error(best)))
    elif not isinstance(body, dict):
        raise ApiError(DESERIALIZE.format("expected a JSON object"))
    else:
        missing = next((k for k in REQUIRED[template] if k not in body), None)
        if missing is not None:
            raise ApiError(DESERIALIZE.format(f"missing field `{missing}`"))
    return body


def checked_id(path_id):
    """A resource id taken from the path: not empty, alphanumeric or '_' (as Firecracker)."""
    if not path_id:
        raise ApiError(EMPTY_ID)
    if not all(c == "_" or c.isalnum() for c in path_id):
        raise ApiError(INVALID_ID)
    return path_id


def validate_instance_id(instance_id):
    """Firecracker's --id rule: 1 to 64 characters, alphanumeric or '-'. None when valid."""
    if not 1 <= len(instance_id) <= 64:
        return f"Invalid len ({len(instance_id)});  the length must be between 1 and 64"
    for i, c in enumerate(instance_id):
        if not (c == "-" or c.isalnum()):
            return f"Invalid char ({c}) at position {i}"
    return None


# Started by the jailer (fake_jailer.py sets BANGER_FC_EMULATOR_JAILED=<uid>:<gid>): every path
# the emulator is given is resolved inside its working directory, the jail root, as the chroot
# of a jailed Firecracker would resolve it.
JAILED = False


def host_path(path):
    """Where path (as sent to the API or given as an option) is on this host: itself, or when
    jailed the same path below the working directory (relative, so that the jail's parent
    directories, which the dropped uid may not traverse, never matter; '..' cannot leave it)."""
    if not JAILED or path is None:
        return path
    return "./" + os.path.normpath("/" + path).lstrip("/")


def enter_jail(ids):
    """Drops to uid:gid (the jailer's privilege drop, done here after the emulator's own code
    and spec are loaded, which the dropped uid may not be able to read)."""
    global JAILED
    uid, gid = (int(n) for n in ids.split(":"))
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
    JAILED = True


def open_jailed_tap(name):
    """The TAP name opened the way a jailed Firecracker opens it: through the jail's own
    /dev/net/tun, as the dropped uid (so the TAP must be that uid's: TUNSETOWNER). The fd is
    handed to QEMU."""
    fd = os.open(host_path("/dev/net/tun"), os.O_RDWR)
    try:
        request = struct.pack("16sH", name.encode(), IFF_TAP | IFF_NO_PI)
        fcntl.ioctl(fd, TUNSETIFF, request)
    except OSError:
        os.close(fd)
        raise
    return fd


def check_openable(path, writable):
    """Opens and closes path (read, plus write when writable); OSError when it cannot."""
    os.close(os.open(host_path(path), os.O_RDWR if writable else os.O_RDONLY))


def open_log_target(path):
    """A log or metrics destination opened as Firecracker does (created when missing,
    non-blocking so a FIFO without reader fails); appended to here."""
    fd = os.open(host_path(path), os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NONBLOCK,
                 0o600)
    return os.fdopen(fd, "a", buffering=1)


# --- QEMU command line ----------------------------------------------------------------------

def host_khz():
    """The host CPU clock in kHz from the first "cpu MHz" of /proc/cpuinfo; None if unknown."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("cpu MHz"):
                    return round(float(line.split(":", 1)[1]) * 1000)
    except (OSError, ValueError, IndexError):
        pass
    return None


def qemu_value(text):
    """A string as a QEMU option value: a literal ',' is written ',,'."""
    return text.replace(",", ",,")


def qemu_id(fc_id, fallback):
    """fc_id when QEMU accepts it as an id (a letter first, then letters, digits, -._), else
    fallback (Firecracker ids may start with a digit or '_', QEMU's may not)."""
    return fc_id if re.fullmatch(r"[A-Za-z][A-Za-z0-9_.-]*", fc_id) else fallback


def guest_cmdline(boot, root, khz):
    """The kernel command line: boot_args (or Firecracker's default), the root device as
    Firecracker adds it, then the TCG clock arguments when the host clock is known."""
    args = boot.get("boot_args")
    parts = [DEFAULT_BOOT_ARGS if args is None else args]
    if root is not None:
        partuuid = root.get("partuuid")
        parts.append(f"root=PARTUUID={partuuid}" if partuuid else "root=/dev/vda")
        parts.append("ro" if root.get("is_read_only") else "rw")
    if khz:
        parts.append(f"tsc_early_khz={khz} tsc=reliable")
    return " ".join(p for p in parts if p)


def qemu_argv(qemu, vm, sock_dir, khz, tap_fds=None):
    """The QEMU microvm command line running the configuration vm (a VmConfig) with its
    sockets in sock_dir; tap_fds: {iface_id: fd} of TAPs opened already (jailed). Pure: no I/O."""
    machine = vm.machine
    argv = [qemu, "-M", "microvm", "-accel", "tcg,tb-size=32", "-cpu", "max",
            "-m", str(machine["mem_size_mib"]), "-smp", str(machine["vcpu_count"]),
            "-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
            "-chardev", "stdio,id=console,signal=off", "-serial", "chardev:console",
            "-kernel", host_path(vm.boot["kernel_image_path"])]
    if vm.boot.get("initrd_path"):
        argv += ["-initrd", host_path(vm.boot["initrd_path"])]
    drives = vm.drives
    root = drives[0] if drives and drives[0].get("is_root_device") else None
    argv += ["-append", guest_cmdline(vm.boot, root, khz)]
    for n, drive in enumerate(drives):
        qid = qemu_id(drive["drive_id"], f"drive{n}")
        cache = "writeback" if drive.get("cache_type") == "Writeback" else "unsafe"
        argv += ["-drive", f"file={qemu_value(host_path(drive['path_on_host']))},format=raw,"
                           "if=none,"
                           f"id={qid},readonly={'on' if drive.get('is_read_only') else 'off'},"
                           f"cache={cache}",
                 "-device", f"virtio-blk-device,drive={qid}"]
    for n, net in enumerate(vm.nets.values()):
        qid = qemu_id(net["iface_id"], f"net{n}")
        device = f"virtio-net-device,netdev={qid}"
        if net.get("guest_mac"):
            device += f",mac={net['guest_mac']}"
        if tap_fds and net["iface_id"] in tap_fds:
            netdev = f"tap,id={qid},fd={tap_fds[net['iface_id']]},vhost=off"
        else:
            netdev = (f"tap,id={qid},ifname={qemu_value(net['host_dev_name'])},"
                      "script=no,downscript=no,vhost=off")
        argv += ["-netdev", netdev, "-device", device]
    if vm.vsock is not None:
        argv += ["-device", "virtio-serial-device",
                 "-chardev", f"socket,id=agent,path={qemu_value(sock_dir)}/agent.sock,"
                             "server=on,wait=off",
                 "-device", "virtserialport,chardev=agent,name=org.banger.agent"]
        for n in range(STREAM_CHANNELS):
            argv += ["-chardev", f"socket,id=st{n},path={qemu_value(sock_dir)}/s{n}.sock,"
                                 "server=on,wait=off",
                     "-device", f"virtserialport,chardev=st{n},name=org.banger.stream.{n}"]
    argv += ["-qmp", f"unix:{qemu_value(sock_dir)}/qmp.sock,server=on,wait=off"]
    return argv


def qemu_sockets(vm, sock_dir):
    """The socket files QEMU creates for vm in sock_dir (all exist once it is up)."""
    names = ["qmp.sock"]
    if vm.vsock is not None:
        names += ["agent.sock"] + [f"s{n}.sock" for n in range(STREAM_CHANNELS)]
    return [os.path.join(sock_dir, name) for name in names]


def die_with_parent(parent_pid):
    """A preexec_fn: the child gets SIGKILL when the thread that forked it ends (it is forked
    from the emulator's main thread, so: when the emulator ends, even by SIGKILL). prctl is
    looked up here, before the fork: the child only calls it."""
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    pr_set_pdeathsig = 1

    def preexec():
        if prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0) != 0:
            os._exit(127)
        if os.getppid() != parent_pid:   # the parent died before prctl took effect
            os._exit(127)
    return preexec


def start_dir_reaper(path):
    """Has path removed once the emulator is gone, even when it is SIGKILLed: a small shell
    child waits for EOF on a pipe whose only writer is this process (the write end is
    close-on-exec, so QEMU does not hold it). Returns the write end, to be kept open."""
    read_end, write_end = os.pipe()
    subprocess.Popen(["sh", "-c", 'cat >/dev/null; rm -rf -- "$0"', path], stdin=read_end,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, close_fds=True)
    os.close(read_end)
    return write_end


# --- QMP ------------------------------------------------------------------------------------

def qmp_execute(path, command, timeout=QMP_TIMEOUT):
    """Runs one QMP command on the server at path: greeting, qmp_capabilities, command.
    OSError or ValueError on failure (no socket, closed, an error answer, no answer)."""
    deadline = time.monotonic() + timeout
    while True:   # QEMU creates its QMP socket shortly after it starts
        try:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            sock.connect(path)
            break
        except (FileNotFoundError, ConnectionRefusedError):
            sock.close()
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.05)
    with sock, sock.makefile("rwb") as stream:
        def answer():
            while True:   # skips asynchronous events
                line = stream.readline(65536)
                if not line:
                    raise ValueError("the QMP connection closed")
                message = json.loads(line)
                if "return" in message:
                    return message["return"]
                if "error" in message:
                    raise ValueError(f"QMP error: {message['error'].get('desc', message)}")

        greeting = json.loads(stream.readline(65536) or b"null")
        if not isinstance(greeting, dict) or "QMP" not in greeting:
            raise ValueError(f"not a QMP greeting: {greeting!r}")
        for name in ("qmp_capabilities", command):
            stream.write(json.dumps({"execute": name}).encode() + b"\n")
            stream.flush()
            answer()


# --- vsock host side ------------------------------------------------------------------------

def read_connect_port(conn):
    """The port of a "CONNECT <port>\\n" request (case-insensitive, at most 32 bytes, read
    byte by byte so nothing after the newline is consumed), or None when it is anything else."""
    line = b""
    while len(line) < CONNECT_LINE_MAX and not line.endswith(b"\n"):
        byte = conn.recv(1)
        if not byte:
            return None
        line += byte
    try:
        words = line.decode("utf-8").split()
    except UnicodeDecodeError:
        return None
    if len(words) < 2 or words[0].lower() != "connect":
        return None
    if not re.fullmatch(r"\+?[0-9]+", words[1]) or int(words[1]) >= 1 << 32:
        return None
    return int(words[1])


def pump(src, dst):
    """Copies src to dst until src ends, then half-closes dst (its peer reads EOF)."""
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass


class VsockMux:
    """The host side of the emulated vsock device. Binds uds_path at construction (as
    Firecracker does at PUT /vsock); connections are served once activate() names QEMU's
    socket directory (at InstanceStart), earlier ones wait in the listen backlog."""

    def __init__(self, uds_path):
        if os.path.exists(uds_path) and stat.S_ISSOCK(os.lstat(uds_path).st_mode):
            os.unlink(uds_path)   # a stale socket (Firecracker would refuse it)
        self.uds_path = uds_path
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.listener.bind(uds_path)
            self.listener.listen(64)
        except OSError:
            self.listener.close()
            raise
        self.inode = os.stat(uds_path).st_ino
        self.lock = threading.Lock()
        self.busy_streams = set()
        self.next_host_port = FIRST_HOST_PORT
        self.sock_dir = None

    def activate(self, sock_dir):
        """Starts serving connections, bridged to the sockets of sock_dir."""
        self.sock_dir = sock_dir
        threading.Thread(target=self._accept_loop, name="vsock-accept", daemon=True).start()

    def close(self):
        """Stops accepting and removes the socket file (when it is still ours)."""
        try:
            self.listener.shutdown(socket.SHUT_RDWR)   # wakes a blocked accept()
        except OSError:
            pass
        self.listener.close()
        remove_if_same(self.uds_path, self.inode)

    def _accept_loop(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), name="vsock-conn",
                             daemon=True).start()

    def _claim(self, port):
        """(socket path, stream slot or None) for a guest port; None when nothing listens
        there or every stream port is bridged already."""
        if port == AGENT_PORT:
            return os.path.join(self.sock_dir, "agent.sock"), None
        if port == STREAM_PORT:
            with self.lock:
                free = [n for n in range(STREAM_CHANNELS) if n not in self.busy_streams]
                if not free:
                    return None
                self.busy_streams.add(free[0])
            return os.path.join(self.sock_dir, f"s{free[0]}.sock"), free[0]
        return None

    def _serve(self, conn):
        """One host connection: the CONNECT handshake, then a two-way byte stream."""
        slot = None
        upstream = None
        try:
            conn.settimeout(10)
            port = read_connect_port(conn)
            claimed = None if port is None else self._claim(port)
            if claimed is None:
                return   # closed without an answer, as Firecracker when nothing listens
            path, slot = claimed
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            upstream.settimeout(5)
            upstream.connect(path)
            conn.settimeout(None)
            upstream.settimeout(None)
            with self.lock:
                host_port = self.next_host_port
                self.next_host_port += 1
            conn.sendall(f"OK {host_port}\n".encode())
            back = threading.Thread(target=pump, args=(upstream, conn), daemon=True)
            back.start()
            pump(conn, upstream)
            back.join()
        except OSError:
            pass
        finally:
            for s in (conn, upstream):
                if s is not None:
                    s.close()
            if slot is not None:
                with self.lock:
                    self.busy_streams.discard(slot)


def remove_if_same(path, inode):
    """Removes path when it is still the file with that inode (not a successor's socket)."""
    try:
        if os.lstat(path).st_ino == inode:
            os.unlink(path)
    except OSError:
        pass


# --- the microVM's configuration and the API's semantics --------------------------------------

class VmConfig:
    """What the API configured before InstanceStart, in Firecracker's terms."""

    def __init__(self):
        self.boot = None            # the BootSource body
        self.machine = {"vcpu_count": DEFAULT_VCPUS, "mem_size_mib": DEFAULT_MEM_MIB,
                        "smt": False, "track_dirty_pages": False, "huge_pages": "None"}
        self.drives = []            # Drive bodies; the root drive first, then in PUT order
        self.nets = {}              # iface_id -> NetworkInterface body, in PUT order
        self.vsock = None           # the Vsock body

    def put_drive(self, drive):
        """Adds or replaces a drive as Firecracker orders them (root first). ApiError when a
        second root drive is added."""
        index = next((i for i, d in enumerate(self.drives)
                      if d["drive_id"] == drive["drive_id"]), None)
        has_root = bool(self.drives) and self.drives[0].get("is_root_device")
        if drive.get("is_root_device") and has_root and index != 0:
            raise ApiError("Drive config error: A root block device already exists!")
        if index is None:
            if drive.get("is_root_device"):
                self.drives.insert(0, drive)
            else:
                self.drives.append(drive)
        else:
            self.drives[index] = drive
            if index != 0 and drive.get("is_root_device"):
                self.drives[0], self.drives[index] = self.drives[index], self.drives[0]


class Emulator:
    """The API's state machine: Not started -> (InstanceStart) Running. Requests are handled
    one at a time, as Firecracker's API thread does."""

    def __init__(self, instance_id, spec, mailbox, test_sock_dir=None):
        self.instance_id = instance_id
        self.spec = spec
        self.mailbox = mailbox      # work for the main thread (which must fork QEMU)
        self.test_sock_dir = test_sock_dir
        self.vm = VmConfig()
        self.started = False
        self.lock = threading.Lock()
        self.vsock_mux = None
        self.logger = None
        self.metrics = None
        self.sock_dir = None        # QEMU's sockets
        self.own_sock_dir = False   # created here (removed at exit)
        self.qemu = None            # subprocess.Popen

    # Entry point of the HTTP layer.
    def handle(self, method, raw_path, body):
        """(status, JSON payload or None) for one request; body is bytes or None (no body)."""
        path = urllib.parse.urlsplit(raw_path).path
        tokens = path.lstrip("/").split("/")
        while len(tokens) > 1 and tokens[-1] == "":
            tokens.pop()
        first, rest = tokens[0], tokens[1:]
        with self.lock:
            try:
                refused = f"{method} /{first}"
                if os.environ.get("BANGER_FC_EMULATOR_REFUSE") == refused:
                    raise ApiError(REFUSED_ON_PURPOSE.format(refused))
                return self._dispatch(method, first, rest, body)
            except ApiError as e:
                self.log_line("Error", f"Received Error. Status code: {e.status}. "
                                       f"Message: {e.message}")
                return e.status, {"fault_message": e.message}
            except Exception as e:  # noqa: BLE001 (a bug here, or a body not validated)
                log(f"{method} {raw_path} failed: {e!r}")
                return 400, {"fault_message": f"firecracker-emulator failed on {method} "
                                              f"{raw_path}: {e!r}"}

    def _dispatch(self, method, first, rest, body):
        """Routes as Firecracker's parsed_request.rs does (same order of checks)."""
        if method == "GET":
            if body is not None:
                raise ApiError("GET request cannot have a body.")
            if first == "":
                return 200, {"id": self.instance_id,
                             "state": "Running" if self.started else "Not started",
                             "vmm_version": VERSION, "app_name": "Firecracker"}
            if first == "version":
                return 200, {"firecracker_version": VERSION}
            if first == "machine-config":
                return 200, dict(self.vm.machine)
            if first in ("balloon", "vm", "mmds", "hotplug"):
                raise ApiError(f"firecracker-emulator: GET /{first} is not emulated")
        elif method == "PUT":
            if body is None:
                raise ApiError("Empty PUT request.")
            handler = {"actions": self._put_actions, "boot-source": self._put_boot_source,
                       "drives": self._put_drive, "logger": self._put_logger,
                       "machine-config": self._put_machine_config, "metrics": self._put_metrics,
                       "network-interfaces": self._put_net, "vsock": self._put_vsock}.get(first)
            if handler is not None:
                return handler(rest, body)
            if first in ("balloon", "cpu-config", "pmem", "serial", "mmds", "snapshot",
                         "entropy", "hotplug"):
                raise ApiError(f"firecracker-emulator: PUT /{first} is not emulated")
        elif method == "PATCH":
            if body is None and first != "balloon":
                raise ApiError("Empty PATCH request.")
            if first in ("balloon", "drives", "machine-config", "mmds", "network-interfaces",
                         "vm", "hotplug"):
                raise ApiError(f"firecracker-emulator: PATCH /{first} is not emulated")
        raise ApiError(INVALID_PATH.format(method, first))

    def _preboot(self):
        """Refuses a configuration change once the microVM runs."""
        if self.started:
            raise ApiError(POST_BOOT)

    # PUT handlers: (path tokens after the first, raw body) -> (204, None) or ApiError.
    def _put_boot_source(self, _rest, raw):
        boot = parse_body(self.spec, "/boot-source", raw)
        self._preboot()
        try:
            check_openable(boot["kernel_image_path"], writable=False)
        except OSError as e:
            raise ApiError(f"Boot source error: The kernel file cannot be opened: "
                           f"{io_error_text(e)}") from None
        if boot.get("initrd_path") is not None:
            try:
                check_openable(boot["initrd_path"], writable=False)
            except OSError as e:
                raise ApiError("Boot source error: The initrd file cannot be opened due to "
                               f"invalid path or invalid permissions. {io_error_text(e)}") from None
        self.vm.boot = boot
        return 204, None

    def _put_machine_config(self, _rest, raw):
        machine = parse_body(self.spec, "/machine-config", raw)
        self._preboot()
        vcpus, mem = machine["vcpu_count"], machine["mem_size_mib"]
        smt = machine.get("smt", False)
        if not 0 < vcpus <= MAX_VCPUS or (smt and vcpus > 1 and vcpus % 2):
            raise ApiError("Machine config error: The number of vCPUs must be greater than 0, "
                           f"less than {MAX_VCPUS} and must be 1 or an even number if SMT is "
                           "enabled.")
        if mem <= 0 or (machine.get("huge_pages") == "2M" and mem % 2):
            raise ApiError("Machine config error: The memory size (MiB) is either 0, or not a "
                           "multiple of the configured page size.")
        self.vm.machine = {"vcpu_count": vcpus, "mem_size_mib": mem, "smt": smt,
                           "track_dirty_pages": machine.get("track_dirty_pages", False),
                           "huge_pages": machine.get("huge_pages", "None")}
        return 204, None

    def _put_drive(self, rest, raw):
        drive_id = checked_id(rest[0] if rest else "")
        drive = parse_body(self.spec, "/drives/{drive_id}", raw)
        if drive["drive_id"] != drive_id:
            raise ApiError(DRIVE_ID_MISMATCH)
        self._preboot()
        if drive.get("socket") is not None:
            raise ApiError("firecracker-emulator: vhost-user drives are not emulated")
        if drive.get("path_on_host") is None:
            raise ApiError("Drive config error: Unable to create the virtio block device: "
                           "Invalid block config.")
        try:
            check_openable(drive["path_on_host"], writable=not drive.get("is_read_only"))
        except OSError as e:
            raise ApiError("Drive config error: Unable to create the virtio block device: "
                           "Virtio backend error: Error manipulating the backing file: "
                           f"{io_error_text(e)} {drive['path_on_host']}") from None
        self.vm.put_drive(drive)
        return 204, None

    def _put_net(self, rest, raw):
        iface_id = checked_id(rest[0] if rest else "")
        net = parse_body(self.spec, "/network-interfaces/{iface_id}", raw)
        if net["iface_id"] != iface_id:
            raise ApiError(NET_ID_MISMATCH.format(iface_id, net["iface_id"]))
        self._preboot()
        mac = net.get("guest_mac")
        if mac is not None:
            if not re.fullmatch(r"[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}", mac):
                raise ApiError(DESERIALIZE.format(f"invalid MAC address: {mac}"))
            if any(n.get("guest_mac") == mac and n["iface_id"] != iface_id
                   for n in self.vm.nets.values()):
                raise ApiError(f"Network config error: The MAC address is already in use: {mac}")
        self.vm.nets[iface_id] = net
        return 204, None

    def _put_vsock(self, _rest, raw):
        vsock = parse_body(self.spec, "/vsock", raw)
        self._preboot()
        if self.vsock_mux is not None:   # a new device replaces the old one and its socket
            self.vsock_mux.close()
            self.vsock_mux = None
            self.vm.vsock = None
        try:
            self.vsock_mux = VsockMux(host_path(vsock["uds_path"]))
        except OSError as e:
            raise ApiError("Vsock config error: Cannot create backend for vsock device: Error "
                           f"binding to the host-side Unix socket: {io_error_text(e)}") from None
        self.vm.vsock = vsock
        return 204, None

    def _put_logger(self, _rest, raw):
        logger = parse_body(self.spec, "/logger", raw)
        self._preboot()
        if logger.get("log_path") is not None:
            try:
                target = open_log_target(logger["log_path"])
            except OSError as e:
                raise ApiError(f"Logger error: Failed to open target file: "
                               f"{io_error_text(e)}") from None
            if self.logger is not None:
                self.logger.close()
            self.logger = target
            self.log_line("Info", f"Running Firecracker v{VERSION} (firecracker-emulator, a test "
                                  "tool)")
        return 204, None

    def _put_metrics(self, _rest, raw):
        metrics = parse_body(self.spec, "/metrics", raw)
        self._preboot()
        prefix = "Metrics error: Cannot initialize the metrics system due to bad user input: "
        try:
            target = open_log_target(metrics["metrics_path"])
        except OSError as e:
            raise ApiError(prefix + io_error_text(e)) from None
        if self.metrics is not None:
            target.close()
            raise ApiError(prefix + "Reinitialization of metrics not allowed.")
        self.metrics = target
        return 204, None

    def _put_actions(self, _rest, raw):
        action = parse_body(self.spec, "/actions", raw)["action_type"]
        if action == "InstanceStart":
            self._preboot()
            self._instance_start()
        elif action == "SendCtrlAltDel":
            if not self.started:
                raise ApiError(PRE_BOOT)
            try:
                qmp_execute(os.path.join(self.sock_dir, "qmp.sock"), "system_powerdown")
            except (OSError, ValueError) as e:
                raise ApiError(f"Internal VMM error: firecracker-emulator could not press the "
                               f"guest's power button over QMP: {e}") from None
        elif action == "FlushMetrics":
            if not self.started:
                raise ApiError(PRE_BOOT)
            if self.metrics is not None:
                self.metrics.write(json.dumps({"utc_timestamp_ms": int(time.time() * 1000)}) +
                                   "\n")
        else:   # only without schema validation
            raise ApiError(DESERIALIZE.format(f"unknown variant `{action}`"))
        return 204, None

    def _instance_start(self):
        """Checks the configuration, then has the main thread boot it (ApiError on failure;
        the state stays Not started then, as Firecracker's)."""
        if self.vm.boot is None:
            raise ApiError(NO_KERNEL)
        drives = self.vm.drives
        if not drives or not drives[0].get("is_root_device"):
            raise ApiError("Start microvm error: firecracker-emulator needs a root block device "
                           "(is_root_device: true); none is configured")
        done = Future()
        self.mailbox.put(("call", self._boot, done))
        done.result()   # re-raises the boot's ApiError
        self.started = True
        if self.vsock_mux is not None:
            self.vsock_mux.activate(self.sock_dir)
        self.log_line("Info", "The microVM started (firecracker-emulator)")

    def _boot(self):
        """Runs on the main thread (PR_SET_PDEATHSIG follows the forking thread): starts QEMU
        and waits until it created its sockets. ApiError when it cannot."""
        khz = host_khz()
        if self.test_sock_dir is not None:
            self.sock_dir = self.test_sock_dir
            argv = qemu_argv(os.environ.get("BANGER_FC_EMULATOR_QEMU", "qemu-system-x86_64"),
                             self.vm, self.sock_dir, khz)
            with open(os.path.join(self.sock_dir, "qemu-argv.json"), "w") as f:
                json.dump(argv, f)
            log("test mode (--test-no-qemu): not starting " + " ".join(argv))
            return
        qemu = os.environ.get("BANGER_FC_EMULATOR_QEMU") or "qemu-system-x86_64"
        if self.sock_dir is None:
            self.sock_dir = tempfile.mkdtemp(prefix="fcemu-", dir="/tmp")
            self.own_sock_dir = True
            start_dir_reaper(self.sock_dir)   # its pipe stays open for our lifetime
        fail = "Start microvm error: Internal error while starting microVM: "
        tap_fds = {}
        try:
            if JAILED:
                for iface_id, net in self.vm.nets.items():
                    try:
                        tap_fds[iface_id] = open_jailed_tap(net["host_dev_name"])
                    except OSError as e:
                        raise ApiError(fail + "Open tap device failed: "
                                       f"{io_error_text(e)} {net['host_dev_name']}") from None
            argv = qemu_argv(qemu, self.vm, self.sock_dir, khz, tap_fds)
            log("starting " + " ".join(argv))
            try:
                self.qemu = subprocess.Popen(argv, stdin=subprocess.DEVNULL, close_fds=True,
                                             pass_fds=tuple(tap_fds.values()),
                                             preexec_fn=die_with_parent(os.getpid()))
            except OSError as e:
                raise ApiError(fail + f"cannot run {qemu}: {io_error_text(e)}") from None
        finally:
            for fd in tap_fds.values():
                os.close(fd)   # QEMU has its own copies
        deadline = time.monotonic() + QEMU_READY_TIMEOUT
        wanted = qemu_sockets(self.vm, self.sock_dir)
        while not all(os.path.exists(p) for p in wanted):
            code = self.qemu.poll()
            if code is not None:
                self.qemu = None
                raise ApiError(fail + f"{qemu} exited with status {code} (see the console log)")
            if time.monotonic() >= deadline:
                self.qemu.kill()
                self.qemu.wait()
                self.qemu = None
                raise ApiError(fail + f"{qemu} did not create its sockets within "
                                      f"{QEMU_READY_TIMEOUT:.0f} s")
            time.sleep(0.02)
        proc = self.qemu
        threading.Thread(target=lambda: self.mailbox.put(("qemu-exited", proc.wait())),
                         name="qemu-wait", daemon=True).start()

    def log_line(self, level, message):
        """A line in the configured log file (PUT /logger), if any."""
        if self.logger is None:
            return
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
        try:
            self.logger.write(f"{stamp} [{self.instance_id}:fc_api:{level.upper()}] {message}\n")
        except OSError:
            pass

    def shutdown(self):
        """Stops QEMU and the vsock listener, removes what the emulator created."""
        if self.vsock_mux is not None:
            self.vsock_mux.close()
        if self.qemu is not None and self.qemu.poll() is None:
            self.qemu.terminate()
            try:
                self.qemu.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.qemu.kill()
                self.qemu.wait()
        if self.own_sock_dir and self.sock_dir:
            shutil.rmtree(self.sock_dir, ignore_errors=True)
        for f in (self.logger, self.metrics):
            if f is not None:
                try:
                    f.close()
                except OSError:
                    pass


# --- HTTP over the API socket ------------------------------------------------------------------

class ApiHandler(BaseHTTPRequestHandler):
    """One keep-alive connection: each request goes to the server's Emulator."""
    protocol_version = "HTTP/1.1"

    def version_string(self):
        return "Firecracker API"

    def log_message(self, format, *args):  # noqa: A002 (BaseHTTPRequestHandler's signature)
        pass   # Firecracker logs requests to its logger, not to the console

    def _serve(self):
        if self.headers.get("Transfer-Encoding"):
            self._answer(400, {"fault_message": "firecracker-emulator: chunked bodies are not "
                                                "supported"})
            self.close_connection = True
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            self._answer(400, {"fault_message": "Invalid Content-Length"})
            self.close_connection = True
            return
        body = self.rfile.read(length) if length > 0 else None
        status, payload = self.server.emulator.handle(self.command, self.path, body)
        self._answer(status, payload)

    do_GET = do_PUT = do_PATCH = do_POST = do_DELETE = _serve

    def _answer(self, status, payload):
        """The response, always with a Content-Length (0 for 204)."""
        data = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        if data:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data:   # (a zero-byte write can fail once a client read the headers and left)
            self.wfile.write(data)


class ApiServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, path, emulator):
        self.emulator = emulator
        super().__init__(path, ApiHandler)

    def handle_error(self, request, client_address):
        """A client that went away is no error; anything else gets one line in the log."""
        error = sys.exc_info()[1]
        if not isinstance(error, (BrokenPipeError, ConnectionResetError)):
            log(f"API connection failed: {error!r}")


# --- the process --------------------------------------------------------------------------

class Parser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        print(f"Arguments parsing error: {message}", file=sys.stderr)
        sys.exit(ARG_PARSING_EXIT)


def parse_args(argv):
    """Firecracker v1.14.1's options; those the emulator has no use for are accepted and
    ignored, --config-file/--no-api are refused later (not emulated)."""
    p = Parser(prog="firecracker", allow_abbrev=False,
               description="firecracker-emulator: a test tool standing in for Firecracker")
    p.add_argument("--api-sock", default=DEFAULT_API_SOCK)
    p.add_argument("--id", default=DEFAULT_INSTANCE_ID)
    p.add_argument("--version", action="store_true")
    p.add_argument("--log-path")
    p.add_argument("--level")
    p.add_argument("--config-file")
    p.add_argument("--no-api", action="store_true")
    for name in ("--seccomp-filter", "--start-time-us", "--start-time-cpu-us",
                 "--parent-cpu-time-us", "--metadata", "--module", "--metrics-path",
                 "--describe-snapshot", "--http-api-max-payload-size", "--mmds-size-limit"):
        p.add_argument(name)
    for name in ("--no-seccomp", "--show-level", "--show-log-origin", "--boot-timer",
                 "--snapshot-version", "--enable-pci"):
        p.add_argument(name, action="store_true")
    p.add_argument("--test-no-qemu", metavar="DIR", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def remove_stale_socket(path):
    """Removes a socket file left at path (Firecracker itself would refuse to start)."""
    try:
        if stat.S_ISSOCK(os.lstat(path).st_mode):
            os.unlink(path)
    except FileNotFoundError:
        pass


def main(argv):
    args = parse_args(argv)
    if args.version:
        print(f"Firecracker v{VERSION}\n")
        return 0
    problem = validate_instance_id(args.id)
    if problem:
        log(f"Invalid instance ID: {problem}")
        return 1
    if args.config_file or args.no_api:
        log("--config-file and --no-api are not emulated")
        return 1
    spec = load_spec(os.environ.get("BANGER_FC_EMULATOR_SPEC", SPEC_FILE))
    if os.environ.get("BANGER_FC_EMULATOR_JAILED"):
        enter_jail(os.environ["BANGER_FC_EMULATOR_JAILED"])
    api_sock = host_path(args.api_sock)
    mailbox = queue.SimpleQueue()   # reentrant: signal handlers put into it too
    emulator = Emulator(args.id, spec, mailbox, test_sock_dir=args.test_no_qemu)
    if args.log_path:
        try:
            emulator.logger = open_log_target(args.log_path)
        except OSError as e:
            log(f"Logger error: Failed to open target file: {io_error_text(e)}")
            return 1

    remove_stale_socket(api_sock)
    try:
        server = ApiServer(api_sock, emulator)
    except OSError as e:
        log(f"Failed to open the API socket at: {args.api_sock}. {io_error_text(e)}")
        return 1
    api_inode = os.stat(api_sock).st_ino
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda n, _frame: mailbox.put(("signal", n)))
    threading.Thread(target=server.serve_forever, name="fc_api", daemon=True).start()
    log(f"Firecracker v{VERSION} emulator (a test tool) listening on {args.api_sock}"
        + (f" (jailed: uid {os.getuid()}, in {os.getcwd()})" if JAILED else ""))

    # The main thread forks QEMU (see die_with_parent) and waits for the end.
    while True:
        kind, *rest = mailbox.get()
        if kind == "call":
            work, done = rest
            try:
                done.set_result(work())
            except BaseException as e:  # noqa: BLE001 (handed to the waiting API thread)
                done.set_exception(e)
            continue
        break

    server.shutdown()
    server.server_close()
    remove_if_same(api_sock, api_inode)
    emulator.shutdown()
    if kind == "signal":
        signum = rest[0]
        log(f"{signal.Signals(signum).name}: QEMU stopped, exiting")
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return 128 + signum
    code = rest[0]
    log(f"QEMU exited with status {code}: the guest powered off or rebooted; exiting")
    return 0 if code == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
