#!/usr/bin/env bash
# bench/preprocess-modes.sh [lua|git]: how gg infer could split a compile, measured on a real project's
# sources (../shared/tools/get-source), interleaved per source so machine load hits every variant alike:
#   plain        gcc FLAGS -c src.c                                   (the baseline)
#   -E           gcc -E src.c > x.i; gcc -c x.i                       (gg's old split: plain preprocess)
#   -E -C        the same, comments kept
#   directives   gcc -E -fdirectives-only; gcc -fpreprocessed -fdirectives-only -c x.i   (icecc)
#   original     gcc -E -fdirectives-only -MD (header list + cutoff key); gcc -c src.c    (ccache-like; gg now)
# It prints the summed time of each step, and for each variant whether the object equals plain (after
# strip --strip-debug) and whether the diagnostics equal plain's, over all sources.
set -euo pipefail
project=${1:-lua}
here=$(cd "$(dirname "$0")/.." && pwd)
getsrc=${GET_SOURCE:-$here/../shared/tools/get-source}
work=$(mktemp -d "${TMPDIR:-/var/tmp}/gg-ppmodes-XXXXXX")
trap 'rm -rf "$work"' EXIT
case $project in
  lua) src=$($getsrc lua5.4)/src; flags=(-std=gnu99 -O2 -Wall -Wextra -DLUA_COMPAT_5_3 -DLUA_USE_LINUX)
       files=$(cd "$src" && ls ./*.c);;
  git) src=$($getsrc git); flags=(-g -O2 -Wall -I. -DNO_CURL -DSHA1_DC -DSHA256_BLK -DNO_GETTEXT '-DGIT_HOST_CPU="x86_64"' -DNO_OPENSSL -DHAVE_ALLOCA_H -DHAVE_PATHS_H -DHAVE_DEV_TTY -DHAVE_CLOCK_GETTIME -DHAVE_CLOCK_MONOTONIC -DHAVE_GETDELIM -DNO_STRLCPY -DSHA1_DC -DSHA1DC_NO_STANDARD_INCLUDES '-DSHA1DC_INIT_SAFE_HASH_DEFAULT=0' '-DSHA1DC_CUSTOM_INCLUDE_SHA1_C="cache.h"' '-DSHA1DC_CUSTOM_INCLUDE_UBC_CHECK_C="git-compat-util.h"' -DSHA256_BLK)
       files=$(cd "$src" && ls ./builtin/[a-c]*.c ./[a-d]*.c);;
  *) echo "usage: bench/preprocess-modes.sh lua|git" >&2; exit 2;;
esac
cd "$src"
declare -A T
T=()
add() { T[$1]=$(awk -v a="${T[$1]:-0}" -v b="$2" 'BEGIN{printf "%.3f", a+b}'); }
timed() { local k=$1 t0 t1; shift; t0=$(date +%s.%N); "$@" 2>>"$work/$k.err" || true; t1=$(date +%s.%N); add "$k" "$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}')"; }
declare -A OBJ_EQ DIAG_EQ
n=0
for f in $files; do
  n=$((n + 1)); b=$work/$(basename "$f" .c)
  timed plain gcc "${flags[@]}" -c "$f" -o "$b.plain.o"
  timed E.pp gcc "${flags[@]}" -E "$f" -o "$b.E.i"; timed E.cc gcc "${flags[@]}" -c "$b.E.i" -o "$b.E.o"
  timed C.pp gcc "${flags[@]}" -E -C "$f" -o "$b.C.i"; timed C.cc gcc "${flags[@]}" -c "$b.C.i" -o "$b.C.o"
  timed D.pp gcc "${flags[@]}" -E -fdirectives-only "$f" -o "$b.D.i"; timed D.cc gcc "${flags[@]}" -fpreprocessed -fdirectives-only -c "$b.D.i" -o "$b.D.o"
  timed M.pp gcc "${flags[@]}" -E -fdirectives-only "$f" -o "$b.M.i" -MD -MF "$b.M.d"; timed M.cc gcc "${flags[@]}" -c "$f" -o "$b.M.o"
  timed Monly.pp gcc "${flags[@]}" -M "$f" -MF "$b.Monly.d"
  for v in plain E C D M; do strip --strip-debug "$b.$v.o" 2>/dev/null || true; done
  for v in E C D M; do cmp -s "$b.plain.o" "$b.$v.o" && OBJ_EQ[$v]=$((${OBJ_EQ[$v]:-0} + 1)); done
  rm -f "$b".*
done
# diagnostics: every line of each variant's compile stderr, file:line:col and text, against plain's
for v in E C D M; do
  if diff <(grep -hE 'warning:|error:' "$work/plain.err" | sort) <(grep -hE 'warning:|error:' "$work/$v.cc.err" "$work/$v.pp.err" 2>/dev/null | sort) >/dev/null; then DIAG_EQ[$v]=yes; else DIAG_EQ[$v]=no; fi
done
echo "$project: $n sources, flags ${flags[*]}; $(nproc) cpus, load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '| variant | preprocess s | compile s | total s (x plain) | objects equal | diagnostics equal (%s lines) |\n' "$(grep -chE 'warning:|error:' "$work/plain.err" || true)"
printf '|---|---|---|---|---|---|\n'
printf '| plain -c | | %s | %s (1.00) | | |\n' "${T[plain]}" "${T[plain]}"
for v in E C D M; do
  tot=$(awk -v a="${T[$v.pp]}" -v b="${T[$v.cc]}" 'BEGIN{printf "%.2f", a+b}')
  label=$(case $v in E) echo '-E, compile .i';; C) echo '-E -C, compile .i';; D) echo 'directives-only, compile .i';; M) echo 'directives-only -MD, compile the source';; esac)
  printf '| %s | %s | %s | %s (%s) | %s/%s | %s |\n' "$label" "${T[$v.pp]}" "${T[$v.cc]}" "$tot" "$(awk -v a="$tot" -v b="${T[plain]}" 'BEGIN{printf "%.2f", a/b}')" "${OBJ_EQ[$v]:-0}" "$n" "${DIAG_EQ[$v]}"
done
echo "(-M alone, header list only: ${T[Monly.pp]} s)"
