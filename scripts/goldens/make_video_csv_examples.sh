#!/usr/bin/env bash
# Makes the video_csv plugin's example data (datasets/video_csv/example_data/): two tiny clips of
# different sizes, frame counts and rates, and the Open-Sora CSV that lists them. The conformance
# suite opens the plugin's examples on them ("${data}" in its kExamples). Run once; the files are
# committed (a few KB). Needs the ffmpeg CLI.
#   scripts/goldens/make_video_csv_examples.sh
set -euo pipefail
out=$(cd "$(dirname "$0")/../.." && pwd)/datasets/video_csv/example_data
mkdir -p "$out"
clip() {  # source, frames, file
  ffmpeg -v error -y -f lavfi -i "$1" -frames:v "$2" -c:v mpeg4 -q:v 5 -pix_fmt yuv420p \
    -fflags +bitexact -flags:v +bitexact -map_metadata -1 "$out/$3"
}
clip "testsrc=size=32x24:rate=10" 10 landscape.mp4
clip "testsrc2=size=24x32:rate=8" 8 portrait.mp4
cat >"$out/clips.csv" <<'CSV'
path,text,num_frames,height,width,aspect_ratio,fps,long_text
landscape.mp4,a moving colour test pattern,10,24,32,0.75,10,"a colour test pattern, wider than tall, with a counter and a sweeping gradient, for one second"
portrait.mp4,a tall test pattern,8,32,24,1.33,8,"a second test pattern, taller than wide, its coloured bars moving, for one second"
CSV
ls -l "$out"
