#!/usr/bin/env python3
"""Dump an ext4 image as a JSON tree with debugfs, and compare it to an
expected tree written by registry_fixture.py.  No mounting, no root needed
(beyond read access to the image); Python 3.11 standard library + e2fsprogs.

Command line
------------
  ext4_tree.py dump IMAGE.ext4 [--no-content]
      Print {"/path": {"type", "mode", "uid", "gid", "mtime", "inode",
      "xattrs", file: "size", "sha256"; symlink: "target";
      char/block: "rdev"}} for every path but "/".

  ext4_tree.py compare IMAGE.ext4 EXPECTED.json REPO:TAG
                       [--ignore-prefix /usr/local/lib/banger ...] [--check-mtime]
      Compare the image with EXPECTED[REPO:TAG].  Prints one line per
      difference and exits 1 if there is any, 0 (with an OK line) otherwise.

How the dump works: a breadth-first walk with one `debugfs -f` run per tree
level (`ls -p <ino>` for every directory of that level), then one run with
`stat <ino>` for every inode (mtime, symlink target, device numbers, xattr
names), then one run that `dump`s regular files and slow symlinks and
`ea_get -f`s xattr values into a temporary directory.  Inodes are always
addressed as <ino>, so odd file names never need quoting.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile

ROOT_INO = 2
IGNORED_XATTRS = {"system.data"}  # inline-data storage detail, not a real xattr

_TYPES = {stat.S_IFREG: "file", stat.S_IFDIR: "dir", stat.S_IFLNK: "symlink",
          stat.S_IFIFO: "fifo", stat.S_IFCHR: "char", stat.S_IFBLK: "block",
          stat.S_IFSOCK: "socket"}

# `ls -p` line: /ino/mode(octal)/uid/gid/name/size/  (size empty for dirs).
# Names cannot contain '/', but may contain anything else, newlines included.
_LS_RE = re.compile(rb"/(\d+)/([0-7]+)/(\d+)/(\d+)/([^/]*)/(\d*)/\n")
_MTIME_RE = re.compile(rb"^\s*mtime: 0x([0-9a-f]+)(?::([0-9a-f]+))?", re.M)
_DEV_RE = re.compile(rb"^\s*Device major/minor number: (\d+):(\d+)", re.M)
_FASTLINK_RE = re.compile(rb'^\s*Fast link dest: "(.*)"$', re.M)
_XATTR_RE = re.compile(rb"^  (\S+) \((\d+)\)", re.M)


class DebugfsError(RuntimeError):
    """debugfs failed or printed something unexpected."""


def run_debugfs(image: str, commands: list[str]) -> list[bytes]:
    """Run `debugfs -f` over commands (read-only); return each command's stdout.

    Output is split at the "debugfs: <command>" echo lines that debugfs
    prints before each command in -f mode.  Raises DebugfsError if debugfs
    fails or an echo line is missing."""
    if not commands:
        return []
    with tempfile.NamedTemporaryFile("w", suffix=".debugfs", delete=False) as fh:
        fh.write("\n".join(commands) + "\n")
        cmdfile = fh.name
    try:
        env = {**os.environ, "PAGER": "cat", "DEBUGFS_PAGER": "__none__"}
        proc = subprocess.run(["debugfs", "-f", cmdfile, image], capture_output=True, env=env)
    finally:
        os.unlink(cmdfile)
    if proc.returncode != 0:
        raise DebugfsError(f"debugfs exited {proc.returncode}: {proc.stderr.decode(errors='replace')}")
    out = proc.stdout
    starts = []
    pos = 0
    for cmd in commands:
        marker = b"debugfs: " + cmd.encode() + b"\n"
        found = out.find(marker, pos)
        if found < 0:
            raise DebugfsError(f"no output marker for {cmd!r}; stderr: {proc.stderr[-500:]!r}")
        starts.append((found, found + len(marker)))
        pos = found + len(marker)
    return [out[body:(starts[i + 1][0] if i + 1 < len(starts) else len(out))]
            for i, (_, body) in enumerate(starts)]


def walk(image: str) -> dict[str, dict]:
    """Return {"/path": {"inode", "imode", "uid", "gid", "size"}} for every
    entry reachable from the root (excluding "/", ".", ".."), via `ls -p`
    batched per directory level.  Names are decoded as UTF-8 with
    surrogateescape, so odd bytes survive."""
    entries: dict[str, dict] = {}
    level = [(ROOT_INO, "")]
    while level:
        outputs = run_debugfs(image, [f"ls -p <{ino}>" for ino, _ in level])
        next_level = []
        for (_, dir_path), out in zip(level, outputs):
            for m in _LS_RE.finditer(out):
                name = m.group(5).decode("utf-8", "surrogateescape")
                if name in (".", "..") or m.group(1) == b"0":
                    continue
                ino, imode = int(m.group(1)), int(m.group(2), 8)
                path = f"{dir_path}/{name}"
                entries[path] = {"inode": ino, "imode": imode, "uid": int(m.group(3)),
                                 "gid": int(m.group(4)),
                                 "size": int(m.group(6)) if m.group(6) else 0}
                if stat.S_ISDIR(imode):
                    next_level.append((ino, path))
        level = next_level
    return entries


def parse_stat(out: bytes) -> dict:
    """Extract mtime, rdev, fast symlink target and xattr (name, length)
    pairs from one `stat` output."""
    info: dict = {"xattr_names": []}
    m = _MTIME_RE.search(out)
    if m:
        seconds = int(m.group(1), 16)
        if seconds >= 1 << 31:
            seconds -= 1 << 32  # the base field is signed
        if m.group(2):
            seconds += (int(m.group(2), 16) & 3) << 32  # epoch extension bits
        info["mtime"] = seconds
    m = _DEV_RE.search(out)
    if m:
        info["rdev"] = [int(m.group(1)), int(m.group(2))]
    m = _FASTLINK_RE.search(out)
    if m:
        info["fast_link"] = m.group(1)
    section = out.split(b"Extended attributes:\n", 1)
    if len(section) == 2:
        for line in section[1].split(b"\n"):
            xm = _XATTR_RE.match(line)
            if not xm:
                break
            name = xm.group(1).decode("utf-8", "surrogateescape")
            if name not in IGNORED_XATTRS:
                info["xattr_names"].append((name, int(xm.group(2))))
    return info


def dump_tree(image: str, content: bool = True) -> dict[str, dict]:
    """Read the whole tree of an ext4 image with debugfs.

    Returns {"/path": node}; node has type, mode (perm bits incl.
    suid/sgid/sticky), uid, gid, mtime, inode, xattrs {name: hex}, and
    size + sha256 for files (sha256 only if content), target for symlinks,
    rdev [major, minor] for devices.  Raises DebugfsError on debugfs trouble."""
    entries = walk(image)
    inodes = sorted({e["inode"] for e in entries.values()})
    stats = dict(zip(inodes, (parse_stat(o) for o in
                              run_debugfs(image, [f"stat <{ino}>" for ino in inodes]))))
    imode_of = {e["inode"]: e["imode"] for e in entries.values()}
    size_of = {e["inode"]: e["size"] for e in entries.values()}

    tmp = tempfile.mkdtemp(prefix="ext4_tree.")
    try:
        commands, files = [], {}  # files: key -> local path
        for ino in inodes:
            kind = _TYPES.get(stat.S_IFMT(imode_of[ino]), "unknown")
            if (kind == "file" and content) or (kind == "symlink" and "fast_link" not in stats[ino]):
                files[("data", ino)] = os.path.join(tmp, f"d{ino}")
                commands.append(f"dump <{ino}> {files[('data', ino)]}")
            for i, (name, _) in enumerate(stats[ino]["xattr_names"]):
                files[("xattr", ino, name)] = os.path.join(tmp, f"x{ino}_{i}")
                commands.append(f"ea_get -f {files[('xattr', ino, name)]} <{ino}> {name}")
        run_debugfs(image, commands)

        def read(key) -> bytes:
            """Bytes debugfs wrote for key (missing file -> DebugfsError)."""
            try:
                with open(files[key], "rb") as fh:
                    return fh.read()
            except FileNotFoundError:
                raise DebugfsError(f"debugfs did not write {key}") from None

        nodes: dict[int, dict] = {}
        for ino in inodes:
            imode, st = imode_of[ino], stats[ino]
            size = size_of[ino]
            kind = _TYPES.get(stat.S_IFMT(imode), "unknown")
            node = {"type": kind, "mode": stat.S_IMODE(imode), "inode": ino,
                    "mtime": st.get("mtime"), "xattrs": {}}
            for name, length in st["xattr_names"]:
                value = read(("xattr", ino, name))
                if len(value) != length:
                    raise DebugfsError(f"inode {ino}: xattr {name} is {length} bytes, got {len(value)}")
                node["xattrs"][name] = value.hex()
            if kind == "file":
                node["size"] = size
                if content:
                    data = read(("data", ino))
                    if len(data) != size:
                        raise DebugfsError(f"inode {ino}: size {size}, dumped {len(data)} bytes")
                    node["sha256"] = hashlib.sha256(data).hexdigest()
            elif kind == "symlink":
                raw = st["fast_link"] if "fast_link" in st else read(("data", ino))[:size]
                node["target"] = raw.decode("utf-8", "surrogateescape")
            elif kind in ("char", "block"):
                node["rdev"] = st.get("rdev")
            nodes[ino] = node
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    tree = {}
    for path in sorted(entries):
        entry = entries[path]
        node = dict(nodes[entry["inode"]])
        node["uid"], node["gid"] = entry["uid"], entry["gid"]
        tree[path] = node
    return tree


# ---------------------------------------------------------------------------
# compare
# ---------------------------------------------------------------------------

COMPARED_KEYS = ("type", "mode", "uid", "gid", "size", "sha256", "target", "rdev", "xattrs")


def _fmt(key: str, value) -> str:
    """Human form of an attribute value (modes in octal)."""
    if key == "mode" and isinstance(value, int):
        return oct(value)
    return json.dumps(value, ensure_ascii=False)


def _under(path: str, prefix: str) -> bool:
    """True if path is prefix or lies below it."""
    prefix = prefix.rstrip("/")
    return path == prefix or path.startswith(prefix + "/")


def compare_trees(actual: dict[str, dict], expected: dict[str, dict],
                  ignore_prefixes: list[str] = (), check_mtime: bool = False) -> list[str]:
    """Return human-readable differences between a dump and an expected tree
    (empty list = equal).

      * every expected path must exist; implicit dirs are checked for type
        only, other nodes for every key of COMPARED_KEYS they carry (and
        mtime for non-directories if check_mtime);
      * an actual path absent from expected is EXTRA, unless it is
        /lost+found (or below it), under an ignore prefix, or a directory
        that is an ancestor of an ignore prefix;
      * paths sharing a hardlink_group must share one inode, and expected
        non-directory paths outside a common group must not share one."""
    problems: list[str] = []
    ignore = ["/lost+found", *ignore_prefixes]
    for path in sorted(expected):
        want = expected[path]
        got = actual.get(path)
        if got is None:
            problems.append(f"MISSING {path} (expected {want['type']})")
            continue
        keys = ("type",) if want.get("implicit") else COMPARED_KEYS
        for key in keys:
            if key in want and want[key] != got.get(key):
                problems.append(f"DIFF    {path}: {key} expected {_fmt(key, want[key])}, "
                                f"got {_fmt(key, got.get(key))}")
        if (check_mtime and not want.get("implicit") and want["type"] != "dir"
                and "mtime" in want and want["mtime"] != got.get("mtime")):
            problems.append(f"DIFF    {path}: mtime expected {want['mtime']}, got {got.get('mtime')}")

    for path in sorted(actual):
        if path in expected or any(_under(path, p) for p in ignore):
            continue
        if actual[path]["type"] == "dir" and any(_under(p, path) for p in ignore_prefixes):
            continue
        problems.append(f"EXTRA   {path} ({actual[path]['type']})")

    groups: dict[str, list[str]] = {}
    for path, want in expected.items():
        if "hardlink_group" in want:
            groups.setdefault(want["hardlink_group"], []).append(path)
    for group, paths in sorted(groups.items()):
        inodes = {p: actual[p]["inode"] for p in sorted(paths) if p in actual}
        if len(set(inodes.values())) > 1:
            problems.append(f"LINK    hard-link group {group} should be one inode, got "
                            + ", ".join(f"{p}=#{i}" for p, i in inodes.items()))
    by_inode: dict[int, list[str]] = {}
    for path, want in expected.items():
        if path in actual and want["type"] != "dir":
            by_inode.setdefault(actual[path]["inode"], []).append(path)
    for ino, paths in sorted(by_inode.items()):
        if len({expected[p].get("hardlink_group", p) for p in paths}) > 1:
            problems.append(f"LINK    inode #{ino} is shared by {', '.join(sorted(paths))}, "
                            "which are not hard links of each other")
    return problems


def load_expected(path: str, key: str) -> dict[str, dict]:
    """expected.json[key], or exit with a message listing the valid keys."""
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    if key not in data or ":" not in key:
        trees = ", ".join(k for k in sorted(data) if ":" in k)
        sys.exit(f"{key!r} is not a tree in {path}; trees: {trees}")
    return data[key]


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("dump", help="print the image tree as JSON")
    p.add_argument("image")
    p.add_argument("--no-content", action="store_true", help="skip file sha256 (faster)")
    p = sub.add_parser("compare", help="compare the image with an expected tree")
    p.add_argument("image")
    p.add_argument("expected")
    p.add_argument("ref", metavar="REPO:TAG")
    p.add_argument("--ignore-prefix", action="append", default=[], metavar="PATH")
    p.add_argument("--check-mtime", action="store_true",
                   help="also compare mtimes of non-directories")
    args = parser.parse_args(argv)
    sys.stdout.reconfigure(errors="backslashreplace")  # names may hold odd bytes

    if args.cmd == "dump":
        tree = dump_tree(args.image, content=not args.no_content)
        json.dump(tree, sys.stdout, indent=1, sort_keys=True)
        sys.stdout.write("\n")
        return 0
    expected = load_expected(args.expected, args.ref)
    actual = dump_tree(args.image)
    problems = compare_trees(actual, expected, args.ignore_prefix, args.check_mtime)
    for line in problems:
        print(line)
    if problems:
        print(f"FAIL: {len(problems)} difference(s) between {args.image} and {args.ref}")
        return 1
    print(f"OK: {args.image} matches {args.ref} ({len(expected)} expected paths)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
