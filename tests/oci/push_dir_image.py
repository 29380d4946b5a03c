#!/usr/bin/env python3
"""Pushes a directory as a one-layer OCI image to a registry (tests that boot pulled images).

    push_dir_image.py --url http://127.0.0.1:PORT --repo banger-test/busybox --tag latest DIR
                      [--env PATH=/bin ...] [--cmd sh]
    push_dir_image.py --url ... --repo banger-test/debian --tar rootfs.tar
                      (an existing tar, e.g. mmdebstrap --format=tar, pushed as the layer)

Every entry is stored root-owned with its mode, symlinks as symlinks; the layer is gzip.
Prints the manifest digest."""
import argparse
import io
import os
import sys
import tarfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import registry_fixture as fixture  # noqa: E402


def layer_of(root: str) -> bytes:
    """The uncompressed tar of root's contents (root-owned, paths relative, sorted)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for name in sorted(dirnames) + sorted(filenames):
                path = os.path.join(dirpath, name)
                info = tar.gettarinfo(path, arcname=os.path.relpath(path, root))
                info.uid = info.gid = 0
                info.uname = info.gname = "root"
                if info.isreg():
                    with open(path, "rb") as f:
                        tar.addfile(info, f)
                else:
                    tar.addfile(info)
    return buffer.getvalue()


def main() -> int:
    """Parses the arguments, pushes the image, prints its manifest digest."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--repo", required=True)
    parser.add_argument("--tag", default="latest")
    parser.add_argument("--env", action="append", default=[])
    parser.add_argument("--cmd", action="append", default=[])
    parser.add_argument("--tar", help="push this tar as the layer instead of a directory")
    parser.add_argument("dir", nargs="?")
    args = parser.parse_args()
    if bool(args.tar) == bool(args.dir):
        parser.error("give a directory or --tar FILE")
    pusher = fixture.SuitePusher(fixture.RegistryClient(args.url))
    config = {"Env": args.env or ["PATH=/usr/local/bin:/usr/bin:/bin"], "Cmd": args.cmd}
    if args.tar:
        with open(args.tar, "rb") as f:
            layer = f.read()
    else:
        layer = layer_of(args.dir)
    descriptor = pusher.image(args.repo, args.tag, [fixture.Layer(layer)], ["gzip"],
                              config=config)
    print(descriptor["digest"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
