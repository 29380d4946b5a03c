#!/usr/bin/env python3
"""Layering check (STYLE §2.12): every `#include "banger/<m>/..."` in module <x> must name
<x> itself or a module listed in <x>'s banger_module(... DEPS ...) call, and that module
must sit in a lower layer than <x>. Tests (files ending in _test.cpp) may also use testkit.
The layer table is read from src/CMakeLists.txt (`set(BANGER_LAYER_<n> <modules>)`, its one
source), and ARCHITECTURE.md's "Layers" block (`L<n> <modules>`) must list the same modules.
Exit 1 with one line per violation."""
import pathlib
import re
import sys

LAYER_LINE = re.compile(r"^\s*set\(BANGER_LAYER_(\d+)\s+([^)]*)\)", re.M)
DOC_LAYER_LINE = re.compile(r"^L(\d+) ([^(\n]*)", re.M)
# The CLI talks only RPC: it may never use these, whatever its DEPS say (SPEC S1). oci is
# allowed for its pure parts: `image pull` reads ~/.docker/config.json credentials itself. The one
# exception is doctor: `banger doctor` runs its read-only checks in the CLI when the daemon
# cannot start (a broken config), so the user learns why (docs/cli.md).
CLI_ALLOWED = {"posix", "base", "sys", "paths", "config", "model", "api", "rpc", "buildinfo",
               "agentproto", "workspace", "toolingplan", "doctor", "oci"}
INCLUDE = re.compile(r'#include\s+"banger/([a-z_]+)/')


def read_layers(root):
    """{module: layer} from src/CMakeLists.txt's BANGER_LAYER_<n> lines."""
    layers = {}
    for layer, names in LAYER_LINE.findall((root / "src" / "CMakeLists.txt").read_text()):
        for name in names.split():
            layers[name] = int(layer)
    return layers


def check_architecture_doc(root, layers):
    """ARCHITECTURE.md's "Layers" block must list exactly the modules of each layer."""
    text = (root / "ARCHITECTURE.md").read_text()
    section = text.split("## Layers", 1)[-1].split("\n## ", 1)[0]
    documented = {}
    for layer, names in DOC_LAYER_LINE.findall(section):
        for name in names.split():
            documented[name] = int(layer)
    problems = []
    for name in sorted(set(layers) | set(documented)):
        want, got = layers.get(name), documented.get(name)
        if got is None:
            problems.append(f"ARCHITECTURE.md: Layers does not list {name} (L{want} in src/CMakeLists.txt)")
        elif want is None:
            problems.append(f"ARCHITECTURE.md: Layers lists {name}, which src/CMakeLists.txt has no layer for")
        elif want != got:
            problems.append(f"ARCHITECTURE.md: Layers puts {name} in L{got}, src/CMakeLists.txt in L{want}")
    return problems


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
    layers = read_layers(root)
    problems = check_architecture_doc(root, layers)
    src = root / "src" / "banger"
    for module_dir in sorted(p for p in src.iterdir() if p.is_dir()):
        module = module_dir.name
        if module == "testkit":
            continue
        if module not in layers:
            problems.append(f"{module}: module missing from the layer table (BANGER_LAYER_<n> in src/CMakeLists.txt)")
            continue
        cmake = module_dir / "CMakeLists.txt"
        deps = module_deps(cmake.read_text()) if cmake.exists() else set()
        for dep in sorted(deps):
            if dep not in layers:
                problems.append(f"{module}: DEPS names unknown module {dep}")
            elif layers[dep] >= layers[module]:
                problems.append(f"{module} (L{layers[module]}) depends on {dep} (L{layers[dep]}): "
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
    print(f"layering ok ({len(layers)} modules)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
