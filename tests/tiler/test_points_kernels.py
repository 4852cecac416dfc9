"""The compiled point kernels give exactly what the numpy code gives (tiler/points/kernels.py).

Every test runs a function twice, with the compiled kernels and with ``COMPILED`` set to None in
the calling module (the numpy code), and requires bit-identical results, including the edge
cases: lattice cells without values, points beyond the cube, points that are not finite, ties
in the closest-point choice. Without the extension they are skipped (there is nothing to
compare); an extension that is built but does not load fails instead.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
import numpy.typing as npt
import pytest

from citymodel.crs import Georeferencer
from citymodel.ops.frames import enu_to_ecef_matrix
from citymodel.tiler.keys import morton_encode_3d
from citymodel.tiler.points import content as content_module
from citymodel.tiler.points import frame as frame_module
from citymodel.tiler.points import georef as georef_module
from citymodel.tiler.points import kernels
from citymodel.tiler.points import octree as octree_module
from citymodel.tiler.points.frame import OctreeFrame
from citymodel.tiler.points.georef import LatticeGeoreferencer
from citymodel.tiler.points.octree import closest_per_voxel, index_subtree
from citymodel.tiler.points.records import PointColumns

_T = TypeVar("_T")
_MODULES = (content_module, frame_module, georef_module, octree_module)


def _both(monkeypatch: pytest.MonkeyPatch, run: Callable[[], _T]) -> tuple[_T, _T]:
    """``run()`` with the compiled kernels, then with the numpy code."""
    compiled = run()
    with monkeypatch.context() as patch:
        for module in _MODULES:
            patch.setattr(module, "COMPILED", None)
        plain = run()
    return compiled, plain


@pytest.fixture(autouse=True)
def _need_kernels() -> None:
    if kernels.COMPILED is not None:
        return
    built = list(Path(kernels.__file__).parent.glob("_kernels.*.so"))
    if os.environ.get("CITYMODEL_COMPILED_KERNELS", "1") != "0":
        # a built extension that fails to load would otherwise make these tests compare the
        # numpy code with itself
        assert not built, f"{built[0].name} is built but not used: {kernels.status()}"
    pytest.skip(f"compiled point kernels not in use: {kernels.status()}")


def _frame(x: float = 100.0, y: float = 200.0, edge: float = 500.0) -> OctreeFrame:
    matrix = tuple(float(v) for v in enu_to_ecef_matrix(7.0, 51.0, [4e6, 5e5, 4.9e6]).T.ravel())
    return OctreeFrame(matrix, (x, y, -20.0), edge)


def test_codes_bounds_and_excess_are_identical(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(1)
    frame = _frame()
    enu = rng.random((50_000, 3)) * 500.0 + np.array([100.0, 200.0, -20.0])
    enu[:7] = [  # beyond every face, on the faces, on the last step
        [99.0, 300.0, 0.0],
        [650.0, 300.0, 0.0],
        [300.0, 150.0, 0.0],
        [300.0, 300.0, 481.0],
        [100.0, 200.0, -20.0],
        [600.0, 700.0, 480.0],
        [600.0 - 1e-9, 700.0 - 1e-9, 480.0 - 1e-9],
    ]
    compiled, plain = _both(monkeypatch, lambda: frame.encode(enu))
    assert compiled is not None and plain is not None
    assert np.array_equal(compiled.codes, plain.codes)
    assert np.array_equal(compiled.lower, plain.lower)
    assert np.array_equal(compiled.upper, plain.upper)
    assert (compiled.outside, compiled.excess) == (plain.outside, plain.excess)
    assert compiled.outside == 4
    assert compiled.excess == pytest.approx(50.0)
    # the codes are the Morton codes of the clamped steps
    steps = np.clip((enu - frame.cube_min) * (2**21 / frame.edge), 0, 2**21 - 1).astype(np.uint64)
    assert np.array_equal(compiled.codes, morton_encode_3d(*steps.T))


def test_codes_of_no_points_and_of_points_that_are_not_finite(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    frame = _frame()
    empty_c, empty_p = _both(monkeypatch, lambda: frame.encode(np.zeros((0, 3))))
    assert empty_c is not None and empty_p is not None
    assert empty_c.codes.shape == empty_p.codes.shape == (0,)
    assert np.array_equal(empty_c.lower, empty_p.lower)
    assert np.isinf(empty_c.lower).all() and np.isinf(empty_c.upper).all()
    bad = np.full((10, 3), 150.0)
    bad[6, 1] = np.inf
    assert _both(monkeypatch, lambda: frame.encode(bad)) == (None, None)
    bad[6, 1] = np.nan
    assert _both(monkeypatch, lambda: frame.encode(bad)) == (None, None)


def _lattice_input(n: int, seed: int) -> npt.NDArray[np.float64]:
    rng = np.random.default_rng(seed)
    return np.c_[566000 + rng.random(n) * 900, 5935000 + rng.random(n) * 300, rng.random(n) * 80]


@pytest.mark.parametrize("seed", [0, 1])
def test_lattice_georeferencing_is_identical(monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    georef = Georeferencer.create("EPSG:25832+7837")
    lon, lat, _ = georef.to_geodetic([[566400.0, 5935100.0, 10.0]])[0]
    matrix = enu_to_ecef_matrix(lon, lat, georef.to_ecef([[566400.0, 5935100.0, 10.0]])[0])
    xyz = _lattice_input(40_000, seed)

    def run() -> npt.NDArray[np.float64]:
        lattice = LatticeGeoreferencer(georef, matrix)
        out = lattice.to_enu(xyz)
        assert lattice.exact_batches == 0
        return out

    compiled, plain = _both(monkeypatch, run)
    assert np.array_equal(compiled, plain)


def test_lattice_cells_without_values_are_identical(monkeypatch: pytest.MonkeyPatch) -> None:
    """A lattice whose cells partly have no value (beyond a grid): those points go to PROJ."""
    georef = Georeferencer.create("EPSG:25832+7837")
    xyz = _lattice_input(20_000, 2)
    lattice = LatticeGeoreferencer(georef, np.eye(4))
    lo, hi = xyz.min(axis=0), xyz.max(axis=0)
    grid = lattice._lattice(xyz, lo, hi)
    assert grid is not None
    holes = np.ones(grid.a.shape[1], dtype=bool)
    holes[::7] = False
    with_holes = type(grid)(
        grid.x0, grid.y0, grid.dx, grid.dy, grid.nx, grid.ny, grid.z0,
        np.where(holes, grid.a, 0.0), grid.b, holes,
    )  # fmt: skip
    compiled, plain = _both(monkeypatch, lambda: georef_module._interpolate(with_holes, xyz))
    assert np.array_equal(compiled[0], plain[0])
    assert compiled[1] is not None and plain[1] is not None
    assert np.array_equal(compiled[1], plain[1])
    assert 0 < int((~compiled[1]).sum()) < xyz.shape[0]
    full, full_plain = _both(monkeypatch, lambda: georef_module._interpolate(grid, xyz))
    assert full[1] is None and full_plain[1] is None
    assert np.array_equal(full[0], full_plain[0])


def test_bounds_of_coordinates_are_identical(monkeypatch: pytest.MonkeyPatch) -> None:
    xyz = _lattice_input(1000, 3)
    xyz[10, 2] = xyz[500, 2] = -5.0  # ties: the first row
    xyz[20, 2] = xyz[600, 2] = 95.0
    compiled, plain = _both(monkeypatch, lambda: georef_module._bounds(xyz))
    for c, p in zip(compiled, plain, strict=True):
        assert np.array_equal(c, p)
    assert compiled[2:] == (10, 20)
    xyz[3, 0] = np.nan
    compiled, plain = _both(monkeypatch, lambda: georef_module._bounds(xyz))
    assert np.isnan(compiled[0]).all() and np.isnan(plain[0]).any()


def test_closest_point_per_voxel_is_identical(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(4)
    frame = _frame()
    enu = rng.random((30_000, 3)) * 50.0 + np.array([300.0, 400.0, 10.0])
    enu[100:110] = enu[5]  # ties: duplicates of one point
    encoded = frame.encode(enu)
    assert encoded is not None
    order = np.argsort(encoded.codes, kind="stable")
    codes, xyz = encoded.codes[order], enu[order]
    for level in (8, 11, 14, 21):
        compiled, plain = _both(
            monkeypatch, lambda lv=level: closest_per_voxel(codes, xyz, frame, lv)
        )
        assert np.array_equal(compiled, plain), level
        assert compiled.dtype == plain.dtype == np.int64


def test_subtree_index_is_identical(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(5)
    frame = _frame(edge=64.0, x=0.0, y=0.0)
    enu = rng.random((20_000, 3)) * np.array([64.0, 64.0, 8.0])
    encoded = frame.encode(enu)
    assert encoded is not None
    order = np.argsort(encoded.codes, kind="stable")

    def run() -> npt.NDArray[np.int64]:
        tree = index_subtree(
            encoded.codes[order], enu[order], frame, level=0, prefix=0, budget=1000, grid_bits=5
        )
        return tree.owner

    compiled, plain = _both(monkeypatch, run)
    assert np.array_equal(compiled, plain)


def test_content_offsets_are_identical(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(6)
    enu = rng.random((5_000, 3)) * np.array([70.0, 70.0, 30.0]) + np.array([1234.5, -987.6, 55.0])
    points = PointColumns(np.zeros(len(enu), np.uint64), enu, {})
    compiled, plain = _both(monkeypatch, lambda: content_module._local_positions(points))
    assert compiled.offsets.dtype == plain.offsets.dtype == np.float32
    assert np.array_equal(compiled.offsets, plain.offsets)
    assert np.array_equal(compiled.origin, plain.origin)
    assert np.array_equal(compiled.small, plain.small)
    assert np.array_equal(compiled.large, plain.large)
    assert (compiled.lower, compiled.upper) == (plain.lower, plain.upper)
