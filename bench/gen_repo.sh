#!/bin/sh
# bench/gen_repo.sh <dir> [files] [MB] [commits]: a deterministic git repository for the workspace
# benchmark (docs/workspaces.md, bench/workspace.sh): <commits> small commits of history (made with
# git fast-import), then one commit adding <files> text files (source-like, compressible) of about
# <MB> MiB in all, spread over directories of 100 files. Same arguments, same repository (fixed
# identities and dates, a Park-Miller generator in awk, no $RANDOM). Default: 20000 files, 100 MB,
# 2000 commits.
set -eu
dir=${1:?usage: gen_repo.sh <dir> [files] [MB] [commits]}
files=${2:-20000}
mb=${3:-100}
commits=${4:-2000}
[ ! -e "$dir" ] || { echo "gen_repo.sh: $dir exists" >&2; exit 2; }
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.invalid
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.invalid
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null LC_ALL=C
mkdir -p "$dir"
cd "$dir"
git init -q -b main
git config gc.auto 0
# History: commit i rewrites history/log-(i % 50).txt.
awk -v commits="$commits" 'BEGIN {
  for (i = 1; i <= commits; i++) {
    data = "history entry " i "\n"
    printf "commit refs/heads/main\ncommitter bench <bench@example.invalid> %d +0000\n", 1700000000 + i
    printf "data %d\nhistory %d\n", length("history " i), i
    printf "M 100644 inline history/log-%02d.txt\ndata %d\n%s\n", i % 50, length(data), data
  }
}' | git fast-import --quiet
git checkout -q main
# The tree: files of varying size, mean mb*1MiB/files bytes.
awk -v files="$files" -v mb="$mb" 'BEGIN {
  split("alpha beta gamma delta return const static void int char struct if else while for " \
        "buffer length count value result error status config parse write read open close", w, " ")
  nw = 0; for (k in w) nw++
  x = 42
  mean = mb * 1048576 / files
  for (f = 0; f < files; f++) {
    d = sprintf("src/d%03d", int(f / 100))
    if (f % 100 == 0) system("mkdir -p " d)
    path = sprintf("%s/file%05d.c", d, f)
    x = (x * 16807) % 2147483647
    target = int(mean / 2 + (x % int(mean)))
    out = ""
    n = 0
    while (length(out) < target) {
      line = "/* " n " */"
      for (j = 0; j < 8; j++) {
        x = (x * 16807) % 2147483647
        line = line " " w[1 + x % nw]
      }
      out = out line "\n"
      n++
    }
    printf "%s", out > path
    close(path)
  }
}'
git add -A
GIT_AUTHOR_DATE="1800000000 +0000" GIT_COMMITTER_DATE="1800000000 +0000" \
  git commit -q -m "generated tree: $files files, about $mb MiB"
git gc -q
echo "$dir: $(git rev-list --count HEAD) commits, $(git ls-files | wc -l) files, $(du -sh --exclude=.git . | cut -f1)"
