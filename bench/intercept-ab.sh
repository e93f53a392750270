#!/usr/bin/env bash
# bench/intercept-ab.sh [ROUNDS] [PROJECT]: the warm rebuild of a Meson project (default fribidi, from
# ../shared/tools/get-source) with and without interception of the tools it runs by absolute path
# (GG_INFER_INTERCEPT=0: Meson's Python wrappers run for real), alternating in the same tree and the same .gg,
# ROUNDS pairs (default 5). Each rebuild is what bench/corpus.sh calls warm: `ninja -C build clean`, then
# `gg infer --force ninja -C build`. Prints wall and CPU (user + system of the step's processes) per run,
# the medians, and the plain build's time for the ratio. Interception needs root; without it both columns
# are the same. Work happens under $TMPDIR (default /var/tmp).
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$here/bench/lib.sh"
rounds=${1:-5}
project=${2:-fribidi}
getsrc=${GET_SOURCE:-$here/../shared/tools/get-source}
work=$(mktemp -d "${TMPDIR:-/var/tmp}/gg-intercept-XXXXXX")
trap 'rm -rf "$work"' EXIT
gg_bin "$work"
export GG_SANDBOX=${GG_BENCH_SANDBOX:-bwrap}
unset GG_DIR
src=$($getsrc "$project") || { echo "intercept-ab: source of $project not available" >&2; exit 1; }
# two decimals: a warm rebuild takes well under a second
secs2() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", b-a}'; }
conf='meson setup build >/dev/null' build='ninja -C build' clean='ninja -C build clean'

cp -a "$src" "$work/plain"
cpu c0 "$work/times"; t0=$(now)
(cd "$work/plain" && bash -c "$conf" && bash -c "$build") > "$work/plain.log" 2>&1 || { echo "plain build failed" >&2; exit 1; }
t1=$(now); cpu c1 "$work/times"
plain=$(secs2 "$t0" "$t1") plain_cpu=$(secs2 "$c0" "$c1")
rm -rf "$work/plain"

cp -a "$src" "$work/tree"
cd "$work/tree" || exit 1
(gg init && gg infer bash -c "$conf" && gg infer --force bash -c "$build") > "$work/cold.log" 2>&1 || { echo "cold gg build failed" >&2; exit 1; }

echo "intercept-ab: $project, $rounds pairs, $(nproc) cpus, load $(cut -d' ' -f1-3 /proc/loadavg); plain ${plain} s wall, ${plain_cpu} s CPU"
printf '| round | off: wall s | off: CPU s | off: wrappers modelled | on: wall s | on: CPU s | on: wrappers modelled |\n|---|---|---|---|---|---|---|\n'
declare -a off_w off_c on_w on_c
for ((i = 1; i <= rounds; i++)); do
  row="| $i"
  for mode in 0 1; do
    bash -c "$clean" > /dev/null 2>&1
    cpu c0 "$work/times"; t0=$(now)
    GG_INFER_INTERCEPT=$mode gg infer --force bash -c "$build" > "$work/warm.log" 2>&1 || { echo "warm build failed (GG_INFER_INTERCEPT=$mode)" >&2; cat "$work/warm.log" >&2; exit 1; }
    t1=$(now); cpu c1 "$work/times"
    w=$(secs2 "$t0" "$t1") c=$(secs2 "$c0" "$c1")
    n=$(grep -oE '[0-9]+ build-tool wrappers modelled' "$work/warm.log" | tail -1 | cut -d' ' -f1)
    if ((mode == 0)); then off_w+=("$w") off_c+=("$c"); else on_w+=("$w") on_c+=("$c"); fi
    row="$row | $w | $c | ${n:-?}"
  done
  echo "$row |"
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END{print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
mw0=$(median "${off_w[@]}") mc0=$(median "${off_c[@]}") mw1=$(median "${on_w[@]}") mc1=$(median "${on_c[@]}")
echo "| median | $mw0 ($(ratio "$mw0" "$plain")x) | $mc0 ($(ratio "$mc0" "$plain_cpu")x) | | $mw1 ($(ratio "$mw1" "$plain")x) | $mc1 ($(ratio "$mc1" "$plain_cpu")x) | |"
echo "intercept-ab: done, load $(cut -d' ' -f1-3 /proc/loadavg)"
