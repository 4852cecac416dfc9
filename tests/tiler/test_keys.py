"""TileKey and Morton codes (T3D-5: availability bitstreams are in Morton order)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from citymodel.tiler.keys import (
    TileKey,
    morton_decode_2d,
    morton_decode_3d,
    morton_encode_2d,
    morton_encode_3d,
)


def _interleave(coords: tuple[int, ...], bits: int) -> int:
    """Reference Morton code: bit b of coordinate i goes to bit b * n + i."""
    n = len(coords)
    return sum(((c >> b) & 1) << (b * n + i) for b in range(bits) for i, c in enumerate(coords))


@given(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1))
def test_morton_2d_matches_bit_interleaving(x: int, y: int) -> None:
    code = int(morton_encode_2d(x, y))
    assert code == _interleave((x, y), 32)
    dx, dy = morton_decode_2d(code)
    assert (int(dx), int(dy)) == (x, y)


@given(st.integers(0, 2**21 - 1), st.integers(0, 2**21 - 1), st.integers(0, 2**21 - 1))
def test_morton_3d_matches_bit_interleaving(x: int, y: int, z: int) -> None:
    code = int(morton_encode_3d(x, y, z))
    assert code == _interleave((x, y, z), 21)
    assert tuple(int(v) for v in morton_decode_3d(code)) == (x, y, z)


def test_morton_arrays_round_trip() -> None:
    rng = np.random.default_rng(1)
    x = rng.integers(0, 2**20, 1000)
    y = rng.integers(0, 2**20, 1000)
    codes = morton_encode_2d(x, y)
    assert codes.dtype == np.uint64
    dx, dy = morton_decode_2d(codes)
    np.testing.assert_array_equal(dx, x)
    np.testing.assert_array_equal(dy, y)


def test_morton_order_of_a_level_two_quadtree() -> None:
    # Z-order: x in the least significant bit, then y (ImplicitTiling/AVAILABILITY.adoc).
    order = [(int(x), int(y)) for x, y in zip(*morton_decode_2d(np.arange(16)), strict=True)]
    assert order[:8] == [(0, 0), (1, 0), (0, 1), (1, 1), (2, 0), (3, 0), (2, 1), (3, 1)]


def test_morton_rejects_out_of_range_coordinates() -> None:
    with pytest.raises(ValueError, match="2\\*\\*32"):
        morton_encode_2d(2**32, 0)
    with pytest.raises(ValueError, match="2\\*\\*21"):
        morton_encode_3d(0, 0, 2**21)
    with pytest.raises(TypeError):
        morton_encode_2d(1.5, 0)


@given(
    st.integers(1, 20).flatmap(
        lambda lv: st.tuples(st.just(lv), st.integers(0, 2**lv - 1), st.integers(0, 2**lv - 1))
    )
)
def test_parent_children_round_trip(args: tuple[int, int, int]) -> None:
    key = TileKey(*args)
    parent = key.parent()
    assert parent is not None
    assert key in parent.children()
    assert parent.children()[key.morton & 3] == key
    assert TileKey.from_morton(key.level, key.morton) == key
    assert key.ancestor(0) == TileKey.root()
    assert key.relative_to(parent) == TileKey(1, key.x & 1, key.y & 1)


def test_octree_keys() -> None:
    key = TileKey(3, 5, 2, 7)
    assert key.is_octree and key.branching == 8
    assert key.path == "3/5/2/7"
    assert len(key.children()) == 8
    assert [c.morton & 7 for c in key.children()] == list(range(8))
    assert TileKey.from_morton(3, key.morton, octree=True) == key
    assert key.parent() == TileKey(2, 2, 1, 3)


def test_paths_and_root() -> None:
    assert TileKey(2, 3, 1).path == "2/3/1"
    assert TileKey(2, 3, 1).stem == "2_3_1"
    assert TileKey.root().parent() is None
    assert TileKey(4, 9, 6).relative_to(TileKey(2, 2, 1)) == TileKey(2, 1, 2)


@pytest.mark.parametrize("args", [(-1, 0, 0), (1, 2, 0), (0, 0, 1), (2, 0, 0, 4), (33, 0, 0)])
def test_invalid_keys_raise(args: tuple[int, ...]) -> None:
    with pytest.raises(ValueError):
        TileKey(*args)


def test_relative_to_a_non_ancestor_raises() -> None:
    with pytest.raises(ValueError, match="not an ancestor"):
        TileKey(2, 0, 0).relative_to(TileKey(1, 1, 1))
