#!/usr/bin/env python3
"""Writes a hostile variant of a valid banger bundle (.tar.zst), for the catalog tests.

  hostile_bundle.py --from GOOD.tar.zst --out BAD.tar.zst --mode MODE

MODE: extra (one more regular file), symlink (rootfs.ext4 replaced by a symlink to /etc/shadow),
traversal (../rootfs.ext4 added), device (a char device named rootfs.ext4 first), gzip (the
same entries, gzip-compressed). Prints the sha256 and size of what it wrote as JSON. Uses the
zstd program to (de)compress."""
import argparse
import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile


def read_members(path):
    raw = subprocess.run(["zstd", "-q", "-d", "-c", path], check=True, capture_output=True).stdout
    members = []
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as tar:
        for info in tar.getmembers():
            data = tar.extractfile(info).read() if info.isfile() else b""
            members.append((info, data))
    return members


def add_file(tar, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--from", dest="source", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--mode", required=True,
                        choices=["extra", "symlink", "traversal", "device", "gzip"])
    args = parser.parse_args()
    members = read_members(args.source)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:", format=tarfile.PAX_FORMAT) as tar:
        if args.mode == "device":
            dev = tarfile.TarInfo("rootfs.ext4")
            dev.type = tarfile.CHRTYPE
            dev.devmajor, dev.devminor = 1, 3
            tar.addfile(dev)
        for info, data in members:
            if args.mode == "symlink" and info.name == "rootfs.ext4":
                link = tarfile.TarInfo("rootfs.ext4")
                link.type = tarfile.SYMTYPE
                link.linkname = "/etc/shadow"
                tar.addfile(link)
                continue
            if args.mode == "device" and info.name == "rootfs.ext4":
                continue
            add_file(tar, info.name, data)
        if args.mode == "extra":
            add_file(tar, "payload.sh", b"#!/bin/sh\necho pwned\n")
        if args.mode == "traversal":
            add_file(tar, "../rootfs.ext4", b"escaped")
    raw = buffer.getvalue()
    if args.mode == "gzip":
        out = gzip.compress(raw)
    else:
        out = subprocess.run(["zstd", "-q", "-c"], input=raw, check=True,
                             capture_output=True).stdout
    with open(args.out, "wb") as f:
        f.write(out)
    json.dump({"sha256": hashlib.sha256(out).hexdigest(), "size": len(out)}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
