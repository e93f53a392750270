#!/usr/bin/env bash
# Start-up cost, side by side in one run (issue 10, req 8): a bare `node -e 0`, `gg --version`,
# `gg-force-and-run` with no argument (its usage error: all its imports, no work), `gg force` of one memoized
# placeholder; given the original gg's binaries (bench/build-original-gg.sh; src/frontend of its tree), its
# `gg-force` with no argument and on the same memoized placeholder in the same .gg (the formats are gg's).
# The 500-thunk comparison with the original is bench/original-gg.sh.
# Medians of RUNS runs each, interleaved so machine load hits all columns alike.
# Usage: bench/startup.sh [RUNS] [ORIGINAL_GG_BIN_DIR]   (after npm run build; see docs/BENCHMARKS.md)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
runs="${1:-21}"
orig="${2:-}"
gg="$here/dist/bin/gg.js"
# "WALL_MS/CPU_MS" of one run (CPU = user + sys, children included): on a loaded machine the CPU column is the
# steadier one, since waiting for a core inflates wall time.
ms() {
  local r TIMEFORMAT='%R %U %S'
  r=$({ time "$@" >/dev/null 2>&1; } 2>&1) || true
  awk '{printf "%d/%d", $1 * 1000, ($2 + $3) * 1000}' <<<"$r"
}
median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
column() { tr ' ' '\n' | grep . | cut -d/ -f"$1" | median; }

# One trivial thunk (`sh -c 'echo 1 > out'`), written with the SDK, its placeholder forced once: the memoized
# force of one target is what every placeholder run as a program pays on a warm build.
work="$(mktemp -d "${TMPDIR:-/tmp}/gg-startup-XXXXXX")"
trap 'rm -rf "$work"' EXIT
(cd "$work" && node "$gg" init >/dev/null)
name=$(GG_BENCH_DIR="$work" node --input-type=module -e "
  const dir = process.env.GG_BENCH_DIR;
  const { LocalStore } = await import('$here/dist/src/store/local-store.js');
  const { GraphBuilder } = await import('$here/dist/src/frontend/sdk.js');
  const store = new LocalStore(dir + '/.gg');
  const g = new GraphBuilder(store);
  const t = g.thunk({ function: g.file('/bin/dash'), args: ['sh', '-c', 'echo 1 > out'], outputs: ['out'], env: { PATH: '/bin' } });
  store.hashCache.flush();
  console.log(t.name);
")
placeholder() { printf '#!/usr/bin/env gg-force-and-run\n%s\n' "$name" >"$work/p"; }
placeholder
(cd "$work" && node "$gg" force --sandbox=none p >/dev/null 2>&1)
[[ "$(cat "$work/p")" == 1 ]] || { echo "startup.sh: the thunk did not force" >&2; exit 1; }

declare -A t
# The gg cases run the programs as a user does (package.json's bin: their #! launcher, scripts/bundle.mjs).
# gg-force-1-no-code-cache: the bundle compiled afresh (GG_CODE_CACHE=0), what V8's code cache saves;
# gg-force-1-unbundled: the same code from tsc's output (dist/src) run by `node FILE` with NODE_EXTRA_CA_CERTS
# unset (as the launcher starts Node), what the bundle (dist/bin) saves.
cases=(node gg-version gg-force-and-run gg-force-1-memoized gg-force-1-no-code-cache gg-force-1-unbundled)
# Node 20 parses NODE_EXTRA_CA_CERTS's whole file at every start (nodejs/node#40524): when it is set, `node -e 0`
# without it, and the bundle run by `node FILE` (Node parses the file; the launcher moves it aside), show what
# that costs each process.
extra_ca=${NODE_EXTRA_CA_CERTS:-}
if [[ -n "$extra_ca" ]]; then cases+=(node-without-extra-ca-certs gg-force-1-node-file-with-extra-ca-certs); fi
if [[ -n "$orig" ]]; then cases+=(original-gg-force original-gg-force-1-memoized); fi
for ((i = 0; i < runs; i++)); do
  t[node]+="$(ms node -e 0) "
  t[gg-version]+="$(ms "$gg" --version) "
  t[gg-force-and-run]+="$(ms "$here/dist/bin/gg-force-and-run.js") "
  placeholder
  t[gg-force-1-memoized]+="$(cd "$work" && ms "$gg" force --sandbox=none p) "
  placeholder
  t[gg-force-1-no-code-cache]+="$(cd "$work" && GG_CODE_CACHE=0 ms "$gg" force --sandbox=none p) "
  placeholder
  t[gg-force-1-unbundled]+="$(cd "$work" && unset NODE_EXTRA_CA_CERTS && ms node "$here/dist/src/cli/main.js" force --sandbox=none p) "
  if [[ -n "$extra_ca" ]]; then
    t[node-without-extra-ca-certs]+="$(unset NODE_EXTRA_CA_CERTS && ms node -e 0) "
    placeholder
    t[gg-force-1-node-file-with-extra-ca-certs]+="$(cd "$work" && ms node "$gg" force --sandbox=none p) "
  fi
  if [[ -n "$orig" ]]; then
    t[original-gg-force]+="$(ms "$orig/gg-force") " # its usage message: start-up and exit
    placeholder
    t[original-gg-force-1-memoized]+="$(cd "$work" && PATH="$orig:$PATH" GG_DIR="$work/.gg" ms "$orig/gg-force" p) "
  fi
done
[[ "$(cat "$work/p")" == 1 ]] || { echo "startup.sh: the last memoized force did not place the output" >&2; exit 1; }
printf '%-42s %8s %8s   (medians of %d runs)\n' case 'wall ms' 'CPU ms' "$runs"
for c in "${cases[@]}"; do printf '%-42s %8s %8s\n' "$c" "$(echo "${t[$c]}" | column 1)" "$(echo "${t[$c]}" | column 2)"; done
