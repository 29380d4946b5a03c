#!/usr/bin/env python3
"""Firecracker API contract (issue 13): every request banger builds validates against each
official specification given, and the same validator is proven to reject wrong bodies.

Usage: contract.py <fc_request_matrix binary> <spec.yaml>...
The matrix tool prints one {"method","path","body"} per line. Each request must match a path
template and method of the spec, its body must validate against that operation's body schema
(JSON Schema draft 4, as Swagger 2.0 uses; every object schema is made strict, unknown
properties refused, as Firecracker's own deserializer refuses them), and a path parameter that
also appears in the body must have the same value. Exit 0 when all hold, 1 with one line per
problem, 77 (CTest "Skipped") without python3-jsonschema or python3-yaml."""
import json
import subprocess
import sys

try:
    import jsonschema  # noqa: F401 (probed here; used by fcspec)
    import yaml  # noqa: F401
except ImportError:
    print("python3-jsonschema or python3-yaml missing: skipping "
          "(apt-get install python3-jsonschema python3-yaml)")
    sys.exit(77)

from fcspec import Spec  # noqa: E402 (the strict validator, shared with emulator.py)


# Bodies Firecracker refuses: the validator must say no to each (it is proven to reject).
WRONG = [
    ("unknown field", {"method": "PUT", "path": "/boot-source",
                       "body": {"kernel_image_path": "/k", "kernel_path": "/k"}}),
    ("missing drive_id", {"method": "PUT", "path": "/drives/root",
                          "body": {"path_on_host": "/r", "is_root_device": True,
                                   "is_read_only": False}}),
    ("vcpu_count as a string", {"method": "PUT", "path": "/machine-config",
                                "body": {"vcpu_count": "2", "mem_size_mib": 128}}),
    ("unknown action", {"method": "PUT", "path": "/actions",
                        "body": {"action_type": "Reboot"}}),
    ("guest CID 2", {"method": "PUT", "path": "/vsock",
                     "body": {"guest_cid": 2, "uds_path": "/v"}}),
    ("drive id differs from its path", {"method": "PUT", "path": "/drives/root",
                                        "body": {"drive_id": "work", "path_on_host": "/r",
                                                 "is_root_device": True, "is_read_only": False}}),
    ("no such path", {"method": "PUT", "path": "/no-such-thing", "body": {}}),
]


def main():
    matrix, spec_paths = sys.argv[1], sys.argv[2:]
    run = subprocess.run([matrix], capture_output=True, text=True)
    if run.returncode != 0:
        print(f"{matrix} failed ({run.returncode}): {run.stderr.strip()}")
        return 1
    requests = [json.loads(line) for line in run.stdout.splitlines() if line.strip()]
    problems = 0
    for spec in map(Spec, spec_paths):
        for request in requests:
            for problem in spec.check(request):
                print(f"v{spec.version} {request['method']} {request['path']}: {problem}")
                problems += 1
        for what, request in WRONG:
            if not spec.check(request):
                print(f"v{spec.version}: the validator accepted a wrong body ({what})")
                problems += 1
    distinct = len({json.dumps(r, sort_keys=True) for r in requests})
    print(f"{len(requests)} requests ({distinct} distinct) against {len(spec_paths)} "
          f"specifications, {len(WRONG)} wrong bodies each refused: {problems} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
