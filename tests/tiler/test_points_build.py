"""``build_point_tileset`` on generated LAS/LAZ: every point exactly once, in place, bounded.

The clouds carry ``gps_time`` = point index, requested as an extra dimension, so each decoded
point is matched to its source point: the tests check the multiset of ids (no point lost,
none duplicated between parents and children, T3D-4), positions against an exact PROJ
transformation (T3D-2, T3D-9), containment in every tile volume up to the root (T3D-3) and
the halving geometric errors.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from citymodel.crs import Georeferencer
from citymodel.errors import CRSError, InputError, StrictModeError, TilingError
from citymodel.ops.frames import ecef_to_local
from citymodel.report import JobReport
from citymodel.sources import split_point_inputs
from citymodel.tiler.points.build import PointTileOptions, build_point_tileset
from tests.fresh_interpreter import last_line
from tests.tiler.points_helpers import (
    PointTile,
    box_excess,
    city_points,
    decode,
    read_tileset,
    write_cloud,
)

N = 60_000
SMALL = {
    "points_per_tile": 2_000,
    "chunk_points": 12_000,
    "task_points": 20_000,
    "read_chunk": 7_000,
    "sample_grid": 32,
}
"""Budgets that give a deep tree, several chunks and upper levels, and tasks per file."""


@pytest.fixture(scope="module")
def cloud() -> dict[str, Any]:
    return city_points(N, seed=11)


@pytest.fixture(scope="module")
def inputs(cloud: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two LAZ files and one LAS file holding the cloud between them."""
    folder = tmp_path_factory.mktemp("clouds")
    return [
        write_cloud(folder / "a.laz", cloud, stop=25_000),
        write_cloud(folder / "b.laz", cloud, start=25_000, stop=48_000),
        write_cloud(folder / "c.las", cloud, start=48_000),
    ]


def _build(inputs: Any, out: Path, **options: Any) -> JobReport:
    settings = {**SMALL, "extra_dims": ("gps_time",), **options}
    return build_point_tileset(inputs, out, options=PointTileOptions(**settings))


@pytest.fixture(scope="module")
def explicit(
    inputs: list[Path], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, JobReport]:
    out = tmp_path_factory.mktemp("explicit") / "lidar"
    return out, _build(inputs, out, jobs=2)


def _contents(
    tile: PointTile,
) -> Iterator[tuple[PointTile, npt.NDArray[np.float64], dict[str, Any]]]:
    for t in tile.walk():
        if t.content is not None:
            enu, values = decode(t.content)
            yield t, enu, values


def _truth_enu(
    cloud: dict[str, Any], transform: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    ecef = Georeferencer.create("EPSG:25832+7837").to_ecef(cloud["xyz"])
    return ecef_to_local(ecef, transform)


def _subtree_points(tile: PointTile) -> npt.NDArray[np.float64]:
    parts = [enu for _, enu, _ in _contents(tile)]
    return np.concatenate(parts) if parts else np.zeros((0, 3))


def test_every_point_exactly_once_in_place(
    explicit: tuple[Path, JobReport], cloud: dict[str, Any]
) -> None:
    out, report = explicit
    tileset = read_tileset(out)
    ids: list[npt.NDArray[Any]] = []
    positions: list[npt.NDArray[np.float64]] = []
    classes: list[npt.NDArray[Any]] = []
    for _, enu, values in _contents(tileset.root):
        ids.append(np.rint(values["gps_time"]).astype(np.int64))
        positions.append(enu)
        classes.append(values["classification"])
    id_all = np.concatenate(ids)
    assert len(id_all) == N  # points in == sum over all contents (ADD)
    assert (np.sort(id_all) == np.arange(N)).all()  # none lost, none duplicated
    truth = _truth_enu(cloud, tileset.transform)
    error = np.abs(np.concatenate(positions) - truth[id_all]).max()
    assert error < 1e-3  # lattice georeferencing + float32 offsets, T3D-2 / T3D-9
    assert (np.concatenate(classes) == cloud["classification"][id_all]).all()
    summary = report.extra["tiling"]
    assert summary["points"] == {
        "in": N,
        "written": N,
        "skipped": 0,
        "classes": None,
        "attributes": [
            "classification",
            "intensity",
            "return_number",
            "number_of_returns",
            "color",
            "gps_time",
        ],
    }
    assert report.read["points"] == N and report.written["points"] == N
    assert summary["tiles"]["chunks"] > 1
    assert summary["tiles"]["depth"] >= 3


def test_volumes_contain_content_and_children(explicit: tuple[Path, JobReport]) -> None:
    tileset = read_tileset(explicit[0])

    def check(tile: PointTile) -> npt.NDArray[np.float64]:
        below = [check(child) for child in tile.children]
        own = np.zeros((0, 3))
        if tile.content is not None:
            own, _ = decode(tile.content)
            if tile.content_box is not None:
                assert box_excess(tile.content_box, own) <= 0.0
        points = np.concatenate([own, *below])
        assert len(points) > 0, "a tile without content or children"
        assert box_excess(tile.box, points) <= 0.0  # T3D-3, with the children's points
        return points

    check(tileset.root)


def test_geometric_error_halves_and_leaves_respect_the_budget(
    explicit: tuple[Path, JobReport],
) -> None:
    tileset = read_tileset(explicit[0])
    assert tileset.document["geometricError"] >= tileset.root.geometric_error
    assert tileset.root.refine == "ADD"
    assert tileset.document["asset"]["version"] == "1.1"
    for tile in tileset.root.walk():
        for child in tile.children:
            assert child.geometric_error == pytest.approx(tile.geometric_error / 2)
        if not tile.children:
            assert tile.content is not None
            enu, _ = decode(tile.content)
            assert len(enu) <= SMALL["points_per_tile"]


def test_same_output_with_one_or_two_workers(
    inputs: list[Path], explicit: tuple[Path, JobReport], tmp_path: Path
) -> None:
    out = tmp_path / "one"
    _build(inputs, out, jobs=1)
    two = explicit[0]
    files = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(two) for p in two.rglob("*") if p.is_file())
    for rel in files:
        assert (out / rel).read_bytes() == (two / rel).read_bytes(), rel


def test_pnts_tileset(inputs: list[Path], cloud: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "pnts"
    report = _build(inputs, out, jobs=2, tiles_version="1.0")
    tileset = read_tileset(out)
    assert tileset.document["asset"]["version"] == "1.0"
    ids, positions = [], []
    for tile, enu, values in _contents(tileset.root):
        assert tile.content is not None and tile.content.suffix == ".pnts"
        ids.append(values["gps_time"].astype(np.int64))
        positions.append(enu)
        assert (values["RGB"] >= 0).all()
    id_all = np.concatenate(ids)
    assert (np.sort(id_all) == np.arange(N)).all()
    truth = _truth_enu(cloud, tileset.transform)
    assert np.abs(np.concatenate(positions) - truth[id_all]).max() < 1e-3
    assert report.extra["tiling"]["tiles_version"] == "1.0"


def test_implicit_octree(inputs: list[Path], tmp_path: Path) -> None:
    from citymodel.tiler.implicit import available_tiles, expand_template
    from citymodel.tiler.subtree import decode_subtree

    out = tmp_path / "implicit"
    _build(inputs, out, jobs=2, implicit=True)
    document = read_tileset_document(out)
    root = document["root"]
    spec = root["implicitTiling"]
    assert spec["subdivisionScheme"] == "OCTREE" and root["refine"] == "ADD"

    def read(key: Any) -> Any:
        data = (out / expand_template(spec["subtrees"]["uri"], key)).read_bytes()
        return decode_subtree(data, subtree_levels=spec["subtreeLevels"], octree=True)

    ids = []
    for key, flags in available_tiles(
        read,
        subtree_levels=spec["subtreeLevels"],
        available_levels=spec["availableLevels"],
        octree=True,
    ):
        path = out / expand_template(root["content"]["uri"], key)
        assert path.is_file() == flags[0]
        if flags[0]:
            _, values = decode(path)
            ids.append(np.rint(values["gps_time"]).astype(np.int64))
    assert (np.sort(np.concatenate(ids)) == np.arange(N)).all()


def read_tileset_document(folder: Path) -> dict[str, Any]:
    import json

    return json.loads((folder / "tileset.json").read_text(encoding="utf-8"))


def test_classes_filter(inputs: list[Path], cloud: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "ground_buildings"
    report = _build(inputs, out, jobs=1, classes=(2, 6))
    wanted = np.isin(cloud["classification"], (2, 6))
    ids = np.concatenate(
        [np.rint(v["gps_time"]).astype(np.int64) for _, _, v in _contents(read_tileset(out).root)]
    )
    assert (np.sort(ids) == np.flatnonzero(wanted)).all()
    assert report.extra["tiling"]["points"]["in"] == int(wanted.sum())


@pytest.mark.parametrize("kind", ["too small", "zeros"])
def test_header_bounds_that_disagree_are_measured(
    cloud: dict[str, Any], tmp_path: Path, kind: str
) -> None:
    lo = cloud["xyz"][:5000].min(axis=0)
    header = {
        "too small": (lo[0], lo[1], lo[2], lo[0] + 10.0, lo[1] + 10.0, lo[2] + 1.0),
        "zeros": (0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
    }[kind]
    path = write_cloud(tmp_path / "bad_header.laz", cloud, stop=5000, header_bounds=header)
    out = tmp_path / "out"
    report = _build(path, out, jobs=1)
    assert report.extra["tiling"]["header_bounds_wrong"] is True
    assert any("measured bounds" in w for w in report.warnings)
    ids = np.concatenate(
        [np.rint(v["gps_time"]).astype(np.int64) for _, _, v in _contents(read_tileset(out).root)]
    )
    assert (np.sort(ids) == np.arange(5000)).all()
    # the cube follows the points (500 m), not the header: 4 x spacing of a ~1 km cube at most
    assert report.extra["tiling"]["geometric_error"]["root"] < 4 * 1000 / SMALL["sample_grid"]


def test_points_outside_the_geoid_grid_are_skipped_and_reported(
    cloud: dict[str, Any], tmp_path: Path
) -> None:
    """GCG2016 covers Germany: points in Denmark cannot get DHHN2016 heights (GEO-4)."""
    part = {k: np.asarray(v)[:3000].copy() for k, v in cloud.items()}
    part["xyz"][:100, 1] += 400_000.0  # 100 points 400 km north, outside the grid
    path = write_cloud(tmp_path / "edge.laz", part)
    report = _build(path, tmp_path / "out", jobs=1)
    summary = report.extra["tiling"]["points"]
    assert summary["in"] == 3000 and summary["written"] == 2900 and summary["skipped"] == 100
    (skip,) = report.skipped
    assert "100 points could not be georeferenced" in skip.reason and skip.file == str(path)
    with pytest.raises(StrictModeError):
        _build(path, tmp_path / "strict", jobs=1, strict=True)
    assert not (tmp_path / "strict").exists()


def test_missing_crs_asks_for_in_crs(cloud: dict[str, Any], tmp_path: Path) -> None:
    path = write_cloud(tmp_path / "nocrs.laz", cloud, stop=2000, crs=None)
    with pytest.raises(CRSError, match="--in-crs"):
        _build(path, tmp_path / "out", jobs=1)
    assert not (tmp_path / "out").exists()
    report = _build(path, tmp_path / "out", jobs=1, in_crs="EPSG:25832+7837")
    assert report.extra["tiling"]["points"]["written"] == 2000


def test_nothing_to_tile(cloud: dict[str, Any], tmp_path: Path) -> None:
    path = write_cloud(tmp_path / "a.laz", cloud, stop=1000)
    with pytest.raises(TilingError, match="no point was selected"):
        _build(path, tmp_path / "out", jobs=1, classes=(17,))
    with pytest.raises(InputError, match="no dimension 'Amplitude'"):
        _build(path, tmp_path / "out", jobs=1, extra_dims=("Amplitude",))
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "a.laz"]
    assert leftovers == []  # no output, no staging, no scratch


def test_split_point_inputs(inputs: list[Path], tmp_path: Path) -> None:
    gml = tmp_path / "city.gml"
    gml.write_text("<CityModel/>", encoding="utf-8")
    points, others = split_point_inputs([str(inputs[0].parent), str(gml)])
    assert points == sorted(inputs) and others == [gml]


def test_loose_header_bounds_are_measured(cloud: dict[str, Any], tmp_path: Path) -> None:
    """A header box 100 times larger than the data would give levels of empty tiles."""
    xyz = cloud["xyz"][:5000]
    lo, hi = xyz.min(axis=0), xyz.max(axis=0)
    loose = (lo[0] - 20_000, lo[1] - 20_000, lo[2] - 1000, hi[0] + 20_000, hi[1] + 20_000, hi[2])
    path = write_cloud(tmp_path / "loose.laz", cloud, stop=5000, header_bounds=loose)
    report = _build(path, tmp_path / "out", jobs=1)
    assert report.extra["tiling"]["header_bounds_wrong"] is True
    assert any("the points only" in w for w in report.warnings)
    # the cube follows the points (500 m), not the header: 4 x spacing of a ~1 km cube at most
    assert report.extra["tiling"]["geometric_error"]["root"] < 4 * 1000 / SMALL["sample_grid"]


def test_crowded_cells_are_split_by_their_codes(cloud: dict[str, Any], tmp_path: Path) -> None:
    """Most points inside one 1 m cube: its planning cell is split by scanning its stored
    codes, so no indexing task exceeds ``chunk_points``."""
    crowded = {k: np.asarray(v)[:20_000].copy() for k, v in cloud.items()}
    rng = np.random.default_rng(3)
    crowded["xyz"][:19_000] = crowded["xyz"][0] + rng.random((19_000, 3))
    path = write_cloud(tmp_path / "tower.laz", crowded)
    out = tmp_path / "out"
    progress: list[tuple[str, int, int]] = []
    options = PointTileOptions(**{**SMALL, "chunk_points": 3_000}, jobs=1, extra_dims=("gps_time",))
    report = build_point_tileset(
        path,
        out,
        options=options,
        progress=lambda stage, done, total: progress.append((stage, done, total)),
    )
    assert report.extra["tiling"]["tiles"]["chunks"] >= 7
    ids = np.concatenate(
        [np.rint(v["gps_time"]).astype(np.int64) for _, _, v in _contents(read_tileset(out).root)]
    )
    assert (np.sort(ids) == np.arange(20_000)).all()
    stages = {stage for stage, _, _ in progress}
    assert stages == {"read", "index", "merge"}
    for stage in stages:
        last = [p for p in progress if p[0] == stage][-1]
        assert last[1] == last[2]


def test_large_trees_are_split_into_external_tilesets(
    inputs: list[Path], cloud: dict[str, Any], tmp_path: Path
) -> None:
    out = tmp_path / "split"
    _build(inputs, out, jobs=1, max_json_bytes=6_000)
    assert list((out / "tilesets").glob("*.json"))
    assert all(p.stat().st_size <= 6_000 for p in out.rglob("*.json"))
    ids = np.concatenate(
        [np.rint(v["gps_time"]).astype(np.int64) for _, _, v in _contents(read_tileset(out).root)]
    )
    assert (np.sort(ids) == np.arange(N)).all()


@pytest.mark.node
def test_outputs_pass_check_tileset(
    inputs: list[Path], explicit: tuple[Path, JobReport], tmp_path: Path
) -> None:
    from tests.tiler.conftest import assert_check_tileset_passes

    assert_check_tileset_passes(explicit[0])
    archive = tmp_path / "lidar.3tz"
    _build(inputs, archive, jobs=2, tiles_version="1.0")
    assert archive.is_file()
    assert_check_tileset_passes(archive)
    implicit = tmp_path / "implicit"
    _build(inputs, implicit, jobs=2, implicit=True)
    assert_check_tileset_passes(implicit)


def test_truncated_file_stops_the_job_and_leaves_nothing(
    cloud: dict[str, Any], tmp_path: Path
) -> None:
    path = write_cloud(tmp_path / "cut.laz", cloud, stop=30_000)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(InputError, match=r"cut\.laz"):
        _build(path, tmp_path / "out", jobs=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.laz"]


def test_few_files_are_scanned_here_while_the_workers_start(
    inputs: list[Path], tmp_path: Path
) -> None:
    """One file, two workers: the scan runs in this process (the workers warm up meanwhile);
    the output is the same, byte for byte, as with one worker."""
    one, two = tmp_path / "one", tmp_path / "two"
    report = _build(inputs[0], two, jobs=2)
    _build(inputs[0], one, jobs=1)
    files = sorted(p.relative_to(one) for p in one.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(two) for p in two.rglob("*") if p.is_file())
    for rel in files:
        assert (one / rel).read_bytes() == (two / rel).read_bytes(), rel
    assert report.extra["tiling"]["points"]["written"] == 25_000
    assert report.inputs == [str(inputs[0])]


def test_worker_warm_up_never_fails(cloud: dict[str, Any], tmp_path: Path) -> None:
    import os

    from citymodel.tiler.points.scan import prime_worker

    path = write_cloud(tmp_path / "cut.laz", cloud, stop=30_000)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert prime_worker((path, tmp_path / "missing.laz")) == os.getpid()


def test_the_last_spill_ranges_are_halved() -> None:
    from citymodel.tiler.points.build import _MIN_TASK_POINTS, _halve_tail

    big = 4 * _MIN_TASK_POINTS
    ranges = [("a", 0, big), ("a", big, 2 * big), ("b", 0, big + 1), ("c", 0, 10)]
    out = _halve_tail(ranges, 2)
    # The last two ranges (one per worker) are halved unless they are small.
    assert out == [*ranges[:2], ("b", 0, big // 2), ("b", big // 2, big + 1), ("c", 0, 10)]
    assert _halve_tail(ranges, 1) == ranges
    assert _halve_tail([("a", 0, big)], 8) == [("a", 0, big)]


def test_the_spill_tail_tapers_to_quarters() -> None:
    from citymodel.tiler.points.build import _MIN_TASK_POINTS, _taper_tail

    big = 4 * _MIN_TASK_POINTS
    ranges = [("a", i * big, (i + 1) * big) for i in range(4)]
    out = _taper_tail(ranges, 2)
    sizes = [b - a for _, a, b in out]
    # Two whole ranges, two halves, then four quarters (one per worker per round).
    assert sizes == [big, big, big // 2, big // 2] + [big // 4] * 4
    # Every record exactly once, in order.
    assert out[0][1] == 0 and out[-1][2] == 4 * big
    assert all(out[k][2] == out[k + 1][1] for k in range(len(out) - 1))
    # Ranges too small to halve stay whole; one worker gets no tail.
    assert _taper_tail([("a", 0, big // 2)], 2) == [("a", 0, big // 2)]
    assert _taper_tail(ranges, 1) == ranges


_PROBE = """
import sys


def loaded(_):
    names = ("citymodel.converters.las", "citymodel.tiler.points.spill",
             "citymodel.tiler.points.nodes", "laspy", "lxml.etree", "citymodel.tiler.build")
    return [n for n in names if n in sys.modules]


if __name__ == "__main__":
    from citymodel.tiler.executor import open_runner
    from citymodel.tiler.points import WORKER_MODULES

    with open_runner("local", jobs=2, preload=WORKER_MODULES) as runner:
        runner.start()
        print(sorted({n for found in runner.map(loaded, range(4)) for n in found}))
"""


def test_point_workers_fork_with_the_point_modules_loaded(tmp_path: Path) -> None:
    # A fresh interpreter: the fork server's preload is fixed by the first pool of a process.
    loaded = last_line(tmp_path, "probe_point_workers.py", _PROBE)
    # The point tasks' modules come with the fork, not the city model tiler's (lxml).
    assert loaded == str(
        sorted(
            [
                "citymodel.converters.las",
                "citymodel.tiler.points.nodes",
                "citymodel.tiler.points.spill",
                "laspy",
            ]
        )
    )
