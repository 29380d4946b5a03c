#!/usr/bin/env python3
"""Layering check (STYLE §2.12): every `#include "banger/<m>/..."` in module <x> must name
<x> itself or a module listed in <x>'s banger_module(... DEPS ...) call, and that module
must sit in a lower layer than <x>. Tests (files ending in _test.cpp) may also use testkit.
Exit 1 with one line per violation."""
import pathlib
import re
import sys

LAYERS = {
    "base": 0, "agentproto": 0,
    "sys": 1, "buildinfo": 1, "model": 1, "namegen": 1, "agentd": 1, "unpack": 1,
    "paths": 2, "policy": 2, "api": 2, "store": 2, "toolingplan": 2, "ext4": 2, "debpkg": 2, "guestconfig": 2, "agentclient": 2, "dns": 2, "artifactstore": 2,
    "config": 3, "rpc": 3, "kernelcat": 3, "imagecat": 3, "hostnat": 3, "vmm": 3, "guest": 3, "vmstorage": 3,
    "vm": 4, "doctor": 4,
    "daemon": 5, "cli": 5,
}
# The CLI talks only RPC: it may never use these, whatever its DEPS say (SPEC S1).
CLI_ALLOWED = {"base", "sys", "paths", "config", "model", "api", "rpc", "buildinfo"}
INCLUDE = re.compile(r'#include\s+"banger/([a-z_]+)/')


def module_deps(cmake_text):
    match = re.search(r"banger_module\((.*?)\)", cmake_text, re.S)
    if not match:
        return set()
    deps = set()
    in_deps = False
    for token in match.group(1).split():
        if token in ("SOURCES", "TESTS", "TEST_DEPS"):
            in_deps = False
        elif token == "DEPS":
            in_deps = True
        elif in_deps and token.startswith("banger::"):
            deps.add(token[len("banger::"):])
    return deps


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()
    problems = []
    src = root / "src" / "banger"
    for module_dir in sorted(p for p in src.iterdir() if p.is_dir()):
        module = module_dir.name
        if module == "testkit":
            continue
        if module not in LAYERS:
            problems.append(f"{module}: module missing from the layer table in tools/check_layering.py")
            continue
        cmake = module_dir / "CMakeLists.txt"
        deps = module_deps(cmake.read_text()) if cmake.exists() else set()
        for dep in sorted(deps):
            if dep not in LAYERS:
                problems.append(f"{module}: DEPS names unknown module {dep}")
            elif LAYERS[dep] >= LAYERS[module]:
                problems.append(f"{module} (L{LAYERS[module]}) depends on {dep} (L{LAYERS[dep]}): "
                                "a module may only depend on lower layers")
            if module == "cli" and dep not in CLI_ALLOWED:
                problems.append(f"cli depends on {dep}: the CLI talks only RPC")
        for source in sorted(module_dir.rglob("*.[ch]pp")):
            is_test = source.name.endswith("_test.cpp")
            for line_no, line in enumerate(source.read_text().splitlines(), 1):
                m = INCLUDE.search(line)
                if not m:
                    continue
                used = m.group(1)
                if used == module or (is_test and used == "testkit"):
                    continue
                if used not in deps:
                    rel = source.relative_to(root)
                    problems.append(f"{rel}:{line_no}: includes banger/{used} but {module}'s "
                                    f"DEPS do not list banger::{used}")
    for p in problems:
        print(p)
    if problems:
        return 1
    print(f"layering ok ({len(LAYERS)} modules)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
