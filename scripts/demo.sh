#!/usr/bin/env bash
# The README's main job: copy this repository into a fresh VM of the default image and run a
# command there (`banger vm run <repo> -- cmd`, the headline job), then delete the VM.
#   scripts/demo.sh [command...]      (default: the guest's OS, then git status and log of the
#                                      copy in /root/repo)
# The kernel and the default image are obtained first (they need the host's apt archive);
# the VM itself then runs in a throwaway network namespace, so the demo never touches the
# host's own network (the rule on shared build machines). Everything is removed at the end.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
banger=$root/build/bin/banger
[ -x "$banger" ] || { echo "demo: build first (cmake --build build)" >&2; exit 1; }
if [ "$(id -u)" -ne 0 ]; then
  # Not -E: root must not use the user's XDG_RUNTIME_DIR/HOME (banger refuses dirs below a
  # user's directory, docs/cli.md); only proxy settings for the apt archive come along.
  exec sudo --preserve-env=http_proxy,https_proxy,no_proxy "$0" "$@"
fi
[ $# -gt 0 ] || set -- sh -c 'uname -r; . /etc/os-release; echo "$PRETTY_NAME"; pwd
  if [ -d .git ]; then git log -1 --format="copied at %h: %s"; git status --short | head -5; fi'
workspace=()
git -C "$root" rev-parse --git-dir >/dev/null 2>&1 && workspace=("$root")
ns=banger-demo-$$
cleanup() {
  ip netns exec "$ns" "$banger" daemon stop >/dev/null 2>&1 || true
  ip netns del "$ns" 2>/dev/null || true
}
trap cleanup EXIT
"$banger" daemon stop >/dev/null 2>&1 || true
"$banger" kernel pull debian-cloud
"$banger" image build debian-bookworm 2>/dev/null || "$banger" image show debian-bookworm >/dev/null
"$banger" daemon stop >/dev/null
ip netns add "$ns"
ip -n "$ns" link set lo up
ip netns exec "$ns" "$banger" vm run --rm "${workspace[@]}" -- "$@"
