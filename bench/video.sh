#!/usr/bin/env bash
# bench/video.sh [SECONDS] [CHUNKS]: examples/video on a clip of ffmpeg's testsrc2 (640x360, 25 fps, default
# 20 s), side by side from one run: one `ffmpeg -threads 2` encode of the whole clip (same x264 preset);
# gg force -j2 of the split/encode/concat graph cold (graph writing included) and warm (memo).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-20}
chunks=${2:-8}
work=$(mktemp -d "${TMPDIR:-/var/tmp}/gg-bench-video-XXXXXX")
trap 'rm -rf "$work"' EXIT
bin=$work/bin
mkdir -p "$bin"
printf '#!/bin/sh\nexec node "%s/dist/src/cli/main.js" "$@"\n' "$here" > "$bin/gg"
chmod +x "$bin/gg"
export PATH=$bin:$PATH
unset GG_DIR
cd "$work"
gg init >/dev/null
ffmpeg -nostdin -v error -f lavfi -i "testsrc2=duration=$seconds:size=640x360:rate=25" -c:v libx264 -preset ultrafast -g 250 -pix_fmt yuv420p clip.mp4

now() { date +%s.%N; }
s=$(now)
ffmpeg -nostdin -v error -i clip.mp4 -an -c:v libx264 -preset medium -threads 2 -pix_fmt yuv420p single.mp4
single=$(echo "$(now) - $s" | bc)
s=$(now)
video=$(node "$here/dist/examples/video/encode.js" clip.mp4 "$chunks")
gg force -s -j2 "$video" > result
cold=$(echo "$(now) - $s" | bc)
s=$(now)
video=$(node "$here/dist/examples/video/encode.js" clip.mp4 "$chunks")
gg force -s -j2 "$video" > /dev/null
warm=$(echo "$(now) - $s" | bc)
frames() { ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames -of csv=p=0 "$1"; }
cp ".gg/blobs/$(cat result)" gg.mp4
printf '%s s of 640x360 video, %s frames in, %s frames out (gg), %s chunks; 2-core VM, shared with other work\n' "$seconds" "$(frames clip.mp4)" "$(frames gg.mp4)" "$chunks"
printf '%-40s %8s %10s\n' variant seconds 'x ffmpeg'
for row in "ffmpeg -threads 2, one run:$single" "gg force -j2, cold:$cold" "gg force -j2, warm (memo):$warm"; do
  printf '%-40s %8.2f %10.2f\n' "${row%%:*}" "${row##*:}" "$(echo "${row##*:} / $single" | bc -l)"
done
printf 'sizes: ffmpeg %s bytes, gg %s bytes\n' "$(stat -c %s single.mp4)" "$(stat -c %s gg.mp4)"
