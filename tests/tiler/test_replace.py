"""``tile --replace``: a design model takes the place of the city buildings under its footprint.

A generated city and box-shaped IFC4 designs (``ifc_design.py``, georeferenced by
IfcMapConversion) placed over chosen buildings: the replaced building is in no content of
the tileset (leaves and block parents), the design's elements are, the report lists the
replacement, and the tileset passes the project's checks and check-tileset. Overlap shares
are checked against an exact polygon clipping computed here, independently of the raster.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyproj
import pytest
from click.testing import CliRunner

from citymodel.cli.main import cli
from citymodel.crs import parse_srs_name, with_default_vertical
from citymodel.model import Feature, SurfaceType
from citymodel.report import JobReport
from citymodel.sources import open as open_source
from citymodel.synthetic import SyntheticCityOptions, write_city_tiles
from citymodel.tiler.build import TileOptions, build_tileset
from citymodel.tiler.lod import LodPolicy
from citymodel.tiler.partition import PartitionOptions
from citymodel.tiler.replace import ReplaceRule, hide_replaced, plan_replacement
from citymodel.tiler.validate import validate_tileset
from tests.converters.ifc_models import Box, write_model
from tests.tiler.conftest import assert_check_tileset_passes
from tests.tiler.ifc_design import write_design
from tests.tiler.tileset_walk import building_ids, walk_tileset

SMALL = {"partition": PartitionOptions(max_units=12), "lod_policy": LodPolicy(max_triangles=800)}
TARGET = 5
"""Index of the city building the design replaces."""


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("city")
    return write_city_tiles(
        folder, SyntheticCityOptions(n_buildings=40, seed=7, tile_size_m=250, part_ratio=0.4)
    )


@pytest.fixture(scope="module")
def features(city: list[Path]) -> list[Feature]:
    out = []
    for path in city:
        with open_source(path) as reader:
            out.extend(reader.features(report=JobReport()))
    return out


def extent(feature: Feature) -> tuple[np.ndarray, np.ndarray]:
    v = np.concatenate([g.vertices for f, _ in feature.walk() for g in f.geometries])
    return v.min(axis=0), v.max(axis=0)


def design_over(path: Path, feature: Feature, margin: float = 1.0, **kwargs: Any) -> Path:
    low, high = extent(feature)
    size = (high[0] - low[0] + 2 * margin, high[1] - low[1] + 2 * margin, 12.0)
    origin = (low[0] - margin, low[1] - margin, low[2])
    return write_design(path, origin=origin, size=size, **kwargs)


def ifc_ids(path: Path) -> set[str]:
    with open_source(path) as reader:
        return {f.id for f in reader.features(report=JobReport())}


def content_ids(out: Path) -> list[set[str]]:
    """Building ids of every content of the tileset (leaves and block parents)."""
    tree = walk_tileset(out)
    return [set(building_ids(t.content)) for t in tree.root.walk() if t.content is not None]


@pytest.fixture(scope="module")
def replaced(
    city: list[Path], features: list[Feature], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path, JobReport]:
    folder = tmp_path_factory.mktemp("replaced")
    design = design_over(folder / "design.ifc", features[TARGET])
    out = folder / "tiles"
    report = build_tileset(
        city, out, options=TileOptions(jobs=2, replace=(ReplaceRule(source=design),), **SMALL)
    )
    return design, out, report


def test_replaced_building_is_gone_and_the_design_is_there(
    replaced: tuple[Path, Path, JobReport], features: list[Feature]
) -> None:
    design, out, _ = replaced
    contents = content_ids(out)
    target = features[TARGET].id
    assert all(target not in ids for ids in contents), "the replaced building is still shown"
    shown = set().union(*contents)
    others = {f.id for f in features} - {target}
    assert others <= shown, "every other building is still there"
    elements = ifc_ids(design)
    assert len(elements) == 6
    assert elements <= shown, "the design's elements are in the tileset"


def test_report_lists_the_replacement(
    replaced: tuple[Path, Path, JobReport], features: list[Feature]
) -> None:
    design, _, report = replaced
    (entry,) = report.extra["replaced"]
    assert entry["id"] == features[TARGET].id
    assert entry["by"] == "design.ifc"
    assert entry["overlap"] == pytest.approx(1.0, abs=1e-6)
    assert entry["file"].endswith(".gml")
    (footprint,) = report.extra["replacement"]
    low, high = extent(features[TARGET])
    area = (high[0] - low[0] + 2) * (high[1] - low[1] + 2)
    assert footprint["footprint_area_m2"] == pytest.approx(area, rel=0.01)
    assert footprint["crs"] == "EPSG:25832"
    summary = report.extra["tiling"]["buildings"]
    assert summary["in"] == len(features) + 6
    assert summary["written"] == len(features) - 1 + 6
    assert report.read["Building"] == len(features)
    assert str(design) in report.inputs
    assert not report.skipped


def test_replaced_tileset_passes_the_project_checks(replaced: tuple[Path, Path, JobReport]) -> None:
    assert validate_tileset(replaced[1]) == []


@pytest.mark.node
def test_replaced_tileset_passes_check_tileset(replaced: tuple[Path, Path, JobReport]) -> None:
    assert_check_tileset_passes(replaced[1] / "tileset.json")


# -- overlap threshold, checked against exact clipping ----------------------------------


def _clip(polygon: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """Sutherland-Hodgman: ``polygon`` (n, 2) clipped to an axis-aligned box (exact)."""
    xmin, ymin, xmax, ymax = box
    edges = [
        (lambda p: p[0] >= xmin, lambda a, b: a + (b - a) * (xmin - a[0]) / (b[0] - a[0])),
        (lambda p: p[0] <= xmax, lambda a, b: a + (b - a) * (xmax - a[0]) / (b[0] - a[0])),
        (lambda p: p[1] >= ymin, lambda a, b: a + (b - a) * (ymin - a[1]) / (b[1] - a[1])),
        (lambda p: p[1] <= ymax, lambda a, b: a + (b - a) * (ymax - a[1]) / (b[1] - a[1])),
    ]
    points = list(polygon)
    for inside, cut in edges:
        out = []
        for i, b in enumerate(points):
            a = points[i - 1]
            if inside(b):
                if not inside(a):
                    out.append(cut(a, b))
                out.append(b)
            elif inside(a):
                out.append(cut(a, b))
        points = out
        if not points:
            break
    return np.array(points).reshape(-1, 2)


def _area(polygon: np.ndarray) -> float:
    x, y = polygon[:, 0], polygon[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def ground_share(feature: Feature, box: tuple[float, float, float, float]) -> float:
    """Exact share of the ground polygons' area (holes subtracted) inside ``box``."""
    total = covered = 0.0
    for f, _ in feature.walk():
        geom = f.geometry()
        if geom is None:
            continue
        for p in np.flatnonzero(geom.surface_types == SurfaceType.GROUND):
            rings = range(int(geom.polygon_offsets[p]), int(geom.polygon_offsets[p + 1]))
            for number, r in enumerate(rings):
                ring = geom.vertices[geom.ring_offsets[r] : geom.ring_offsets[r + 1], :2]
                sign = 1.0 if number == 0 else -1.0
                total += sign * _area(ring)
                clipped = _clip(ring, box)
                covered += sign * (_area(clipped) if len(clipped) >= 3 else 0.0)
    return covered / total


def _shares(city: list[Path], design: Path, min_overlap: float) -> list[dict[str, Any]]:
    report = JobReport()
    plan = plan_replacement([ReplaceRule(source=design, min_overlap=min_overlap)], report=report)
    found: list[dict[str, Any]] = []
    for path in city:
        with open_source(path) as reader:
            crs = with_default_vertical(parse_srs_name(str(reader.srs_name)))
            kept = hide_replaced(
                plan,
                reader.features(report=report),
                path=path,
                crs=crs,
                lod=None,
                report=report,
                replaced=found,
            )
            for _ in kept:
                pass
    return found


def test_partial_cover_follows_the_threshold(
    city: list[Path], features: list[Feature], tmp_path: Path
) -> None:
    """A design over the western 30 % of a building replaces it only at min_overlap <= 0.3."""
    target = features[TARGET + 3]
    low, high = extent(target)
    width = 0.3 * (high[0] - low[0])
    design = write_design(
        tmp_path / "wing.ifc",
        origin=(low[0] - 5, low[1] - 5, low[2]),
        size=(width + 5, high[1] - low[1] + 10, 8.0),
    )
    box = (low[0] - 5, low[1] - 5, low[0] + width, high[1] + 5)
    exact = ground_share(target, box)
    assert 0.15 < exact < 0.45
    assert _shares(city, design, 0.5) == []
    (hit,) = _shares(city, design, 0.1)
    assert hit["id"] == target.id
    assert hit["overlap"] == pytest.approx(exact, abs=0.01)


def test_rotated_design_is_placed_by_its_map_conversion(
    city: list[Path], features: list[Feature], tmp_path: Path
) -> None:
    """A 30° rotated map conversion turns the footprint; the building under it is replaced."""
    target = features[TARGET + 7]
    low, high = extent(target)
    centre = 0.5 * (low + high)
    half = float(np.hypot(high[0] - low[0], high[1] - low[1])) / 2 + 1.0
    angle = np.radians(30.0)
    # the local square [0, 2 half]² turned by 30° about its origin, centred on the building
    local_centre = np.array([half, half])
    rotated = (
        np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]) @ local_centre
    )
    origin = (centre[0] - rotated[0], centre[1] - rotated[1], low[2])
    design = write_design(
        tmp_path / "rotated.ifc", origin=origin, size=(2 * half, 2 * half, 10.0), rotation_deg=30.0
    )
    hits = _shares(city, design, 0.5)
    assert [h["id"] for h in hits] == [target.id]
    assert hits[0]["overlap"] == pytest.approx(1.0, abs=1e-6)


def test_design_in_another_crs(city: list[Path], features: list[Feature], tmp_path: Path) -> None:
    """A design georeferenced in UTM zone 33 replaces the zone-32 building it stands on."""
    target = features[TARGET + 10]
    low, high = extent(target)
    to33 = pyproj.Transformer.from_crs(25832, 25833, always_xy=True)
    xmin, ymin, xmax, ymax = to33.transform_bounds(low[0], low[1], high[0], high[1], densify_pts=21)
    design = write_design(
        tmp_path / "zone33.ifc",
        origin=(xmin - 1, ymin - 1, low[2]),
        size=(xmax - xmin + 2, ymax - ymin + 2, 10.0),
        crs="EPSG:25833",
    )
    hits = _shares(city, design, 0.5)
    assert [h["id"] for h in hits] == [target.id]
    assert hits[0]["overlap"] > 0.99


def test_design_far_away_replaces_nothing_and_says_so(
    city: list[Path], features: list[Feature], tmp_path: Path
) -> None:
    low, _ = extent(features[0])
    design = write_design(
        tmp_path / "far.ifc", origin=(low[0] - 5000, low[1], low[2]), size=(20, 20, 10)
    )
    out = tmp_path / "tiles"
    report = build_tileset(
        city, out, options=TileOptions(jobs=1, replace=(ReplaceRule(source=design),), **SMALL)
    )
    assert report.extra["replaced"] == []
    assert any("far.ifc" in w and "nothing was replaced" in w for w in report.warnings)
    assert {f.id for f in features} <= set().union(*content_ids(out))


# -- by id, and the command line ----------------------------------------------------------


def test_replace_ids_from_the_command_line(
    city: list[Path], features: list[Feature], tmp_path: Path
) -> None:
    """--replace-ids hides exactly the listed buildings (a part id stands for its building)."""
    with_parts = next(f for f in features if f.children and f.id != features[TARGET].id)
    plain = features[TARGET + 1]
    design = design_over(tmp_path / "design.ifc", features[TARGET])
    out = tmp_path / "tiles"
    ids = f"{with_parts.children[0].id},{plain.id},DENW_NOT_THERE"
    report_path = tmp_path / "report.json"
    result = CliRunner().invoke(
        cli,
        [
            "tile", *map(str, city), "-o", str(out), "-j", "1",
            "--replace", str(design), "--replace-ids", ids, "--report", str(report_path),
            "--types", "Building",  # selects city objects; the design is read whole
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "replaced 2 buildings by design.ifc" in result.output
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert sorted(r["id"] for r in report["replaced"]) == sorted([with_parts.id, plain.id])
    assert all(r["overlap"] is None and r["by"] == "design.ifc" for r in report["replaced"])
    assert any("DENW_NOT_THERE" in w for w in report["warnings"])
    shown = set().union(*content_ids(out))
    assert with_parts.id not in shown and plain.id not in shown
    assert features[TARGET].id in shown, "with --replace-ids the footprint is not used"
    assert ifc_ids(design) <= shown


def test_replace_rule_is_checked() -> None:
    with pytest.raises(ValueError, match="source model or ids"):
        ReplaceRule()
    with pytest.raises(ValueError, match="min_overlap"):
        ReplaceRule(source=Path("x.ifc"), min_overlap=0.0)


def test_command_line_rules() -> None:
    from citymodel.cli.options import replace_rules

    a, b = Path("a.ifc"), Path("b.ifc")
    assert replace_rules((a, b), None, 0.3) == (
        ReplaceRule(source=a, min_overlap=0.3),
        ReplaceRule(source=b, min_overlap=0.3),
    )
    ids = frozenset({"DENW1"})
    by_id, add_a, add_b = replace_rules((a, b), ids, 0.5)
    assert (by_id.source, by_id.ids, by_id.label) == (None, ids, "a.ifc, b.ifc")
    assert (add_a.source, add_a.ids, add_b.source, add_b.ids) == (a, frozenset(), b, frozenset())


def test_design_without_georeferencing_placed_by_origin(
    city: list[Path], features: list[Feature], tmp_path: Path
) -> None:
    """``tile city --replace design.ifc --in-crs ... --origin ...``: the origin places the design
    (the CityGML readers ignore it) and its footprint replaces the building below."""
    low, high = extent(features[TARGET])
    size = (float(high[0] - low[0]) + 2.0, float(high[1] - low[1]) + 2.0, 12.0)
    design = write_model(tmp_path / "design.ifc", boxes=(Box(origin=(0.0, 0.0, 0.0), size=size),))
    origin = f"{low[0] - 1.0},{low[1] - 1.0},{low[2]}"
    out = tmp_path / "tiles"
    args = ["tile", *map(str, city), "-o", str(out), "-j", "1", "--replace", str(design)]
    args += ["--in-crs", "EPSG:25832+7837", "--origin", origin]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert f"by design.ifc: {features[TARGET].id}" in result.output
    shown = set().union(*content_ids(out))
    assert features[TARGET].id not in shown
    assert ifc_ids_placed(design, origin) <= shown


def ifc_ids_placed(path: Path, origin: str) -> set[str]:
    values = (*(float(v) for v in origin.split(",")), 0.0)
    with open_source(path, in_crs="EPSG:25832+7837", origin=values) as reader:
        return {f.id for f in reader.features(report=JobReport())}
