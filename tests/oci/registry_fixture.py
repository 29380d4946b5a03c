#!/usr/bin/env python3
"""Local OCI registry fixture for testing `banger image pull`.

This module is both a library and a command line tool.  It needs only the
Python 3.11 standard library plus Debian's `docker-registry` (distribution
2.8), `htpasswd` (apache2-utils, only for --auth) and the `zstd` CLI.

Command line
------------
  registry_fixture.py start --workdir W [--auth USER:PASSWORD]
      Start `docker-registry serve` on 127.0.0.1:<free port> with storage in
      W/storage, log in W/registry.log, pid in W/registry.pid.  Prints one JSON
      line: {"url": "http://127.0.0.1:PORT", "pid": N, "workdir": "W"}.

  registry_fixture.py stop --workdir W
      SIGTERM the registry whose pid is in W/registry.pid, SIGKILL after 5 s.

  registry_fixture.py push-suite --url URL [--auth USER:PASSWORD]
                                 [--registry-workdir W] --out expected.json
      Build the test images, push them through the registry HTTP API v2 and
      write the expected flattened trees (the test oracle) to expected.json.
      With --registry-workdir (the W given to `start`) the `evil:digest-mismatch`
      case is also made, by overwriting a stored blob on disk.

  registry_fixture.py expected --out expected.json
      Write the expected trees without pushing anything ("manifests" and the
      evil digest-mismatch case are then absent).

expected.json layout
--------------------
  {"banger-test/layers:oci": TREE, ..., "banger-test/tiny:latest": TREE,
   "evil": {"banger-test/evil:dotdot": "<error substring>", ...},
   "configs": {"<repo:tag>": {"Env": [...], "WorkingDir": ..., ...}},
   "manifests": {"<repo:tag>": {"digest": "sha256:...", "mediaType": ...}}}
  TREE = {"/abs/path": {"type": "file|dir|symlink|fifo|char|block",
                        "mode": int (perm bits incl. suid/sgid/sticky),
                        "uid": n, "gid": n, "mtime": n, "xattrs": {name: hex},
                        file: "size", "sha256"; symlink: "target";
                        char/block: "rdev": [major, minor];
                        optional "hardlink_group": "hlN"}
          or {"type": "dir", "implicit": true} for parents no layer declared}
  "/" itself is not listed.  Tree keys are exactly the keys containing ':'.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import gzip
import hashlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Iterable

# ---------------------------------------------------------------------------
# Media types
# ---------------------------------------------------------------------------

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"

OCI_LAYER_TYPES = {"gzip": OCI_LAYER_GZIP, "zstd": OCI_LAYER_ZSTD, "none": OCI_LAYER_TAR}

# cap_net_raw+ep as a VFS_CAP_REVISION_2 security.capability value.
CAP_NET_RAW_EP = bytes.fromhex("0100000200200000000000000000000000000000")

BASE_MTIME = 1700000000  # 2023-11-14T22:13:20Z; each layer/entry gets its own offset

# ---------------------------------------------------------------------------
# Registry process management
# ---------------------------------------------------------------------------

REGISTRY_BIN = "docker-registry"
READY_TIMEOUT_S = 30.0
STOP_GRACE_S = 5.0


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago.

    Binds port 0, reads the kernel's choice and closes the socket; the caller
    must tolerate the (small) race of someone else taking it meanwhile."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def parse_auth(value: str | None) -> tuple[str, str] | None:
    """Split a 'user:password' string into (user, password); None stays None.

    Raises ValueError if there is no ':' or the user part is empty."""
    if value is None:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user:
        raise ValueError(f"--auth must be USER:PASSWORD, got {value!r}")
    return user, password


def write_htpasswd(path: str, user: str, password: str) -> None:
    """Write a bcrypt htpasswd file at `path` holding one user.

    Uses `htpasswd -Bbn` (apache2-utils); raises CalledProcessError on failure."""
    out = subprocess.run(["htpasswd", "-Bbn", user, password],
                         check=True, capture_output=True).stdout
    with open(path, "wb") as fh:
        fh.write(out.strip() + b"\n")


def write_registry_config(workdir: str, port: int, htpasswd_path: str | None) -> str:
    """Write a distribution 2.8 config.yml for 127.0.0.1:port into workdir.

    Storage is the filesystem driver under workdir/storage, deletes are
    enabled, no blob descriptor cache is configured (so blobs changed on disk
    are served as they are).  With htpasswd_path, htpasswd auth is enabled.
    Returns the config file path."""
    storage = os.path.join(workdir, "storage")
    os.makedirs(storage, exist_ok=True)
    lines = [
        "version: 0.1",
        "log:",
        "  level: info",
        "  formatter: text",
        "storage:",
        "  filesystem:",
        f"    rootdirectory: {json.dumps(storage)}",
        "  delete:",
        "    enabled: true",
        "  maintenance:",
        "    uploadpurging:",
        "      enabled: false",
        "http:",
        f"  addr: 127.0.0.1:{port}",
        f"  secret: {os.urandom(16).hex()}",
    ]
    if htpasswd_path:
        lines += [
            "auth:",
            "  htpasswd:",
            "    realm: banger-test",
            f"    path: {json.dumps(htpasswd_path)}",
        ]
    path = os.path.join(workdir, "config.yml")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    return path


def _http_opener() -> urllib.request.OpenerDirector:
    """Return a urllib opener that never uses a proxy (loopback only)."""
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))


def probe_v2(url: str) -> int | None:
    """GET url + '/v2/' without credentials; return the HTTP status or None if
    the connection failed."""
    try:
        with _http_opener().open(url + "/v2/", timeout=2) as resp:
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code
    except (urllib.error.URLError, OSError):
        return None


def _pid_alive(pid: int) -> bool:
    """True if `pid` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            state = fh.read().rsplit(b")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError, ProcessLookupError):
        return False
    return state != b"Z"


def _pid_is_registry(pid: int) -> bool:
    """True if `pid` is alive and its command line is a docker-registry."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            argv0 = fh.read().split(b"\0")[0]
    except FileNotFoundError:
        return False
    return _pid_alive(pid) and os.path.basename(argv0) == REGISTRY_BIN.encode()


@dataclasses.dataclass
class RegistryInfo:
    """A running registry: base url, pid and work directory."""
    url: str
    pid: int
    workdir: str

    def as_json(self) -> str:
        """One-line JSON {"url", "pid", "workdir"}."""
        return json.dumps({"url": self.url, "pid": self.pid, "workdir": self.workdir})


def start_registry(workdir: str, auth: tuple[str, str] | None = None,
                   attempts: int = 5) -> tuple[RegistryInfo, subprocess.Popen]:
    """Start docker-registry on 127.0.0.1:<free port> with state in workdir.

    The process runs in its own session with stdio going to
    workdir/registry.log, so it outlives a CLI caller.  Waits until GET /v2/
    answers 200 or 401 and writes workdir/registry.pid.  Retries with a new
    port if the process dies early (port race).  Returns (info, Popen).
    Raises RuntimeError if a registry from this workdir is still running or
    none could be started."""
    workdir = os.path.abspath(workdir)
    os.makedirs(workdir, exist_ok=True)
    pid_path = os.path.join(workdir, "registry.pid")
    if os.path.exists(pid_path):
        old = int(open(pid_path).read().strip() or 0)
        if old and _pid_is_registry(old):
            raise RuntimeError(f"registry pid {old} from {workdir} still running")
        os.unlink(pid_path)
    htpasswd_path = None
    if auth:
        htpasswd_path = os.path.join(workdir, "htpasswd")
        write_htpasswd(htpasswd_path, *auth)
    log_path = os.path.join(workdir, "registry.log")
    last_error = "no attempt made"
    for _ in range(attempts):
        port = free_port()
        config = write_registry_config(workdir, port, htpasswd_path)
        url = f"http://127.0.0.1:{port}"
        with open(log_path, "ab") as log:
            proc = subprocess.Popen([REGISTRY_BIN, "serve", config],
                                    stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                    start_new_session=True, close_fds=True)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                last_error = f"registry exited with {proc.returncode}, see {log_path}"
                break
            if probe_v2(url) in (200, 401):
                with open(pid_path, "w") as fh:
                    fh.write(f"{proc.pid}\n")
                return RegistryInfo(url, proc.pid, workdir), proc
            time.sleep(0.1)
        else:
            last_error = f"registry not ready after {READY_TIMEOUT_S}s, see {log_path}"
            _terminate(proc.pid, proc)
    raise RuntimeError(last_error)


def _terminate(pid: int, proc: subprocess.Popen | None = None) -> None:
    """SIGTERM pid, SIGKILL it if still alive after STOP_GRACE_S, then wait.

    With `proc` (our own child) it is reaped; otherwise /proc is polled."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + STOP_GRACE_S
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return
        if proc is None and not _pid_alive(pid):
            return
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    if proc is not None:
        proc.wait()
        return
    deadline = time.monotonic() + STOP_GRACE_S
    while _pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)


def stop_registry(workdir: str, proc: subprocess.Popen | None = None) -> bool:
    """Stop the registry recorded in workdir/registry.pid and remove the file.

    Only a process whose command line is docker-registry is signalled (guards
    against pid reuse).  Returns True if a process was stopped."""
    pid_path = os.path.join(os.path.abspath(workdir), "registry.pid")
    try:
        pid = int(open(pid_path).read().strip())
    except (FileNotFoundError, ValueError):
        return False
    stopped = False
    if _pid_is_registry(pid):
        _terminate(pid, proc)
        stopped = True
    os.unlink(pid_path)
    return stopped


class Registry:
    """Context manager: a registry running for the duration of a `with`.

        with Registry("/tmp/w", auth=("u", "p")) as reg:
            push_suite(reg.url, auth=("u", "p"), registry_workdir=reg.workdir)
    """

    def __init__(self, workdir: str, auth: tuple[str, str] | None = None):
        """Remember settings; nothing is started until __enter__."""
        self.workdir = os.path.abspath(workdir)
        self.auth = auth
        self.info: RegistryInfo | None = None
        self._proc: subprocess.Popen | None = None

    def __enter__(self) -> "Registry":
        """Start the registry and return self (with .url/.pid set)."""
        self.info, self._proc = start_registry(self.workdir, self.auth)
        return self

    def __exit__(self, *exc) -> None:
        """Stop the registry and reap it."""
        stop_registry(self.workdir, self._proc)

    @property
    def url(self) -> str:
        """Base URL, e.g. http://127.0.0.1:41234."""
        assert self.info is not None
        return self.info.url

    @property
    def pid(self) -> int:
        """Registry process id."""
        assert self.info is not None
        return self.info.pid


# ---------------------------------------------------------------------------
# Registry HTTP API v2 client (push side)
# ---------------------------------------------------------------------------

def sha256_digest(data: bytes) -> str:
    """'sha256:<hex>' of data."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


class RegistryError(RuntimeError):
    """An unexpected HTTP status from the registry."""


class RegistryClient:
    """Minimal registry v2 client: monolithic blob upload and manifest put.

    With auth, an HTTP basic Authorization header is sent on every request
    (what docker-registry's htpasswd mode accepts directly)."""

    def __init__(self, url: str, auth: tuple[str, str] | None = None):
        """url is the base, e.g. http://127.0.0.1:5000 (no trailing /v2)."""
        self.url = url.rstrip("/")
        self.opener = _http_opener()
        self.headers: dict[str, str] = {}
        if auth:
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            self.headers["Authorization"] = f"Basic {token}"

    def request(self, method: str, url: str, data: bytes | None = None,
                headers: dict[str, str] | None = None,
                expect: Iterable[int] = (200,)) -> tuple[int, dict[str, str], bytes]:
        """Send one request (url absolute or relative to the base).

        Returns (status, headers, body); raises RegistryError when the status
        is not in `expect`, with the registry's error body in the message."""
        full = urllib.parse.urljoin(self.url + "/", url)
        req = urllib.request.Request(full, data=data, method=method,
                                     headers={**self.headers, **(headers or {})})
        try:
            with self.opener.open(req, timeout=60) as resp:
                status, hdrs, body = resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as err:
            status, hdrs, body = err.code, dict(err.headers), err.read()
        if status not in tuple(expect):
            raise RegistryError(f"{method} {full} -> {status}: {body[:500]!r}")
        return status, hdrs, body

    def blob_exists(self, repo: str, digest: str) -> bool:
        """True if HEAD /v2/<repo>/blobs/<digest> answers 200."""
        status, _, _ = self.request("HEAD", f"/v2/{repo}/blobs/{digest}", expect=(200, 404))
        return status == 200

    def push_blob(self, repo: str, data: bytes) -> str:
        """Upload data as a blob of repo (POST + monolithic PUT ?digest=).

        Skips the upload if the blob is already there.  Returns its digest."""
        digest = sha256_digest(data)
        if self.blob_exists(repo, digest):
            return digest
        _, hdrs, _ = self.request("POST", f"/v2/{repo}/blobs/uploads/", data=b"",
                                  headers={"Content-Length": "0"}, expect=(202,))
        location = hdrs.get("Location") or hdrs.get("location")
        if not location:
            raise RegistryError("upload POST returned no Location")
        sep = "&" if "?" in location else "?"
        self.request("PUT", f"{location}{sep}digest={urllib.parse.quote(digest)}", data=data,
                     headers={"Content-Type": "application/octet-stream"}, expect=(201,))
        return digest

    def push_manifest(self, repo: str, reference: str, body: bytes, media_type: str) -> str:
        """PUT body as manifest repo:reference with Content-Type media_type.

        Returns the digest of body (checked against Docker-Content-Digest)."""
        _, hdrs, _ = self.request("PUT", f"/v2/{repo}/manifests/{reference}", data=body,
                                  headers={"Content-Type": media_type}, expect=(201,))
        digest = sha256_digest(body)
        got = hdrs.get("Docker-Content-Digest")
        if got and got != digest:
            raise RegistryError(f"registry says manifest digest {got}, expected {digest}")
        return digest

    def get_manifest(self, repo: str, reference: str, accept: Iterable[str]) -> tuple[str, bytes]:
        """GET a manifest with the given Accept types; returns (content type, body)."""
        _, hdrs, body = self.request("GET", f"/v2/{repo}/manifests/{reference}",
                                     headers={"Accept": ", ".join(accept)})
        return hdrs.get("Content-Type", ""), body

    def get_blob(self, repo: str, digest: str) -> bytes:
        """GET a blob's bytes (follows redirects)."""
        return self.request("GET", f"/v2/{repo}/blobs/{digest}")[2]


# ---------------------------------------------------------------------------
# Tar entries
# ---------------------------------------------------------------------------

@dataclasses.dataclass
class Entry:
    """One tar member: a TarInfo plus file data (regular files only)."""
    info: tarfile.TarInfo
    data: bytes = b""


def _info(name: str, type_: bytes, mode: int, uid: int, gid: int,
          xattrs: dict[str, bytes] | None = None) -> tarfile.TarInfo:
    """Build a TarInfo with the given fields; names are stored verbatim."""
    ti = tarfile.TarInfo(name)
    ti.type = type_
    ti.mode = mode
    ti.uid, ti.gid = uid, gid
    ti.uname = ti.gname = ""
    ti.mtime = -1  # replaced by build_tar unless set explicitly
    for key, value in (xattrs or {}).items():
        ti.pax_headers["SCHILY.xattr." + key] = value.decode("utf-8", "surrogateescape")
    return ti


def D(name: str, mode: int = 0o755, uid: int = 0, gid: int = 0) -> Entry:
    """A directory entry."""
    return Entry(_info(name, tarfile.DIRTYPE, mode, uid, gid))


def F(name: str, data: bytes | str, mode: int = 0o644, uid: int = 0, gid: int = 0,
      xattrs: dict[str, bytes] | None = None, mtime: int | None = None) -> Entry:
    """A regular file entry with contents `data` (str is UTF-8 encoded)."""
    if isinstance(data, str):
        data = data.encode()
    ti = _info(name, tarfile.REGTYPE, mode, uid, gid, xattrs)
    ti.size = len(data)
    if mtime is not None:
        ti.mtime = mtime
    return Entry(ti, data)


def S(name: str, target: str, uid: int = 0, gid: int = 0) -> Entry:
    """A symlink entry name -> target (mode 0777 as Linux reports it)."""
    ti = _info(name, tarfile.SYMTYPE, 0o777, uid, gid)
    ti.linkname = target
    return Entry(ti)


def H(name: str, target: str, mode: int | None = None, uid: int = 0, gid: int = 0,
      mtime: int | None = None) -> Entry:
    """A hard link entry; target is a member name (relative to the layer root).

    Real tar writers repeat the target's metadata in a link header and Docker
    even applies it to the shared inode, so by default build_tar copies mode,
    uid, gid and mtime from the same-layer target.  A link to a file of a
    lower layer must pass them (equal to the target's) explicitly."""
    ti = _info(name, tarfile.LNKTYPE, -1 if mode is None else mode, uid, gid)
    ti.linkname = target
    if mtime is not None:
        ti.mtime = mtime
    return Entry(ti)


def FIFO(name: str, mode: int = 0o644, uid: int = 0, gid: int = 0) -> Entry:
    """A named pipe entry."""
    return Entry(_info(name, tarfile.FIFOTYPE, mode, uid, gid))


def CHR(name: str, major: int, minor: int, mode: int = 0o666, uid: int = 0, gid: int = 0) -> Entry:
    """A character device entry."""
    ti = _info(name, tarfile.CHRTYPE, mode, uid, gid)
    ti.devmajor, ti.devminor = major, minor
    return Entry(ti)


def WH(name: str) -> Entry:
    """A whiteout marker (`.wh.<x>` or `.wh..wh..opq`), an empty regular file."""
    return F(name, b"", 0o644)


def build_tar(entries: list[Entry], base_mtime: int) -> bytes:
    """Serialize entries, in order, as a PAX tar (deterministic bytes).

    Entries whose mtime is still unset get base_mtime + their index; hard
    links without explicit metadata copy it from their same-layer target."""
    buf = io.BytesIO()
    written: dict[str, tarfile.TarInfo] = {}
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for index, entry in enumerate(entries):
            info = entry.info
            if info.mtime == -1:
                info.mtime = base_mtime + index
            if info.islnk() and info.mode == -1:
                target = written[info.linkname]
                info.mode, info.uid, info.gid, info.mtime = (
                    target.mode, target.uid, target.gid, target.mtime)
            written[info.name] = info
            tar.addfile(info, io.BytesIO(entry.data) if info.isreg() else None)
    return buf.getvalue()


def compress(data: bytes, method: str) -> bytes:
    """Compress with 'gzip' (mtime 0, deterministic), 'zstd' (zstd CLI) or 'none'."""
    if method == "gzip":
        return gzip.compress(data, compresslevel=6, mtime=0)
    if method == "zstd":
        return subprocess.run(["zstd", "-q", "-c", "-3"], input=data,
                              check=True, capture_output=True).stdout
    if method == "none":
        return data
    raise ValueError(method)


def pseudo_random(n: int, seed: bytes) -> bytes:
    """n deterministic, incompressible bytes (a SHA-256 counter stream)."""
    out = bytearray()
    counter = 0
    while len(out) < n:
        out += hashlib.sha256(seed + counter.to_bytes(8, "big")).digest()
        counter += 1
    return bytes(out[:n])


# ---------------------------------------------------------------------------
# Image contents
# ---------------------------------------------------------------------------

PERL_MTIME = BASE_MTIME - 1000  # explicit: layer 2 links to this layer-1 file
LONG_NAME = "usr/share/doc/" + "a-very-long-file-name-" * 6 + "end.txt"  # > 100 bytes: PAX path
LONG_TARGET = "../../../" + "/".join(["deep-directory-component"] * 5) + "/target"  # > 100 bytes


def layer1_base() -> list[Entry]:
    """Base layer (gzip in OCI): most entry kinds, implicit parents, things
    that later layers delete, replace or make opaque."""
    return [
        D("bin"),
        F("bin/sh", "#!fake shell\n", 0o755),
        D("dev"),
        CHR("dev/null", 1, 3, 0o666),
        FIFO("dev/initctl", 0o600),
        D("etc"),
        F("etc/hostname", "banger-test\n"),
        F("etc/passwd", "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n"),
        F("etc/shadow", "root:*:19000:0:99999:7:::\n", 0o640, 0, 42),
        F("etc/motd", "this file is deleted by a whiteout in layer 4\n"),
        F("etc/os-release", 'ID=banger-test\nVERSION_ID="1"\n'),
        S("etc/localtime", "/usr/share/zoneinfo/UTC"),
        D("home"),
        D("home/user", 0o750, 1000, 1000),
        F("home/user/.profile", "export PS1='$ '\n", 0o644, 1000, 1000),
        D("opt/app"),  # opt is implicit
        F("opt/app/old1.txt", "old 1, hidden by the opaque marker in layer 4\n"),
        D("opt/app/sub"),
        F("opt/app/sub/old2.txt", "old 2, hidden by the opaque marker in layer 4\n"),
        D("srv"),
        D("srv/données"),
        F("srv/données/élan 🐍.txt", "non-ASCII name\n"),
        D("srv/with space", 0o755, 1000, 1000),
        F("srv/with space/a file.txt", "name with spaces\n", 0o600, 1000, 1000),
        D("srv/replaced"),
        F("srv/replaced/child.txt", "goes away when layer 4 replaces the dir by a file\n"),
        D("srv/replaced/deeper"),
        F("srv/replaced/deeper/x", "x\n"),
        F("srv/was-file", "layer 4 replaces this file by a directory\n"),
        D("tmp", 0o1777),
        D("usr/bin"),  # usr is implicit
        F("usr/bin/python3.11", b"\x7fELF fake python\n" + bytes(range(256)), 0o755),
        S("usr/bin/python3", "python3.11"),
        F("usr/bin/su", "setuid root\n", 0o4755),
        F("usr/bin/wall", "setgid tty\n", 0o2755, 0, 5),
        F("usr/bin/ping", "has cap_net_raw+ep\n", 0o755, xattrs={"security.capability": CAP_NET_RAW_EP}),
        F("usr/bin/perl5.36.0", "perl v1\n", 0o755, mtime=PERL_MTIME),
        H("usr/bin/perl", "usr/bin/perl5.36.0"),
        D("usr/share/zoneinfo"),  # usr/share is implicit
        F("usr/share/zoneinfo/UTC", b"TZif2\0\0fake zone data\n"),
        D("usr/share/doc"),
        F(LONG_NAME, "long name\n"),
        S("usr/share/doc/long-link", LONG_TARGET),
        D("var/cache/apt"),  # var and var/cache are implicit
        F("var/cache/apt/pkgcache.bin", pseudo_random(5000, b"pkgcache")),
        D("var/cache/apt/archives/partial", 0o700, 100, 0),  # archives is implicit
        F("var/cache/keep.txt", "sibling of a whited-out directory\n"),
    ]


def layer2_libs() -> list[Entry]:
    """Second layer (zstd in OCI): libraries, a big file, an empty file, a
    hard link inside the layer and one to a file from layer 1."""
    return [
        D("usr/lib"),
        F("usr/lib/libfoo.so.1.2.3", b"\x7fELF fake lib\n" * 10),
        S("usr/lib/libfoo.so.1", "libfoo.so.1.2.3"),
        S("usr/lib/libfoo.so", "libfoo.so.1"),
        F("usr/lib/big.bin", pseudo_random(300 * 1024, b"big")),
        F("usr/lib/data.txt", "hard-linked within layer 2\n", 0o640, 0, 50),
        H("usr/lib/data-link.txt", "usr/lib/data.txt"),
        H("usr/bin/perl-cross-layer", "usr/bin/perl5.36.0", 0o755, 0, 0, PERL_MTIME),
        F("etc/empty", b""),
        F("opt/app/from-layer2.txt", "hidden by the opaque marker in layer 4\n"),
    ]


def layer3_dotslash() -> list[Entry]:
    """Third layer (uncompressed in OCI), member names written as './x' with a
    './' root entry (as `tar -C rootfs -c .` does); re-declares /srv with a
    new mode (contents must stay) and overwrites /etc/hostname."""
    return [
        D("."),
        D("./srv", 0o700),
        D("./usr/local/bin"),  # usr/local is implicit
        F("./usr/local/bin/tool", "#!/bin/sh\necho tool\n", 0o755),
        H("./usr/local/bin/tool-alias", "./usr/local/bin/tool"),
        D("./var/log"),
        F("./var/log/app.log", "log line\n", 0o640, 0, 4),
        F("./etc/hostname", "banger-layer3\n"),
    ]


def layer4_changes() -> list[Entry]:
    """Fourth layer (gzip): whiteouts, an opaque dir (marker after same-layer
    entries), overwrites with new mode/owner, dir->file and file->dir."""
    return [
        WH("etc/.wh.motd"),
        WH("etc/.wh.does-not-exist"),  # whiteout of nothing: a no-op
        WH("var/cache/.wh.apt"),
        WH("usr/lib/.wh.libfoo.so"),  # delete a symlink
        D("opt/app", 0o775),
        F("opt/app/new.txt", "added in the same layer as the opaque marker\n"),
        D("opt/app/sub"),
        F("opt/app/sub/keep.txt", "sub re-created in the opaque layer\n"),
        WH("opt/app/.wh..wh..opq"),
        F("etc/os-release", 'ID=banger-test\nVERSION_ID="2"\n', 0o600, 100, 101),
        F("srv/replaced", "now a regular file\n"),
        D("srv/was-file", 0o755),
        F("srv/was-file/inside.txt", "inside the new directory\n"),
        F("usr/bin/perl5.36.0", "perl v2 (new inode; perl and perl-cross-layer keep v1)\n", 0o755),
    ]


LAYERS_OCI_COMPRESSION = ["gzip", "zstd", "none", "gzip"]

LAYERS_CONFIG = {
    "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "LANG=C.UTF-8", "BANGER_TEST=with spaces and = sign"],
    "WorkingDir": "/home/user",
    "Entrypoint": ["/usr/bin/python3", "-u"],
    "Cmd": ["-c", "print('hello from banger-test')"],
    "User": "1000:1000",
    "Labels": {"org.opencontainers.image.title": "banger-test layers"},
}


def arm64_layer() -> list[Entry]:
    """The only layer of the arm64 variants (must never be picked on amd64)."""
    return [D("etc"), F("etc/hostname", "arm64-variant\n"), F("ARM64-ONLY", "wrong platform\n")]


def tiny_layer() -> list[Entry]:
    """The only layer of banger-test/tiny:latest."""
    return [
        D("bin"),
        F("bin/hello", "#!/bin/sh\necho hello\n", 0o755),
        D("etc"),
        F("etc/hostname", "tiny\n"),
        F("README", "banger-test tiny image\n", 0o444),
    ]


# ---------------------------------------------------------------------------
# Oracle: independent flattening of uncompressed layer tars
# ---------------------------------------------------------------------------

_KIND = {tarfile.REGTYPE: "file", tarfile.AREGTYPE: "file", tarfile.DIRTYPE: "dir",
         tarfile.SYMTYPE: "symlink", tarfile.FIFOTYPE: "fifo", tarfile.CHRTYPE: "char",
         tarfile.BLKTYPE: "block"}


def normalize_member(name: str) -> str:
    """Member name -> root-relative path ('' is the root): drops leading './'
    and trailing '/'.  Raises ValueError on absolute or '..' paths (valid
    suite images never contain them)."""
    while name.startswith("./"):
        name = name[2:]
    name = name.rstrip("/")
    if name == ".":
        name = ""
    parts = name.split("/") if name else []
    if name.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"unexpected member name {name!r} in a valid image")
    return name


def flatten(layer_tars: list[bytes]) -> dict[str, dict]:
    """Apply uncompressed layer tars oldest-first; return the expected TREE.

    Semantics (OCI image-spec layer.md):
      * Per layer, whiteouts first act on the tree built by LOWER layers
        only: `.wh.X` removes X (and its subtree), `.wh..wh..opq` in D
        removes every existing child of D.  Then all other members are applied
        in order, so entries of the same layer are never hidden by them.
      * A directory member over an existing directory updates its metadata
        and keeps its children; any other member replaces what is at its path
        (a replaced directory loses its whole subtree).
      * A hard link makes the path share the node of its target; a later
        member at either path replaces only that path (a new inode).
      * Missing parents are created as implicit directories.
    Paths in the result are absolute; '/' is omitted.  Nodes that several
    paths share get a common "hardlink_group"."""
    tree: dict[str, dict] = {}

    def remove(path: str) -> None:
        """Remove path and everything below it."""
        tree.pop(path, None)
        for key in [k for k in tree if k.startswith(path + "/")]:
            del tree[key]

    for tar_bytes in layer_tars:
        with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
            members = [(m, tar.extractfile(m).read() if m.isreg() else b"") for m in tar]
        # Phase 1: whiteouts against lower layers.
        for member, _ in members:
            path = normalize_member(member.name)
            parent, _, base = path.rpartition("/")
            if base == ".wh..wh..opq":
                for key in [k for k in tree if parent == "" or k.startswith(parent + "/")]:
                    del tree[key]
            elif base.startswith(".wh."):
                remove((parent + "/" if parent else "") + base[4:])
        # Phase 2: everything else, in order.
        for member, data in members:
            path = normalize_member(member.name)
            base = path.rpartition("/")[2]
            if base.startswith(".wh."):
                continue
            if path == "":  # the root directory itself is not part of TREE
                continue
            parts = path.split("/")
            for i in range(1, len(parts)):
                ancestor = "/".join(parts[:i])
                if ancestor not in tree:
                    tree[ancestor] = {"type": "dir", "implicit": True}
                elif tree[ancestor]["type"] != "dir":
                    raise ValueError(f"{path}: parent {ancestor} is not a directory")
            if member.islnk():
                target = tree[normalize_member(member.linkname)]
                remove(path)
                tree[path] = target
                continue
            node = {
                "type": _KIND[member.type],
                "mode": member.mode & 0o7777,
                "uid": member.uid,
                "gid": member.gid,
                "mtime": int(member.mtime),
                "xattrs": {k[len("SCHILY.xattr."):]: v.encode("utf-8", "surrogateescape").hex()
                           for k, v in member.pax_headers.items()
                           if k.startswith("SCHILY.xattr.")},
            }
            if node["type"] == "file":
                node["size"] = len(data)
                node["sha256"] = hashlib.sha256(data).hexdigest()
            elif node["type"] == "symlink":
                node["target"] = member.linkname
            elif node["type"] in ("char", "block"):
                node["rdev"] = [member.devmajor, member.devminor]
            if node["type"] == "dir" and tree.get(path, {}).get("type") == "dir":
                tree[path].clear()
                tree[path].update(node)  # keep children: they are separate keys
            else:
                remove(path)
                tree[path] = node

    # Emit absolute paths; nodes shared by several paths are hard links.
    paths_by_node: dict[int, list[str]] = {}
    for path, node in tree.items():
        paths_by_node.setdefault(id(node), []).append(path)
    groups = sorted(sorted(p) for p in paths_by_node.values() if len(p) > 1)
    group_of = {p: f"hl{i + 1}" for i, paths in enumerate(groups) for p in paths}
    result = {}
    for path in sorted(tree):
        node = dict(tree[path])
        if path in group_of:
            node["hardlink_group"] = group_of[path]
        result["/" + path] = node
    return result


# ---------------------------------------------------------------------------
# The suite
# ---------------------------------------------------------------------------

def canonical_json(obj) -> bytes:
    """Deterministic compact JSON bytes."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


@dataclasses.dataclass
class Layer:
    """An uncompressed layer tar and its diff_id."""
    tar: bytes

    @property
    def diff_id(self) -> str:
        """sha256 digest of the uncompressed tar."""
        return sha256_digest(self.tar)


def make_config(layers: list[Layer], arch: str, config: dict, variant: str | None = None) -> bytes:
    """Image config JSON (valid for both OCI and Docker) for the given layers."""
    obj = {
        "created": "2024-01-01T00:00:00Z",
        "architecture": arch,
        "os": "linux",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
        "history": [{"created": "2024-01-01T00:00:00Z", "created_by": f"banger-test layer {i}"}
                    for i in range(len(layers))],
    }
    if variant:
        obj["variant"] = variant
    return canonical_json(obj)


class SuitePusher:
    """Pushes images of the suite and records their manifests.

    With client None nothing is sent (used by the `expected` subcommand)."""

    def __init__(self, client: RegistryClient | None):
        """client: where to push, or None for a dry run."""
        self.client = client
        self.manifests: dict[str, dict] = {}

    def blob(self, repo: str, data: bytes, media_type: str) -> dict:
        """Push data as a blob; return its descriptor {mediaType, digest, size}."""
        digest = self.client.push_blob(repo, data) if self.client else sha256_digest(data)
        return {"mediaType": media_type, "digest": digest, "size": len(data)}

    def manifest(self, repo: str, tag: str | None, obj: dict) -> dict:
        """Push obj as a manifest (by tag, or by digest if tag is None).

        Returns a descriptor {mediaType, digest, size} of the manifest."""
        body = canonical_json(obj)
        media_type = obj["mediaType"]
        digest = sha256_digest(body)
        if self.client:
            self.client.push_manifest(repo, tag or digest, body, media_type)
        if tag:
            self.manifests[f"{repo}:{tag}"] = {"digest": digest, "mediaType": media_type}
        return {"mediaType": media_type, "digest": digest, "size": len(body)}

    def image(self, repo: str, tag: str | None, layers: list[Layer], compressions: list[str],
              docker: bool = False, arch: str = "amd64", variant: str | None = None,
              config: dict | None = None) -> dict:
        """Push layers (each compressed as given), config and manifest.

        docker=True makes a schema2 manifest (gzip layers only).  Returns the
        manifest descriptor."""
        layer_descs = []
        for layer, method in zip(layers, compressions, strict=True):
            if docker:
                assert method == "gzip", "schema2 only has gzip layers"
                media_type = DOCKER_LAYER_GZIP
            else:
                media_type = OCI_LAYER_TYPES[method]
            layer_descs.append(self.blob(repo, compress(layer.tar, method), media_type))
        config_bytes = make_config(layers, arch, config or {}, variant)
        config_desc = self.blob(repo, config_bytes, DOCKER_CONFIG if docker else OCI_CONFIG)
        obj = {"schemaVersion": 2,
               "mediaType": DOCKER_MANIFEST if docker else OCI_MANIFEST,
               "config": config_desc, "layers": layer_descs}
        return self.manifest(repo, tag, obj)


# Evil cases: tag -> substring expected in the puller's error message.
EVIL_SUBSTRINGS = {
    "dotdot": "unsafe path",
    "absolute": "unsafe path",
    "symlink-write": "symlink",
    "symlink-write-abs": "symlink",
    "hardlink-outside": "hard link",
    "hardlink-missing": "hard link",
    "whiteout-escape": "whiteout",
    "whiteout-dotdot": "whiteout",
    "size-lie": "size",
    "size-too-big": "size",
    "digest-mismatch": "digest",
}


def evil_layers() -> dict[str, list[Entry]]:
    """Single-layer contents of the path-based evil cases, by tag."""
    return {
        "dotdot": [D("etc"), F("../../escape", "escaped via ..\n")],
        "absolute": [D("etc"), F("/abs/path", "absolute member name\n")],
        "symlink-write": [D("etc"), S("etc/link", "../../.."), F("etc/link/owned", "written through a symlink\n")],
        "symlink-write-abs": [D("etc"), S("etc/link", "/tmp"), F("etc/link/owned", "written through a symlink\n")],
        "hardlink-outside": [D("etc"), H("etc/evil", "../../etc/passwd", 0o644)],
        "hardlink-missing": [D("etc"), H("etc/ghost", "etc/does-not-exist", 0o644)],
        "whiteout-escape": [D("etc"), WH(".wh...")],      # whiteout of '/..'
        "whiteout-dotdot": [D("etc"), WH("etc/.wh...")],  # whiteout of 'etc/..' (the root)
    }


def blob_storage_path(registry_workdir: str, digest: str) -> str:
    """Where docker-registry's filesystem driver keeps a blob's bytes."""
    hexpart = digest.split(":", 1)[1]
    return os.path.join(registry_workdir, "storage", "docker", "registry", "v2", "blobs",
                        "sha256", hexpart[:2], hexpart, "data")


def push_evil(pusher: SuitePusher, registry_workdir: str | None) -> dict[str, str]:
    """Push the banger-test/evil:<case> images; return {repo:tag: substring}.

    size-lie / size-too-big reference a real blob with a smaller / larger
    `size` than its length.  digest-mismatch (only with registry_workdir and
    a real push) overwrites the stored bytes of an uncompressed layer with a
    different, equally long, harmless tar, so only a digest check catches it."""
    repo = "banger-test/evil"
    result = {}
    tiny_config = {"Cmd": ["/bin/sh"]}
    for tag, entries in evil_layers().items():
        layer = Layer(build_tar(entries, BASE_MTIME))
        pusher.image(repo, tag, [layer], ["gzip"], config=tiny_config)
        result[f"{repo}:{tag}"] = EVIL_SUBSTRINGS[tag]

    for tag, delta in (("size-lie", -16), ("size-too-big", +16)):
        layer = Layer(build_tar([D("etc"), F("etc/hostname", f"{tag}\n")], BASE_MTIME))
        desc = pusher.blob(repo, compress(layer.tar, "gzip"), OCI_LAYER_GZIP)
        desc["size"] += delta
        config_desc = pusher.blob(repo, make_config([layer], "amd64", tiny_config), OCI_CONFIG)
        pusher.manifest(repo, tag, {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                                    "config": config_desc, "layers": [desc]})
        result[f"{repo}:{tag}"] = EVIL_SUBSTRINGS[tag]

    if registry_workdir and pusher.client:
        good = build_tar([D("etc"), F("etc/data", "A" * 64)], BASE_MTIME)
        bad = build_tar([D("etc"), F("etc/data", "B" * 64)], BASE_MTIME)
        assert len(good) == len(bad) and good != bad
        layer = Layer(good)
        pusher.image(repo, "digest-mismatch", [layer], ["none"], config=tiny_config)
        path = blob_storage_path(registry_workdir, layer.diff_id)
        if not os.path.exists(path):
            raise RuntimeError(f"blob storage not found at {path}; wrong --registry-workdir?")
        with open(path, "wb") as fh:
            fh.write(bad)
        result[f"{repo}:digest-mismatch"] = EVIL_SUBSTRINGS["digest-mismatch"]
    return result


def run_suite(client: RegistryClient | None, registry_workdir: str | None = None) -> dict:
    """Build (and, with a client, push) every image; return expected.json's object."""
    pusher = SuitePusher(client)
    expected: dict = {}
    configs: dict = {}

    # banger-test/layers: OCI, Docker, OCI index, Docker manifest list.
    layer_entries = [layer1_base(), layer2_libs(), layer3_dotslash(), layer4_changes()]
    layers = [Layer(build_tar(entries, BASE_MTIME + 86400 * i))
              for i, entries in enumerate(layer_entries)]
    tree = flatten([layer.tar for layer in layers])
    repo = "banger-test/layers"
    oci = pusher.image(repo, "oci", layers, LAYERS_OCI_COMPRESSION, config=LAYERS_CONFIG)
    docker = pusher.image(repo, "docker", layers, ["gzip"] * len(layers), docker=True,
                          config=LAYERS_CONFIG)
    arm = [Layer(build_tar(arm64_layer(), BASE_MTIME))]
    arm_config = {"Cmd": ["/bin/false"]}
    arm_oci = pusher.image(repo, None, arm, ["gzip"], arch="arm64", variant="v8", config=arm_config)
    arm_docker = pusher.image(repo, None, arm, ["gzip"], docker=True, arch="arm64", variant="v8",
                              config=arm_config)
    arm_platform = {"architecture": "arm64", "os": "linux", "variant": "v8"}
    amd_platform = {"architecture": "amd64", "os": "linux"}
    pusher.manifest(repo, "index", {
        "schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [{**arm_oci, "platform": arm_platform}, {**oci, "platform": amd_platform}]})
    pusher.manifest(repo, "manifest-list", {
        "schemaVersion": 2, "mediaType": DOCKER_LIST,
        "manifests": [{**arm_docker, "platform": arm_platform}, {**docker, "platform": amd_platform}]})
    for tag in ("oci", "docker", "index", "manifest-list"):
        expected[f"{repo}:{tag}"] = tree
        configs[f"{repo}:{tag}"] = LAYERS_CONFIG

    # banger-test/tiny:latest
    tiny = [Layer(build_tar(tiny_layer(), BASE_MTIME))]
    tiny_config = {"Env": ["PATH=/bin"], "Cmd": ["/bin/hello"]}
    pusher.image("banger-test/tiny", "latest", tiny, ["gzip"], config=tiny_config)
    expected["banger-test/tiny:latest"] = flatten([layer.tar for layer in tiny])
    configs["banger-test/tiny:latest"] = tiny_config

    expected["evil"] = push_evil(pusher, registry_workdir)
    expected["configs"] = configs
    if client:
        expected["manifests"] = pusher.manifests
    return expected


def write_json(path: str, obj) -> None:
    """Write obj as indented, key-sorted UTF-8 JSON."""
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, indent=1, sort_keys=True, ensure_ascii=False)
        fh.write("\n")


# ---------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    """Command line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("start", help="start a registry and print {url,pid,workdir}")
    p.add_argument("--workdir", required=True)
    p.add_argument("--auth", metavar="USER:PASSWORD")
    p = sub.add_parser("stop", help="stop the registry of a workdir")
    p.add_argument("--workdir", required=True)
    p = sub.add_parser("push-suite", help="push the test images, write expected.json")
    p.add_argument("--url", required=True)
    p.add_argument("--auth", metavar="USER:PASSWORD")
    p.add_argument("--registry-workdir", help="the registry's workdir (enables evil:digest-mismatch)")
    p.add_argument("--out", required=True)
    p = sub.add_parser("expected", help="write expected.json without pushing")
    p.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    try:
        return _run(args)
    except (RuntimeError, ValueError, OSError, subprocess.CalledProcessError) as err:
        print(f"registry_fixture.py {args.cmd}: error: {err}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace) -> int:
    """Carry out one parsed subcommand; returns the exit status."""
    if args.cmd == "start":
        info, _ = start_registry(args.workdir, parse_auth(args.auth))
        print(info.as_json(), flush=True)
    elif args.cmd == "stop":
        if not stop_registry(args.workdir):
            print(f"no running registry recorded in {args.workdir}", file=sys.stderr)
    elif args.cmd == "push-suite":
        started = time.monotonic()
        client = RegistryClient(args.url, parse_auth(args.auth))
        expected = run_suite(client, args.registry_workdir)
        write_json(args.out, expected)
        if not args.registry_workdir:
            print("note: no --registry-workdir, evil:digest-mismatch not created", file=sys.stderr)
        print(f"pushed {len(expected['manifests'])} tags in {time.monotonic() - started:.1f}s",
              file=sys.stderr)
    elif args.cmd == "expected":
        write_json(args.out, run_suite(None))
    return 0


if __name__ == "__main__":
    sys.exit(main())
