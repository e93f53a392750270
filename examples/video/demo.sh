#!/usr/bin/env bash
# ExCamera-style encoding with gg: a test clip made by ffmpeg's own test source, split into chunks, each
# chunk encoded in its own thunk, concatenated; then checked: same frame count and duration as the input.
#   bash examples/video/demo.sh [SECONDS] [CHUNKS]
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
seconds=${1:-4}
chunks=${2:-4}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
gg init >/dev/null
ffmpeg -nostdin -v error -f lavfi -i "testsrc2=duration=$seconds:size=320x240:rate=25" -c:v libx264 -g 50 -pix_fmt yuv420p clip.mp4
video=$(node "$here/dist/examples/video/encode.js" clip.mp4 "$chunks")
echo "== $chunks chunks encoded as thunks: gg force $video"
time gg force --jobs 2 "$video" > result
cp ".gg/blobs/$(cat result)" out.mp4
probe() { ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames:format=duration -of csv=p=0 "$1" | tr '\n' ' '; }
echo "input:  $(probe clip.mp4)(frames, duration)"
echo "output: $(probe out.mp4)"
[[ "$(probe clip.mp4)" == "$(probe out.mp4)" ]] && echo "same frames and duration"
