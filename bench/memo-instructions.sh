#!/usr/bin/env bash
# User-space instructions of a memoized `gg force` of COUNT trivial placeholders (and of one), counted by valgrind
# (cachegrind): deterministic where timings on a shared 2-core VM are not. Node runs with --single-threaded, so
# V8's background compiles and GC count the same in every run, and with a fixed hash seed and random seed: Node 20
# derives its string hashing from a random seed at start (a search for primes), which otherwise moves every
# count by up to ~5 M from run to run. `node` of an empty file is the floor under all of it.
# Usage: bench/memo-instructions.sh [COUNT] [BASE_CHECKOUT]   (after npm run build; needs valgrind)
set -euo pipefail
count=${1:-500}
base=${2:+$(cd "$2" && pwd)}
here=$(cd "$(dirname "$0")/.." && pwd)
command -v valgrind >/dev/null || { echo "memo-instructions.sh: needs valgrind" >&2; exit 2; }
export TMPDIR=${TMPDIR:-/var/tmp}
work=$(mktemp -d "$TMPDIR/gg-memo-ir-XXXXXX")
trap 'rm -rf "$work"' EXIT
unset NODE_EXTRA_CA_CERTS GG_DIR # the launcher drops it too; here Node is started directly
export XDG_CACHE_HOME=$work/cache # V8's code cache of gg, warmed below under the same flags
node "$here/dist/bench/force.js" --write "$work" --count "$count" --chain 2 >/dev/null
proj=$work/independent
mapfile -t names <"$proj/targets.txt"
placeholders() {
  rm -rf "$proj/t" && mkdir "$proj/t"
  for n in "${names[@]}"; do printf '#!/usr/bin/env gg-force-and-run\n%s\n' "$n" >"$proj/t/$n"; done
}
ir() { valgrind --tool=cachegrind --cache-sim=no --smc-check=all-non-file --cachegrind-out-file=/dev/null "$@" 2>&1 >/dev/null |
  awk '/I *refs/ {gsub(",", "", $NF); printf "%.1f", $NF / 1e6}'; }
echo "" >"$work/empty.js"
flags='--single-threaded --hash-seed=42 --random-seed=42' # measurement only: a fixed seed weakens hash flooding defence
printf '%-40s %12s %12s %14s\n' checkout "force of 1" "force of $count" "per target"
for dir in "$here" ${base:+"$base"}; do
  gg=$dir/dist/bin/gg.js
  placeholders
  (cd "$proj" && node $flags -- "$gg" force --sandbox=none --jobs 2 t/* >/dev/null 2>&1) # memo + code cache
  placeholders
  one=$(cd "$proj" && ir node $flags -- "$gg" force --sandbox=none --jobs 2 "t/${names[0]}")
  all=$(cd "$proj" && ir node $flags -- "$gg" force --sandbox=none --jobs 2 t/*)
  printf '%-40s %10s M %10s M %12s K\n' "$dir" "$one" "$all" "$(awk -v a="$all" -v o="$one" -v n="$count" 'BEGIN{printf "%.0f", (a - o) * 1000 / (n - 1)}')"
done
# The same file work alone in a bare Node (bench/memo-floor.cjs; bench/original-gg.sh's floor row).
placeholders
one=$(cd "$proj" && ir node $flags "$here/bench/memo-floor.cjs" "t/${names[0]}")
placeholders
all=$(cd "$proj" && ir node $flags "$here/bench/memo-floor.cjs" t/*)
printf '%-40s %10s M %10s M %12s K\n' "bench/memo-floor.cjs" "$one" "$all" "$(awk -v a="$all" -v o="$one" -v n="$count" 'BEGIN{printf "%.0f", (a - o) * 1000 / (n - 1)}')"
printf '%-40s %10s M\n' "node (an empty file)" "$(ir node $flags "$work/empty.js")"
