#!/usr/bin/env bash
# gg infer demo on examples/hello-c, from a temp copy: the unchanged Makefile's build becomes thunks,
# gg force builds it, then after `make clean` the same build is all memoized.
# GG_SANDBOX picks the sandbox for gg force (default: bwrap, the hermetic jail).
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
sandbox=${GG_SANDBOX:-bwrap}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/bin"
printf '#!/bin/sh\nexec node "%s/dist/src/cli/main.js" "$@"\n' "$here" > "$work/bin/gg"
printf '#!/bin/sh\nexec node "%s/dist/src/cli/force-and-run.js" "$@"\n' "$here" > "$work/bin/gg-force-and-run"
chmod +x "$work/bin/gg" "$work/bin/gg-force-and-run"
export PATH=$work/bin:$PATH GG_SANDBOX=$sandbox
unset GG_DIR
cp -r "$here/examples/hello-c" "$work/hello-c"
cd "$work/hello-c"

echo "== gg init && gg infer make -j2   (compiles, archives and links become thunks; placeholders left)"
gg init >/dev/null
time gg infer make -j2
echo "-- hello is now a placeholder:"; cat hello
echo "== gg force --jobs 2 hello"
time gg force --sandbox="$sandbox" --jobs 2 hello
./hello; ./hello --shout
echo "== make clean, infer again, force: everything is memoized"
make clean >/dev/null
time gg infer make -j2
time gg force --sandbox="$sandbox" --jobs 2 --json hello
./hello
