#!/usr/bin/env python3
"""Naming check (STYLE §2.13): clang-tidy-19's readability-identifier-naming, configured by the
project's .clang-tidy, over every production .cpp file in the build's compile_commands.json
(not tests, not testkit, not fuzz/bench) and the banger headers they include. A ratchet: only
the naming check runs here, and it must stay clean.
Usage: check_naming.py <source dir> <build dir> [jobs]. Exit 1 with the violations, 77 (CTest
"Skipped") without clang-tidy-19 or compile_commands.json.

Clean results are remembered in BANGER_NAMING_CACHE (default ~/.cache/banger-naming; empty =
no cache): one empty file per source whose key, a sha256 over the clang-tidy version, the
project's .clang-tidy, the source and every banger header it includes (transitively), was
checked clean. A file with a violation is never remembered, so the cache can only skip work
that would pass again."""
import concurrent.futures
import hashlib
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys

CHECKS = "-*,readability-identifier-naming"


def production_sources(root, build):
    entries = json.loads((build / "compile_commands.json").read_text())
    src = root / "src"
    files = set()
    for entry in entries:
        path = pathlib.Path(entry["directory"], entry["file"]).resolve()
        if src not in path.parents or path.name.endswith("_test.cpp"):
            continue
        if (src / "banger" / "testkit") in path.parents:
            continue
        files.add(path)
    return sorted(files)


INCLUDE = re.compile(rb'^\s*#\s*include\s+"(banger/[^"]+)"', re.M)


def naming_key(path, src, salt, memo):
    """sha256 over salt, path's content and, transitively, the banger headers it includes."""
    digest = hashlib.sha256(salt)
    seen, stack = set(), [path]
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        if current not in memo:
            try:
                memo[current] = current.read_bytes()
            except OSError:
                memo[current] = b""
        data = memo[current]
        # Paths relative to src: a fresh clone elsewhere finds the same keys.
        name = os.path.relpath(current, src)
        digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
        for name in INCLUDE.findall(data):
            stack.append(src / name.decode())
    return digest.hexdigest()


def cache_dir():
    configured = os.environ.get("BANGER_NAMING_CACHE")
    if configured is not None:
        return pathlib.Path(configured) if configured else None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return pathlib.Path(base, "banger-naming")


def tidy(tool, build, batch):
    result = subprocess.run(
        [tool, "-p", str(build), "--quiet", f"--checks={CHECKS}",
         "--warnings-as-errors=readability-identifier-naming", *map(str, batch)],
        capture_output=True, text=True)
    lines = [l for l in result.stdout.splitlines() if "[readability-identifier-naming" in l]
    return result.returncode, lines, result.stderr if result.returncode and not lines else ""


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()
    build = pathlib.Path(sys.argv[2] if len(sys.argv) > 2 else root / "build").resolve()
    jobs = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    tool = shutil.which("clang-tidy-19")
    if tool is None or not (build / "compile_commands.json").exists():
        print("clang-tidy-19 or compile_commands.json missing: skipping "
              "(apt-get install clang-tidy-19; configure with CMake first)")
        return 77
    files = production_sources(root, build)
    cache = cache_dir()
    keys = {}
    if cache is not None:
        version = subprocess.run([tool, "--version"], capture_output=True).stdout
        config = (root / ".clang-tidy").read_bytes() if (root / ".clang-tidy").exists() else b""
        salt = version + b"\0" + config + b"\0" + CHECKS.encode()
        memo = {}
        keys = {f: naming_key(f, root / "src", salt, memo) for f in files}
    remembered = [f for f in files if cache is not None and (cache / keys[f]).exists()]
    files_to_check = [f for f in files if f not in set(remembered)]
    batches = [files_to_check[i::jobs * 4] for i in range(jobs * 4)]
    problems, failed = set(), []
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        for code, lines, err in pool.map(lambda b: tidy(tool, build, b), [b for b in batches if b]):
            problems.update(lines)
            if code != 0 and not lines:
                failed.append(err.strip())
    for line in sorted(problems):
        print(os.path.relpath(line, root) if line.startswith(str(root)) else line)
    for err in failed:
        print(err)
    if problems or failed:
        return 1
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
        for f in files_to_check:
            (cache / keys[f]).touch()
    print(f"naming ok ({len(files)} files, {len(remembered)} unchanged since a clean check)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
