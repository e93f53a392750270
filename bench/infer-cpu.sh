#!/usr/bin/env bash
# bench/infer-cpu.sh [ROUNDS]: the CPU time of `gg infer --force`'s own processes on a cold lua build: the model
# server (the jail runs it manages, hashing and storing) and its spawner helper (which starts bubblewrap), in all
# of their threads; not the compilers, bubblewrap or the model clients, which a whole build's CPU
# (bench/corpus.sh) adds to it. Those processes are where gg's per-command costs sit, and on a build whose
# compilers keep both CPUs busy they are measured apart from them here.
# GG_BENCH_BASE=CHECKOUT (built, with its node_modules): that checkout's gg too, round by round, interleaved.
# Lua from Debian sources ($GET_SOURCE, else ../shared/tools/get-source). Each round: a fresh copy, `gg init`,
# `gg infer --force make -j2 posix` in the bubblewrap jail (the user's pool of host files as it is).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$here/bench/lib.sh"
rounds=${1:-3}
getsrc=${GET_SOURCE:-$here/../shared/tools/get-source}
work=$(mktemp -d "${TMPDIR:-/var/tmp}/gg-infer-cpu-XXXXXX")
trap 'rm -rf "$work"' EXIT
src=$("$getsrc" lua5.4)
[[ -f $src/src/lua.c ]] || { echo "infer-cpu: no lua source from $getsrc" >&2; exit 1; }

# Node reports its own process's CPU (every thread) as it exits; `gg infer` and the spawner helper it forks
# write it (the helper's CPU is not in the server's own, and the CPU of what the helper reaped is not in either).
# Where the native helper was built (dist/bin/gg-spawner, not Node), its own CPU is not counted here: perf put
# it at ~0.8 ms per jail (23 samples at 500 Hz over 60 of git's compiles), ~30 ms on this build.
cat > "$work/cpu.cjs" << 'EOF'
process.on('exit', () => {
  const ours = process.argv.includes('infer') || /spawner-child\.js$/.test(process.argv[1] || '');
  if (!ours || !process.env.GG_BENCH_CPU_OUT) return;
  const r = process.resourceUsage();
  require('fs').appendFileSync(process.env.GG_BENCH_CPU_OUT, `${((r.userCPUTime + r.systemCPUTime) / 1e6).toFixed(2)}\n`);
});
EOF

gg_variants "$work" "${GG_BENCH_BASE:-}"
export GG_SANDBOX=bwrap
unset GG_DIR

printf '| round | variant | wall s | gg infer processes CPU s |\n|---|---|---|---|\n'
for ((r = 1; r <= rounds; r++)); do
  for v in "${variants[@]}"; do
    rm -rf "$work/lua"
    cp -a "$src" "$work/lua"
    : > "$work/cpu.$v"
    (
      cd "$work/lua"
      export PATH=$work/$v/bin:$PATH
      gg init > /dev/null
      t0=$(now)
      GG_BENCH_CPU_OUT=$work/cpu.$v NODE_OPTIONS="--require $work/cpu.cjs" gg infer --force make -j2 posix > "$work/log.$v" 2>&1 ||
        { echo "infer-cpu: the $v build failed (log: $work/log.$v)" >&2; exit 1; }
      t1=$(now)
      printf '| %d | %s | %s | %s |\n' "$r" "$v" "$(secs "$t0" "$t1")" "$(awk '{ s += $1 } END { printf "%.2f", s }' "$work/cpu.$v")"
    )
  done
done
echo "infer-cpu: $(nproc) cpus, load $(cut -d' ' -f1-3 /proc/loadavg)"
