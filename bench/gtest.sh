#!/usr/bin/env bash
# bench/gtest.sh: googletest's ten samples (Debian's googletest source) built once through gg infer + gg
# force, then their test cases run, side by side from one run:
#   the binaries alone, one after the other;  ctest -j2;  gtest-parallel-style sharding (each binary split in
#   2 shards with GTEST_TOTAL_SHARDS/GTEST_SHARD_INDEX, xargs -P2);  gg test gtest -j2 cold (empty memo for
#   the test thunks), warm (unchanged binaries), and cold again with the sharding it chose from measured times.
# Work happens under $TMPDIR (default /var/tmp).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
getsrc=${GET_SOURCE:-$here/../shared/tools/get-source}
work=$(mktemp -d "${TMPDIR:-/var/tmp}/gg-bench-gtest-XXXXXX")
trap 'rm -rf "$work"' EXIT
bin=$work/bin
mkdir -p "$bin"
printf '#!/bin/sh\nexec node "%s/dist/src/cli/main.js" "$@"\n' "$here" > "$bin/gg"
printf '#!/bin/sh\nexec node "%s/dist/src/cli/force-and-run.js" "$@"\n' "$here" > "$bin/gg-force-and-run"
chmod +x "$bin/gg" "$bin/gg-force-and-run"
export PATH=$bin:$PATH
unset GG_DIR

src=$($getsrc googletest)
cp -r "$src" "$work/gt"
cd "$work/gt"
gg init >/dev/null
mkdir build && cd build
gg infer cmake -G Ninja -Dgtest_build_samples=ON -DBUILD_GMOCK=OFF .. >/dev/null
gg infer ninja >/dev/null 2>&1
bins=(googletest/sample*_unittest)
gg force -s -j2 "${bins[@]}" >/dev/null
cases=$(for b in "${bins[@]}"; do "$b" --gtest_list_tests | grep -c '^  '; done | paste -sd+ | bc)

now() { date +%s.%N; }
t() { local s; s=$(now); "$@" >/dev/null 2>&1 || true; echo "$(now) - $s" | bc; }
alone() { for b in "${bins[@]}"; do "$b"; done; }
ctest_j2() { ctest -j2; }
sharded() {
  for b in "${bins[@]}"; do for i in 0 1; do echo "$b $i"; done; done |
    xargs -P2 -L1 sh -c 'GTEST_TOTAL_SHARDS=2 GTEST_SHARD_INDEX=$1 ./$0'
}
ggtest() { gg test gtest -s -j2 "${bins[@]}"; }

a=$(t alone)
c=$(t ctest_j2)
s=$(t sharded)
g1=$(t ggtest)
g2=$(t ggtest)
# Cold again with the plan measured times chose: forget the test thunks' memo, keep the remembered plans.
find ../.gg/reductions -type f -delete
g3=$(t ggtest)
printf '%d binaries, %d test cases (2-core VM, shared with other work)\n' "${#bins[@]}" "$cases"
printf '%-44s %8s %8s\n' variant seconds 'x alone'
for row in "binaries alone, sequential:$a" "ctest -j2:$c" "gtest-parallel-style 2 shards/binary, -P2:$s" \
           "gg test gtest -j2, cold:$g1" "gg test gtest -j2, warm (memo):$g2" "gg test gtest -j2, cold, measured plan:$g3"; do
  printf '%-44s %8.2f %8.2f\n' "${row%%:*}" "${row##*:}" "$(echo "${row##*:} / $a" | bc -l)"
done
