#!/usr/bin/env bash
# bench/cluster-git.sh [PROJECT]: one inferred build (default git) forced two ways, side by side in one run:
# the local engine with --jobs 2, and the cluster engine with 2 workers x 1 slot (Redis and the workers on
# 127.0.0.1, the same machine). Both in the bubblewrap jail, both from a cold memo (the cluster's store is a
# fresh Redis, so its time includes uploading the graph's inputs, which the json line reports).
# Work happens under $TMPDIR (default /var/tmp).
set -euo pipefail
project=${1:-git}
here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$here/bench/lib.sh"
getsrc=${GET_SOURCE:-$here/../shared/tools/get-source}
[[ -x $getsrc ]] || getsrc=/work/shared/tools/get-source # a worktree under /work/wt
sources=${GG_BENCH_SOURCES:-${TMPDIR:-/var/tmp}/gg-bench-sources} # unpacked once, kept for the next run
work=$(mktemp -d "${TMPDIR:-/var/tmp}/gg-bench-cluster-git-XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -CONT "$p" 2>/dev/null || true; kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
gg_bin "$work"
unset GG_DIR

case $project in
  git) src=$($getsrc git "$sources/git"); build=(make -j2 NO_CURL=1 NO_GETTEXT=1 NO_TCLTK=1 NO_PERL=1 NO_PYTHON=1);;
  lua) src=$($getsrc lua5.4 "$sources/lua5.4"); build=(make -j2 posix);;
  *) echo "unknown project $project" >&2; exit 2;;
esac

cp -r "$src" "$work/p"
cd "$work/p"
gg init >/dev/null
t0=$(now); gg infer "${build[@]}" >"$work/infer.log" 2>&1; t1=$(now)
echo "infer: $(secs "$t0" "$t1") s ($(tail -1 "$work/infer.log"))" >&2

mapfile -d '' -t targets < <(placeholders_in .)
mapfile -t uniq < <(printf '%s\n' "${targets[@]}" | xargs -r md5sum | sort | awk '!seen[$1]++ {print $2}')
echo "targets: ${#uniq[@]} distinct placeholders (programs and libraries; objects come along)" >&2
# Forcing replaces placeholders by outputs: each engine forces its own copy of the tree as infer left it.
cp -a "$work/p" "$work/l"
cp -a "$work/p" "$work/q"
cd "$work/l"
t0=$(now); gg force --sandbox=bwrap --json -s -j2 "${uniq[@]}" >"$work/local.json"; t1=$(now)
local_s=$(secs "$t0" "$t1")
echo "local -j2: ${local_s} s" >&2

cd "$work/q"
port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --loglevel warning &
pids+=($!)
for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
uri=redis://127.0.0.1:$port/0
for i in 0 1; do
  gg worker --storage "$uri" --jobs 1 --sandbox bwrap --cache-dir "$work/w$i" --id "gg-i11b-git-w$i" 2>"$work/w$i.log" &
  pids+=($!)
done
for _ in $(seq 100); do
  [[ $(gg workers --storage "$uri" --json 2>/dev/null | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{try{console.log(JSON.parse(s).live.length)}catch{console.log(0)}})') == 2 ]] && break
  sleep 0.2
done
t0=$(now); gg force --sandbox=bwrap --json -s -j2 --engine cluster --storage "$uri" "${uniq[@]}" >"$work/cluster.json"; t1=$(now)
cluster_s=$(secs "$t0" "$t1")
echo "cluster, 2 workers x 1 slot: ${cluster_s} s" >&2

summary() { node -e 'const j=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));const {targets,...rest}=j;void targets;console.log(JSON.stringify(rest))' "$1"; }
printf '\n%s, %s targets, sandbox bwrap, %s cpus, load %s\n' "$project" "${#uniq[@]}" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-40s %9s %9s\n' "gg force (cold memo)" seconds "x local"
printf '%-40s %9s %9s\n' "local engine, -j2" "$local_s" 1.00
printf '%-40s %9s %9s\n' "cluster engine, 2 workers x 1 slot" "$cluster_s" "$(ratio "$cluster_s" "$local_s")"
echo "local:   $(summary "$work/local.json")"
echo "cluster: $(summary "$work/cluster.json")"
