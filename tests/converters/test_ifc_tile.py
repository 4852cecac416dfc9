"""Tiling IFC models: 3D Tiles 1.1 that pass check-tileset, reader options reach the workers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("ifcopenshell")

from citymodel.report import JobReport
from citymodel.tiler import _dispatch
from citymodel.tiler._pool import TaskRunner
from citymodel.tiler.build import TileOptions, build_tileset
from tests.converters.ifc_models import Box, MapConversion, write_model
from tests.tiler.conftest import assert_check_tileset_passes
from tests.tiler.tileset_walk import building_ids, walk_tileset

BOXES = tuple(
    Box(
        origin=(x * 6000.0, y * 6000.0, 0.0),
        size=(5000.0, 5000.0, 3000.0 + 500.0 * x),
        ifc_class="IfcWall" if (x + y) % 2 else "IfcSlab",
        name=f"box {x}/{y}",
        color=(0.2 * x, 0.5, 0.1 * y),
        psets={"Pset_Test": {"Index": ("IfcInteger", 10 * x + y)}},
    )
    for x in range(4)
    for y in range(3)
)


def _tile(path: Path, out: Path, **options: object) -> tuple[Path, JobReport]:
    report = JobReport()
    build_tileset([path], out, options=TileOptions(**options), report=report)  # type: ignore[arg-type]
    return out, report


def test_tiles_a_georeferenced_model(tmp_path: Path) -> None:
    path = write_model(
        tmp_path / "m.ifc",
        unit="mm",
        boxes=BOXES,
        map_conversion=MapConversion(566000.0, 5935000.0, 10.0, 0.0, 1.0, scale=0.001),
    )
    out, report = _tile(path, tmp_path / "tiles", jobs=1)
    assert report.read == report.written
    assert sum(report.written.values()) == len(BOXES)
    tileset = json.loads((out / "tileset.json").read_text())
    assert tileset["asset"]["version"] == "1.1"
    walked = walk_tileset(out / "tileset.json")
    leaves = [t.content for t in walked.root.walk() if t.content is not None and not t.children]
    ids = {i for content in leaves for i in building_ids(content)}
    assert len(ids) == len(BOXES)  # every element in a leaf, by its GlobalId
    assert report.crs[str(path)]["georeferencing"]["rotation_deg"] == pytest.approx(90.0)


def test_origin_reaches_the_worker_processes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # two models, and no size below which the passes would stay in this process
    monkeypatch.setattr(_dispatch, "PASS1_MIN_BYTES", 0)
    monkeypatch.setattr(_dispatch, "PASS2_MIN_TRIANGLES", 0)
    paths = [
        write_model(tmp_path / f"none{i}.ifc", unit="m", boxes=BOXES[3 * i : 3 * i + 3])
        for i in range(2)
    ]
    report = JobReport()
    out = tmp_path / "tiles"
    build_tileset(
        paths,
        out,
        options=TileOptions(
            jobs=2,
            in_crs="EPSG:25832+7837",
            reader_options=(("origin", (566000.0, 5935000.0, 10.0, 0.0)),),
        ),
        report=report,
    )
    assert sum(report.written.values()) == 6
    for path in paths:
        assert report.crs[str(path)]["georeferencing"]["method"] == "origin"
    assert (out / "tileset.json").is_file()


def test_small_model_tiles_without_worker_processes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One small model: both passes run in this process, with the same tileset as one job."""

    def refuse(*_args: object) -> None:
        raise AssertionError("a small model must not start the worker pool")

    path = write_model(
        tmp_path / "m.ifc",
        unit="mm",
        boxes=BOXES,
        map_conversion=MapConversion(566000.0, 5935000.0, 10.0, 0.0, 1.0, scale=0.001),
    )
    single, _ = _tile(path, tmp_path / "single", jobs=1)
    monkeypatch.setattr(TaskRunner, "map", refuse)
    two, report = _tile(path, tmp_path / "two", jobs=2)
    assert sum(report.written.values()) == len(BOXES)
    names = sorted(p.relative_to(single) for p in single.rglob("*") if p.is_file())
    assert names == sorted(p.relative_to(two) for p in two.rglob("*") if p.is_file())
    for name in names:
        assert (single / name).read_bytes() == (two / name).read_bytes(), name


@pytest.mark.node
def test_ifc_tileset_passes_check_tileset(tmp_path: Path) -> None:
    path = write_model(
        tmp_path / "m.ifc",
        unit="mm",
        boxes=BOXES,
        map_conversion=MapConversion(566000.0, 5935000.0, 10.0, 0.5, 0.8660254, scale=0.001),
    )
    out, _ = _tile(path, tmp_path / "tiles", jobs=1)
    assert_check_tileset_passes(out)
