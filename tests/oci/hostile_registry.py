#!/usr/bin/env python3
"""A hostile OCI registry on loopback for the tests of banger::oci::RegistryClient.

    hostile_registry.py

Listens on 127.0.0.1:<free port>, prints {"port": N} as its first stdout line
and serves the read side of the OCI distribution API until it is killed, or
until its stdin reaches end of file (so it never outlives the test process that
started it, even one that crashed: the test keeps the write end of a pipe).

Every repository serves the same tiny image (an OCI manifest, a config and one
gzip layer, built in memory at start-up), and the repository's first path
component picks how the registry misbehaves while serving it:

  ok/image            everything correct, anonymous
  bearer/image        401 Bearer challenge; /token gives "t0k" to anyone
  bearer-creds/image  401 Bearer challenge; /token/creds needs Basic user:pass
  basic/image         401 Basic challenge; accepts Basic user:pass
  denied/image        401 even with the token /token hands out
  nochallenge/image   401 without a WWW-Authenticate header
  badtoken/image      401 Bearer challenge; the token endpoint answers no token
  missing/image       404 MANIFEST_UNKNOWN for every manifest
  flaky429/image      the first 2 requests of each path: 429 with Retry-After: 0
  flaky500/image      the first 2 requests of each path: 500, then 503
  always500/image     500 for everything
  truncated/image     the layer's full Content-Length, then half the bytes and close
  short/image         the manifest declares the layer 10 bytes longer than it is
  long/image          the manifest declares the layer 10 bytes shorter than it is
  baddigest/image     the layer has the right length but one byte differs
  wrongdigest/image   a manifest asked for by digest comes back changed (digest differs)
  hugemanifest/image  the manifest is 2 GiB of spaces (generated lazily)
  hugeerror/image     a 404 whose error body never ends (chunked, generated lazily)
  trickle/image       the manifest arrives at 2.5 bytes a second
  hang/image          200 and the headers, then nothing until the client goes away
  layerhang/image     manifest and config as ok/image; the layer's headers and half of its
                      bytes, then nothing until the client goes away (a stalled download)
  silent/image        nothing at all (not even a status line) until the client goes away
  redirect/image      Bearer auth; blobs redirect (307) to http://localhost:PORT/_storage/,
                      which refuses (400) any request that carries an Authorization header

Debug endpoints for the tests: GET /_count/<repo> answers {"count": N}, the
number of /v2/<repo>/ requests since the last GET /_reset, which also restarts
the flaky counters.  Only the Python 3 standard library is used.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import random
import select
import sys
import tarfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"

USER, PASSWORD = "user", "pass"
TOKEN = "t0k"
FLAKY_FAILURES = 2     # failed answers per path before a flaky repository behaves
SIZE_LIE = 10          # bytes the short/long manifests add to / take from the layer size
HUGE = 2 << 30         # bytes of the huge manifest
CHUNK = 64 * 1024      # bytes per write of generated bodies
TRICKLE_DELAY_S = 0.4  # seconds between the bytes of the trickled manifest
WAIT_POLL_S = 0.5      # how often a hanging handler looks whether its client went away

# Behaviours that need a token or a login, and where their challenge points.
BEARER_REALMS = {"bearer": "/token", "bearer-creds": "/token/creds", "denied": "/token",
                 "badtoken": "/token/garbage", "redirect": "/token"}
BEHAVIOURS = {"ok", "basic", "nochallenge", "missing", "flaky429", "flaky500", "always500",
              "truncated", "short", "long", "baddigest", "wrongdigest", "hugemanifest",
              "hugeerror", "trickle", "hang", "layerhang", "silent", *BEARER_REALMS}


def sha256_digest(data: bytes) -> str:
    """'sha256:<hex>' of data."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def basic_header(user: str, password: str) -> str:
    """The Authorization header value of HTTP Basic auth for user:password."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def error_body(code: str, message: str) -> bytes:
    """A registry error document {"errors":[{"code":..,"message":..}]}."""
    return json.dumps({"errors": [{"code": code, "message": message}]}).encode()


class Image:
    """The one image every repository serves: layer, config and their digests."""

    def __init__(self) -> None:
        """Build a one-layer image; fixed seeds and mtimes make it the same every run."""
        self.layer = self._make_layer()
        self.config = json.dumps({
            "architecture": "amd64",
            "os": "linux",
            "config": {"Env": ["PATH=/bin"], "Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": [sha256_digest(self.layer_tar)]},
        }, sort_keys=True).encode()
        self.layer_digest = sha256_digest(self.layer)
        self.config_digest = sha256_digest(self.config)
        self.blobs = {self.layer_digest: self.layer, self.config_digest: self.config}

    def _make_layer(self) -> bytes:
        """A gzip tar of a text file and 48 KiB of random bytes (so gzip keeps it large)."""
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for name, data in (("hello.txt", b"hello from a hostile registry\n"),
                               ("data.bin", random.Random(12).randbytes(48 * 1024))):
                info = tarfile.TarInfo(name)
                info.size, info.mode, info.mtime = len(data), 0o644, 1700000000
                tar.addfile(info, io.BytesIO(data))
        self.layer_tar = out.getvalue()
        return gzip.compress(self.layer_tar, mtime=0)

    def manifest(self, layer_size_delta: int = 0) -> bytes:
        """The OCI manifest; layer_size_delta is added to the layer's declared size."""
        return json.dumps({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": self.config_digest,
                       "size": len(self.config)},
            "layers": [{"mediaType": OCI_LAYER_GZIP, "digest": self.layer_digest,
                        "size": len(self.layer) + layer_size_delta}],
        }, sort_keys=True).encode()


class HostileServer(ThreadingHTTPServer):
    """The HTTP server plus the state the handlers share (image, counters)."""

    daemon_threads = True  # hanging handlers must not keep the process alive

    def __init__(self) -> None:
        """Bind 127.0.0.1 on a free port and build the image."""
        super().__init__(("127.0.0.1", 0), Handler)
        self.port = self.server_address[1]
        self.image = Image()
        self.lock = threading.Lock()
        self.repo_requests: dict[str, int] = {}
        self.path_requests: dict[str, int] = {}

    def count(self, repo: str, path: str) -> int:
        """Counts a request of repo for path; returns how many path has had (1 = first)."""
        with self.lock:
            self.repo_requests[repo] = self.repo_requests.get(repo, 0) + 1
            self.path_requests[path] = self.path_requests.get(path, 0) + 1
            return self.path_requests[path]

    def reset(self) -> None:
        """Forgets every counter (GET /_reset, called before each test)."""
        with self.lock:
            self.repo_requests.clear()
            self.path_requests.clear()

    def manifest_for(self, behaviour: str) -> bytes:
        """The manifest a repository serves by tag (short and long lie about the layer)."""
        delta = {"short": SIZE_LIE, "long": -SIZE_LIE}.get(behaviour, 0)
        return self.image.manifest(delta)


class Handler(BaseHTTPRequestHandler):
    """Routes GET requests: token endpoints, debug endpoints, storage, and /v2/."""

    protocol_version = "HTTP/1.1"
    server: HostileServer

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (the base class's name)
        """Stays quiet: the test's output is for the test."""

    def do_GET(self) -> None:
        """Answers one request; a client that goes away mid-answer is not an error."""
        try:
            self.route()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    # --- plumbing -----------------------------------------------------------

    def send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None,
             content_type: str = "application/json") -> None:
        """Sends a complete answer with a Content-Length."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def wait_for_disconnect(self) -> None:
        """Blocks until the client closes its end (or the server is killed)."""
        conn = self.connection
        while True:
            readable, _, _ = select.select([conn], [], [], WAIT_POLL_S)
            if readable:
                try:
                    if not conn.recv(4096):
                        break
                except OSError:
                    break
        self.close_connection = True

    def realm(self, path: str) -> str:
        """The absolute URL of a token endpoint path on this server."""
        return f"http://127.0.0.1:{self.server.port}{path}"

    # --- routing ------------------------------------------------------------

    def route(self) -> None:
        """Dispatches on the path."""
        path = urlsplit(self.path).path
        if path == "/_reset":
            self.server.reset()
            self.send(200, b"{}")
        elif path.startswith("/_count/"):
            repo = path[len("/_count/"):]
            with self.server.lock:
                count = self.server.repo_requests.get(repo, 0)
            self.send(200, json.dumps({"count": count}).encode())
        elif path.startswith("/token"):
            self.token(path)
        elif path.startswith("/_storage/"):
            self.storage(path[len("/_storage/"):])
        elif path == "/v2/" or path == "/v2":
            self.send(200, b"{}")
        elif path.startswith("/v2/"):
            self.registry(path)
        else:
            self.send(404, error_body("NOT_FOUND", "no such endpoint"))

    def token(self, path: str) -> None:
        """Token endpoints: /token (anyone), /token/creds (Basic user:pass), /token/garbage."""
        given = self.headers.get("Authorization")
        if path == "/token/creds" and given != basic_header(USER, PASSWORD):
            self.send(401, error_body("UNAUTHORIZED", "bad credentials"),
                      {"WWW-Authenticate": 'Basic realm="hostile-token"'})
        elif path == "/token/garbage":
            self.send(200, b'{"note": "no token here"}')
        else:
            self.send(200, json.dumps({"token": TOKEN}).encode())

    def storage(self, digest: str) -> None:
        """The redirect target of redirect/image; refuses requests carrying Authorization.

        Like S3, which answers 400 when a presigned URL also gets an Authorization header:
        a client that forwards the registry's token to another host fails here."""
        blob = self.server.image.blobs.get(digest)
        if "Authorization" in self.headers:
            self.send(400, error_body("LEAKED", "authorization header sent to the storage host"))
        elif blob is None:
            self.send(404, error_body("BLOB_UNKNOWN", "blob unknown"))
        else:
            self.send(200, blob, content_type="application/octet-stream")

    def authorized(self, behaviour: str, repo: str) -> bool:
        """Sends the behaviour's 401 and returns False unless the request may proceed."""
        given = self.headers.get("Authorization")
        if behaviour in BEARER_REALMS:
            if behaviour != "denied" and given == f"Bearer {TOKEN}":
                return True
            challenge = (f'Bearer realm="{self.realm(BEARER_REALMS[behaviour])}",'
                         f'service="hostile",scope="repository:{repo}:pull"')
        elif behaviour == "basic":
            if given == basic_header(USER, PASSWORD):
                return True
            challenge = 'Basic realm="x"'
        elif behaviour == "nochallenge":
            challenge = ""
        else:
            return True
        headers = {"WWW-Authenticate": challenge} if challenge else {}
        self.send(401, error_body("UNAUTHORIZED", "authentication required"), headers)
        return False

    def registry(self, path: str) -> None:
        """/v2/<repo>/manifests/<ref> and /v2/<repo>/blobs/<digest>."""
        rest = path[len("/v2/"):]
        for kind in ("manifests", "blobs"):
            repo, sep, ref = rest.rpartition(f"/{kind}/")
            if sep and repo and ref:
                break
        else:
            self.send(404, error_body("NOT_FOUND", "unknown endpoint"))
            return
        seen = self.server.count(repo, path)
        behaviour = repo.split("/", 1)[0]
        if behaviour not in BEHAVIOURS:
            self.send(404, error_body("NAME_UNKNOWN", "repository name not known to registry"))
            return
        if not self.authorized(behaviour, repo):
            return
        if self.misbehave_generally(behaviour, seen):
            return
        if kind == "manifests":
            self.manifest(behaviour, ref)
        else:
            self.blob(behaviour, ref)

    def misbehave_generally(self, behaviour: str, seen: int) -> bool:
        """Behaviours that ignore what is asked for; True when the answer was given."""
        if behaviour == "flaky429" and seen <= FLAKY_FAILURES:
            self.send(429, error_body("TOOMANYREQUESTS", "slow down"), {"Retry-After": "0"})
        elif behaviour == "flaky500" and seen <= FLAKY_FAILURES:
            status = 500 if seen == 1 else 503
            self.send(status, error_body("UNAVAILABLE", "try again"))
        elif behaviour == "always500":
            self.send(500, error_body("UNAVAILABLE", "backend on fire"))
        elif behaviour == "silent":
            self.wait_for_disconnect()
        elif behaviour == "hang":
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.flush()
            self.wait_for_disconnect()
        else:
            return False
        return True

    def manifest(self, behaviour: str, ref: str) -> None:
        """Serves the repository's manifest by tag or digest (or misbehaves)."""
        body = self.server.manifest_for(behaviour)
        if behaviour == "missing":
            self.send(404, error_body("MANIFEST_UNKNOWN", "manifest unknown"))
        elif behaviour == "hugemanifest":
            self.stream_spaces(HUGE)
        elif behaviour == "hugeerror":
            self.endless_error()
        elif behaviour == "trickle":
            self.trickle(body)
        elif ref.startswith("sha256:") and behaviour == "wrongdigest":
            self.send(200, body + b"\n", content_type=OCI_MANIFEST)
        elif ref.startswith("sha256:") and ref != sha256_digest(body):
            self.send(404, error_body("MANIFEST_UNKNOWN", "manifest unknown"))
        else:
            self.send(200, body, {"Docker-Content-Digest": sha256_digest(body)},
                      content_type=OCI_MANIFEST)

    def blob(self, behaviour: str, digest: str) -> None:
        """Serves a blob (or misbehaves when it is the layer)."""
        image = self.server.image
        data = image.blobs.get(digest)
        if data is None:
            self.send(404, error_body("BLOB_UNKNOWN", "blob unknown to registry"))
            return
        is_layer = digest == image.layer_digest
        if behaviour == "redirect":
            location = f"http://localhost:{self.server.port}/_storage/{digest}"
            self.send(307, b"", {"Location": location})
        elif is_layer and behaviour == "truncated":
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.close_connection = True  # the server closes the socket: a short body
        elif is_layer and behaviour == "layerhang":
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.wait_for_disconnect()
        elif is_layer and behaviour == "baddigest":
            changed = bytearray(data)
            changed[len(changed) // 2] ^= 0xFF
            self.send(200, bytes(changed), content_type="application/octet-stream")
        else:
            self.send(200, data, content_type="application/octet-stream")

    def stream_spaces(self, total: int) -> None:
        """A 200 manifest of `total` spaces, written in chunks until done or the client leaves."""
        self.send_response(200)
        self.send_header("Content-Type", OCI_MANIFEST)
        self.send_header("Content-Length", str(total))
        self.end_headers()
        chunk = b" " * CHUNK
        sent = 0
        while sent < total:
            piece = chunk[: min(CHUNK, total - sent)]
            self.wfile.write(piece)
            sent += len(piece)

    def endless_error(self) -> None:
        """A chunked 404 error body that never ends (until the client leaves)."""
        self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.write_chunk(b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"')
        chunk = b"x" * CHUNK
        while True:
            self.write_chunk(chunk)

    def write_chunk(self, data: bytes) -> None:
        """One chunk of a Transfer-Encoding: chunked body."""
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def trickle(self, body: bytes) -> None:
        """A 200 manifest sent one byte per TRICKLE_DELAY_S (faster than 1 byte a second)."""
        self.send_response(200)
        self.send_header("Content-Type", OCI_MANIFEST)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        for i in range(len(body)):
            self.wfile.write(body[i:i + 1])
            time.sleep(TRICKLE_DELAY_S)


def exit_when_stdin_closes() -> None:
    """Ends the process once stdin reaches end of file (the test process is gone)."""
    try:
        while os.read(sys.stdin.fileno(), 4096):
            pass
    except OSError:
        pass
    os._exit(0)


def main() -> int:
    """Starts the server, prints {"port": N}, serves until killed or stdin closes."""
    server = HostileServer()
    threading.Thread(target=exit_when_stdin_closes, daemon=True).start()
    print(json.dumps({"port": server.port}), flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
