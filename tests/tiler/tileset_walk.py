"""Read written tilesets back for the build tests: the tile tree and the building ids per content.

Explicit trees are followed through external tilesets (a stub whose content is a ``.json``
stands for the external root); implicit trees are expanded through their subtree files.
Building ids come from the contents themselves: the ``building_id`` column of the GLB
property table (EXT_structural_metadata, decoded by the independent reader in
``tests/gltf_reader.py``) or of the b3dm batch table.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from citymodel.sources import open as open_source
from citymodel.tiler.implicit import available_tiles, expand_template
from citymodel.tiler.keys import TileKey
from citymodel.tiler.readers import read_b3dm
from citymodel.tiler.subtree import decode_subtree
from tests.gltf_reader import read_glb


@dataclass
class WalkedTile:
    """One tile as a client sees it."""

    geometric_error: float
    refine: str
    content: Path | None
    key: TileKey | None
    children: list[WalkedTile] = field(default_factory=list)

    def walk(self) -> Iterator[WalkedTile]:
        yield self
        for child in self.children:
            yield from child.walk()

    def leaves(self) -> Iterator[WalkedTile]:
        return (t for t in self.walk() if not t.children)


@dataclass
class WalkedTileset:
    """The top-level geometric error, the root tile and the top-level JSON."""

    geometric_error: float
    root: WalkedTile
    document: dict[str, Any]


def _key_of(uri: str) -> TileKey | None:
    """``content/{level}/{x}/{y}.ext`` -> TileKey."""
    parts = uri.split("/")
    if len(parts) == 4 and parts[0] == "content":
        return TileKey(int(parts[1]), int(parts[2]), int(parts[3].split(".")[0]))
    return None


def _explicit(tile: dict[str, Any], base: Path, top: Path, refine: str) -> WalkedTile:
    """``base``: folder of the JSON holding ``tile``; ``top``: folder of ``tileset.json``."""
    refine = tile.get("refine", refine)
    uri = tile.get("content", {}).get("uri")
    if uri is not None and uri.endswith(".json"):
        external = json.loads((base / uri).read_text(encoding="utf-8"))
        assert external["geometricError"] <= tile["geometricError"]
        return _explicit(external["root"], (base / uri).parent, top, refine)
    content = None if uri is None else (base / uri).resolve()
    node = WalkedTile(
        geometric_error=float(tile["geometricError"]),
        refine=refine,
        content=content,
        key=None if content is None else _key_of(content.relative_to(top).as_posix()),
    )
    node.children = [_explicit(c, base, top, refine) for c in tile.get("children", [])]
    return node


def _implicit(tile: dict[str, Any], base: Path) -> WalkedTile:
    spec = tile["implicitTiling"]
    levels, available = int(spec["subtreeLevels"]), int(spec["availableLevels"])
    subtree_uri, content_uri = spec["subtrees"]["uri"], tile["content"]["uri"]

    def read(key: TileKey):  # type: ignore[no-untyped-def]
        data = (base / expand_template(subtree_uri, key)).read_bytes()
        return decode_subtree(data, subtree_levels=levels, octree=False)

    nodes: dict[TileKey, WalkedTile] = {}
    root_error = float(tile["geometricError"])
    for key, flags in sorted(
        available_tiles(read, subtree_levels=levels, available_levels=available),
        key=lambda kf: (kf[0].level, kf[0].x, kf[0].y),
    ):
        content = (base / expand_template(content_uri, key)).resolve() if flags[0] else None
        node = WalkedTile(root_error / 2**key.level, tile["refine"], content, key)
        nodes[key] = node
        parent = key.parent()
        if parent is not None:
            nodes[parent].children.append(node)
    return nodes[TileKey(0, 0, 0)]


def walk_tileset(path: Path) -> WalkedTileset:
    """Read ``tileset.json`` (in folder ``path``) with its external tilesets or subtrees."""
    folder = (path if path.is_dir() else path.parent).resolve()
    document = json.loads((folder / "tileset.json").read_text(encoding="utf-8"))
    root = document["root"]
    implicit = "implicitTiling" in root
    tree = _implicit(root, folder) if implicit else _explicit(root, folder, folder, "")
    return WalkedTileset(float(document["geometricError"]), tree, document)


def building_ids(content: Path) -> list[str]:
    """The ``building_id`` of every feature row of a GLB or b3dm content (rows of parts too)."""
    data = content.read_bytes()
    if data[:4] == b"b3dm":
        table = read_b3dm(data).batch_table
        assert table is not None, f"{content}: no batch table"
        return [str(v) for v in table["building_id"]]
    return [str(v) for v in read_glb(data).property_table()["building_id"]]


def input_ids(paths: Iterable[Path]) -> set[str]:
    """Ids of the top-level buildings of CityGML files, read with the project's reader."""
    ids: set[str] = set()
    for path in paths:
        with open_source(path) as reader:
            ids.update(feature.id for feature in reader.features())
    return ids


def assert_replace_tree(tileset: WalkedTileset, expected: set[str], skipped: set[str]) -> None:
    """REPLACE rules (T3D-4) and id coverage on an explicit tree."""
    root = tileset.root
    assert root.refine == "REPLACE"
    assert tileset.geometric_error >= root.geometric_error
    leaf_ids: Counter[str] = Counter()
    for leaf in root.leaves():
        assert leaf.content is not None
        assert leaf.geometric_error == 0.0
        leaf_ids.update(set(building_ids(leaf.content)))
    duplicates = [b for b, n in leaf_ids.items() if n > 1]
    assert duplicates == [], "a building is in more than one leaf"
    assert set(leaf_ids) <= expected
    assert expected - set(leaf_ids) <= skipped, "buildings neither in a leaf nor skipped"

    per_level: dict[int, Counter[str]] = {}

    def below(tile: WalkedTile) -> set[str]:
        if not tile.children:
            return set(building_ids(tile.content)) if tile.content else set()
        ids = set().union(*(below(c) for c in tile.children))
        for child in tile.children:
            assert child.geometric_error <= tile.geometric_error  # T3D-1, T3D-4
        if tile.content is not None:
            shown = building_ids(tile.content)
            assert len(shown) == len(set(shown)), "a block tile shows a building twice"
            assert set(shown) <= ids, "a parent shows a building that is not below it"
            assert tile.key is not None
            per_level.setdefault(tile.key.level, Counter()).update(shown)
        return ids

    assert set(below(root)) == set(leaf_ids)
    for level, counts in per_level.items():
        assert max(counts.values()) == 1, f"a building is shown twice on level {level}"
