#!/usr/bin/env python3
"""Naming check (STYLE §2.13): clang-tidy-19's readability-identifier-naming, configured by the
project's .clang-tidy, over every production .cpp file in the build's compile_commands.json
(not tests, not testkit, not fuzz/bench) and the banger headers they include. A ratchet: only
the naming check runs here, and it must stay clean.
Usage: check_naming.py <source dir> <build dir> [jobs]. Exit 1 with the violations, 77 (CTest
"Skipped") without clang-tidy-19 or compile_commands.json."""
import concurrent.futures
import json
import os
import pathlib
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
    batches = [files[i::jobs * 4] for i in range(jobs * 4)]
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
    print(f"naming ok ({len(files)} files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
