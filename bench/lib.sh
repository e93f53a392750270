# Shared by bench/build.sh and bench/corpus.sh (sourced, not run).

# gg_bin DIR: `gg` and `gg-force-and-run` wrappers in DIR/bin, running a snapshot of this checkout's dist/
# (copied, so rebuilding the checkout during a long benchmark does not change the gg being measured).
# gg_bin DIR CHECKOUT: the same from another checkout (built, with its node_modules), e.g. a base to compare.
gg_bin() {
  local dir=$1 here
  here=${2:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
  mkdir -p "$dir/bin" "$dir/snap"
  cp -r "$here/dist" "$dir/snap/dist"
  cp -r "$here/src" "$dir/snap/src" # non-TypeScript sources read at run time (the model client, the jail helper)
  cp "$here/package.json" "$dir/snap/"
  ln -s "$here/node_modules" "$dir/snap/node_modules"
  # The package's programs (the bundles in dist/bin, as an install runs them), else tsc's output.
  local gg=dist/src/cli/main.js run=dist/src/cli/force-and-run.js
  [[ -f $here/dist/bin/gg.js ]] && gg=dist/bin/gg.js run=dist/bin/gg-force-and-run.js
  # The bundles run as an install runs them, through their own `#!/bin/sh` launcher: `node FILE` would skip what
  # the launcher does before Node starts (keep Node from parsing NODE_EXTRA_CA_CERTS at start, ~30 ms per
  # program on a machine that sets it: scripts/bundle.mjs). tsc's output has no launcher.
  local node='node '
  [[ -x $here/$gg ]] && node=''
  printf '#!/bin/sh\nexec %s"%s/snap/%s" "$@"\n' "$node" "$dir" "$gg" > "$dir/bin/gg"
  printf '#!/bin/sh\nexec %s"%s/snap/%s" "$@"\n' "$node" "$dir" "$run" > "$dir/bin/gg-force-and-run"
  chmod +x "$dir/bin/gg" "$dir/bin/gg-force-and-run"
  export PATH=$dir/bin:$PATH
}

# gg_variants WORK [BASE_CHECKOUT]: wrappers for this checkout in WORK/new/bin and, given a base checkout (built,
# with its node_modules), for it in WORK/base/bin; sets the array `variants` (base first), the order a
# before/after runs them in. A step picks one with PATH=WORK/VARIANT/bin:$PATH.
gg_variants() {
  variants=(new)
  if [[ -n ${2:-} ]]; then
    gg_bin "$1/base" "$2"
    variants=(base new)
  fi
  gg_bin "$1/new"
}

now() { date +%s.%N; }
# cpu VAR FILE: VAR = user + system seconds of this shell's finished children so far (bash's `times`, run in
# this shell: in $(...) it would count a subshell's children); the difference around a step is the CPU it
# took, which a machine loaded by other work inflates less than wall time. FILE is scratch.
cpu() {
  times > "$2"
  printf -v "$1" '%s' "$(awk 'NR == 2 { gsub(/s/, ""); split($1, u, "m"); split($2, y, "m"); printf "%.2f", u[1] * 60 + u[2] + y[1] * 60 + y[2] }' "$2")"
}
# hundredths: a warm build of ~0.3 s against a ~3 s plain one is a ratio, and tenths would round it by +-17%
secs() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", b-a}'; }
# sum_secs A B EXTRA: (B - A) + EXTRA, a timed step plus the timed part of a later one
sum_secs() { awk -v a="$1" -v b="$2" -v c="$3" 'BEGIN{printf "%.2f", b-a+c}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", a/b}'; }

# placeholders_in DIR [all]: placeholder files under DIR (not .o files unless `all`), NUL-separated.
placeholders_in() {
  local dir=$1 notobj=(! -name '*.o')
  [[ ${2:-} == all ]] && notobj=()
  find "$dir" -path "$dir/.gg" -prune -o -type f -size -600c "${notobj[@]}" -print0 \
    | xargs -0 -r grep -l -Z -e '^#!/usr/bin/env gg-force-and-run' -e '^OUTPUT_FORMAT("elf64-x86-64")/\*' 2>/dev/null || true
}

# force_tree DIR SANDBOX [all]: force every placeholder the build left (programs, libraries; objects come
# along as dependencies), once per distinct placeholder; hard-link copies of one (git's builtins) are
# linked again, as make did. FORCE_SECS and FORCE_CPU are set to the wall and CPU time of that forcing and
# linking alone: the search for placeholders (find, grep, md5sum over the tree, 30-80 ms) is the benchmark's
# own work, which a user of gg never does, so a timed step adds these instead of the whole call.
force_tree() {
  local dir=$1 sandbox=$2 list uniq=() f first rc=0 t0 t1 c0 c1
  list=$(mktemp)
  placeholders_in "$dir" "${3:-}" | xargs -0 -r md5sum | sort > "$list"
  mapfile -t uniq < <(awk '!seen[$1]++ {print $2}' "$list")
  cpu c0 "$list.times"; t0=$(now)
  if ((${#uniq[@]})); then (cd "$dir" && gg force --sandbox="$sandbox" -s -j2 "${uniq[@]}") || rc=$?; fi
  awk 'seen[$1] {print seen[$1], $2; next} {seen[$1]=$2}' "$list" | while read -r first f; do ln -f "$first" "$f"; done
  t1=$(now); cpu c1 "$list.times"
  FORCE_SECS=$(secs "$t0" "$t1") FORCE_CPU=$(secs "$c0" "$c1")
  rm -f "$list" "$list.times"
  return $rc
}
