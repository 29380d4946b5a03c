#!/usr/bin/env python3
"""Generates the image of bench/oci.sh and pushes it to a registry (OCI manifest).

    gen_oci_image.py --url http://127.0.0.1:PORT --workdir DIR [--repo bench/big] [--tag latest]
                     [--files 20000] [--mib 200] [--zstd-layer N]

Deterministic (fixed seed, fixed mtimes): the same arguments give the same layer bytes and the
same manifest digest. Five layers, each a PAX tar, gzip (level 6, as `docker push` does) unless
--zstd-layer N makes layer N (1-based) tar+zstd:
  1 base     many small text files (docs, locales, /etc), directories, symlinks
  2 libs     shared libraries (half random, half text-like bytes), version symlinks, executables,
             a setuid binary, hard links
  3 python   .py sources (text) and .pyc files, a hard-linked interpreter
  4 app      the application: a few MiB-sized random assets, plugins, a home directory of uid 1000
  5 changes  whiteouts of whole directories and single files of layers 1-4, an opaque directory,
             replaced and new files
About a third of the bytes are pseudo-random (gzip cannot shrink them), the rest text-like.
The layer tars are written under DIR, compressed there and pushed with tests/oci's
RegistryClient. Prints one JSON line: manifest digest, per-layer file counts, tar and blob
sizes, and the number of regular files / directories / symlinks in the flattened tree."""
from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import shutil
import subprocess
import sys
import tarfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "oci"))
import registry_fixture as fixture  # noqa: E402

MTIME = 1700000000
MIB = 1024 * 1024


class LayerWriter:
    """Writes one layer tar to a file; remembers what it wrote (for the flattened tree)."""

    def __init__(self, path: str, mtime: int):
        self.tar = tarfile.open(path, "w", format=tarfile.PAX_FORMAT)
        self.mtime = mtime
        self.dirs: set[str] = set()
        self.entries: list[tuple[str, str, int]] = []  # (path, type, size)

    def _info(self, name: str, type_: bytes, mode: int, uid: int = 0, gid: int = 0) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.type, info.mode, info.uid, info.gid = type_, mode, uid, gid
        info.uname = info.gname = ""
        info.mtime = self.mtime
        return info

    def dir(self, name: str, mode: int = 0o755, uid: int = 0, gid: int = 0) -> None:
        """A directory entry, with its parents first (as `docker build` layers list them)."""
        if not name or name in self.dirs:
            return
        parent = os.path.dirname(name)
        if parent:
            self.dir(parent)
        self.dirs.add(name)
        self.tar.addfile(self._info(name, tarfile.DIRTYPE, mode, uid, gid))
        self.entries.append((name, "dir", 0))

    def file(self, name: str, data: bytes, mode: int = 0o644, uid: int = 0, gid: int = 0) -> None:
        self.dir(os.path.dirname(name))
        info = self._info(name, tarfile.REGTYPE, mode, uid, gid)
        info.size = len(data)
        self.tar.addfile(info, _Reader(data))
        self.entries.append((name, "file", len(data)))

    def symlink(self, name: str, target: str) -> None:
        self.dir(os.path.dirname(name))
        info = self._info(name, tarfile.SYMTYPE, 0o777)
        info.linkname = target
        self.tar.addfile(info)
        self.entries.append((name, "symlink", 0))

    def hardlink(self, name: str, target: str, mode: int = 0o755) -> None:
        """A hard link to `target`, a file written earlier in this layer."""
        self.dir(os.path.dirname(name))
        info = self._info(name, tarfile.LNKTYPE, mode)
        info.linkname = target
        self.tar.addfile(info)
        self.entries.append((name, "hardlink", 0))

    def whiteout(self, name: str) -> None:
        """`.wh.<base>` in the same directory: deletes `name` of the layers below."""
        parent, base = os.path.split(name)
        self.file(os.path.join(parent, ".wh." + base), b"")
        self.entries[-1] = (name, "whiteout", 0)

    def opaque(self, directory: str) -> None:
        self.file(os.path.join(directory, ".wh..wh..opq"), b"")
        self.entries[-1] = (directory, "opaque", 0)

    def close(self) -> None:
        self.tar.close()


class _Reader:
    """A minimal file object over bytes for TarFile.addfile (no copy)."""

    def __init__(self, data: bytes):
        self.view, self.pos = memoryview(data), 0

    def read(self, n: int = -1) -> bytes:
        end = len(self.view) if n < 0 else min(len(self.view), self.pos + n)
        chunk = self.view[self.pos:end].tobytes()
        self.pos = end
        return chunk


class Content:
    """Deterministic file contents: text-like slices of a word corpus, random bytes, and mixes."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        letters = "abcdefghijklmnopqrstuvwxyz"
        vocab = ["".join(rng.choices(letters, k=rng.randint(2, 11))) for _ in range(6000)]
        vocab += ["the", "of", "and", "to", "in", "is", "for", "if", "return", "self", "def",
                  "import", "None", "int", "char", "static", "const", "#include", "{", "}", "=",
                  "(", ")", ";", "\n", "\n", "\n", "    ", "    "]
        words = rng.choices(vocab, k=1_600_000)
        self.corpus = " ".join(words).encode()  # ~9 MiB

    def text(self, n: int) -> bytes:
        out = bytearray()
        while len(out) < n:
            take = min(n - len(out), self.rng.randint(2048, 65536))
            start = self.rng.randrange(0, len(self.corpus) - take)
            out += self.corpus[start:start + take]
        return bytes(out)

    def random(self, n: int) -> bytes:
        return self.rng.randbytes(n)

    def binary(self, n: int) -> bytes:
        """A third incompressible, the rest text-like or zero pages, in 4-16 KiB runs."""
        out = bytearray()
        while len(out) < n:
            take = min(n - len(out), self.rng.randint(4096, 16384))
            kind = self.rng.random()
            if kind < 0.35:
                out += self.rng.randbytes(take)
            elif kind < 0.85:
                out += self.text(take)
            else:
                out += bytes(take)
        return bytes(out)

    def small_size(self, mean: int) -> int:
        """A log-normal size around `mean` bytes, 0 .. 64 KiB (most files of an image are small)."""
        return min(65536, int(self.rng.lognormvariate(0, 1.1) * mean / 1.83))


def build_layers(workdir: str, files: int, mib: int) -> tuple[list[str], dict]:
    """Writes layer1.tar .. layer5.tar under workdir; returns their paths and a summary."""
    rng = random.Random(20261203)
    content = Content(rng)
    # Byte budget: big random assets, libraries, the rest spread over the small files.
    budget = mib * MIB
    big_assets = [int(budget * f) for f in (0.04, 0.04, 0.03, 0.03, 0.02, 0.02, 0.01, 0.01)]
    # Per-layer small-file counts (~40 / 25 / 25 / 10 %), before layer 5's deletions.
    n1, n2, n3 = int(files * 0.40), int(files * 0.25), int(files * 0.25)
    n4 = files - n1 - n2 - n3
    small_budget = budget - sum(big_assets)
    lib_count = max(10, n2 // 3)
    lib_budget = int(small_budget * 0.30)
    # The remaining small files share what is left.
    per_small = (small_budget - lib_budget) // (files - lib_count)
    paths = []
    layers_meta = []

    # Layer 1: base system.
    path = os.path.join(workdir, "layer1.tar"); paths.append(path)
    w = LayerWriter(path, MTIME)
    for d in ("bin", "dev", "proc", "sys", "run", "var/log", "var/lib", "home", "root"):
        w.dir(d, 0o700 if d == "root" else 0o755)
    w.dir("tmp", 0o1777)
    w.file("etc/os-release", b'PRETTY_NAME="banger bench"\nID=bench\nVERSION_ID="1"\n')
    w.file("etc/hostname", b"bench\n")
    w.file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n")
    w.file("etc/shadow", b"root:*:19000:0:99999:7:::\n", 0o640, 0, 42)
    w.symlink("etc/localtime", "/usr/share/zoneinfo/UTC")
    w.symlink("etc/resolv.conf", "../run/resolv.conf")
    made = 4
    pkgs = max(1, n1 // 20)
    for i in range(n1 - made):
        if i % 5 == 4:
            name = f"usr/share/locale/l{i % 97:02d}/LC_MESSAGES/pkg{(i // 5) % pkgs:04d}.mo"
        elif i % 50 == 7:
            name = f"etc/conf.d/pkg{(i // 50):04d}.conf"
        else:
            name = f"usr/share/doc/pkg{i % pkgs:04d}/file{i // pkgs:03d}.txt"
        w.file(name, content.text(content.small_size(per_small)))
    for i in range(0, pkgs, 7):
        w.symlink(f"usr/share/doc/pkg{i:04d}/README", f"file000.txt")
    w.close()
    layers_meta.append(w.entries)

    # Layer 2: libraries and executables.
    path = os.path.join(workdir, "layer2.tar"); paths.append(path)
    w = LayerWriter(path, MTIME + 86400)
    lib_sizes = [max(1024, int(rng.lognormvariate(0, 1.3) * 1000)) for _ in range(lib_count)]
    scale = lib_budget / sum(lib_sizes)
    for i, size in enumerate(lib_sizes):
        so = f"usr/lib/x86_64-linux-gnu/lib{i:04d}.so.1.{i % 7}.0"
        w.file(so, content.binary(max(512, int(size * scale))), 0o644)
        w.symlink(f"usr/lib/x86_64-linux-gnu/lib{i:04d}.so.1", os.path.basename(so))
    for i in range(n2 - lib_count):
        w.file(f"usr/bin/tool{i:04d}", content.binary(content.small_size(per_small)), 0o755)
    w.file("usr/bin/sudo", content.binary(40000), 0o4755)
    w.file("usr/bin/perl5.36.0", content.binary(60000), 0o755)
    w.hardlink("usr/bin/perl", "usr/bin/perl5.36.0")
    for i in range(0, 40, 4):  # coreutils-style multi-call names
        w.hardlink(f"usr/bin/multi{i:02d}", f"usr/bin/tool{i:04d}")
    w.symlink("bin/sh", "../usr/bin/tool0000")
    w.close()
    layers_meta.append(w.entries)

    # Layer 3: python.
    path = os.path.join(workdir, "layer3.tar"); paths.append(path)
    w = LayerWriter(path, MTIME + 2 * 86400)
    w.file("usr/bin/python3.11", content.binary(2 * MIB), 0o755)
    w.hardlink("usr/bin/python3", "usr/bin/python3.11")
    modules = max(1, n3 // 40)
    for i in range(n3 - 1):
        pkg = f"usr/lib/python3/dist-packages/mod{i % modules:03d}"
        stem = f"{pkg}/part{i // modules:03d}"
        if i % 3 == 2:
            w.file(f"{pkg}/__pycache__/part{i // modules:03d}.cpython-311.pyc",
                   content.binary(content.small_size(per_small)))
        else:
            w.file(stem + ".py", content.text(content.small_size(per_small)))
    w.close()
    layers_meta.append(w.entries)

    # Layer 4: the application (optionally zstd).
    path = os.path.join(workdir, "layer4.tar"); paths.append(path)
    w = LayerWriter(path, MTIME + 3 * 86400)
    for i, size in enumerate(big_assets):
        w.file(f"opt/app/assets/blob{i}.bin", content.random(size))
    plugins = n4 // 4
    for i in range(plugins):
        w.file(f"opt/app/plugins/p{i:04d}.so", content.binary(content.small_size(per_small)))
    w.dir("home/user", 0o750, 1000, 1000)
    for i in range(n4 - plugins - len(big_assets)):
        w.file(f"home/user/data/d{i % 10}/f{i:05d}.json", content.text(content.small_size(per_small)),
               0o640, 1000, 1000)
    w.close()
    layers_meta.append(w.entries)

    # Layer 5: changes.
    path = os.path.join(workdir, "layer5.tar"); paths.append(path)
    w = LayerWriter(path, MTIME + 4 * 86400)
    for i in range(0, 20, 2):
        w.whiteout(f"usr/share/doc/pkg{i:04d}")  # whole directories of layer 1
    for i in range(1, 30, 3):
        w.whiteout(f"usr/bin/tool{i:04d}")  # single files of layer 2
    w.whiteout("opt/app/assets/blob7.bin")  # a big file of layer 4
    w.opaque("opt/app/plugins")
    for i in range(50):
        w.file(f"opt/app/plugins/new{i:03d}.so", content.binary(content.small_size(per_small)))
    w.file("etc/os-release", b'PRETTY_NAME="banger bench v2"\nID=bench\nVERSION_ID="2"\n')
    for i in range(200):
        w.file(f"usr/share/doc/pkg{i + 20:04d}/file000.txt", content.text(2000))  # replaced
    w.close()
    layers_meta.append(w.entries)
    return paths, flattened_summary(layers_meta)


def flattened_summary(layers: list[list[tuple[str, str, int]]]) -> dict:
    """Replays the layers' entries (whiteouts, opaque directories) into counts of the result."""
    tree: dict[str, tuple[str, int]] = {}
    for entries in layers:
        opaque = {p for p, t, _ in entries if t == "opaque"}
        for d in opaque:
            for key in [k for k in tree if k.startswith(d + "/")]:
                del tree[key]
        for p, t, size in entries:
            if t == "whiteout":
                for key in [k for k in tree if k == p or k.startswith(p + "/")]:
                    del tree[key]
            elif t != "opaque":
                tree[p] = ("file" if t == "hardlink" else t, size)
    kinds = {"file": 0, "dir": 0, "symlink": 0}
    for t, _ in tree.values():
        kinds[t] += 1
    return {"tree_files": kinds["file"], "tree_dirs": kinds["dir"], "tree_symlinks": kinds["symlink"],
            "tree_entries": len(tree), "tree_bytes": sum(s for _, s in tree.values())}


def compress_file(path: str, method: str) -> str:
    if method == "gzip":
        out = path + ".gz"
        with open(path, "rb") as src, open(out, "wb") as raw, \
                gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=6, mtime=0) as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        return out
    out = path + ".zst"
    subprocess.run(["zstd", "-q", "-f", "-3", "-T1", path, "-o", out], check=True)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--repo", default="bench/big")
    parser.add_argument("--tag", default="latest")
    parser.add_argument("--files", type=int, default=20600)
    parser.add_argument("--mib", type=int, default=200)
    parser.add_argument("--zstd-layer", type=int, default=0, help="1-based layer to store as tar+zstd")
    args = parser.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    tars, summary = build_layers(args.workdir, args.files, args.mib)

    pusher = fixture.SuitePusher(fixture.RegistryClient(args.url))
    descs, diff_ids, layer_info = [], [], []
    for index, tar_path in enumerate(tars, start=1):
        method = "zstd" if index == args.zstd_layer else "gzip"
        blob_path = compress_file(tar_path, method)
        with open(blob_path, "rb") as fh:
            blob = fh.read()
        descs.append(pusher.blob(args.repo, blob, fixture.OCI_LAYER_TYPES[method]))
        diff_ids.append(file_digest(tar_path))
        with tarfile.open(tar_path) as tar:
            members = len(tar.getmembers())
        layer_info.append({"compression": method, "entries": members,
                           "tar_bytes": os.path.getsize(tar_path), "blob_bytes": len(blob)})
        os.unlink(tar_path)
        os.unlink(blob_path)
    config = fixture.canonical_json({
        "created": "2026-12-03T00:00:00Z", "architecture": "amd64", "os": "linux",
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                   "Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": "2026-12-03T00:00:00Z", "created_by": f"bench layer {i + 1}"}
                    for i in range(len(diff_ids))]})
    config_desc = pusher.blob(args.repo, config, fixture.OCI_CONFIG)
    manifest = pusher.manifest(args.repo, args.tag, {
        "schemaVersion": 2, "mediaType": fixture.OCI_MANIFEST, "config": config_desc,
        "layers": descs})
    print(json.dumps({"digest": manifest["digest"], "layers": layer_info, **summary}))
    return 0


def file_digest(path: str) -> str:
    import hashlib
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


if __name__ == "__main__":
    sys.exit(main())
