#!/usr/bin/env bash
# The main job on the embedded default (local engine, .gg/ store, no servers): fib(20) as a dynamic graph
# of thunks, forced in parallel, then forced again from the memo.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
gg init >/dev/null
fib=$(node "$here/dist/examples/fibonacci/make-fib.js" 20)
echo "== fib(20) as thunks: gg force $fib"
time gg force --jobs 2 "$fib" > result
echo "fib(20) = $(cat .gg/blobs/$(cat result))"
echo "== again: every thunk is memoized"
time gg force --jobs 2 --json "$fib"
