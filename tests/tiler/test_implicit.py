"""Implicit tiling: bitstreams, subtree binary layout, availability rules (T3D-5)."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from citymodel.tiler.implicit import (
    available_tiles,
    expand_template,
    implicit_volume,
    plan_subtrees,
    write_implicit,
)
from citymodel.tiler.keys import TileKey
from citymodel.tiler.subtree import (
    SubtreeAvailability,
    decode_subtree,
    encode_subtree,
    level_offset,
    pack_bitstream,
    subtree_layout_problems,
    subtree_problems,
    unpack_bitstream,
)
from citymodel.tiler.volumes import OrientedBox, Region

# CesiumGS/3d-tiles-samples 1.1/SparseImplicitQuadtree (subtreeLevels 3, availableLevels 6):
# the 8 level-3 subtree roots and, in each, the level-5 tiles with content (Morton indices 1,
# 2, 13, 14 of the subtree's level 2), as documented in its screenshot/subtreeInfo.md.
SAMPLE_SUBTREE_ROOTS = [(5, 0), (4, 1), (7, 2), (6, 3), (1, 4), (0, 5), (3, 6), (2, 7)]
SAMPLE_CONTENT_MORTON = (1, 2, 13, 14)


def _sample_content() -> list[TileKey]:
    keys = []
    for x, y in SAMPLE_SUBTREE_ROOTS:
        for index in SAMPLE_CONTENT_MORTON:
            rel = TileKey.from_morton(2, index)
            keys.append(TileKey(5, (x << 2) + rel.x, (y << 2) + rel.y))
    return keys


def _json_of(data: bytes) -> dict[str, Any]:
    json_length = struct.unpack_from("<Q", data, 8)[0]
    doc: dict[str, Any] = json.loads(data[24 : 24 + json_length])
    return doc


def _bitstream(data: bytes, view_index: int) -> bytes:
    doc = _json_of(data)
    json_length = struct.unpack_from("<Q", data, 8)[0]
    view = doc["bufferViews"][view_index]
    start = 24 + json_length + view["byteOffset"]
    return data[start : start + view["byteLength"]]


def test_bitstreams_are_lsb_first() -> None:
    flags = np.zeros(21, bool)
    flags[[0, 2, 3]] = True
    assert pack_bitstream(flags)[:1] == b"\x0d"
    assert pack_bitstream([True] + [False] * 7 + [True]) == b"\x01\x01"
    assert len(pack_bitstream(np.ones(21, bool))) == 3
    np.testing.assert_array_equal(
        unpack_bitstream(b"\x0d\x32\x01", 21),
        np.unpackbits(np.frombuffer(b"\x0d\x32\x01", np.uint8), bitorder="little")[:21].astype(
            bool
        ),
    )
    with pytest.raises(ValueError, match="too short"):
        unpack_bitstream(b"\x00", 9)


def test_level_offsets() -> None:
    assert [level_offset(lv, 4) for lv in range(4)] == [0, 1, 5, 21]
    assert [level_offset(lv, 8) for lv in range(3)] == [0, 1, 9]


def test_sparse_implicit_quadtree_sample_root_subtree() -> None:
    """Measured on the sample's 0.0.0.subtree: header (subt, 1, 312, 16), tiles 0d3201."""
    subtrees = plan_subtrees([], _sample_content(), subtree_levels=3)
    assert sorted(subtrees) == sorted(
        [TileKey(0, 0, 0)] + [TileKey(3, x, y) for x, y in SAMPLE_SUBTREE_ROOTS]
    )
    data = encode_subtree(subtrees[TileKey(0, 0, 0)])
    assert struct.unpack_from("<4sIQQ", data) == (b"subt", 1, 312, 16)
    doc = _json_of(data)
    assert doc["buffers"] == [{"byteLength": 16}]
    assert doc["bufferViews"] == [
        {"buffer": 0, "byteOffset": 0, "byteLength": 3},
        {"buffer": 0, "byteOffset": 8, "byteLength": 8},
    ]
    assert doc["tileAvailability"] == {"bitstream": 0, "availableCount": 7}
    assert doc["contentAvailability"] == [{"availableCount": 0, "constant": 0}]
    assert doc["childSubtreeAvailability"] == {"bitstream": 1, "availableCount": 8}
    assert _bitstream(data, 0).hex() == "0d3201"
    assert _bitstream(data, 1).hex() == "0000066006600000"
    assert len(data) == 24 + 312 + 16


def test_sparse_implicit_quadtree_sample_leaf_subtrees() -> None:
    subtrees = plan_subtrees([], _sample_content(), subtree_levels=3)
    for x, y in SAMPLE_SUBTREE_ROOTS:
        data = encode_subtree(subtrees[TileKey(3, x, y)])
        doc = _json_of(data)
        assert doc["buffers"] == [{"byteLength": 16}]
        assert doc["tileAvailability"] == {"bitstream": 0, "availableCount": 7}
        assert doc["contentAvailability"] == [{"bitstream": 1, "availableCount": 4}]
        assert doc["childSubtreeAvailability"] == {"availableCount": 0, "constant": 0}
        assert _bitstream(data, 0).hex() == "d3000c"
        assert _bitstream(data, 1).hex() == "c0000c"


def test_subtree_header_arithmetic_and_padding() -> None:
    for content in ([TileKey(1, 0, 0)], [TileKey(4, 3, 9), TileKey(4, 15, 15)], _sample_content()):
        for levels in (1, 2, 3, 4):
            for subtree in plan_subtrees([], content, subtree_levels=levels).values():
                data = encode_subtree(subtree)
                magic, version, json_length, binary_length = struct.unpack_from("<4sIQQ", data)
                assert (magic, version) == (b"subt", 1)
                assert 24 + json_length + binary_length == len(data)
                assert (24 + json_length) % 8 == 0 and binary_length % 8 == 0
                raw_json = data[24 : 24 + json_length]
                assert raw_json.rstrip(b" ") == raw_json.rstrip() and raw_json.endswith(
                    (b"}", b" ")
                )
                for view in _json_of(data).get("bufferViews", []):
                    assert view["byteOffset"] % 8 == 0
                assert subtree_layout_problems(data) == []
                views = _json_of(data).get("bufferViews", [])
                used = max((v["byteOffset"] + v["byteLength"] for v in views), default=0)
                assert set(data[24 + json_length + used :]) <= {0}, "binary padding is zeros"


def test_constants_are_used_when_possible() -> None:
    full = SubtreeAvailability(
        tiles=np.ones(5, bool), contents=(np.ones(5, bool),), child_subtrees=np.zeros(16, bool)
    )
    data = encode_subtree(full)
    doc = _json_of(data)
    assert doc["tileAvailability"] == {"availableCount": 5, "constant": 1}
    assert doc["contentAvailability"] == [{"availableCount": 5, "constant": 1}]
    assert "buffers" not in doc and "bufferViews" not in doc
    assert struct.unpack_from("<Q", data, 16)[0] == 0


@st.composite
def sparse_trees(draw: st.DrawFn) -> tuple[list[TileKey], list[TileKey]]:
    depth = draw(st.integers(1, 6))
    n = 1 << depth
    cells = draw(
        st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), min_size=1, max_size=20)
    )
    content = [TileKey(depth, x, y) for x, y in cells]
    extra = draw(st.lists(st.sampled_from(content), max_size=5))
    available = [k.ancestor(draw(st.integers(0, k.level))) for k in extra]
    return available, content


@settings(max_examples=60, deadline=None)
@given(sparse_trees(), st.integers(1, 4))
def test_round_trip_and_availability_rules(
    tree: tuple[list[TileKey], list[TileKey]], levels: int
) -> None:
    available, content = tree
    subtrees = plan_subtrees(available, content, subtree_levels=levels)
    decoded = {}
    for root, subtree in subtrees.items():
        back = decode_subtree(encode_subtree(subtree), subtree_levels=levels)
        np.testing.assert_array_equal(back.tiles, subtree.tiles)
        np.testing.assert_array_equal(back.child_subtrees, subtree.child_subtrees)
        np.testing.assert_array_equal(back.contents[0], subtree.contents[0])
        assert subtree_problems(back) == []
        assert back.tiles[0], "each subtree has its root available"
        decoded[root] = back
    deepest = max(k.level for k in content)
    walked = dict(
        available_tiles(decoded.__getitem__, subtree_levels=levels, available_levels=deepest + 1)
    )
    # exactly the closure of available + content, and content flags exactly on content tiles
    closure = set()
    for key in [*available, *content]:
        k: TileKey | None = key
        while k is not None:
            closure.add(k)
            k = k.parent()
    assert set(walked) == closure
    assert {k for k, flags in walked.items() if flags[0]} == set(content)
    for key in walked:  # a tile available => its parent available
        parent = key.parent()
        assert parent is None or parent in walked


def test_subtree_problems_detects_broken_availability() -> None:
    orphan = SubtreeAvailability(
        tiles=np.array([1, 0, 0, 0, 0] + [0] * 4 + [1] + [0] * 11, bool),
        contents=(np.zeros(21, bool),),
        child_subtrees=np.zeros(64, bool),
    )
    assert any("without an available parent" in p for p in subtree_problems(orphan))
    content = np.zeros(21, bool)
    content[3] = True
    no_tile = SubtreeAvailability(
        tiles=np.eye(1, 21, 0, dtype=bool)[0],
        contents=(content,),
        child_subtrees=np.zeros(64, bool),
    )
    assert any("content 0 available" in p for p in subtree_problems(no_tile))
    children = np.zeros(64, bool)
    children[5] = True
    bad_child = SubtreeAvailability(
        tiles=np.eye(1, 21, 0, dtype=bool)[0], contents=(), child_subtrees=children
    )
    assert any("child subtree" in p for p in subtree_problems(bad_child))
    empty = SubtreeAvailability(
        tiles=np.zeros(5, bool), contents=(), child_subtrees=np.zeros(16, bool)
    )
    assert "subtree has no available tile" in subtree_problems(empty)


def test_layout_problems_detects_misalignment() -> None:
    data = bytearray(
        encode_subtree(plan_subtrees([], [TileKey(2, 1, 3)], subtree_levels=3)[TileKey(0, 0, 0)])
    )
    json_length = struct.unpack_from("<Q", data, 8)[0]
    # drop one padding space: the binary chunk now starts off an 8-byte boundary
    assert data[24 + json_length - 1 : 24 + json_length] == b" "
    broken = bytes(data[: 24 + json_length - 1] + data[24 + json_length :])
    broken = broken[:8] + struct.pack("<Q", json_length - 1) + broken[16:]
    assert any("8-byte boundary" in p for p in subtree_layout_problems(broken))


def test_implicit_volumes_are_exact_subdivisions() -> None:
    box = OrientedBox(
        center=(10.0, 20.0, 5.0), half_axes=((100.0, 0.0, 0.0), (0.0, 50.0, 0.0), (0.0, 0.0, 30.0))
    )
    cell = implicit_volume(box, TileKey(2, 3, 0))
    assert isinstance(cell, OrientedBox)
    assert cell.center == pytest.approx((10.0 + 75.0, 20.0 - 37.5, 5.0))
    assert cell.half_axes == ((25.0, 0.0, 0.0), (0.0, 12.5, 0.0), (0.0, 0.0, 30.0))
    octant = implicit_volume(box, TileKey(1, 0, 1, 1))
    assert isinstance(octant, OrientedBox)
    assert octant.center == pytest.approx((-40.0, 45.0, 20.0))
    region = Region(0.1, 0.9, 0.2, 1.0, 0.0, 100.0)
    sub = implicit_volume(region, TileKey(1, 1, 0))
    assert sub.to_json() == pytest.approx([0.15, 0.9, 0.2, 0.95, 0.0, 100.0])
    corner = implicit_volume(region, TileKey(3, 7, 7))
    upper = implicit_volume(region, TileKey(1, 0, 0, 1))
    assert isinstance(corner, Region) and isinstance(upper, Region)
    assert corner.east == region.east and corner.north == region.north
    assert (upper.min_height, upper.max_height) == (50.0, 100.0)


def test_write_implicit_files_and_root(tmp_path: Path) -> None:
    content = _sample_content()
    box = OrientedBox(
        center=(0.0, 0.0, 0.0), half_axes=((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 0.1))
    )
    result = write_implicit(
        tmp_path,
        root_volume=box,
        available=[],
        content=content,
        subtree_levels=3,
        geometric_error=16.0,
    )
    assert result.available_levels == 6
    names = sorted(p.relative_to(tmp_path).as_posix() for p in result.subtree_paths)
    assert names == sorted(
        ["subtrees/0/0/0.subtree"]
        + [f"subtrees/3/{x}/{y}.subtree" for x, y in SAMPLE_SUBTREE_ROOTS]
    )
    root = result.root.to_json()
    assert root["implicitTiling"] == {
        "subdivisionScheme": "QUADTREE",
        "subtreeLevels": 3,
        "availableLevels": 6,
        "subtrees": {"uri": "subtrees/{level}/{x}/{y}.subtree"},
    }
    assert root["content"] == {"uri": "content/{level}/{x}/{y}.glb"}
    assert "children" not in root
    assert expand_template(root["content"]["uri"], TileKey(5, 21, 2)) == "content/5/21/2.glb"
    with pytest.raises(ValueError, match="must contain"):
        write_implicit(
            tmp_path,
            root_volume=box,
            available=[],
            content=content,
            subtree_levels=3,
            geometric_error=1.0,
            content_uri="c/{level}.glb",
        )
