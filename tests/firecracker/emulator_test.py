#!/usr/bin/env python3
"""Tests of the firecracker-emulator test tool (emulator.py), through real HTTP on its unix API
socket and real unix sockets for its vsock side.

Most checks need no QEMU: the emulator's test-only flag --test-no-qemu DIR makes InstanceStart
skip QEMU and use DIR as its socket directory, where this test runs fake agent, stream and QMP
servers. With qemu-system-x86_64 and a guest kernel (BANGER_FC_TEST_KERNEL, optionally
BANGER_FC_TEST_INITRD and BANGER_FC_TEST_ROOTFS) it also boots the kernel for real; that part is
skipped with a printed reason otherwise.

Exit 0 when every check holds, 1 with one line per failed check, 77 (CTest "Skipped") without
python3-yaml or python3-jsonschema (the emulator's request validation needs them)."""
import http.client
import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time

try:
    import jsonschema  # noqa: F401 (the emulator validates with it)
    import yaml  # noqa: F401
except ImportError:
    print("python3-jsonschema or python3-yaml missing: skipping "
          "(apt-get install python3-jsonschema python3-yaml)")
    sys.exit(77)

EMULATOR = os.path.join(os.path.dirname(os.path.realpath(__file__)), "emulator.py")
POST_BOOT = "The requested operation is not supported after starting the microVM."
PRE_BOOT = "The requested operation is not supported before starting the microVM."
FAILURES = []


def check(condition, what):
    """Records a failed check (the test goes on, so one run shows every problem)."""
    if not condition:
        FAILURES.append(what)
        print(f"FAIL: {what}", flush=True)
    return condition


def wait_until(predicate, timeout, step=0.05):
    """True as soon as predicate() is true, False after timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())


# --- HTTP over a unix socket ------------------------------------------------------------------

class UnixHTTPConnection(http.client.HTTPConnection):
    """http.client on a unix stream socket (one keep-alive connection)."""

    def __init__(self, path, timeout=30):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.unix_path)
        self.sock = sock


class Api:
    """Requests on one connection; answers (status, parsed JSON or None, headers)."""

    def __init__(self, path):
        self.conn = UnixHTTPConnection(path)

    def call(self, method, path, body=None, raw=None):
        data = raw if raw is not None else (None if body is None else json.dumps(body))
        headers = {"Content-Type": "application/json"} if data is not None else {}
        self.conn.request(method, path, body=data, headers=headers)
        response = self.conn.getresponse()
        payload = response.read()
        parsed = json.loads(payload) if payload else None
        return response.status, parsed, response

    def put(self, path, body=None, raw=None):
        return self.call("PUT", path, body, raw)

    def close(self):
        self.conn.close()


def fault(answer):
    """The fault_message of an answer ("" when there is none)."""
    _, payload, _ = answer
    return payload.get("fault_message", "") if isinstance(payload, dict) else ""


def expect_fault(answer, pattern, what):
    """Checks a 400 whose fault_message matches the regular expression pattern."""
    status, _, _ = answer
    message = fault(answer)
    check(status == 400 and re.search(pattern, message) is not None,
          f"{what}: wanted 400 /{pattern}/, got {status} {message!r}")


def expect_204(answer, what):
    status, payload, response = answer
    check(status == 204 and payload is None and response.getheader("Content-Length") == "0",
          f"{what}: wanted 204 with Content-Length 0, got {status} {payload!r} "
          f"(Content-Length {response.getheader('Content-Length')})")


# --- the emulator process -----------------------------------------------------------------

class Emulator:
    """An emulator process on tmp/<name>.sock, its output in tmp/<name>.log."""

    def __init__(self, tmp, name, *args, env=None):
        self.sock = os.path.join(tmp, f"{name}.sock")
        self.log_path = os.path.join(tmp, f"{name}.log")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([sys.executable, EMULATOR, "--api-sock", self.sock,
                                      "--id", name, "--no-seccomp", *args],
                                     stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True,
                                     env=env)

    def wait_ready(self, timeout=20):
        """True once GET / answers 200."""
        def answers():
            try:
                api = Api(self.sock)
                ok = api.call("GET", "/")[0] == 200
                api.close()
                return ok
            except OSError:
                return False
        return wait_until(lambda: self.proc.poll() is None and answers(), timeout, 0.1)

    def output(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self, sig=signal.SIGTERM, timeout=15):
        """Sends sig when still running; the exit status (None if it did not exit)."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None
        finally:
            self.log.close()


# --- fake servers in the emulator's socket directory --------------------------------------

class FakeServer:
    """A unix socket server at path; serve(conn) runs in a thread per connection."""

    def __init__(self, path, serve):
        self.path = path
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(path)
        self.listener.listen(8)
        self.serve = serve
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn):
        with conn:
            try:
                self.serve(conn)
            except OSError:
                pass

    def close(self):
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()


def agent_serve(conn):
    """Fake guest agent: answers each chunk with "agent:<chunk>"; at EOF says "bye", closes."""
    while True:
        data = conn.recv(4096)
        if not data:
            conn.sendall(b"bye")
            return
        conn.sendall(b"agent:" + data)


def stream_serve(n):
    """Fake stream port n: names itself, then echoes until EOF."""
    def serve(conn):
        conn.sendall(f"stream{n}\n".encode())
        while True:
            data = conn.recv(4096)
            if not data:
                return
            conn.sendall(data)
    return serve


class FakeQmp:
    """A fake QMP server recording the commands it is sent (an event precedes each answer)."""

    def __init__(self, path):
        self.commands = []
        self.server = FakeServer(path, self._serve)

    def _serve(self, conn):
        stream = conn.makefile("rwb")
        stream.write(b'{"QMP": {"version": {}, "capabilities": []}}\n')
        stream.flush()
        for line in stream:
            command = json.loads(line).get("execute")
            self.commands.append(command)
            stream.write(b'{"event": "SOMETHING", "data": {}}\n{"return": {}}\n')
            stream.flush()


def read_until(sock, wanted, timeout=5):
    """Bytes read from sock until they contain wanted, EOF or timeout."""
    sock.settimeout(timeout)
    data = b""
    try:
        while wanted not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    except socket.timeout:
        pass
    except ConnectionResetError:   # closed with our bytes unread: as good as EOF here
        pass
    return data


def read_lines(sock, count, timeout=5):
    """Bytes read from sock until they hold count newlines, EOF or timeout."""
    sock.settimeout(timeout)
    data = b""
    try:
        while data.count(b"\n") < count:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    except (socket.timeout, ConnectionResetError):
        pass
    return data


def read_all(sock, timeout=5):
    """Everything until EOF (or timeout)."""
    return read_until(sock, b"\0never\0", timeout)


def vsock_connect(uds_path, request):
    """A connection to the emulated vsock socket after writing request (bytes)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(uds_path)
    s.sendall(request)
    return s


# --- the checks -----------------------------------------------------------------------------

def test_version():
    run = subprocess.run([sys.executable, EMULATOR, "--version"], capture_output=True, text=True)
    check(run.returncode == 0 and run.stdout.startswith("Firecracker v1.14.1\n"),
          f"--version: got {run.returncode} {run.stdout!r}")
    run = subprocess.run([EMULATOR, "--version"], capture_output=True, text=True)
    check(run.returncode == 0, f"emulator.py is not executable by itself: {run.stderr!r}")
    run = subprocess.run([sys.executable, EMULATOR, "--api-sock", "/nonexistent/x", "--id",
                          "bad_id"], capture_output=True, text=True)
    check(run.returncode != 0 and "Invalid instance ID" in run.stderr,
          f"--id bad_id (Firecracker refuses '_'): got {run.returncode} {run.stderr!r}")


def test_refusal_on_purpose(tmp):
    """BANGER_FC_EMULATOR_REFUSE answers exactly that request with a fault, nothing else."""
    env = dict(os.environ, BANGER_FC_EMULATOR_REFUSE="PUT /machine-config")
    emu = Emulator(tmp, "refuser", env=env)
    try:
        check(emu.wait_ready(), "the refusing emulator did not answer GET /")
        api = Api(emu.sock)
        expect_fault(api.call("PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 128}),
                     r"^firecracker-emulator refused PUT /machine-config on purpose "
                     r"\(BANGER_FC_EMULATOR_REFUSE\)$", "the refused request")
        expect_fault(api.call("PUT", "/boot-source", {"kernel_image_path": "/nonexistent"}),
                     r"kernel", "another request is checked as usual")
        api.close()
    finally:
        emu.stop()


def test_configuration(tmp):
    """Pre-boot API semantics without booting."""
    kernel, rootfs, work = (os.path.join(tmp, n) for n in ("vmlinux", "root.ext4", "work.ext4"))
    for path in (kernel, rootfs, work):
        with open(path, "wb") as f:
            f.truncate(1 << 20)
    stale = os.path.join(tmp, "cfg.sock")
    stale_sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale_sock.bind(stale)   # a stale socket file at the API path is replaced
    stale_sock.close()
    emu = Emulator(tmp, "cfg")
    try:
        if not check(emu.wait_ready(), f"the emulator did not answer: {emu.output()}"):
            return
        api = Api(emu.sock)
        status, info, response = api.call("GET", "/")
        check(status == 200 and info == {"id": "cfg", "state": "Not started",
                                         "vmm_version": "1.14.1", "app_name": "Firecracker"},
              f"GET / before boot: {status} {info}")
        check(response.getheader("Content-Type") == "application/json",
              "GET / has no JSON content type")
        first_socket = api.conn.sock

        expect_fault(api.put("/actions", {"action_type": "InstanceStart"}),
                     r"^Start microvm error: Cannot start microvm without kernel configuration\.$",
                     "InstanceStart without boot-source")
        expect_fault(api.put("/actions", {"action_type": "SendCtrlAltDel"}),
                     "^" + re.escape(PRE_BOOT) + "$", "SendCtrlAltDel before boot")
        expect_fault(api.put("/boot-source", {"kernel_image_path": kernel, "kernel_path": kernel}),
                     r"^An error occurred when deserializing the json body of a request: "
                     r"unknown field `kernel_path`", "unknown property")
        expect_fault(api.put("/boot-source", {"kernel_image_path": os.path.join(tmp, "none")}),
                     r"^Boot source error: The kernel file cannot be opened: No such file or "
                     r"directory \(os error 2\)$", "missing kernel file")
        expect_fault(api.put("/machine-config", {"vcpu_count": "2", "mem_size_mib": 128}),
                     r"^An error occurred when deserializing the json body", "vcpu_count string")
        expect_fault(api.put("/drives/root", {"drive_id": "work", "path_on_host": rootfs,
                                              "is_root_device": True, "is_read_only": False}),
                     r"^The id from the path does not match the id from the body!$",
                     "drive_id differs from the path")
        expect_fault(api.put("/network-interfaces/eth0", {"iface_id": "eth1",
                                                          "host_dev_name": "tap0"}),
                     r"^The id from the path \[eth0\] does not match the id from the body "
                     r"\[eth1\]!$", "iface_id differs from the path")
        expect_fault(api.put("/drives/bad-id", {"drive_id": "bad-id", "path_on_host": rootfs,
                                                "is_root_device": False, "is_read_only": True}),
                     r"^API Resource IDs can only contain alphanumeric characters and "
                     r"underscores\.$", "drive id with '-'")
        expect_fault(api.put("/no-such-thing", {}),
                     r"^Invalid request method and/or path: PUT no-such-thing\.$", "unknown path")
        expect_fault(api.call("GET", "/no-such-thing"),
                     r"^Invalid request method and/or path: GET no-such-thing\.$",
                     "unknown GET path")
        expect_fault(api.put("/boot-source"), r"^Empty PUT request\.$", "PUT without body")
        expect_fault(api.put("/actions", {"action_type": "Reboot"}),
                     r"unknown variant `Reboot`", "unknown action")
        expect_fault(api.put("/boot-source", raw="{not json"),
                     r"^An error occurred when deserializing the json body of a request: ",
                     "malformed JSON")
        expect_fault(api.put("/actions", {"action_type": "FlushMetrics"}),
                     "^" + re.escape(PRE_BOOT) + "$", "FlushMetrics before boot")

        log_file, metrics_file = os.path.join(tmp, "fc.log"), os.path.join(tmp, "fc.metrics")
        for path, body in [
                ("/logger", {"log_path": log_file, "level": "Info", "show_level": True,
                             "show_log_origin": False}),
                ("/metrics", {"metrics_path": metrics_file}),
                ("/boot-source", {"kernel_image_path": kernel, "boot_args": "console=ttyS0"}),
                ("/machine-config", {"vcpu_count": 2, "mem_size_mib": 256}),
                ("/drives/root", {"drive_id": "root", "path_on_host": rootfs,
                                  "is_root_device": True, "is_read_only": False}),
                ("/drives/work", {"drive_id": "work", "path_on_host": work,
                                  "is_root_device": False, "is_read_only": True}),
                ("/network-interfaces/eth0", {"iface_id": "eth0", "host_dev_name": "tap0",
                                              "guest_mac": "06:00:ac:10:00:02"}),
                ("/vsock", {"guest_cid": 3, "uds_path": os.path.join(tmp, "cfg.vsock")})]:
            expect_204(api.put(path, body), f"PUT {path}")
        check(os.path.exists(log_file) and os.path.exists(metrics_file),
              "PUT /logger and /metrics did not create their files")
        expect_fault(api.put("/metrics", {"metrics_path": metrics_file}),
                     r"Reinitialization of metrics not allowed\.$", "second PUT /metrics")
        expect_fault(api.put("/drives/other", {"drive_id": "other", "path_on_host": work,
                                               "is_root_device": True, "is_read_only": True}),
                     r"^Drive config error: A root block device already exists!$",
                     "a second root drive")
        expect_fault(api.put("/network-interfaces/eth1", {"iface_id": "eth1",
                                                          "host_dev_name": "tap1",
                                                          "guest_mac": "06:00:ac:10:00:02"}),
                     r"^Network config error: The MAC address is already in use: "
                     r"06:00:ac:10:00:02$", "a guest MAC used twice")
        status, machine, _ = api.call("GET", "/machine-config")
        check(status == 200 and machine.get("vcpu_count") == 2
              and machine.get("mem_size_mib") == 256, f"GET /machine-config: {status} {machine}")
        check(os.path.exists(os.path.join(tmp, "cfg.vsock")),
              "PUT /vsock did not bind its uds_path")
        check(api.conn.sock is first_socket, "the emulator closed a keep-alive connection")
        api.close()

        # The emulator needs a root drive (Firecracker would not).
        bare = Emulator(tmp, "bare")
        try:
            if check(bare.wait_ready(), f"second emulator did not answer: {bare.output()}"):
                api = Api(bare.sock)
                expect_204(api.put("/boot-source", {"kernel_image_path": kernel}), "boot-source")
                expect_fault(api.put("/actions", {"action_type": "InstanceStart"}),
                             r"root block device", "InstanceStart without a root drive")
                api.close()
        finally:
            bare.stop()
    finally:
        status = emu.stop()
        check(status == -signal.SIGTERM, f"SIGTERM: exit status {status}, wanted the signal")
        check(not os.path.exists(emu.sock), "the API socket is left after SIGTERM")
        check(not os.path.exists(os.path.join(tmp, "cfg.vsock")),
              "the vsock socket is left after SIGTERM")


def test_booted(tmp):
    """InstanceStart in test mode (no QEMU): QEMU's command line, post-boot gating, the vsock
    bridge to fake servers, SendCtrlAltDel over a fake QMP, SIGTERM."""
    sock_dir = tempfile.mkdtemp(prefix="fcemu-test-", dir="/tmp")
    servers = [FakeServer(os.path.join(sock_dir, "agent.sock"), agent_serve)]
    servers += [FakeServer(os.path.join(sock_dir, f"s{n}.sock"), stream_serve(n))
                for n in range(4)]
    qmp = FakeQmp(os.path.join(sock_dir, "qmp.sock"))
    servers.append(qmp.server)
    kernel, rootfs, work = (os.path.join(tmp, n) for n in ("vmlinux", "root.ext4", "work.ext4"))
    for path in (kernel, rootfs, work):
        with open(path, "wb") as f:
            f.truncate(1 << 20)
    uds = os.path.join(tmp, "vm.vsock")
    env = dict(os.environ, BANGER_FC_EMULATOR_QEMU="/opt/qemu/bin/qemu-fake")
    emu = Emulator(tmp, "vm", "--test-no-qemu", sock_dir, env=env)
    try:
        if not check(emu.wait_ready(), f"the emulator did not answer: {emu.output()}"):
            return
        api = Api(emu.sock)
        for path, body in [
                ("/boot-source", {"kernel_image_path": kernel, "boot_args": "console=ttyS0 quiet"}),
                ("/machine-config", {"vcpu_count": 2, "mem_size_mib": 192}),
                ("/drives/work", {"drive_id": "work", "path_on_host": work,
                                  "is_root_device": False, "is_read_only": True}),
                ("/drives/root", {"drive_id": "root", "path_on_host": rootfs,
                                  "is_root_device": True, "is_read_only": False}),
                ("/network-interfaces/eth0", {"iface_id": "eth0", "host_dev_name": "tap-test",
                                              "guest_mac": "06:00:ac:10:00:02"}),
                ("/vsock", {"guest_cid": 3, "uds_path": uds})]:
            expect_204(api.put(path, body), f"PUT {path}")
        # Vsock before boot: the socket is bound, a connection waits until InstanceStart.
        early = vsock_connect(uds, b"CONNECT 1024\n")
        expect_204(api.put("/actions", {"action_type": "InstanceStart"}), "InstanceStart")
        status, info, _ = api.call("GET", "/")
        check(status == 200 and info.get("state") == "Running", f"GET / after boot: {info}")
        check_qemu_argv(sock_dir, kernel, rootfs, work)

        expect_fault(api.put("/drives/x", {"drive_id": "x", "path_on_host": work,
                                           "is_root_device": False, "is_read_only": True}),
                     "^" + re.escape(POST_BOOT) + "$", "PUT /drives after boot")
        expect_fault(api.put("/actions", {"action_type": "InstanceStart"}),
                     "^" + re.escape(POST_BOOT) + "$", "a second InstanceStart")
        expect_fault(api.put("/vsock", {"guest_cid": 4, "uds_path": uds + "2"}),
                     "^" + re.escape(POST_BOOT) + "$", "PUT /vsock after boot")
        expect_fault(api.put("/machine-config", {"vcpu_count": 1, "mem_size_mib": 128}),
                     "^" + re.escape(POST_BOOT) + "$", "PUT /machine-config after boot")
        expect_204(api.put("/actions", {"action_type": "FlushMetrics"}), "FlushMetrics")

        check(read_until(early, b"\n").startswith(b"OK "),
              "a CONNECT made before InstanceStart was not served after it")
        early.close()
        check_vsock(uds)

        expect_204(api.put("/actions", {"action_type": "SendCtrlAltDel"}), "SendCtrlAltDel")
        check(qmp.commands == ["qmp_capabilities", "system_powerdown"],
              f"SendCtrlAltDel: QMP commands {qmp.commands}")
        api.close()
    finally:
        status = emu.stop()
        check(status == -signal.SIGTERM, f"SIGTERM (booted): exit status {status}")
        check(not os.path.exists(emu.sock), "the API socket is left after SIGTERM (booted)")
        check(not os.path.exists(uds), "the vsock socket is left after SIGTERM (booted)")
        check(os.path.isdir(sock_dir), "the emulator removed a --test-no-qemu directory")
        for server in servers:
            server.close()
        shutil.rmtree(sock_dir, ignore_errors=True)


def check_qemu_argv(sock_dir, kernel, rootfs, work):
    """The QEMU command line InstanceStart would have run (written in test mode)."""
    try:
        with open(os.path.join(sock_dir, "qemu-argv.json")) as f:
            argv = json.load(f)
    except (OSError, ValueError) as e:
        check(False, f"no qemu-argv.json from the test-mode InstanceStart: {e}")
        return
    line = " ".join(argv)

    def has(*seq):
        n = len(seq)
        return any(argv[i:i + n] == list(seq) for i in range(len(argv) - n + 1))

    check(argv[0] == "/opt/qemu/bin/qemu-fake", f"BANGER_FC_EMULATOR_QEMU ignored: {argv[0]}")
    for seq in [("-M", "microvm"), ("-accel", "tcg,tb-size=32"), ("-cpu", "max"),
                ("-m", "192"), ("-smp", "2"), ("-nodefaults",), ("-no-reboot",),
                ("-chardev", "stdio,id=console,signal=off"), ("-serial", "chardev:console"),
                ("-kernel", kernel), ("-device", "virtio-serial-device"),
                ("-device", "virtserialport,chardev=agent,name=org.banger.agent"),
                ("-device", "virtio-net-device,netdev=eth0,mac=06:00:ac:10:00:02"),
                ("-qmp", f"unix:{sock_dir}/qmp.sock,server=on,wait=off")]:
        check(has(*seq), f"QEMU argv lacks {' '.join(seq)}: {line}")
    for n in range(4):
        check(has("-chardev", f"socket,id=st{n},path={sock_dir}/s{n}.sock,server=on,wait=off",
                  "-device", f"virtserialport,chardev=st{n},name=org.banger.stream.{n}"),
              f"QEMU argv lacks stream port {n}: {line}")
    drives = [a for a in argv if a.startswith("file=")]
    check(len(drives) == 2 and drives[0].startswith(f"file={rootfs},format=raw,if=none,id=root,"
                                                    "readonly=off")
          and drives[1].startswith(f"file={work},format=raw,if=none,id=work,readonly=on"),
          f"drives (root first, then in PUT order): {drives}")
    check(any(a.startswith("tap,id=eth0,ifname=tap-test,script=no,downscript=no") for a in argv),
          f"QEMU argv lacks the tap netdev: {line}")
    append = argv[argv.index("-append") + 1] if "-append" in argv else ""
    check(re.fullmatch(r"console=ttyS0 quiet root=/dev/vda rw( tsc_early_khz=\d+ tsc=reliable)?",
                       append) is not None, f"kernel command line: {append!r}")
    with open("/proc/cpuinfo") as f:
        knows_mhz = "cpu MHz" in f.read()
    check(("tsc_early_khz=" in append) == knows_mhz,
          f"tsc_early_khz present iff /proc/cpuinfo has cpu MHz: {append!r}")


def check_vsock(uds):
    """Firecracker's host-side vsock protocol, bridged to the fake servers."""
    # Port 1024: the agent; bytes after the CONNECT line are the stream's; half-close.
    s = vsock_connect(uds, b"CONNECT 1024\nhello")
    got = read_until(s, b"agent:hello")
    check(re.match(rb"OK \d+\n", got) is not None and got.endswith(b"agent:hello"),
          f"CONNECT 1024 (+data): got {got!r}")
    s.sendall(b"ping")
    check(read_until(s, b"agent:ping").endswith(b"agent:ping"), "agent round trip")
    s.shutdown(socket.SHUT_WR)
    check(read_all(s) == b"bye", "half-close: the agent's last words after our EOF")
    s.close()

    s = vsock_connect(uds, b"connect 1024\n")
    got = read_until(s, b"\n")
    check(re.fullmatch(rb"OK (\d+)\n", got) is not None and int(got[3:]) >= 1 << 30,
          f"lower-case connect: got {got!r}")
    s.close()

    # Port 1025: the four stream ports, one connection each, then none free.
    streams = {}
    for _ in range(4):
        s = vsock_connect(uds, b"CONNECT 1025\n")
        got = read_lines(s, 2)
        m = re.match(rb"OK \d+\nstream(\d)\n", got)
        if check(m is not None, f"CONNECT 1025: got {got!r}"):
            streams[int(m.group(1))] = s
    check(sorted(streams) == [0, 1, 2, 3], f"the four stream connections used {sorted(streams)}")
    fifth = vsock_connect(uds, b"CONNECT 1025\n")
    check(read_all(fifth) == b"", "a fifth CONNECT 1025 was not closed without an answer")
    fifth.close()
    if 2 in streams:
        streams[2].sendall(b"echo")
        check(read_until(streams[2], b"echo").endswith(b"echo"), "stream echo")
        streams.pop(2).close()

        def reuse():
            s = vsock_connect(uds, b"CONNECT 1025\n")
            got = read_lines(s, 2, 2)
            s.close()
            return got.endswith(b"stream2\n")
        check(wait_until(reuse, 5, 0.1), "a freed stream port was not used again")
    for s in streams.values():
        s.close()

    for request, what in [(b"CONNECT 52\n", "a port nobody listens on"),
                          (b"HELLO 1024\n", "not a CONNECT"),
                          (b"CONNECT 10x\n", "a bad port number"),
                          (b"CONNECT " + b" " * 40 + b"1024\n", "a request over 32 bytes")]:
        s = vsock_connect(uds, request)
        check(read_all(s) == b"", f"{what}: not closed without an answer")
        s.close()


def test_boot(tmp):
    """A real boot with QEMU, when a kernel is available."""
    qemu = os.environ.get("BANGER_FC_EMULATOR_QEMU") or "qemu-system-x86_64"
    kernel = os.environ.get("BANGER_FC_TEST_KERNEL")
    if shutil.which(qemu) is None:
        print(f"skipped the real boot: {qemu} is not installed")
        return
    if not kernel:
        print("skipped the real boot: set BANGER_FC_TEST_KERNEL (and optionally "
              "BANGER_FC_TEST_INITRD, BANGER_FC_TEST_ROOTFS) to boot a guest kernel")
        return
    rootfs = os.environ.get("BANGER_FC_TEST_ROOTFS")
    if not rootfs:   # an empty disk: the kernel cannot mount it, panics and reboots
        rootfs = os.path.join(tmp, "empty-root.img")
        with open(rootfs, "wb") as f:
            f.truncate(16 << 20)
    initrd = os.environ.get("BANGER_FC_TEST_INITRD")

    def boot(name):
        emu = Emulator(tmp, name)
        if not check(emu.wait_ready(), f"{name}: the emulator did not answer: {emu.output()}"):
            return emu, None
        api = Api(emu.sock)
        boot_source = {"kernel_image_path": kernel,
                       "boot_args": "console=ttyS0 reboot=k panic=1 pci=off"}
        if initrd:
            boot_source["initrd_path"] = initrd
        for path, body in [("/boot-source", boot_source),
                           ("/machine-config", {"vcpu_count": 1, "mem_size_mib": 256}),
                           ("/drives/root", {"drive_id": "root", "path_on_host": rootfs,
                                             "is_root_device": True, "is_read_only": True}),
                           ("/vsock", {"guest_cid": 3,
                                       "uds_path": os.path.join(tmp, f"{name}.vsock")}),
                           ("/actions", {"action_type": "InstanceStart"})]:
            expect_204(api.put(path, body), f"{name}: PUT {path}")
        status, info, _ = api.call("GET", "/")
        check(status == 200 and info.get("state") == "Running", f"{name}: GET /: {info}")
        api.close()
        return emu, qemu_child(emu.proc.pid)

    # 1. Boot, Ctrl+Alt+Del; the emulator ends with QEMU (the guest powers off on the ACPI
    #    button, or, without a usable root, panics and reboots: -no-reboot). The button is
    #    pressed again every 5 s: a guest ignores it until its handler runs.
    emu, child = boot("boot")
    try:
        booted = wait_until(lambda: "Linux version" in emu.output(), 120, 0.2)
        check(booted, f"the console does not show the kernel booting: {emu.output()[-2000:]}")
        check(child is not None, "no QEMU child process found")
        deadline = time.monotonic() + 180
        while booted and emu.proc.poll() is None and time.monotonic() < deadline:
            try:
                api = Api(emu.sock)
                answer = api.put("/actions", {"action_type": "SendCtrlAltDel"})
                api.close()
                check(answer[0] == 204 or emu.proc.poll() is not None,
                      f"SendCtrlAltDel after boot: {answer[0]} {fault(answer)}")
            except OSError:
                check(emu.proc.poll() is not None, "SendCtrlAltDel: the API went away")
            wait_until(lambda: emu.proc.poll() is not None, 5, 0.2)
        if emu.proc.poll() is not None:
            check(emu.proc.returncode == 0,
                  f"the emulator exited with {emu.proc.returncode} after its guest")
            print("real boot: the guest stopped and the emulator exited 0")
        else:
            print("note: the guest neither powered off nor rebooted within 180 s; killing it")
    finally:
        emu.stop()
    check(child is None or wait_until(lambda: not os.path.exists(f"/proc/{child}"), 10),
          "QEMU outlived the emulator")
    check(not os.path.exists(emu.sock), "the API socket is left after the guest stopped")

    # 2. SIGKILL of the emulator takes QEMU with it (PR_SET_PDEATHSIG), and its socket
    #    directory goes too (its reaper child).
    emu, child = boot("killed")
    try:
        found = re.search(r"path=(/tmp/fcemu-[^/,]+)/agent\.sock", emu.output())
        sock_dir = found.group(1) if found else None
        check(sock_dir is not None and os.path.isdir(sock_dir),
              f"no socket directory in the emulator's log: {emu.output()[:2000]}")
        if check(child is not None, "no QEMU child process found (second boot)"):
            os.kill(emu.proc.pid, signal.SIGKILL)
            check(wait_until(lambda: not os.path.exists(f"/proc/{child}"), 10),
                  "QEMU outlived a SIGKILLed emulator")
            check(sock_dir is None or wait_until(lambda: not os.path.exists(sock_dir), 10),
                  f"the socket directory {sock_dir} outlived a SIGKILLed emulator")
    finally:
        emu.stop()


FAKE_JAILER = os.path.join(os.path.dirname(os.path.realpath(__file__)), "fake_jailer.py")
JAIL_ID = 0x0BA0FFFE   # an unprivileged id no account holds (banger's VMM id range)


def test_jailed(tmp):
    """fake_jailer.py stages a jail as the jailer does and starts the emulator in it the way
    the jailer starts Firecracker; the emulator drops to the jail's id and resolves every path
    inside the jail. Needs root (mknod, chown, setuid)."""
    if os.geteuid() != 0:
        print("test_jailed: skipped (needs root: the jailer makes device nodes and drops "
              "privileges)")
        return
    base = os.path.join(tmp, "jailer")
    os.makedirs(base, mode=0o700)
    root = os.path.join(base, "emulator.py", "vm-1", "root")
    log_path = os.path.join(tmp, "jailed.log")
    argv = [FAKE_JAILER, "--id", "vm-1", "--exec-file", EMULATOR, "--uid", str(JAIL_ID),
            "--gid", str(JAIL_ID), "--chroot-base-dir", base, "--", "--api-sock", "/api.sock"]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    sock = os.path.join(root, "api.sock")
    output = lambda: open(log_path, "rb").read().decode("utf-8", "replace")  # noqa: E731

    def answers():
        try:
            api = Api(sock)
            ok = api.call("GET", "/")[0] == 200
            api.close()
            return ok
        except OSError:
            return False
    try:
        if not check(wait_until(lambda: proc.poll() is None and answers(), 20, 0.1),
                     f"the jailed emulator did not answer on {sock}: {output()}"):
            return
        # What the jailer staged.
        for path, major, minor in (("dev/net/tun", 10, 200), ("dev/kvm", 10, 232),
                                   ("dev/urandom", 1, 9)):
            st = os.lstat(os.path.join(root, path))
            check(stat.S_ISCHR(st.st_mode) and os.major(st.st_rdev) == major
                  and os.minor(st.st_rdev) == minor and st.st_mode & 0o7777 == 0o600
                  and st.st_uid == JAIL_ID and st.st_gid == JAIL_ID,
                  f"{path}: mode {st.st_mode:o} rdev {os.major(st.st_rdev)}:"
                  f"{os.minor(st.st_rdev)} owner {st.st_uid}:{st.st_gid}")
        for folder in ("", "dev", "run"):
            st = os.lstat(os.path.join(root, folder))
            check(st.st_uid == JAIL_ID and st.st_mode & 0o7777 == 0o700,
                  f"/{folder} in the jail: owner {st.st_uid}, mode {st.st_mode & 0o7777:o}")
        copy = os.lstat(os.path.join(root, "emulator.py"))
        check(copy.st_uid == JAIL_ID and copy.st_size == os.path.getsize(EMULATOR)
              and copy.st_nlink == 1, "the exec file was not copied into the jail")
        check(open(os.path.join(root, "emulator.py.pid")).read() == str(proc.pid),
              "the pid file does not hold the (same-process) firecracker pid")
        # The emulator runs as the jail's id, in the jail, under the jailer's argv.
        status = open(f"/proc/{proc.pid}/status").read()
        check(re.search(rf"^Uid:\s+{JAIL_ID}\s+{JAIL_ID}\s+{JAIL_ID}\s+{JAIL_ID}$", status,
                        re.M) is not None, "the emulator did not drop to the jail's uid")
        check(os.readlink(f"/proc/{proc.pid}/cwd") == root, "the emulator does not run in the jail")
        cmdline = open(f"/proc/{proc.pid}/cmdline", "rb").read().split(b"\0")
        check(b"--start-time-us" in cmdline and b"/api.sock" in cmdline,
              f"not the jailer's command line: {cmdline}")
        # Paths are the jail's: /vmlinux is <root>/vmlinux; a host file outside is not there.
        with open(os.path.join(root, "vmlinux"), "wb") as f:
            f.truncate(1 << 20)
        os.chmod(os.path.join(root, "vmlinux"), 0o644)
        api = Api(sock)
        expect_204(api.put("/boot-source", {"kernel_image_path": "/vmlinux"}), "/vmlinux")
        expect_fault(api.put("/boot-source", {"kernel_image_path": "/../../" + EMULATOR}),
                     r"The kernel file cannot be opened: No such file or directory",
                     "a path climbing out of the jail")
        expect_204(api.put("/vsock", {"guest_cid": 3, "uds_path": "/v.sock"}), "vsock")
        check(stat.S_ISSOCK(os.lstat(os.path.join(root, "v.sock")).st_mode)
              and os.lstat(os.path.join(root, "v.sock")).st_uid == JAIL_ID,
              "the vsock socket is not the jail's /v.sock, made by the jail's uid")
        api.close()
        # A jail left behind makes the (fake) jailer fail as the jailer does.
        again = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        check(again.returncode == 1 and "Failed to create /dev/net/tun via mknod inside the "
              "jail: File exists (os error 17)" in again.stderr,
              f"a second jailer on a used jail: {again.returncode} {again.stderr!r}")
        refused = subprocess.run(argv[:1] + ["--netns", "/run/netns/x"] + argv[1:],
                                 capture_output=True, text=True, timeout=30)
        check(refused.returncode == 1 and "not emulated" in refused.stderr,
              f"--netns: {refused.returncode} {refused.stderr!r}")
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)
    check(not os.path.exists(sock), "the jailed API socket is left after the emulator exited")


def qemu_child(pid):
    """The pid of the emulator's QEMU child, or None."""
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                children = f.read().split()
            if children:
                return int(children[0])
    except OSError:
        pass
    return None


def main():
    tmp = tempfile.mkdtemp(prefix="fcemu-", dir="/tmp")
    try:
        for test in (test_version, test_refusal_on_purpose, test_configuration, test_booted,
                     test_jailed, test_boot):
            started = time.monotonic()
            test(*([tmp] if test is not test_version else []))
            print(f"{test.__name__}: {time.monotonic() - started:.1f} s", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if FAILURES:
        print(f"{len(FAILURES)} check(s) failed")
        return 1
    print("firecracker-emulator: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
