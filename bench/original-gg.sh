#!/usr/bin/env bash
# gg-ts beside the original gg (C++, github.com/StanfordSNR/gg) on one store, in one run: COUNT trivial thunks
# (`sh -c 'echo N > out'`, no jail: the original has none), --jobs 2, cold (memo cleared) and memoized,
# interleaved (the memoized runs of each round in a rotating order), median of RUNS. The thunks are written once
# by gg-ts's SDK into a .gg both read (the IR and the store layout are gg's). Both force placeholder files, which
# each replaces with the output.
# Usage: bench/original-gg.sh ORIGINAL_BUILD_DIR [COUNT] [RUNS] [BASE_CHECKOUT]
#   ORIGINAL_BUILD_DIR: the original's source tree after `make` (how: docs/BENCHMARKS.md); its binaries are
#   taken from src/frontend there. Run `npm run build` first.
#   BASE_CHECKOUT: another built gg-ts checkout (e.g. `git worktree add B COMMIT`, then build there), whose
#   memoized force runs in the same rounds: a before/after of a change, beside the original.
# The "floor" row, in the same rounds: bench/memo-floor.cjs, a bare Node script that does only the file work of
#   the memoized force (the same system calls per placeholder) and nothing else: the bound under any gg-ts change
#   in Node. The gg-ts rows run the launcher as users do: a memoized force is done by dist/bin/gg-memo-force
#   (C, before Node starts); the "Node only" row turns that off (GG_MEMO_FAST=0).
set -euo pipefail
orig=$(cd "${1:?usage: original-gg.sh ORIGINAL_BUILD_DIR [COUNT] [RUNS]}" && pwd)/src/frontend
count=${2:-500}
runs=${3:-5}
base=${4:+$(cd "$4" && pwd)}
here=$(cd "$(dirname "$0")/.." && pwd)
for b in gg-force gg-execute; do [[ -x $orig/$b ]] || { echo "no $orig/$b: build the original first" >&2; exit 2; }; done
export TMPDIR=${TMPDIR:-/var/tmp}
work=$(mktemp -d "$TMPDIR/gg-orig-bench-XXXXXX")
trap 'rm -rf "$work"' EXIT
node "$here/dist/bench/force.js" --write "$work" --count "$count" --chain 2 >/dev/null
proj=$work/independent
mapfile -t names <"$proj/targets.txt"
export PATH=$orig:$PATH # the original's gg-force runs its gg-execute from PATH
unset GG_DIR

# "WALL_MS/CPU_MS" of one run (CPU = user + sys, children included): on a loaded machine the CPU column is the
# steadier one, since waiting for a core inflates wall time.
ms() {
  local r TIMEFORMAT='%R %U %S'
  r=$({ time "$@" >/dev/null 2>"$work/err"; } 2>&1) || { tail -3 "$work/err" >&2; exit 1; }
  awk '{printf "%d/%d/%d/%d", $1 * 1000, ($2 + $3) * 1000, $2 * 1000, $3 * 1000}' <<<"$r"
}
placeholders() { # fresh placeholders in $proj/t, and (for cold) an empty memo
  rm -rf "$proj/t" && mkdir "$proj/t"
  for n in "${names[@]}"; do printf '#!/usr/bin/env gg-force-and-run\n%s\n' "$n" >"$proj/t/$n"; done
  if [[ $1 == cold ]]; then rm -rf "$proj/.gg/reductions" && mkdir "$proj/.gg/reductions"; fi
}
original() { # original cold|warm
  placeholders "$1"
  (cd "$proj" && ms gg-force --jobs 2 t/*)
}
ggts() { # ggts cold|warm [CHECKOUT [GG_MEMO_FAST]]
  local dir=${2:-$here} gg
  export GG_MEMO_FAST=${3:-1}
  gg=$dir/dist/bin/gg.js
  [[ -f $gg ]] || gg=$dir/dist/src/cli/main.js # a checkout from before the bundle
  placeholders "$1"
  # Run as the installed `gg` is (its #! line: package.json's bin), not `node FILE`: how Node is started is part
  # of what a user waits for (scripts/bundle.mjs: the launcher).
  if [[ -x $gg ]]; then (cd "$proj" && ms "$gg" force --sandbox=none --jobs 2 t/*); else (cd "$proj" && ms node "$gg" force --sandbox=none --jobs 2 t/*); fi
}
floor() { # the memoized force's file work alone, in a bare Node started as gg's launcher starts it
  placeholders warm
  (cd "$proj" && ms env -u NODE_EXTRA_CA_CERTS node "$here/bench/memo-floor.cjs" t/*)
}
declare -A t
warm=(orig ts node ${base:+base} floor)
for ((i = 0; i < runs; i++)); do
  t[orig-cold]+="$(original cold) "
  t[ts-cold]+="$(ggts cold) "
  # The memoized runs in a rotating order. What the same 500 creates cost depends on what was deleted in the
  # minutes before (this VM's ext4 has no journal, and then skips recently freed inodes: docs/BENCHMARKS.md), so
  # no program may always run right after a cold run, or right after another memoized one.
  for ((k = 0; k < ${#warm[@]}; k++)); do
    case ${warm[(i + k) % ${#warm[@]}]} in
      orig) t[orig-warm]+="$(original warm) " ;;
      ts) t[ts-warm]+="$(ggts warm) " ;;
      node) t[node-warm]+="$(ggts warm "$here" 0) " ;;
      base) t[base-warm]+="$(ggts warm "$base") " ;;
      floor) t[floor-warm]+="$(floor) " ;;
    esac
  done
done
median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
column() { tr ' ' '\n' | grep . | cut -d/ -f"$1" | median; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2fx", a/b}'; }
echo "$count trivial thunks, --jobs 2, no jail; median of $runs interleaved runs (ms); load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-6s %14s %14s %8s   %14s %14s %8s\n' '' 'original wall' 'gg-ts wall' 'ratio' 'original CPU' 'gg-ts CPU' 'ratio'
for k in cold warm; do
  ow=$(echo "${t[orig-$k]}" | column 1) sw=$(echo "${t[ts-$k]}" | column 1)
  oc=$(echo "${t[orig-$k]}" | column 2) sc=$(echo "${t[ts-$k]}" | column 2)
  printf '%-6s %14s %14s %8s   %14s %14s %8s\n' "$k" "$ow" "$sw" "$(ratio "$sw" "$ow")" "$oc" "$sc" "$(ratio "$sc" "$oc")"
done
# CPU split into user and system time: at load, the system column (the kernel creating and renaming the 500
# outputs, for both) swings with the disk; user time is the steady one.
printf '%-6s %14s %14s %14s %14s\n' '' 'original user' 'gg-ts user' 'original sys' 'gg-ts sys'
printf '%-6s %14s %14s %14s %14s\n' warm "$(echo "${t[orig-warm]}" | column 3)" "$(echo "${t[ts-warm]}" | column 3)" \
  "$(echo "${t[orig-warm]}" | column 4)" "$(echo "${t[ts-warm]}" | column 4)"
# The Node path alone (GG_MEMO_FAST=0: the launcher does not try dist/bin/gg-memo-force first).
ow=$(echo "${t[orig-warm]}" | column 1) oc=$(echo "${t[orig-warm]}" | column 2)
nw=$(echo "${t[node-warm]}" | column 1) nc=$(echo "${t[node-warm]}" | column 2)
printf '%-6s %14s %14s %8s   %14s %14s %8s   (gg-ts column: GG_MEMO_FAST=0, Node only)\n' warm "$ow" "$nw" "$(ratio "$nw" "$ow")" "$oc" "$nc" "$(ratio "$nc" "$oc")"
# The floor: a Node process doing nothing but this file work (its start, its fs calls, the kernel's creates and
# renames). gg-ts's memoized force cannot go below it; where it is above the original, so is gg-ts.
ow=$(echo "${t[orig-warm]}" | column 1) oc=$(echo "${t[orig-warm]}" | column 2)
fw=$(echo "${t[floor-warm]}" | column 1) fc=$(echo "${t[floor-warm]}" | column 2)
printf '%-6s %14s %14s %8s   %14s %14s %8s   (gg-ts column: bench/memo-floor.cjs, the file work alone)\n' floor \
  "$ow" "$fw" "$(ratio "$fw" "$ow")" "$oc" "$fc" "$(ratio "$fc" "$oc")"
printf '%-6s %14s %14s %14s %14s   (gg-ts columns: bench/memo-floor.cjs)\n' floor "$(echo "${t[orig-warm]}" | column 3)" \
  "$(echo "${t[floor-warm]}" | column 3)" "$(echo "${t[orig-warm]}" | column 4)" "$(echo "${t[floor-warm]}" | column 4)"
if [[ -n ${NODE_EXTRA_CA_CERTS:-} ]]; then
  echo "note: NODE_EXTRA_CA_CERTS is set; gg-ts's launcher starts Node without it (Node 20 would parse that file at"
  echo "      start: nodejs/node#40524) and trusts it on gg's TLS connections; a checkout from before the launcher pays it."
fi
if [[ -n $base ]]; then
  k=warm ow=$(echo "${t[orig-warm]}" | column 1) oc=$(echo "${t[orig-warm]}" | column 2)
  bw=$(echo "${t[base-warm]}" | column 1) bc=$(echo "${t[base-warm]}" | column 2)
  printf '%-6s %14s %14s %8s   %14s %14s %8s   (gg-ts column: %s)\n' "$k" "$ow" "$bw" "$(ratio "$bw" "$ow")" "$oc" "$bc" "$(ratio "$bc" "$oc")" "$base"
  printf '%-6s %14s %14s %14s %14s   (gg-ts columns: %s)\n' warm "$(echo "${t[orig-warm]}" | column 3)" \
    "$(echo "${t[base-warm]}" | column 3)" "$(echo "${t[orig-warm]}" | column 4)" "$(echo "${t[base-warm]}" | column 4)" "$base"
fi
