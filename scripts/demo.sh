#!/usr/bin/env bash
# The main job (README): setup, fetch real sample media, build, then run batch mode on
# WolfgangLanger_Pexels.mp4 (sad → laughing) and print the summary and where outputs are.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/fetch-media.sh
swift build -c release 2>&1 | tail -1
bin=.build/release/emotiond
out=var/demo
mkdir -p "$out"
$bin --version
echo
$bin batch media/WolfgangLanger_Pexels.mp4 --summary \
  --log "$out/WolfgangLanger.ndjson" --events "$out/WolfgangLanger.events.ndjson" \
  --annotate "$out/WolfgangLanger.annotated.mp4" --plot "$out/WolfgangLanger.timeline.png" \
  --csv "$out/WolfgangLanger.faces.csv"
echo
echo "outputs:"
for f in "$out"/WolfgangLanger.*; do echo "  $f ($(du -h "$f" | cut -f1))"; done
echo
echo "faces and emotions in a still image (media/multi_face.jpg):"
$bin image media/multi_face.jpg --annotate "$out/multi_face.annotated.jpg" | .venv/bin/python -c 'import json,sys; [print("  #%d %-8s %.2f  box %s" % (f["track"], f["label"], f["confidence"], f["box"])) for l in sys.stdin for f in json.loads(l)["faces"]]'
echo "  annotated: $out/multi_face.annotated.jpg"
