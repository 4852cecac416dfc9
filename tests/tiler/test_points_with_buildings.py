"""LiDAR points next to the buildings of the same city: one scene, heights consistent (GEO-1).

The synthetic city (CityGML, EPSG:25832 + DHHN2016 near Köln) and its synthetic airborne scan
(LAZ, same seed: same buildings on the same terrain) are tiled separately and combined under
one root ``tileset.json`` (external tilesets, :mod:`citymodel.tiler.combine`). Read back as a
client places them (transforms, glTF node matrices, y-up):

- ground points (class 2) next to every building agree with its lowest vertices (the ground
  surface) within 0.35 m, 0.12 m on average; a geoid applied on one side only (≈ 46 m) or a
  1 m float error fails, which the test demonstrates on shifted copies of the points;
- the buildings' lowest vertices lie at the plan's ground height (DHHN2016) + 46.48 m, the
  GCG2016 quasigeoid height at Köln (../shared/data/MANIFEST.md), so both sides are right,
  not only equally wrong;
- roof points (class 6) inside a footprint lie within 0.25 m of the roof above them.

With Chromium, ``check-tileset --render`` draws the scene in CesiumJS; the screenshot is kept
in the test's tmp folder (path printed; ``bench/render_points_buildings.sh`` regenerates it on a full 1 km tile)
and checked: CesiumJS shows both point and triangle contents, and the image has building
pixels (white walls, red roofs) and point pixels (ground green) inside the scene's area.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest

from citymodel.synthetic import SyntheticCityOptions, plan_city_building, write_city
from citymodel.synthetic_points import SyntheticPointCloudOptions, write_point_cloud
from citymodel.tiler.build import TileOptions, build_tileset
from citymodel.tiler.combine import combine_tilesets
from citymodel.tiler.points.build import PointTileOptions, build_point_tileset
from tests.tiler.scene_heights import (
    Buildings,
    HeightReport,
    Points,
    height_problems,
    measure_heights,
    read_buildings,
    read_points,
)
from tests.tileset_render import run_render

CITY = SyntheticCityOptions(n_buildings=16, seed=11, tile_size_m=200.0)
N_POINTS = 240_000
GCG2016_KOELN_M = 46.48
"""Quasigeoid height at Köln centre (MANIFEST.md): ellipsoidal = DHHN2016 + 46.48 m."""
NEAR = "6.96,50.94,5"


@dataclass
class Scene:
    root: Path
    buildings: Path
    points: Path


def _scene(folder: Path, city: SyntheticCityOptions = CITY, n_points: int = N_POINTS) -> Scene:
    """Write the city and its scan, tile both below ``folder`` and combine them."""
    sources = folder / "sources"
    sources.mkdir(parents=True)
    write_city(sources / "city.gml", city)
    write_point_cloud(
        sources / "scan.laz", SyntheticPointCloudOptions(n_points=n_points, city=city)
    )
    buildings, points = folder / "scene" / "buildings", folder / "scene" / "points"
    build_tileset([sources / "city.gml"], buildings, options=TileOptions(jobs=1))
    build_point_tileset([sources / "scan.laz"], points, options=PointTileOptions(jobs=1))
    root = combine_tilesets(
        folder / "scene" / "tileset.json",
        {"buildings": buildings / "tileset.json", "points": points / "tileset.json"},
    )
    return Scene(root, buildings / "tileset.json", points / "tileset.json")


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Scene:
    return _scene(tmp_path_factory.mktemp("points-with-buildings"))


@pytest.fixture(scope="module")
def placed(scene: Scene) -> tuple[Buildings, Points]:
    return read_buildings(scene.buildings), read_points(scene.points)


def test_combined_root_references_both_tilesets(scene: Scene) -> None:
    document = json.loads(scene.root.read_text(encoding="utf-8"))
    root = document["root"]
    assert [c["content"]["uri"] for c in root["children"]] == [
        "buildings/tileset.json",
        "points/tileset.json",
    ]
    west, south, east, north, low, high = root["boundingVolume"]["region"]
    for child in root["children"]:
        w, s, e, n, lo, hi = child["boundingVolume"]["region"]
        assert west <= w < e <= east and south <= s < n <= north and low <= lo < hi <= high
        assert child["geometricError"] <= root["geometricError"]


@pytest.fixture(scope="module")
def heights(placed: tuple[Buildings, Points]) -> HeightReport:
    return measure_heights(*placed)


def test_ground_and_roof_points_match_the_buildings(heights: HeightReport) -> None:
    report = heights
    assert height_problems(report, CITY.n_buildings) == []
    offsets = np.array(list(report.ground_offsets.values()))
    assert np.abs(offsets).max() < 0.1  # measured: ±2 cm (1 cm LAS quantisation, terrain slope)


def test_heights_are_ellipsoidal_with_the_quasigeoid(heights: HeightReport) -> None:
    """Both sides right, not only equally wrong: lowest vertex = plan ground + GCG2016 (GEO-1)."""
    assert len(heights.buildings_lowest) == CITY.n_buildings
    for index in range(CITY.n_buildings):
        plan = plan_city_building(CITY, index)
        lifted = heights.buildings_lowest[plan.gml_id] - plan.ground_z
        assert lifted == pytest.approx(GCG2016_KOELN_M, abs=0.15), plan.gml_id


@pytest.mark.parametrize(("shift_m", "what"), [(46.48, "geoid left out"), (1.0, "float error")])
def test_the_height_check_catches_errors(
    placed: tuple[Buildings, Points], shift_m: float, what: str
) -> None:
    """The same check on points moved down along the vertical fails (so it can fail)."""
    buildings, points = placed
    centre = points.ecef.mean(axis=0)
    up = centre / np.linalg.norm(centre)
    moved = replace(points, ecef=points.ecef - shift_m * up)
    problems = height_problems(measure_heights(buildings, moved), CITY.n_buildings)
    assert problems, what
    assert any("off" in p for p in problems), problems


# -- CesiumJS ----------------------------------------------------------------------------------


def _render(tileset: Path, png: Path) -> dict[str, object]:
    result = run_render(tileset, png, "--expect-near", NEAR)
    assert "errors=0 warnings=0" in result.stdout.strip().splitlines()[-1]
    out: dict[str, object] = json.loads(png.with_suffix(".json").read_text(encoding="utf-8"))
    assert out["pass"] is True, out.get("problems")
    assert out["consoleErrors"] == [] and out["pageErrors"] == []
    return out


_CREDITS_ROWS = 40
"""Bottom rows of the screenshot with CesiumJS' credit line (its logo is green)."""


def _colour_masks(png: Path) -> dict[str, np.ndarray]:
    """Pixel classes of the default CesiumJS look: roofs (red), walls (light grey), ground
    points (green: the scan's RGB for ground and vegetation); the credits are left out."""
    from PIL import Image

    rgb = np.asarray(Image.open(png).convert("RGB"), dtype=np.int32)[:-_CREDITS_ROWS]
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    return {
        "roofs": (r > 70) & (r > g + 35) & (r > b + 35),
        "walls": (r > 110) & (g > 110) & (b > 110) & (r < 200) & (np.ptp(rgb, axis=2) < 25),
        "ground": (g > r + 8) & (g >= b) & (g > 60),
    }


@pytest.mark.node
def test_scene_renders_points_next_to_buildings(scene: Scene) -> None:
    png = scene.root.parent / "points-with-buildings.png"
    out = _render(scene.root, png)
    print(f"screenshot: {png}")
    visible = out["visible"]
    assert isinstance(visible, dict)
    assert visible["points"] > 0.2 * N_POINTS / 4, visible  # point contents drawn
    assert visible["triangles"] > 0 and visible["features"] >= CITY.n_buildings, visible
    assert out["tiles"] == {"loaded": out["tiles"]["loaded"], "failed": 0, "unloaded": 0}  # type: ignore[index]
    assert float(out["distanceFromExpectedKm"]) < 5  # type: ignore[arg-type]
    masks = _colour_masks(png)
    counts = {name: int(mask.sum()) for name, mask in masks.items()}
    assert counts["ground"] > 10_000, counts  # the scan's ground fills the scene
    assert counts["roofs"] > 2_000 and counts["walls"] > 2_000, counts  # buildings stand on it
    # Where expected: the buildings are drawn inside the area the scan's points cover.
    ys, xs = np.nonzero(masks["ground"])
    by, bx = np.nonzero(masks["roofs"] | masks["walls"])
    inside = (bx >= xs.min()) & (bx <= xs.max()) & (by >= ys.min()) & (by <= ys.max())
    assert inside.mean() > 0.97, (inside.mean(), counts)
