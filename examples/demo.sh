#!/usr/bin/env bash
# The main job on the embedded default (local engine, bubblewrap jail, .gg/ store, no servers):
# examples/hello-c, an unchanged Makefile build, through gg infer + gg force, then the memoized rebuild.
set -euo pipefail
exec bash "$(dirname "$0")/hello-c/demo.sh" "$@"
