#!/usr/bin/env bash
# Start-up cost, side by side in one run: a bare `node -e 0`, `gg --version`, `gg-force-and-run` with no
# argument (its usage error), and, given the original gg's build directory, its `gg-hash --help`-style no-op
# start. Median of N runs each, interleaved so machine load hits all columns alike.
# Usage: bench/startup.sh [RUNS] [ORIGINAL_GG_BIN_DIR]   (after npm run build; see docs/BENCHMARKS.md)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
runs="${1:-21}"
orig="${2:-}"
ms() { local s e; s=$(date +%s%N); "$@" >/dev/null 2>&1 || true; e=$(date +%s%N); echo $(((e - s) / 1000000)); }
declare -A t
cases=(node gg-version gg-force-and-run)
[[ -n "$orig" ]] && cases+=(original)
for ((i = 0; i < runs; i++)); do
  t[node]+="$(ms node -e 0) "
  t[gg-version]+="$(ms node "$here/dist/src/cli/main.js" --version) "
  t[gg-force-and-run]+="$(ms node "$here/dist/src/cli/force-and-run.js") "
  [[ -n "$orig" ]] && t[original]+="$(ms "$orig/gg-hash") "
done
median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
printf '%-18s %s\n' case "median ms ($runs runs)"
for c in "${cases[@]}"; do printf '%-18s %s\n' "$c" "$(echo "${t[$c]}" | median)"; done
