"""Tiling non-building city objects: a city-wide TIN, roads, vegetation with implicit geometry.

A TIN that covers the whole city is one unit: it lands in exactly one leaf (by the centre of its
box), that leaf's volume is fitted to it, parents show its block in the terrain colour, and a
unit above the leaf budget is reported. Real data (geoRES with many modules, the OGC LoD3/LoD4
examples) must pass check-tileset.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from citymodel.model import SurfaceType
from citymodel.report import JobReport
from citymodel.synthetic import SyntheticCityOptions, write_city
from citymodel.tiler.build import TileOptions, build_tileset
from citymodel.tiler.partition import PartitionOptions
from tests.gltf_reader import read_glb
from tests.tiler.conftest import assert_check_tileset_passes
from tests.tiler.tileset_walk import assert_replace_tree, building_ids, input_ids, walk_tileset

NS = (
    ' xmlns:dem="http://www.opengis.net/citygml/relief/2.0"'
    ' xmlns:tran="http://www.opengis.net/citygml/transportation/2.0"'
)


def _tin(extent: tuple[float, ...], grid: int) -> str:
    x0, y0, z0, x1, y1, _ = extent
    xs, ys = np.meshgrid(np.linspace(x0 - 20, x1 + 20, grid), np.linspace(y0 - 20, y1 + 20, grid))
    zs = z0 - 1 + np.sin(xs / 50.0) + np.cos(ys / 70.0)
    pts = np.stack([xs, ys, zs], axis=-1)
    triangles = []
    for i in range(grid - 1):
        for j in range(grid - 1):
            a, b, c, d = pts[i, j], pts[i, j + 1], pts[i + 1, j + 1], pts[i + 1, j]
            for tri in ((a, b, c), (a, c, d)):
                ring = " ".join(f"{v:.3f}" for p in (*tri, tri[0]) for v in p)
                triangles.append(
                    "<gml:Triangle><gml:exterior><gml:LinearRing><gml:posList>"
                    f"{ring}</gml:posList></gml:LinearRing></gml:exterior></gml:Triangle>"
                )
    return (
        "<core:cityObjectMember><dem:ReliefFeature gml:id='DEM'><dem:lod>2</dem:lod>"
        "<dem:reliefComponent><dem:TINRelief gml:id='DEM_TIN'><dem:lod>2</dem:lod><dem:tin>"
        "<gml:TriangulatedSurface><gml:trianglePatches>"
        + "".join(triangles)
        + "</gml:trianglePatches></gml:TriangulatedSurface></dem:tin></dem:TINRelief>"
        "</dem:reliefComponent></dem:ReliefFeature></core:cityObjectMember>"
    )


def _road(extent: tuple[float, ...]) -> str:
    x0, y0, z0, x1, y1, _ = extent
    y = (y0 + y1) / 2
    ring = f"{x0} {y} {z0} {x1} {y} {z0} {x1} {y + 6} {z0} {x0} {y + 6} {z0} {x0} {y} {z0}"
    return (
        "<core:cityObjectMember><tran:Road gml:id='ROAD'><tran:lod1MultiSurface><gml:MultiSurface>"
        "<gml:surfaceMember><gml:Polygon><gml:exterior><gml:LinearRing><gml:posList>"
        f"{ring}</gml:posList></gml:LinearRing></gml:exterior></gml:Polygon></gml:surfaceMember>"
        "</gml:MultiSurface></tran:lod1MultiSurface></tran:Road></core:cityObjectMember>"
    )


@pytest.fixture(scope="module")
def city_with_terrain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("terrain") / "city.gml"
    summary = write_city(path, SyntheticCityOptions(n_buildings=60, seed=3))
    text = path.read_text(encoding="utf-8")
    head = text.index(">", text.index("<core:CityModel"))
    tail = text.rindex("</core:CityModel>")
    extent = summary.extent
    text = text[:head] + NS + text[head:tail] + _tin(extent, 24) + _road(extent) + text[tail:]
    path.write_text(text, encoding="utf-8")
    return path


def _surface_names(content: Path, gml_id: str) -> set[str]:
    """Material names of the triangles of feature ``gml_id`` in a GLB content."""
    gltf = read_glb(content.read_bytes())
    rows = gltf.property_table()["gml_id"]
    if gml_id not in rows:
        return set()
    row = rows.index(gml_id)
    names = set()
    for prim in gltf.primitives():
        ids = gltf.accessor(prim["attributes"]["_FEATURE_ID_0"]).astype(int)
        indices = gltf.accessor(prim["indices"]).astype(int)
        if (ids[indices] == row).any():
            names.add(gltf.document["materials"][prim["material"]]["name"])
    return names


def test_city_wide_tin_is_placed_in_one_leaf_and_reported_over_budget(
    city_with_terrain: Path, tmp_path: Path
) -> None:
    out = tmp_path / "tiles"
    report = JobReport()
    options = TileOptions(jobs=1, partition=PartitionOptions(max_units=12, max_triangles=600))
    build_tileset([city_with_terrain], out, options=options, report=report)
    tileset = walk_tileset(out)
    expected = input_ids([city_with_terrain])
    assert {"DEM", "ROAD"} <= expected
    assert_replace_tree(tileset, expected, skipped=set())
    leaves = [t for t in tileset.root.leaves() if t.content and "DEM" in building_ids(t.content)]
    assert len(leaves) == 1
    (over,) = [w for w in report.warnings if "leaf tile's budget" in w]
    assert "1,058 triangles" in over  # 23 x 23 x 2 triangles of the TIN
    root = tileset.root.content
    assert root is not None and "DEM" in building_ids(root)
    # parents show the terrain's block in the terrain colour, not as a roofed building
    assert _surface_names(root, "DEM_TIN") == {SurfaceType.TERRAIN.name.lower()}


@pytest.mark.realdata
@pytest.mark.slow
@pytest.mark.parametrize(
    "relative",
    [
        "geores_textured/geoRES_testdata.xml",
        "ogc_citygml2_examples/Building_LOD3-EPSG25832.gml",
        "ogc_citygml2_examples/Building_LOD4-EPSG25832.gml",
    ],
)
def test_real_modules_tile_and_pass_check_tileset(
    shared_data: Path, tmp_path: Path, relative: str
) -> None:
    source = shared_data / "citygml" / relative
    out = tmp_path / "tiles"
    report = build_tileset([source], out, options=TileOptions(jobs=1))
    tileset = walk_tileset(out)
    assert_replace_tree(tileset, input_ids([source]), skipped=set())
    assert not report.skipped
    assert_check_tileset_passes(out)
