#!/usr/bin/env python3
"""Self-test of the OCI fixtures (run as root; needs docker-registry, htpasswd,
zstd, GNU tar, e2fsprogs).

  selftest.py [--keep DIR]

1. starts a registry with htpasswd auth and pushes the suite;
2. for every valid tag, pulls it back with plain HTTP (resolving the amd64
   entry of an index / manifest list), checks blob digests, sizes and
   diff_ids, and extracts the layers with GNU tar into a staging directory
   (whiteouts applied with rm before each layer) -> mkfs.ext4 -d;
3. compares each image with expected.json through ext4_tree.compare_trees
   (mtimes included), so the oracle, the pushed blobs and ext4_tree are
   checked against an independent implementation (GNU tar);
4. checks that evil tags exist and that compare_trees reports deliberate
   damage; times a dump of a 2,000-file image;
5. stops the registry.  Exits 0 if all checks pass.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ext4_tree  # noqa: E402
import registry_fixture as rf  # noqa: E402

AUTH = ("banger", "pa:ss word")  # ':' and space in the password on purpose
ACCEPT = [rf.OCI_INDEX, rf.DOCKER_LIST, rf.OCI_MANIFEST, rf.DOCKER_MANIFEST]
DECOMPRESS = {rf.OCI_LAYER_GZIP: ["gzip", "-dc"], rf.DOCKER_LAYER_GZIP: ["gzip", "-dc"],
              rf.OCI_LAYER_ZSTD: ["zstd", "-dc"], rf.OCI_LAYER_TAR: ["cat"]}


def check(cond: bool, message: str) -> None:
    """Raise AssertionError(message) unless cond."""
    if not cond:
        raise AssertionError(message)


def pull_layers(client: rf.RegistryClient, repo: str, tag: str) -> list[bytes]:
    """Fetch repo:tag (amd64/linux if it is an index), verify every blob's
    digest, size and diff_id; return the uncompressed layer tars."""
    media_type, body = client.get_manifest(repo, tag, ACCEPT)
    manifest = json.loads(body)
    check(manifest["mediaType"] == media_type, f"{repo}:{tag}: Content-Type {media_type}")
    if media_type in (rf.OCI_INDEX, rf.DOCKER_LIST):
        check(manifest["manifests"][0]["platform"]["architecture"] == "arm64",
              "arm64 must be listed first")
        entry = next(m for m in manifest["manifests"]
                     if m["platform"] == {"architecture": "amd64", "os": "linux"})
        media_type, body = client.get_manifest(repo, entry["digest"], ACCEPT)
        check(rf.sha256_digest(body) == entry["digest"], "child manifest digest")
        manifest = json.loads(body)
    config_blob = client.get_blob(repo, manifest["config"]["digest"])
    check(rf.sha256_digest(config_blob) == manifest["config"]["digest"], "config digest")
    config = json.loads(config_blob)
    check(config["architecture"] == "amd64" and config["os"] == "linux", "config platform")
    tars = []
    for desc, diff_id in zip(manifest["layers"], config["rootfs"]["diff_ids"], strict=True):
        blob = client.get_blob(repo, desc["digest"])
        check(rf.sha256_digest(blob) == desc["digest"] and len(blob) == desc["size"],
              f"blob {desc['digest']} digest/size")
        tar = subprocess.run(DECOMPRESS[desc["mediaType"]], input=blob, check=True,
                             capture_output=True).stdout
        check(rf.sha256_digest(tar) == diff_id, f"diff_id of {desc['digest']}")
        tars.append(tar)
    return tars


def extract_with_gnu_tar(tars: list[bytes], root: str, scratch: str) -> None:
    """Apply layer tars to root with GNU tar as root, whiteouts done by rm:
    before each layer `.wh.X` removes X, `.wh..wh..opq` empties its dir and
    a directory about to be replaced by a non-directory member is removed;
    then the layer minus its whiteout members is extracted by GNU tar."""
    for i, tar in enumerate(tars):
        path = os.path.join(scratch, f"layer{i}.tar")
        with open(path, "wb") as fh:
            fh.write(tar)
        with tarfile.open(path) as tf:
            members = [(m.name, m.isdir()) for m in tf]
        for name, is_dir in members:
            parent, _, base = name.rstrip("/").rpartition("/")
            target_dir = os.path.join(root, parent)
            if base == ".wh..wh..opq":
                subprocess.run(["find", target_dir, "-mindepth", "1", "-maxdepth", "1",
                                "-exec", "rm", "-rf", "{}", "+"], check=True)
            elif base.startswith(".wh."):
                subprocess.run(["rm", "-rf", os.path.join(target_dir, base[4:])], check=True)
        for name, is_dir in members:
            full = os.path.join(root, name)
            if not is_dir and os.path.isdir(full) and not os.path.islink(full):
                subprocess.run(["rm", "-rf", full], check=True)
        subprocess.run(["tar", "-x", "-f", path, "-C", root, "--exclude=.wh.*",
                        "--numeric-owner", "--same-owner", "-p", "--xattrs",
                        "--xattrs-include=*"], check=True)


def make_ext4(root: str, image: str, size: str = "64M") -> None:
    """mkfs.ext4 -d root into a fresh image file."""
    with open(image, "wb"):
        pass  # an empty file: mkfs.ext4 then does not announce creating it
    subprocess.run(["mkfs.ext4", "-q", "-F", "-d", root, image, size], check=True)


def damage_check(expected: dict, root: str, scratch: str) -> None:
    """Damage a copy of a good staging tree; compare_trees must report each
    damage (mode, content, missing, extra, broken hard link, xattr)."""
    bad = os.path.join(scratch, "damaged")
    subprocess.run(["cp", "-a", root, bad], check=True)
    os.chmod(os.path.join(bad, "usr/bin/su"), 0o755)
    with open(os.path.join(bad, "etc/hostname"), "w") as fh:
        fh.write("changed\n")
    os.unlink(os.path.join(bad, "etc/passwd"))
    os.mkdir(os.path.join(bad, "extra-dir"))
    perl = os.path.join(bad, "usr/bin/perl")
    shutil.copy2(perl, perl + ".tmp")
    os.replace(perl + ".tmp", perl)
    os.removexattr(os.path.join(bad, "usr/bin/ping"), "security.capability")
    image = os.path.join(scratch, "damaged.ext4")
    make_ext4(bad, image)
    problems = ext4_tree.compare_trees(ext4_tree.dump_tree(image), expected)
    text = "\n".join(problems)
    for needle in ("/usr/bin/su: mode", "/etc/hostname: size", "MISSING /etc/passwd",
                   "EXTRA   /extra-dir", "hard-link group", "/usr/bin/ping: xattrs"):
        check(needle in text, f"damage not reported: {needle!r} in:\n{text}")
    check(ext4_tree.compare_trees(ext4_tree.dump_tree(image), expected,
                                  ignore_prefixes=["/extra-dir"]) != [], "still damaged")
    print(f"ok   damage detected ({len(problems)} differences)")


def dump_speed(scratch: str, count: int = 2000) -> float:
    """Time ext4_tree.dump_tree on an image with `count` files in 40 dirs."""
    root = os.path.join(scratch, "many")
    for i in range(count):
        d = os.path.join(root, f"d{i % 40:02d}", f"sub {i % 7}")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"f{i}"), "wb") as fh:
            fh.write(os.urandom(i % 3000))
    image = os.path.join(scratch, "many.ext4")
    make_ext4(root, image, "128M")
    started = time.monotonic()
    tree = ext4_tree.dump_tree(image)
    elapsed = time.monotonic() - started
    check(sum(n["type"] == "file" for n in tree.values()) == count, "file count")
    return elapsed


def main() -> int:
    """Run every check; returns 0 on success (raises on failure)."""
    parser = argparse.ArgumentParser(description="self-test of tests/oci fixtures")
    parser.add_argument("--keep", help="use this directory and keep it")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("selftest.py must run as root (tar --same-owner, mknod, xattrs)")
    scratch = args.keep or tempfile.mkdtemp(prefix="oci-selftest.")
    os.makedirs(scratch, exist_ok=True)
    try:
        with rf.Registry(os.path.join(scratch, "registry"), auth=AUTH) as reg:
            client = rf.RegistryClient(reg.url, AUTH)
            started = time.monotonic()
            expected = rf.run_suite(client, reg.workdir)
            print(f"ok   push-suite took {time.monotonic() - started:.2f}s")
            check(rf.probe_v2(reg.url) == 401, "anonymous /v2/ must be 401")
            rf.write_json(os.path.join(scratch, "expected.json"), expected)

            for ref in sorted(k for k in expected if ":" in k):
                repo, tag = ref.split(":")
                tars = pull_layers(client, repo, tag)
                root = os.path.join(scratch, "root-" + ref.replace("/", "_").replace(":", "_"))
                os.makedirs(root)
                extract_with_gnu_tar(tars, root, scratch)
                image = root + ".ext4"
                make_ext4(root, image)
                problems = ext4_tree.compare_trees(ext4_tree.dump_tree(image), expected[ref],
                                                   check_mtime=True)
                check(not problems, f"{ref}:\n" + "\n".join(problems))
                print(f"ok   {ref}: GNU tar extraction == expected ({len(expected[ref])} paths)")

            for ref in expected["evil"]:
                repo, tag = ref.split(":")
                client.get_manifest(repo, tag, [rf.OCI_MANIFEST])
            print(f"ok   {len(expected['evil'])} evil tags present")

        damage_check(expected["banger-test/layers:oci"],
                     os.path.join(scratch, "root-banger-test_layers_oci"), scratch)
        print(f"ok   dump of 2000 files took {dump_speed(scratch):.2f}s")
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    print("selftest: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
