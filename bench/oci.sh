#!/usr/bin/env bash
# `banger image pull` against the pipeline `skopeo copy` + `umoci unpack` + `mkfs.ext4 -d` (all
# three Debian packages) for the same image from the same registry, in the same run. The image
# is made by bench/gen_oci_image.py (default ~20,000 files, ~200 MiB, 5 gzip layers with
# symlinks, hard links, whiteouts and an opaque directory) and pushed once to Debian's
# `docker-registry` on 127.0.0.1 (tests/oci/registry_fixture.py). Per round, interleaved:
#   baseline  skopeo copy docker://... oci:layout, umoci unpack (as root), mkfs.ext4 -d of the
#             bundle's rootfs at the size banger picked (same -E options as banger's mkfs)
#   cold      `banger image pull ... --name big` with the image deleted and the blob cache
#             pruned first (`image delete`, `image cache prune`, untimed)
#   warm      the same pull again with `--force`, the blobs still cached (a rebuild: every
#             layer is replayed and packed again)
#   re-pull   the same pull again without `--force`: the image is up to date (banger asks
#             the registry for the manifest only); the issue's "warm-cache re-pull"
# `sync` (untimed) before every timed step, so no step pays for the previous one's writeback.
# The image has no systemd, so banger adds its init and busybox (kept in banger's cache after
# the first pull; each pull still asks the host's apt for the candidate version). Banger's
# progress lines are timestamped to split its time into phases. A warm-up pull (untimed) starts the daemon first; afterwards both
# ext4 images are dumped (tests/oci/ext4_tree.py) and must hold the same tree (types, modes,
# owners, sizes, contents, link targets, hard links) except what banger adds. The trap stops
# the daemon and the registry and deletes the temporary directory.
#
# Usage (root, from the project root, after building; needs skopeo, umoci, docker-registry):
#   bench/oci.sh [BUILD_DIR=build] [ROUNDS=3] [FILES=20600] [MIB=200] [TMP_PARENT=/var/tmp]
# (FILES counts files written before layer 5's whiteouts: 20600 leaves about 20,000.) Everything
# (registry storage, BANGER_HOME, the baseline's layout and bundle) lives in one temporary
# directory under TMP_PARENT; /dev/shm takes the host filesystem out of the comparison.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}; rounds=${2:-3}; files=${3:-20600}; mib=${4:-200}; parent=${5:-/var/tmp}
banger=$root/$build/bin/banger
[ -x "$banger" ] || { echo "build first: $banger missing" >&2; exit 1; }
for tool in skopeo umoci docker-registry mkfs.ext4 debugfs; do
  command -v "$tool" >/dev/null || { echo "$tool missing (apt-get install skopeo umoci docker-registry)" >&2; exit 1; }
done
work=$(mktemp -d "$parent/banger-oci.XXXXXX")
export BANGER_HOME=$work/home
registry_started=
cleanup() {
  "$banger" daemon stop >/dev/null 2>&1 || true
  [ -n "$registry_started" ] && python3 "$root/tests/oci/registry_fixture.py" stop --workdir "$work/registry" || true
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/home/config"
echo "$(date -u +%FT%TZ) load average: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores, $work on $(findmnt -no FSTYPE -T "$work" | head -1)" >&2

registry_started=1
url=$(python3 "$root/tests/oci/registry_fixture.py" start --workdir "$work/registry" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["url"])')
ref=${url#http://}/bench/big:latest
t0=$(date +%s)
python3 "$root/bench/gen_oci_image.py" --url "$url" --workdir "$work/gen" --files "$files" --mib "$mib" \
  > "$work/image.json"
echo "image generated and pushed in $(( $(date +%s) - t0 )) s: $(cat "$work/image.json")" >&2

now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
stamp() { while IFS= read -r line; do printf '%s %s\n' "$EPOCHREALTIME" "$line"; done; }

# Warm-up (untimed): starts the daemon, learns the image size banger picks.
"$banger" image pull "$ref" --name big >/dev/null 2> "$work/warmup.log" \
  || { echo "banger image pull failed:" >&2; tail -5 "$work/warmup.log" >&2; exit 1; }
size_mib=$("$banger" image show big --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["size_bytes"] // 1048576)')

baseline_round() {  # -> "skopeo umoci mkfs total" seconds
  rm -rf "$work/layout" "$work/bundle" "$work/base.ext4"
  sync
  local t0 t1 t2 t3
  t0=$(now)
  skopeo copy -q --src-tls-verify=false "docker://$ref" "oci:$work/layout:big" >/dev/null
  t1=$(now)
  umoci unpack --image "$work/layout:big" "$work/bundle" >/dev/null
  t2=$(now)
  mkfs.ext4 -q -F -d "$work/bundle/rootfs" -E root_owner=0:0,lazy_itable_init=1,lazy_journal_init=1 \
    "$work/base.ext4" "${size_mib}M" >/dev/null
  t3=$(now)
  echo "$(echo "$t1 - $t0" | bc) $(echo "$t2 - $t1" | bc) $(echo "$t3 - $t2" | bc) $(echo "$t3 - $t0" | bc)"
}

blob_bytes() {  # -> bytes of blobs the registry has sent to banger so far (its access log)
  awk '/"GET \/v2\/[^ ]*\/blobs\/sha256:/ && /"banger"$/ && $9 == 200 {s += $10} END {print s + 0}' \
    "$work/registry/registry.log"
}

banger_round() {  # log times [--force]: one pull's seconds >> times, progress lines timestamped
  sync
  local t0; t0=$(now)
  { "$banger" image pull "$ref" --name big ${3:+"$3"} 2>&1 >/dev/null; } | stamp > "$1" \
    || { echo "banger image pull failed:" >&2; cut -d' ' -f2- "$1" | tail -5 >&2; exit 1; }
  echo "$(now) - $t0" | bc >> "$2"
}

phases() {  # log total -> "download read write busybox agent finish other" seconds
  awk -v total="$2" '
    { t = $1; line = substr($0, length($1) + 2) }
    NR == 1 { start = t }
    line ~ /^resolve:/ && !r { r = t }
    line ~ /^unpack:/ && !u { u = t }
    line ~ /^unpack: writing/ && !w { w = t }
    line ~ /^configure: adding banger.s init/ { c1 = t }
    line ~ /^configure: installing banger-agent/ { c2 = t }
    line ~ /^mkfs: ext4 image written/ { m2 = t }
    line ~ /^done:/ { d = t }
    END {
      if (!c1) c1 = c2  # an image with systemd gets no busybox
      printf "%.2f %.2f %.2f %.2f %.2f %.2f %.2f\n", u - r, w - u, c1 - w, c2 - c1, m2 - c2, d - m2, total - (d - start)
    }' "$1"
}

: > "$work/base.txt"; : > "$work/cold.txt"; : > "$work/warm.txt"; : > "$work/re.txt"
: > "$work/cold-phases.txt"; : > "$work/warm-phases.txt"
for round in $(seq "$rounds"); do
  baseline_round >> "$work/base.txt"
  "$banger" image delete big >/dev/null
  "$banger" image cache prune >/dev/null
  [ -z "$(ls -A "$BANGER_HOME/cache/oci/blobs/sha256" 2>/dev/null)" ] || { echo "blob cache not empty" >&2; exit 1; }
  sent0=$(blob_bytes)
  banger_round "$work/cold$round.log" "$work/cold.txt"
  phases "$work/cold$round.log" "$(tail -1 "$work/cold.txt")" >> "$work/cold-phases.txt"
  sent1=$(blob_bytes)
  banger_round "$work/warm$round.log" "$work/warm.txt" --force
  phases "$work/warm$round.log" "$(tail -1 "$work/warm.txt")" >> "$work/warm-phases.txt"
  sent2=$(blob_bytes)
  sync
  t0=$(now)
  "$banger" image pull "$ref" --name big > "$work/re$round.out" 2>&1 \
    || { echo "banger re-pull failed:" >&2; tail -5 "$work/re$round.out" >&2; exit 1; }
  echo "$(now) - $t0" | bc >> "$work/re.txt"
  grep -q "is up to date" "$work/re$round.out" || { echo "re-pull was not up to date" >&2; exit 1; }
  echo "round $round: baseline (skopeo umoci mkfs total) $(tail -1 "$work/base.txt") / cold $(tail -1 "$work/cold.txt")" \
    "($((sent1 - sent0)) blob bytes from the registry) / warm $(tail -1 "$work/warm.txt") ($((sent2 - sent1)) blob bytes)" >&2
done

# Correctness: banger's image and the baseline's hold the same tree, except what banger adds.
rootfs=$("$banger" image show big --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["rootfs_path"])')
python3 "$root/tests/oci/ext4_tree.py" dump "$work/base.ext4" > "$work/base-tree.json"
python3 "$root/tests/oci/ext4_tree.py" dump "$rootfs" > "$work/banger-tree.json"
checked=0
python3 - "$work/base-tree.json" "$work/banger-tree.json" "$work/bundle/rootfs" <<'EOF' >&2 || checked=$?
import collections, json, os, sys
base, ours = (json.load(open(p)) for p in sys.argv[1:3])
# What banger adds to an image without systemd (docs/images.md), and mkfs's own lost+found.
# /etc/hostname, /etc/hosts and /etc/resolv.conf are replaced only when they are not regular files;
# the generated image has a regular hostname, no hosts and a resolv.conf symlink.
added = ("/usr/local", "/etc/banger", "/etc/hosts", "/etc/resolv.conf", "/lost+found")
def kept(path):
    return not any(path == a or path.startswith(a + "/") for a in added)
problems, dir_mtimes = [], []
for path in sorted(set(base) | set(ours)):
    if not kept(path):
        continue
    if path not in ours or path not in base:
        problems.append(f"{path}: only in {'the baseline' if path in base else 'banger'}")
        continue
    a, b = base[path], ours[path]
    for key in ("type", "mode", "uid", "gid", "size", "sha256", "target", "rdev", "xattrs", "mtime"):
        if a.get(key) != b.get(key):
            if key == "mtime" and a["type"] == "dir":
                dir_mtimes.append(path)
            else:
                problems.append(f"{path}: {key} {a.get(key)!r} (baseline) != {b.get(key)!r} (banger)")
def links(tree):
    groups = collections.defaultdict(list)
    for path, node in tree.items():
        if node["type"] == "file" and kept(path):
            groups[node["inode"]].append(path)
    return sorted(sorted(g) for g in groups.values() if len(g) > 1)
if links(base) != links(ours):
    problems.append(f"hard links differ: baseline {len(links(base))} groups, banger {len(links(ours))}")
kinds = collections.Counter(node["type"] for path, node in base.items() if path != "/lost+found")
walked = sum(len(d) + len(f) for _, d, f in os.walk(sys.argv[3]))
extra = sorted(set(ours) - set(base))
print(f"check: baseline tree {dict(kinds)} (`find rootfs` {walked}); banger's image the same "
      f"{'but' if problems else 'and'} {len(extra)} entries of its own ({', '.join(p for p in extra if p.count('/') <= 2)}, ...), "
      f"{len(links(base))} hard-link groups")
# Directories banger writes into itself (/etc, /usr for /usr/local) may differ legitimately.
dir_mtimes = [p for p in dir_mtimes if not any(a.startswith(p + "/") for a in added)]
if dir_mtimes:
    print(f"check: WARNING {len(dir_mtimes)} directory mtimes differ from umoci's "
          f"(e.g. {', '.join(dir_mtimes[:5])}; {dir_mtimes[0]}: {base[dir_mtimes[0]]['mtime']} "
          f"(baseline) vs {ours[dir_mtimes[0]]['mtime']} (banger))")
for line in problems[:20]:
    print("check: " + line)
sys.exit(1 if problems else 0)
EOF

b=$(cut -d' ' -f4 "$work/base.txt" | median)
bs=$(cut -d' ' -f1 "$work/base.txt" | median); bu=$(cut -d' ' -f2 "$work/base.txt" | median)
bm=$(cut -d' ' -f3 "$work/base.txt" | median)
c=$(median < "$work/cold.txt"); w=$(median < "$work/warm.txt"); r=$(median < "$work/re.txt")
echo "raw baseline (skopeo umoci mkfs total): $(tr '\n' ';' < "$work/base.txt")" >&2
echo "raw cold: $(tr '\n' ' ' < "$work/cold.txt")/ warm: $(tr '\n' ' ' < "$work/warm.txt")/ re-pull: $(tr '\n' ' ' < "$work/re.txt")" >&2
echo "raw cold phases: $(tr '\n' ';' < "$work/cold-phases.txt")" >&2
echo "raw warm phases: $(tr '\n' ';' < "$work/warm-phases.txt")" >&2
printf '| rounds | skopeo copy s | umoci unpack s | mkfs.ext4 -d s | baseline s | banger cold s | banger warm (--force) s | banger re-pull s | cold / baseline | warm / cold | re-pull / cold |\n'
printf '|---|---|---|---|---|---|---|---|---|---|---|\n'
printf '| %d | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | **%.2f** | %.2f | **%.2f** |\n' "$rounds" "$bs" "$bu" "$bm" "$b" "$c" "$w" "$r" \
  "$(echo "$c / $b" | bc -l)" "$(echo "$w / $c" | bc -l)" "$(echo "$r / $c" | bc -l)"
echo
printf '| banger phase (medians) | cold s | warm s |\n|---|---|---|\n'
i=1
for name in "resolve + download" "read the layers' headers (pass 1)" \
    "mkfs.ext4 (empty) + write the layers into it (pass 2)" "busybox kit (cached .deb) + init" \
    "banger-agent + close the image" "finish (publish)" "other (CLI, RPC)"; do
  printf '| %s | %.2f | %.2f |\n' "$name" "$(cut -d' ' -f$i "$work/cold-phases.txt" | median)" \
    "$(cut -d' ' -f$i "$work/warm-phases.txt" | median)"
  i=$((i + 1))
done
echo "$(date -u +%FT%TZ) load average: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
echo
echo "targets: cold / baseline <= 0.50: $(echo "$c / $b <= 0.5" | bc -l | sed 's/1/met/;s/0/not met/'); re-pull / cold < 0.25: $(echo "$r / $c < 0.25" | bc -l | sed 's/1/met/;s/0/not met/') (a --force rebuild from the warm cache: $(printf '%.2f' "$(echo "$w / $c" | bc -l)") of cold)"
[ "$checked" = 0 ] || { echo "banger's image differs from the baseline's (check: lines above)" >&2; exit 1; }
