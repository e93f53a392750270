#!/usr/bin/env bash
# bench/trace-lua.sh [OUT_DIR]: the observability checks of test/unit/observe-infer.test.ts on a bigger real
# build, lua through gg infer (too slow for CI's budget): force it, write `gg trace --html` and `--chrome`,
# load the page in headless chromium (no console errors, a bar per thunk run, screenshot), parse the Chrome
# JSON with Chrome DevTools' trace engine, then edit a header and check `gg explain` names it.
# Prints the numbers; leaves lua-trace.html, lua-trace.json and lua-trace.png in OUT_DIR (default: a temp dir).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
sandbox=${GG_BENCH_SANDBOX:-bwrap}
getsrc=${GET_SOURCE:-$here/../shared/tools/get-source}
work=$(mktemp -d "${TMPDIR:-/var/tmp}/gg-trace-lua-XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "${1:-$work}"
out=$(cd "${1:-$work}" && pwd)
bin=$work/bin
mkdir -p "$bin"
printf '#!/bin/sh\nexec node "%s/dist/src/cli/main.js" "$@"\n' "$here" > "$bin/gg"
printf '#!/bin/sh\nexec node "%s/dist/src/cli/force-and-run.js" "$@"\n' "$here" > "$bin/gg-force-and-run"
chmod +x "$bin/gg" "$bin/gg-force-and-run"
export PATH=$bin:$PATH
unset GG_DIR

src=$($getsrc lua5.4)
cp -r "$src" "$work/lua"
cd "$work/lua"
gg init >/dev/null
start=$(date +%s.%N)
gg infer make -j2 posix >/dev/null
gg force --sandbox="$sandbox" -j2 -s src/lua src/luac
echo "lua: infer + force -j2 in $(echo "$(date +%s.%N) - $start" | bc) s"
gg trace --html "$out/lua-trace.html" --chrome "$out/lua-trace.json"
node "$here/dist/bench/check-trace-page.js" "$out/lua-trace.html" "$out/lua-trace.json" "$out/lua-trace.png"

# Why did things run? Edit a header every source includes, rebuild, ask.
sed -i 's|^#define luaconf_h|#define luaconf_h\n/* gg explain check */|' src/luaconf.h
make clean >/dev/null
gg infer make -j2 posix >/dev/null
gg force --sandbox="$sandbox" -j2 -s src/lua
gg explain src/lua > "$out/lua-explain.txt"
ran=$(grep -c '^  [^ -]' "$out/lua-explain.txt" || true)
named=$(grep -c 'input content: src/luaconf.h changed' "$out/lua-explain.txt" || true)
echo "explain after editing src/luaconf.h: $ran thunk(s) ran, $named reason line(s) name luaconf.h"
[[ $ran -gt 0 && $named -gt 0 ]] || { echo "gg explain did not name luaconf.h" >&2; exit 1; }
echo "wrote $out/lua-trace.html $out/lua-trace.json $out/lua-trace.png $out/lua-explain.txt"
