"""Octree of the point tiler: codes, budget splits, uniform samples without duplicates (T3D-4)."""

from __future__ import annotations

import itertools

import numpy as np
import numpy.typing as npt
import pytest

from citymodel.ops.frames import enu_to_ecef_matrix, to_gltf_matrix
from citymodel.tiler.points.frame import CODE_LEVELS, OctreeFrame, code_shift
from citymodel.tiler.points.octree import (
    closest_per_voxel,
    count_pyramid,
    geometric_error,
    index_subtree,
    plan_chunks,
    root_of,
)

MATRIX = tuple(to_gltf_matrix(enu_to_ecef_matrix(10.0, 53.5, [3739137.7, 659068.8, 5107828.7])))


def _cloud(
    n: int, seed: int = 0
) -> tuple[OctreeFrame, npt.NDArray[np.uint64], npt.NDArray[np.float64]]:
    """A 2.5D-ish cloud in a 500 m cube, sorted by code."""
    rng = np.random.default_rng(seed)
    enu = np.c_[rng.random(n) * 500, rng.random(n) * 300, rng.random(n) * 40]
    frame = OctreeFrame.from_bounds(MATRIX, enu.min(axis=0), enu.max(axis=0), padding=1.0)
    codes, excess = frame.codes(enu)
    assert excess is None
    order = np.argsort(codes, kind="stable")
    return frame, codes[order], enu[order]


def test_codes_nest_by_level() -> None:
    frame, codes, enu = _cloud(5000)
    for level in (1, 4, 9):
        prefix = codes >> code_shift(level)
        lower = frame.node_min(level, prefix)
        edge = frame.node_edge(level)
        assert (enu >= lower - 1e-9).all() and (enu <= lower + edge + 1e-9).all()


def test_codes_report_points_outside_the_cube() -> None:
    frame = OctreeFrame.from_bounds(MATRIX, (0, 0, 0), (10, 10, 10))
    codes, excess = frame.codes(np.array([[5.0, 5.0, 5.0], [5.0, 5.0, 12.5]]))
    assert excess is not None
    assert excess[0] == 0.0 and excess[1] == pytest.approx(2.5, abs=1e-6)
    assert int(codes[1] >> code_shift(1)) in range(8)  # clamped into the cube


def test_root_of_is_the_common_prefix() -> None:
    _frame, codes, _ = _cloud(1000)
    level, prefix = root_of(int(codes[0]), int(codes[-1]))
    assert ((codes >> code_shift(level)) == prefix).all()
    if level < CODE_LEVELS:
        assert len(np.unique(codes >> code_shift(level + 1))) > 1


def test_closest_per_voxel_matches_brute_force() -> None:
    frame, codes, enu = _cloud(3000, seed=3)
    voxel_level = 5
    chosen = closest_per_voxel(codes, enu, frame, voxel_level)
    keys = codes >> code_shift(voxel_level)
    assert len(chosen) == len(np.unique(keys))
    centres = frame.node_centre(voxel_level, keys)
    d2 = ((enu - centres) ** 2).sum(axis=1)
    for index in chosen[:200]:
        members = np.flatnonzero(keys == keys[index])
        assert d2[index] == d2[members].min()
        assert index == members[np.argmin(d2[members])]  # the first of equals


@pytest.mark.parametrize("budget", [500, 4000])
def test_subtree_owns_every_point_once_within_its_cube(budget: int) -> None:
    frame, codes, enu = _cloud(20000, seed=1)
    level, prefix = root_of(int(codes[0]), int(codes[-1]))
    tree = index_subtree(codes, enu, frame, level=level, prefix=prefix, budget=budget, grid_bits=4)
    order, bounds = tree.groups()
    counts = np.diff(bounds)
    assert counts.sum() == len(codes)  # every point in exactly one node (ADD: no duplicates)
    assert sorted(order.tolist()) == list(range(len(codes)))
    for node in range(len(tree.level)):
        own = order[bounds[node] : bounds[node + 1]]
        lvl = int(tree.level[node])
        assert ((codes[own] >> code_shift(lvl)) == tree.prefix[node]).all()
        if tree.leaf[node]:
            assert counts[node] <= budget
        else:
            # an inner node keeps at most one point per voxel of its sampling grid
            voxels = codes[own] >> code_shift(min(lvl + 4, CODE_LEVELS))
            assert len(np.unique(voxels)) == len(voxels)
            assert counts[node] > 0
        parent = int(tree.parent[node])
        if parent >= 0:
            assert tree.level[parent] == lvl - 1
            assert tree.prefix[node] >> np.uint64(3) == tree.prefix[parent]


def test_subtree_sample_is_uniform() -> None:
    """The root of a dense cloud takes one point per occupied voxel of its grid."""
    frame, codes, enu = _cloud(40000, seed=2)
    level, prefix = root_of(int(codes[0]), int(codes[-1]))
    tree = index_subtree(codes, enu, frame, level=level, prefix=prefix, budget=1000, grid_bits=3)
    order, bounds = tree.groups()
    root_points = codes[order[bounds[0] : bounds[1]]]
    voxel_level = level + 3
    assert len(root_points) == len(np.unique(codes >> code_shift(voxel_level)))


def test_duplicate_points_end_in_a_deepest_leaf() -> None:
    frame = OctreeFrame.from_bounds(MATRIX, (0, 0, 0), (10, 10, 10))
    enu = np.repeat([[1.0, 2.0, 3.0]], 300, axis=0)
    codes, _ = frame.codes(enu)
    tree = index_subtree(codes, enu, frame, level=0, prefix=0, budget=10, grid_bits=2)
    _, bounds = tree.groups()
    assert np.diff(bounds).sum() == 300
    assert int(tree.level.max()) == CODE_LEVELS


def test_geometric_error_halves_per_level() -> None:
    frame = OctreeFrame.from_bounds(MATRIX, (0, 0, 0), (1024, 10, 10))
    errors = [geometric_error(frame, level, 7) for level in range(5)]
    assert errors[0] == pytest.approx(4 * frame.edge / 128)
    assert all(b == pytest.approx(a / 2) for a, b in itertools.pairwise(errors))


def test_plan_chunks_cover_every_point() -> None:
    _frame, codes, _ = _cloud(30000, seed=4)
    cell_level = 6
    cells, counts = np.unique(codes >> code_shift(cell_level), return_counts=True)
    level, prefix = root_of(int(codes[0]), int(codes[-1]))
    pyramid = count_pyramid(cells, counts.astype(np.int64), cell_level, min(level, cell_level))

    def finer(lvl: int, pre: int) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.int64]]:
        inside = codes[(codes >> code_shift(lvl)) == pre]
        kids, n = np.unique(inside >> code_shift(lvl + 1), return_counts=True)
        return kids, n.astype(np.int64)

    chunks = plan_chunks(
        pyramid, root_level=level, root_prefix=prefix, target=2000, limit=2500, finer=finer
    )
    assert sum(c.count for c in chunks) == len(codes)
    assert all(c.count <= 2500 for c in chunks)
    firsts = [c.prefix << (3 * (CODE_LEVELS - c.level)) for c in chunks]
    assert firsts == sorted(firsts)  # Morton order, disjoint
    for chunk in chunks:
        inside = (codes >> code_shift(chunk.level)) == chunk.prefix
        assert int(inside.sum()) == chunk.count


def test_codes_equal_the_morton_codes_of_the_steps() -> None:
    from citymodel.tiler.keys import morton_encode_3d

    rng = np.random.default_rng(9)
    frame = OctreeFrame.from_bounds(MATRIX, (0, 0, 0), (1000, 700, 50))
    enu = np.r_[rng.random((70_000, 3)) * (1000, 700, 50), [[0, 0, 0], [1000, 700, 50]]]
    codes, excess = frame.codes(enu)
    assert excess is None
    steps = np.clip(np.floor((enu - frame.cube_min) * (2**21 / frame.edge)), 0, 2**21 - 1)
    q = steps.astype(np.uint64)
    assert (codes == morton_encode_3d(q[:, 0], q[:, 1], q[:, 2])).all()
