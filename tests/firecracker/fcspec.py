"""The official Firecracker API specification as a strict request validator, shared by the
contract test (contract.py) and the Firecracker emulator (emulator.py).

A Spec loads one of the OpenAPI (Swagger 2.0) files of third_party/firecracker. Body schemas are
JSON Schema draft 4 (as Swagger 2.0 uses) made strict: every object schema with properties
refuses other properties, as Firecracker's own deserializer refuses unknown fields.

Importing this module needs python3-yaml and python3-jsonschema; the ImportError is left to the
caller (the contract test skips, the emulator warns and validates nothing)."""
import copy
import re

import jsonschema
import yaml


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
    """One specification file: its path templates and a strict body validator per operation."""

    def __init__(self, path):
        with open(path) as f:
            # libyaml's loader when present: the same document, several times faster
            self.doc = yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        self.version = self.doc["info"]["version"]
        self.definitions = strict(self.doc.get("definitions", {}))
        self.routes = []
        for template, operations in self.doc["paths"].items():
            names = re.findall(r"{([^}]+)}", template)
            pattern = "^" + re.sub(r"{[^}]+}", "([^/]+)", template) + "$"
            self.routes.append((re.compile(pattern), names, template, operations))
        self._validators = {}

    def route(self, path):
        """(template, {path parameter: value}) of the first template matching path, or None."""
        for pattern, names, template, _ in self.routes:
            match = pattern.match(path)
            if match:
                return template, dict(zip(names, match.groups()))
        return None

    def body_validator(self, template, method):
        """The strict Draft4Validator of the body of `method` on `template`. KeyError when the
        method is no operation of the template; None when the operation takes no body."""
        key = (template, method.lower())
        if key not in self._validators:
            operations = self.doc["paths"][template]
            operation = operations.get(method.lower())
            if operation is None:
                raise KeyError(f"{method} is not an operation of {template}")
            params = operation.get("parameters", [])
            body_param = next((p for p in params if p.get("in") == "body"), None)
            validator = None
            if body_param is not None:
                schema = copy.deepcopy(strict(body_param["schema"]))
                schema["definitions"] = self.definitions
                validator = jsonschema.Draft4Validator(schema)
            self._validators[key] = validator
        return self._validators[key]

    def check(self, request):
        """The problems of one {"method","path","body"} request (empty when it conforms)."""
        method, path, body = request["method"], request["path"], request["body"]
        found = self.route(path)
        if found is None:
            return [f"no path of the specification matches {path}"]
        template, params = found
        try:
            validator = self.body_validator(template, method)
        except KeyError:
            return [f"{method} is not an operation of {template}"]
        if validator is None:
            return [f"{method} {template} takes no body"]
        problems = [f"{'/'.join(map(str, e.path)) or 'body'}: {e.message}"
                    for e in validator.iter_errors(body)]
        for name, value in params.items():
            if name in body and body[name] != value:
                problems.append(f"path {name} {value!r} differs from the body's {body[name]!r}")
        return problems
