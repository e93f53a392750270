#!/usr/bin/env bash
# bench/build.sh PROJECT: build a real project (lua, git, zlib) from ../shared/tools/get-source and print,
# side by side from one run: plain make -j2; gg infer + gg force -j2 cold; the same after `make clean` with
# a warm memo; ccache cold and warm (CC="ccache gcc"). Each variant builds a fresh copy of the source.
# GG_BENCH_SANDBOX (default bwrap, the hermetic jail) is passed to gg force. Work happens under $TMPDIR
# (default /var/tmp: on the development VM, /tmp creates files ~10x slower).
set -euo pipefail
project=${1:?usage: bench/build.sh lua|git|zlib}
here=$(cd "$(dirname "$0")/.." && pwd)
sandbox=${GG_BENCH_SANDBOX:-bwrap}
getsrc=${GET_SOURCE:-$here/../shared/tools/get-source}
work=$(mktemp -d "${TMPDIR:-/var/tmp}/gg-bench-XXXXXX")
trap 'rm -rf "$work"' EXIT
bin=$work/bin
mkdir -p "$bin"
printf '#!/bin/sh\nexec node "%s/dist/src/cli/main.js" "$@"\n' "$here" > "$bin/gg"
printf '#!/bin/sh\nexec node "%s/dist/src/cli/force-and-run.js" "$@"\n' "$here" > "$bin/gg-force-and-run"
chmod +x "$bin/gg" "$bin/gg-force-and-run"
export PATH=$bin:$PATH GG_SANDBOX=$sandbox
unset GG_DIR

case $project in
  lua) src=$($getsrc lua5.4); build=(make -j2 posix); clean=(make clean); ccache_cc='ccache gcc -std=gnu99';;
  git) src=$($getsrc git); flags=(NO_CURL=1 NO_GETTEXT=1 NO_TCLTK=1 NO_PERL=1 NO_PYTHON=1)
       build=(make -j2 "${flags[@]}"); clean=(make clean "${flags[@]}"); ccache_cc='ccache gcc';;
  zlib) src=$($getsrc zlib); build=(make -j2); clean=(make clean); ccache_cc='ccache gcc';;
  *) echo "unknown project $project" >&2; exit 2;;
esac

fresh() { rm -rf "$work/$1"; cp -r "$src" "$work/$1"; cd "$work/$1"; [[ $project != zlib ]] || ./configure >/dev/null; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.1f", b-a}'; }

# Force every placeholder the build left (programs, libraries; objects come along), once per distinct
# placeholder; files that are hard-link copies of another (git's builtins) are re-linked, as make did.
force_tree() {
  local list=$work/placeholders uniq=() f first
  find . -path ./.gg -prune -o -type f -size -600c ! -name '*.o' -print0 \
    | xargs -0 grep -l -e '^#!/usr/bin/env gg-force-and-run' -e '^OUTPUT_FORMAT("elf64-x86-64")/\*' 2>/dev/null \
    | xargs -r md5sum | sort > "$list" || true
  mapfile -t uniq < <(awk '!seen[$1]++ {print $2}' "$list")
  ((${#uniq[@]})) && gg force --sandbox="$sandbox" -s -j2 "${uniq[@]}" >/dev/null
  # hard-link copies (git's builtins), linked again as make did
  awk 'seen[$1] {print seen[$1], $2; next} {seen[$1]=$2}' "$list" | while read -r first f; do ln -f "$first" "$f"; done
}

log=$work/log
echo "bench: $project from $src (sandbox=$sandbox), $(nproc) cpus" >&2

fresh plain; t0=$(now); "${build[@]}" >"$log" 2>&1; t1=$(now); plain=$(secs "$t0" "$t1")
echo "plain make -j2: ${plain}s" >&2

fresh gg; gg init >/dev/null
t0=$(now); gg infer "${build[@]}" >"$log" 2>&1; t1=$(now); force_tree; t2=$(now)
gg_infer=$(secs "$t0" "$t1"); gg_force=$(secs "$t1" "$t2"); gg_cold=$(secs "$t0" "$t2")
infer_line=$(tail -1 "$log")
echo "gg cold: ${gg_cold}s (infer ${gg_infer}s, force ${gg_force}s)" >&2
"${clean[@]}" >/dev/null 2>&1
t0=$(now); gg infer "${build[@]}" >"$log" 2>&1; t1=$(now); force_tree; t2=$(now)
gw_infer=$(secs "$t0" "$t1"); gw_force=$(secs "$t1" "$t2"); gg_warm=$(secs "$t0" "$t2")
echo "gg warm: ${gg_warm}s (infer ${gw_infer}s, force ${gw_force}s)" >&2

export CCACHE_DIR=$work/ccache
fresh cc; t0=$(now); "${build[@]}" CC="$ccache_cc" >"$log" 2>&1; t1=$(now); cc_cold=$(secs "$t0" "$t1")
"${clean[@]}" >/dev/null 2>&1
t0=$(now); "${build[@]}" CC="$ccache_cc" >"$log" 2>&1; t1=$(now); cc_warm=$(secs "$t0" "$t1")

ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", a/b}'; }
printf '\n%-34s %9s %9s\n' "$project (2 jobs)" seconds "x make"
printf '%-34s %9s %9s\n' "plain make -j2" "$plain" 1.00
printf '%-34s %9s %9s\n' "gg infer + force, cold" "$gg_cold" "$(ratio "$gg_cold" "$plain")"
printf '%-34s %9s %9s\n' "  infer / force" "$gg_infer / $gg_force" ""
printf '%-34s %9s %9s\n' "gg after make clean, warm memo" "$gg_warm" "$(ratio "$gg_warm" "$plain")"
printf '%-34s %9s %9s\n' "  infer / force" "$gw_infer / $gw_force" ""
printf '%-34s %9s %9s\n' "ccache cold" "$cc_cold" "$(ratio "$cc_cold" "$plain")"
printf '%-34s %9s %9s\n' "ccache warm (after make clean)" "$cc_warm" "$(ratio "$cc_warm" "$plain")"
echo "($infer_line)"
