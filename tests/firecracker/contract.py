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
import copy
import json
import re
import subprocess
import sys

try:
    import jsonschema
    import yaml
except ImportError:
    print("python3-jsonschema or python3-yaml missing: skipping "
          "(apt-get install python3-jsonschema python3-yaml)")
    sys.exit(77)


def strict(node):
    """A copy of a schema where every object with properties refuses other properties."""
    if isinstance(node, dict):
        out = {key: strict(value) for key, value in node.items()}
        if "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
        return out
    if isinstance(node, list):
        return [strict(value) for value in node]
    return node


class Spec:
    def __init__(self, path):
        with open(path) as f:
            self.doc = yaml.safe_load(f)
        self.version = self.doc["info"]["version"]
        self.definitions = strict(self.doc.get("definitions", {}))
        self.routes = []
        for template, operations in self.doc["paths"].items():
            names = re.findall(r"{([^}]+)}", template)
            pattern = "^" + re.sub(r"{[^}]+}", "([^/]+)", template) + "$"
            self.routes.append((re.compile(pattern), names, template, operations))

    def check(self, request):
        """The problems of one request (empty when it conforms)."""
        method, path, body = request["method"], request["path"], request["body"]
        for pattern, names, template, operations in self.routes:
            match = pattern.match(path)
            if not match:
                continue
            operation = operations.get(method.lower())
            if operation is None:
                return [f"{method} is not an operation of {template}"]
            params = operation.get("parameters", [])
            body_param = next((p for p in params if p.get("in") == "body"), None)
            if body_param is None:
                return [f"{method} {template} takes no body"]
            schema = copy.deepcopy(strict(body_param["schema"]))
            schema["definitions"] = self.definitions
            validator = jsonschema.Draft4Validator(schema)
            problems = [f"{'/'.join(map(str, e.path)) or 'body'}: {e.message}"
                        for e in validator.iter_errors(body)]
            for name, value in zip(names, match.groups()):
                if name in body and body[name] != value:
                    problems.append(f"path {name} {value!r} differs from the body's {body[name]!r}")
            return problems
        return [f"no path of the specification matches {path}"]


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
