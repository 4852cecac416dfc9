#!/usr/bin/env bash
# Regenerate the "LiDAR points next to buildings" screenshot and height check (issue 6) with the
# user-facing commands: a synthetic city and its synthetic airborne scan (same seed: same
# buildings on the same terrain), tiled separately, combined under one root tileset.json,
# checked numerically (ground points vs the buildings' ground surfaces, roof points vs roofs)
# and rendered in CesiumJS. tests/tiler/test_points_with_buildings.py does the same on a
# smaller scene in CI.
#
#   bash bench/render_points_buildings.sh [OUT_DIR] [BUILDINGS] [POINTS]
#   (defaults: build/points-with-buildings, 400 buildings = one full 1 km tile, 4000000 points)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-build/points-with-buildings}
buildings=${2:-400}
points=${3:-4000000}
bin=.venv/bin
rm -rf "$out" && mkdir -p "$out/scene"
"$bin/citymodel" synthetic "$out/city.gml" -n "$buildings" --seed 11
"$bin/citymodel" synthetic "$out/scan.laz" -n "$buildings" --seed 11 --points "$points"
"$bin/citymodel" tile "$out/city.gml" -o "$out/scene/buildings"
"$bin/citymodel" tile "$out/scan.laz" -o "$out/scene/points"
"$bin/citymodel" combine "$out/scene/buildings" "$out/scene/points" -o "$out/scene"
"$bin/python" -m tests.tiler.scene_heights \
    "$out/scene/buildings/tileset.json" "$out/scene/points/tileset.json" "$buildings"
bash ../shared/tools/check-tileset "$out/scene/tileset.json" -q \
    --render "$out/points-with-buildings.png" --expect-near 6.96,50.94,5
echo "screenshot: $out/points-with-buildings.png (CesiumJS result: $out/points-with-buildings.json)"
