#!/usr/bin/env python3
"""Config keys check (issue 14: config that means what it says). docs/config.md is the one list
of config keys: the tables of its "Keys", "[vm_defaults]" and "[[file_sync]]" sections, plus the
old names of "Deprecated names". This check fails when
- a documented key has no row in the "Tested by" table, or a row names no test;
- a test named there (`Suite.Name`) is not a TEST(Suite, Name) / TEST_F(Suite, Name) in any
  *_test.cpp under src/ or tests/;
- the "Tested by" table names a key that is not documented;
- src/banger/config/config.cpp reads a key that is not documented, or a documented key is not
  read there (a key in the docs that the parser refuses as unknown).
Usage: check_config_keys.py <project root>. Exit 1 with one line per problem."""
import pathlib
import re
import sys

ROW_KEY = re.compile(r"^\|\s*`([a-z_]+)`\s*\|(.*)$")
TEST_NAME = re.compile(r"`([A-Za-z0-9_]+)\.([A-Za-z0-9_]+)`")
TEST_MACRO = re.compile(r"^\s*TEST(?:_F)?\(\s*([A-Za-z0-9_]+)\s*,\s*([A-Za-z0-9_]+)\s*\)", re.M)
HANDLER_KEY = re.compile(r'^\s*\{"([a-z_]+)",', re.M)


def sections(text):
    """{heading text: [lines]} for every markdown heading (## or ###)."""
    out = {}
    current = None
    for line in text.splitlines():
        if line.startswith("## ") or line.startswith("### "):
            current = line.lstrip("#").strip()
            out[current] = []
        elif current is not None:
            out[current].append(line)
    return out


def table_rows(lines):
    """(key, rest of the row) for each table row whose first cell is a `key`."""
    rows = []
    for line in lines:
        match = ROW_KEY.match(line)
        if match:
            rows.append((match.group(1), match.group(2)))
    return rows


def main(root):
    root = pathlib.Path(root)
    doc = sections((root / "docs" / "config.md").read_text())
    problems = []
    keys = []
    for heading in ("Keys", "`[vm_defaults]`", "`[[file_sync]]`"):
        if heading not in doc:
            problems.append(f"docs/config.md: no section \"{heading}\"")
            continue
        keys += [key for key, _ in table_rows(doc[heading])]
    deprecated = [key for key, _ in table_rows(doc.get("Deprecated names", []))]
    tested = dict(table_rows(doc.get("Tested by", [])))
    if not tested:
        problems.append("docs/config.md: no \"Tested by\" table")

    defined = set()
    for path in list((root / "src").rglob("*_test.cpp")) + list((root / "tests").rglob("*_test.cpp")):
        defined.update(f"{suite}.{name}" for suite, name in TEST_MACRO.findall(path.read_text()))

    for key in keys:
        if key not in tested:
            problems.append(f"docs/config.md: key \"{key}\" has no row in \"Tested by\"")
            continue
        names = [f"{suite}.{name}" for suite, name in TEST_NAME.findall(tested[key])]
        if not names:
            problems.append(f"docs/config.md: \"Tested by\" names no test for \"{key}\"")
        for name in names:
            if name not in defined:
                problems.append(f"docs/config.md: test {name} (for \"{key}\") does not exist")
    for key in tested:
        if key not in keys:
            problems.append(f"docs/config.md: \"Tested by\" lists \"{key}\", which is not a key")

    parsed = set(HANDLER_KEY.findall((root / "src" / "banger" / "config" / "config.cpp").read_text()))
    tables = {"vm_defaults", "file_sync"}  # documented by their own sections
    for key in sorted(parsed - set(keys) - set(deprecated) - tables):
        problems.append(f"config.cpp reads \"{key}\", which docs/config.md does not document")
    for key in sorted(set(keys + deprecated) - parsed):
        problems.append(f"docs/config.md documents \"{key}\", which config.cpp does not read")

    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "."))
