"""Tileset JSON model and writer: explicit trees, external tilesets, 1.0 / 1.1 (T3D-1)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from citymodel.errors import TilingError
from citymodel.tiler.keys import TileKey
from citymodel.tiler.tileset import Tile, relative_transform, write_tileset
from citymodel.tiler.volumes import OrientedBox, Region

_TRANSFORM = (
    -0.173586, 0.984819, 0.0, 0.0, -0.792263, -0.139646, 0.593985, 0.0,
    0.584967, 0.103108, 0.804476, 0.0, 3739137.70576, 659068.81276, 5107828.750484, 1.0,
)  # fmt: skip


def _region(i: int, level: int) -> Region:
    size = 0.01 / (1 << level)
    return Region(0.17 + i * size, 0.93, 0.17 + (i + 1) * size, 0.93 + size, 40.0, 90.0)


def _quadtree(level: int, x: int, depth: int, *, boxes: bool) -> Tile:
    """A full binary-ish tree: region volumes inside, box + transform leaves when ``boxes``."""
    key = TileKey(level, x, 0)
    if level == depth:
        volume = (
            OrientedBox.from_min_max([-10, -10, 0], [10, 10, 20]) if boxes else _region(x, level)
        )
        return Tile(
            bounding_volume=volume,
            geometric_error=0.0,
            content_uri=f"content/{key.path}.glb",
            transform=_TRANSFORM if boxes else None,
            key=key,
        )
    children = [_quadtree(level + 1, 2 * x + i, depth, boxes=boxes) for i in range(2)]
    return Tile(
        bounding_volume=_region(x, level),
        geometric_error=10.0 * (depth - level),
        refine="ADD" if level == 0 else None,
        children=children,
        key=key,
    )


def _load(path: Path) -> dict[str, Any]:
    raw = path.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")
    doc: dict[str, Any] = json.loads(raw.decode("utf-8"))
    return doc


def _collect(
    path: Path, world: np.ndarray, out: dict[str, tuple[dict[str, Any], np.ndarray]]
) -> None:
    """Follow external tilesets; map every non-JSON content URI (relative to the root) to its tile
    and the absolute transform its volume is expressed in."""
    root_dir = path.parent

    def walk(tile: dict[str, Any], base: Path, parent: np.ndarray) -> None:
        m = parent
        if "transform" in tile:
            m = parent @ np.asarray(tile["transform"]).reshape(4, 4).T
        uri = tile.get("content", {}).get("uri")
        if uri:
            target = (base / uri).resolve()
            assert target.is_relative_to(root_dir.resolve())
            if target.suffix == ".json":
                ext = _load(target)
                assert ext["root"]["refine"] in ("ADD", "REPLACE")
                assert ext["geometricError"] <= tile["geometricError"]
                walk(ext["root"], target.parent, m)
            else:
                out[target.relative_to(root_dir.resolve()).as_posix()] = (tile, m)
        for child in tile.get("children", []):
            assert child["geometricError"] <= tile["geometricError"]
            walk(child, base, m)

    walk(_load(path)["root"], path.parent, world)


def test_single_file_tileset(tmp_path: Path) -> None:
    root = _quadtree(0, 0, 2, boxes=True)
    paths = write_tileset(root, tmp_path, geometric_error=50.0)
    assert paths == [tmp_path / "tileset.json"]
    doc = _load(tmp_path / "tileset.json")
    assert doc["asset"] == {"version": "1.1"}
    assert doc["geometricError"] == 50.0
    assert doc["root"]["refine"] == "ADD"
    assert "extensionsUsed" not in doc
    leaf = doc["root"]["children"][0]["children"][1]
    assert leaf["transform"] == list(_TRANSFORM)
    assert leaf["boundingVolume"] == {
        "box": [0.0, 0.0, 10.0, 10.0, 0.0, 0.0, 0.0, 10.0, 0.0, 0.0, 0.0, 10.0]
    }
    assert leaf["content"] == {"uri": "content/2/1/0.glb"}
    assert "refine" not in leaf  # inherited
    assert "gltfUpAxis" not in json.dumps(doc)


@pytest.mark.parametrize("boxes", [True, False])
@pytest.mark.parametrize("limit", [900, 2500, 4000])
def test_split_into_external_tilesets_keeps_the_tree(
    tmp_path: Path, boxes: bool, limit: int
) -> None:
    root = _quadtree(0, 0, 4, boxes=boxes)
    paths = write_tileset(root, tmp_path, geometric_error=50.0, max_json_bytes=limit)
    assert paths[-1] == tmp_path / "tileset.json", "the root tileset is written last"
    assert len(paths) > 1
    assert all(p.stat().st_size <= limit for p in paths)
    assert all(p.parent == tmp_path / "tilesets" for p in paths[:-1])
    found: dict[str, tuple[dict[str, Any], np.ndarray]] = {}
    _collect(tmp_path / "tileset.json", np.eye(4), found)
    expected = {t.content_uri for t in root.walk() if t.content_uri}
    assert set(found) == expected
    for tile, world in found.values():
        if boxes:  # the leaf frame is applied exactly once along the chain
            np.testing.assert_allclose(world, np.asarray(_TRANSFORM).reshape(4, 4).T)
            assert "box" in tile["boundingVolume"]
        else:
            np.testing.assert_array_equal(world, np.eye(4))


def test_too_small_budget_raises(tmp_path: Path) -> None:
    with pytest.raises(TilingError, match="max_json_bytes"):
        write_tileset(
            _quadtree(0, 0, 2, boxes=True), tmp_path, geometric_error=50.0, max_json_bytes=200
        )
    assert not (tmp_path / "tileset.json").exists()


def test_version_1_0_declares_content_gltf(tmp_path: Path) -> None:
    write_tileset(
        _quadtree(0, 0, 3, boxes=False),
        tmp_path,
        version="1.0",
        geometric_error=40.0,
        max_json_bytes=1500,
    )
    files = [tmp_path / "tileset.json", *sorted((tmp_path / "tilesets").glob("*.json"))]
    assert len(files) > 2
    for path in files:
        doc = _load(path)
        assert doc["asset"]["version"] == "1.0"
        # every file that references .glb content declares the extension; the others do not
        if '.glb"' in path.read_text(encoding="utf-8"):
            assert doc["extensionsUsed"] == ["3DTILES_content_gltf"]
            assert doc["extensionsRequired"] == ["3DTILES_content_gltf"]
        else:
            assert "extensionsUsed" not in doc


def test_version_1_0_without_gltf_declares_nothing(tmp_path: Path) -> None:
    leaf = Tile(bounding_volume=_region(0, 1), geometric_error=0.0, content_uri="content/0.b3dm")
    root = Tile(
        bounding_volume=_region(0, 0), geometric_error=5.0, refine="REPLACE", children=[leaf]
    )
    write_tileset(root, tmp_path, version="1.0", geometric_error=5.0)
    doc = _load(tmp_path / "tileset.json")
    assert "extensionsUsed" not in doc
    assert doc["root"]["refine"] == "REPLACE"


def test_schema_and_extensions_in_the_root(tmp_path: Path) -> None:
    schema = {
        "id": "citymodel",
        "classes": {
            "tile": {"properties": {"count": {"type": "SCALAR", "componentType": "UINT32"}}}
        },
    }
    write_tileset(
        _quadtree(0, 0, 1, boxes=False),
        tmp_path,
        geometric_error=10.0,
        schema=schema,
        extensions_used=["EXT_x"],
    )
    doc = _load(tmp_path / "tileset.json")
    assert doc["schema"] == schema
    assert doc["extensionsUsed"] == ["EXT_x"]


def test_invalid_trees_are_refused(tmp_path: Path) -> None:
    region = _region(0, 0)
    with pytest.raises(ValueError, match="refine"):
        write_tileset(
            Tile(bounding_volume=region, geometric_error=1.0), tmp_path, geometric_error=1.0
        )
    with pytest.raises(ValueError, match="geometricError"):
        write_tileset(
            Tile(bounding_volume=region, geometric_error=10.0, refine="ADD"),
            tmp_path,
            geometric_error=5.0,
        )
    with pytest.raises(ValueError, match="geometricError"):
        Tile(bounding_volume=region, geometric_error=-1.0)
    with pytest.raises(ValueError, match="transform"):
        Tile(bounding_volume=region, geometric_error=1.0, transform=(1.0, 2.0))
    with pytest.raises(ValueError, match="refine"):
        Tile(bounding_volume=region, geometric_error=1.0, refine="MERGE")  # type: ignore[arg-type]
    implicit = {
        "subdivisionScheme": "QUADTREE",
        "subtreeLevels": 2,
        "availableLevels": 2,
        "subtrees": {"uri": "s/{level}/{x}/{y}.subtree"},
    }
    with pytest.raises(ValueError, match="implicit"):
        Tile(
            bounding_volume=region,
            geometric_error=1.0,
            implicit_tiling=implicit,
            children=[Tile(bounding_volume=region, geometric_error=0.0)],
        )
    root = Tile(bounding_volume=region, geometric_error=1.0, refine="ADD", implicit_tiling=implicit)
    with pytest.raises(ValueError, match=r"1\.1"):
        write_tileset(root, tmp_path, version="1.0", geometric_error=1.0)


def test_relative_transform() -> None:
    parent = np.asarray(_TRANSFORM).reshape(4, 4).T
    child = parent.copy()
    child[:3, 3] += [10.0, -5.0, 2.0]
    rel = np.asarray(relative_transform(parent, child)).reshape(4, 4).T
    np.testing.assert_allclose(parent @ rel, child, atol=1e-6)
    assert relative_transform(None, child) == tuple(child.T.ravel())
