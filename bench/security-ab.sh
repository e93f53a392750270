#!/usr/bin/env bash
# A/B of two builds of gg on the same workloads, alternating (ABBA) so machine load hits both alike:
#   - jail overhead per thunk (bench/sandbox.ts of each build: 1 input, 300 inputs);
#   - 2,000 independent trivial thunks, --sandbox=none, -j2: cold (memo cleared) and memoized;
#   - a chain of 200 dependent thunks, --sandbox=none: cold;
#   - lua (a real C project, through `gg infer make`) forced in the jail, -j2: cold and memoized.
# Each force is timed with /usr/bin/time: wall and CPU (user+sys of gg and everything it ran). CPU time
# depends little on the machine's load, so it is the column to compare on a busy machine.
# Usage: bench/security-ab.sh BASE_CHECKOUT NEW_CHECKOUT [ROUNDS]   (both built: npm run build)
# e.g. the commit before issue 8's fixes: git worktree add /var/tmp/base 1cd5e9b && (cd /var/tmp/base && npm ci && npm run build)
set -euo pipefail
base=$(cd "${1:?usage: security-ab.sh BASE NEW [ROUNDS]}" && pwd)
new=$(cd "${2:?usage: security-ab.sh BASE NEW [ROUNDS]}" && pwd)
rounds=${3:-3}
here=$(cd "$(dirname "$0")/.." && pwd)
export TMPDIR=${TMPDIR:-/var/tmp}
work=$(mktemp -d "$TMPDIR/gg-ab-XXXXXX")
trap 'rm -rf "$work"' EXIT
results=$work/results.tsv
# Each build runs as its package's bin: what `gg` is for a user of that build (a bundle, when it has one).
bin_of() { node -p "require('$1/package.json').bin['$2']"; }
declare -A gg_js=([base]="$base/$(bin_of "$base" gg)" [new]="$new/$(bin_of "$new" gg)")
run_js=$new/$(bin_of "$new" gg-force-and-run)

# The workloads are written once by the NEW build (the IR is the same for both), then copied per build.
node "$new/dist/bench/force.js" --write "$work/tmpl" --count 2000 --chain 200 >/dev/null
lua_src=$("${GET_SOURCE:-$here/../shared/tools/get-source}" lua5.4)
cp -r "$lua_src" "$work/tmpl/lua"
(
  cd "$work/tmpl/lua"
  PATH=$work/bin-new:$PATH
  mkdir -p "$work/bin-new"
  printf '#!/bin/sh\nexec node "%s" "$@"\n' "${gg_js[new]}" > "$work/bin-new/gg"
  printf '#!/bin/sh\nexec node "%s" "$@"\n' "$run_js" > "$work/bin-new/gg-force-and-run"
  chmod +x "$work/bin-new/gg" "$work/bin-new/gg-force-and-run"
  gg init >/dev/null
  gg infer make -j2 posix >/dev/null
  mkdir -p placeholders && cp src/lua src/luac placeholders/
)
for b in base new; do cp -a "$work/tmpl" "$work/$b"; done

timed() { # timed LABEL BUILD CWD ARGS...: one row of results: label build wall cpu
  local label=$1 build=$2 cwd=$3 t
  shift 3
  if ! (cd "$cwd" && /usr/bin/time -f '%e %U %S' node "${gg_js[$build]}" "$@" >/dev/null 2>"$work/err"); then
    tail -5 "$work/err" >&2
    exit 1
  fi
  t=$(tail -1 "$work/err")
  awk -v l="$label" -v b="$build" '{printf "%s\t%s\t%.3f\t%.3f\n", l, b, $1, $2 + $3}' <<<"$t" >>"$results"
}

one() { # one BUILD: every measure once with that build
  local b=$1 d=$work/$1 out
  out=$(node "${!b}/dist/bench/sandbox.js" --runs 15 --no-gcc)
  awk -v b="$b" '/^1 input/ {printf "jail overhead, 1 input (ms)\t%s\t%s\t%s\n", b, $(NF-3), $NF-$(NF-1)}
                 /^300 inputs/ {printf "jail overhead, 300 inputs (ms)\t%s\t%s\t%s\n", b, $(NF-3), $NF-$(NF-1)}' \
    <<<"$out" >>"$results"
  rm -rf "$d/independent/.gg/reductions" && mkdir "$d/independent/.gg/reductions"
  mapfile -t targets <"$d/independent/targets.txt"
  timed '2,000 trivial, cold (s)' "$b" "$d/independent" force --sandbox=none -j 2 "${targets[@]}"
  timed '2,000 trivial, memoized (s)' "$b" "$d/independent" force --sandbox=none -j 2 "${targets[@]}"
  rm -rf "$d/chain/.gg/reductions" && mkdir "$d/chain/.gg/reductions"
  timed 'chain of 200, cold (s)' "$b" "$d/chain" force --sandbox=none -j 2 "$(cat "$d/chain/targets.txt")"
  rm -rf "$d/lua/.gg/reductions" && mkdir "$d/lua/.gg/reductions" && cp "$d/lua/placeholders/"* "$d/lua/src/"
  timed 'lua in the jail, cold (s)' "$b" "$d/lua" force -j 2 src/lua src/luac
  cp "$d/lua/placeholders/"* "$d/lua/src/"
  timed 'lua in the jail, memoized (s)' "$b" "$d/lua" force -j 2 src/lua src/luac
}

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for ((r = 1; r <= rounds; r++)); do
  if ((r % 2)); then one base && one new; else one new && one base; fi
  echo "round $r done (load $(cut -d' ' -f1-3 /proc/loadavg))" >&2
done
echo "load after:  $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "median of $rounds rounds, base = $base, new = $new"
# Jail overhead rows: wall = overhead ms (bwrap - none), cpu = cpu ms (bwrap - none), from bench/sandbox.ts.
python3 - "$results" <<'EOF'
import sys, statistics as st
rows = {}
for line in open(sys.argv[1]):
    label, build, wall, cpu = line.rstrip('\n').split('\t')
    rows.setdefault(label, {}).setdefault(build, []).append((float(wall), float(cpu)))
print(f"{'measure':34} {'wall base':>10} {'wall new':>10} {'ratio':>6}   {'cpu base':>9} {'cpu new':>9} {'ratio':>6}")
for label, by in rows.items():
    wb = st.median(w for w, _ in by['base']); wn = st.median(w for w, _ in by['new'])
    cb = st.median(c for _, c in by['base']); cn = st.median(c for _, c in by['new'])
    r = lambda a, b: f"{a / b:.2f}" if b else "-"
    print(f"{label:34} {wb:10.2f} {wn:10.2f} {r(wn, wb):>6}   {cb:9.2f} {cn:9.2f} {r(cn, cb):>6}")
EOF
