"""Implicit tiling (3D Tiles 1.1): sparse trees as subtree files plus ``implicitTiling`` (T3D-5).

An implicit tileset is a sparse quadtree (or octree) described by

- the implicit root tile in ``tileset.json``: a bounding volume (region or box — never a
  sphere), the root geometric error (halved per level by clients), a content URI template
  ``content/{level}/{x}/{y}.glb`` and ``implicitTiling`` (``subdivisionScheme``,
  ``subtreeLevels``, ``availableLevels``, ``subtrees.uri`` template);
- one binary subtree file per available subtree root (levels ``0, L, 2L, ...``), see
  :mod:`citymodel.tiler.subtree`.

:func:`plan_subtrees` turns sets of available and content tiles into subtrees (closing the
sets upwards, so a tile available => its parent available and content => tile available, and
every subtree has its root available); :func:`write_implicit` writes them and returns the
implicit root tile; :func:`available_tiles` walks written subtrees back.

Implicit volumes are exact subdivisions of the root volume computed from the root
(:func:`implicit_volume`), never refitted: content must lie inside its cell's volume.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from citymodel._typing import BoolArray
from citymodel.atomic import write_bytes_atomic
from citymodel.tiler.keys import TileKey
from citymodel.tiler.subtree import (
    SubtreeAvailability,
    encode_subtree,
    level_offset,
    tile_bit_count,
)
from citymodel.tiler.tileset import Refine, Tile
from citymodel.tiler.volumes import BoundingVolume, OrientedBox, Region

__all__ = [
    "DEFAULT_CONTENT_URI",
    "DEFAULT_SUBTREE_URI",
    "ImplicitTileset",
    "available_tiles",
    "expand_template",
    "implicit_tiling_json",
    "implicit_volume",
    "plan_subtrees",
    "write_implicit",
]

DEFAULT_CONTENT_URI = "content/{level}/{x}/{y}.glb"
DEFAULT_SUBTREE_URI = "subtrees/{level}/{x}/{y}.subtree"


def _closure(keys: Iterable[TileKey]) -> set[TileKey]:
    out: set[TileKey] = set()
    for key in keys:
        k: TileKey | None = key
        while k is not None and k not in out:
            out.add(k)
            k = k.parent()
    return out


@dataclass(slots=True)
class _SubtreeBits:
    tiles: BoolArray
    content: BoolArray
    children: BoolArray


def plan_subtrees(
    available: Iterable[TileKey], content: Iterable[TileKey], *, subtree_levels: int
) -> dict[TileKey, SubtreeAvailability]:
    """The subtrees of a sparse tree, keyed by their root tile.

    ``available`` and ``content`` are closed upwards first: every ancestor of a given tile is
    available, every content tile is available.

    Raises
    ------
    ValueError
        For ``subtree_levels < 1``, no tiles, or quadtree and octree keys mixed.
    """
    if subtree_levels < 1:
        raise ValueError(f"subtreeLevels must be >= 1, got {subtree_levels}")
    content_set = set(content)
    tiles = _closure([*available, *content_set])
    if not tiles:
        raise ValueError("an implicit tileset needs at least one available tile")
    octree = {k.is_octree for k in tiles}
    if len(octree) != 1:
        raise ValueError("quadtree and octree keys cannot be mixed")
    branching = 8 if octree.pop() else 4
    bits = tile_bit_count(subtree_levels, branching)
    subtrees: dict[TileKey, _SubtreeBits] = {}

    def bits_of(root: TileKey) -> _SubtreeBits:
        entry = subtrees.get(root)
        if entry is None:
            entry = subtrees[root] = _SubtreeBits(
                np.zeros(bits, bool),
                np.zeros(bits, bool),
                np.zeros(branching**subtree_levels, bool),
            )
        return entry

    for key in tiles:
        root_level = key.level - key.level % subtree_levels
        root = key.ancestor(root_level)
        rel = key.relative_to(root)
        index = level_offset(rel.level, branching) + rel.morton
        entry = bits_of(root)
        entry.tiles[index] = True
        if key in content_set:
            entry.content[index] = True
        if root_level > 0 and key.level == root_level:
            parent_root = key.ancestor(root_level - subtree_levels)
            bits_of(parent_root).children[key.relative_to(parent_root).morton] = True
    return {
        root: SubtreeAvailability(tiles=e.tiles, contents=(e.content,), child_subtrees=e.children)
        for root, e in sorted(subtrees.items())
    }


def expand_template(template: str, key: TileKey) -> str:
    """Fill ``{level}``, ``{x}``, ``{y}`` (and ``{z}``) of a URI template."""
    out = (
        template.replace("{level}", str(key.level))
        .replace("{x}", str(key.x))
        .replace("{y}", str(key.y))
    )
    return out.replace("{z}", str(key.z)) if key.z is not None else out


def implicit_tiling_json(
    *,
    subtree_levels: int,
    available_levels: int,
    octree: bool = False,
    subtree_uri: str = DEFAULT_SUBTREE_URI,
) -> dict[str, Any]:
    """The ``implicitTiling`` object of an implicit root tile."""
    return {
        "subdivisionScheme": "OCTREE" if octree else "QUADTREE",
        "subtreeLevels": subtree_levels,
        "availableLevels": available_levels,
        "subtrees": {"uri": subtree_uri},
    }


def implicit_volume(root_volume: BoundingVolume, key: TileKey) -> BoundingVolume:
    """The volume of the implicit tile ``key``: an exact subdivision of ``root_volume``.

    Regions are split in longitude (``x``) and latitude (``y``) — and height (``z``) for
    octrees — boxes along their first, second (and third) half axes. Heights of quadtree
    regions and the third axis of quadtree boxes are not split.
    """
    n = 1 << key.level
    if isinstance(root_volume, Region):
        dlon = (root_volume.east - root_volume.west) / n
        dlat = (root_volume.north - root_volume.south) / n
        lo_h, hi_h = root_volume.min_height, root_volume.max_height
        if key.z is not None:
            dh = (hi_h - lo_h) / n
            lo_h, hi_h = lo_h + key.z * dh, lo_h + (key.z + 1) * dh
        return Region(
            west=root_volume.west + key.x * dlon,
            south=root_volume.south + key.y * dlat,
            east=root_volume.west + (key.x + 1) * dlon if key.x + 1 < n else root_volume.east,
            north=root_volume.south + (key.y + 1) * dlat if key.y + 1 < n else root_volume.north,
            min_height=lo_h,
            max_height=hi_h,
        )
    axes = root_volume.axes_array
    center = root_volume.center_array.copy()
    scale = np.array([1.0 / n, 1.0 / n, 1.0 / n if key.z is not None else 1.0])
    index = np.array([key.x, key.y, key.z if key.z is not None else 0], dtype=np.float64)
    # Cell centre in units of the root half axes: -1 + (2 i + 1) / n along split axes.
    t = np.where(scale < 1.0, -1.0 + (2.0 * index + 1.0) / n, 0.0)
    values = [*(center + t @ axes), *(axes * scale[:, None]).ravel()]
    return OrientedBox.from_json([float(v) for v in values])


def available_tiles(
    read_subtree: Callable[[TileKey], SubtreeAvailability],
    *,
    subtree_levels: int,
    available_levels: int,
    octree: bool = False,
) -> Iterator[tuple[TileKey, tuple[bool, ...]]]:
    """Walk an implicit tree from its root subtree: every available tile and its content flags.

    ``read_subtree(root_key)`` loads the subtree rooted at ``root_key``; it is called for the
    root and for each available child subtree above ``available_levels``.
    """
    branching = 8 if octree else 4
    pending = [TileKey.root(octree=octree)]
    while pending:
        root = pending.pop()
        subtree = read_subtree(root)
        for level in range(min(subtree_levels, available_levels - root.level)):
            start = level_offset(level, branching)
            width = branching**level
            for index in np.flatnonzero(subtree.tiles[start : start + width]).tolist():
                rel = TileKey.from_morton(level, index, octree=octree)
                key = _absolute(root, rel)
                yield key, tuple(bool(c[start + index]) for c in subtree.contents)
        if root.level + subtree_levels < available_levels:
            for index in np.flatnonzero(subtree.child_subtrees).tolist():
                rel = TileKey.from_morton(subtree_levels, index, octree=octree)
                pending.append(_absolute(root, rel))


def _absolute(root: TileKey, rel: TileKey) -> TileKey:
    shift = rel.level
    z = None if root.z is None or rel.z is None else (root.z << shift) + rel.z
    return TileKey(root.level + shift, (root.x << shift) + rel.x, (root.y << shift) + rel.y, z)


@dataclass(frozen=True, slots=True)
class ImplicitTileset:
    """What :func:`write_implicit` produced.

    Attributes
    ----------
    root
        The implicit root tile, ready for :func:`citymodel.tiler.tileset.write_tileset`.
    subtree_paths
        Every subtree file written.
    available_levels
        ``implicitTiling.availableLevels``.
    """

    root: Tile
    subtree_paths: tuple[Path, ...]
    available_levels: int
    subtrees: Mapping[TileKey, SubtreeAvailability] = field(repr=False)


def write_implicit(
    out_dir: Path,
    *,
    root_volume: BoundingVolume,
    available: Iterable[TileKey],
    content: Iterable[TileKey],
    subtree_levels: int,
    geometric_error: float,
    refine: Refine = "ADD",
    transform: Sequence[float] | None = None,
    content_uri: str = DEFAULT_CONTENT_URI,
    subtree_uri: str = DEFAULT_SUBTREE_URI,
) -> ImplicitTileset:
    """Write the subtree files of a sparse implicit tree and build its root tile (T3D-5).

    Parameters
    ----------
    out_dir
        Output folder; subtrees go to ``subtree_uri`` below it (default
        ``subtrees/{level}/{x}/{y}.subtree``).
    root_volume
        Region or box of the level-0 tile (box in the frame of ``transform``).
    available
        Available tiles; their ancestors are added.
    content
        Tiles with content at ``content_uri`` (the caller writes those files).
    subtree_levels
        Levels per subtree (>= 1).
    geometric_error
        Geometric error of the root, metres; clients halve it per level.
    refine
        Refinement of the implicit tiles.
    transform
        Optional root ``transform`` (16 numbers, column-major), applied to every implicit tile.
    content_uri, subtree_uri
        URI templates relative to ``out_dir``.

    Raises
    ------
    ValueError
        For inconsistent keys or templates missing a placeholder.
    OutputError
        When a file cannot be written.
    """
    placeholders = ("{level}", "{x}", "{y}")
    content_keys = list(content)
    available_keys = list(available)
    octree = any(k.is_octree for k in [*content_keys, *available_keys])
    needed = (*placeholders, "{z}") if octree else placeholders
    for name, template in (("content_uri", content_uri), ("subtree_uri", subtree_uri)):
        if not all(p in template for p in needed):
            raise ValueError(f"{name} {template!r} must contain {', '.join(needed)}")
    subtrees = plan_subtrees(available_keys, content_keys, subtree_levels=subtree_levels)
    available_levels = max(root.level + _deepest_level(s) for root, s in subtrees.items()) + 1
    out_dir = Path(out_dir)
    paths = []
    for root, availability in subtrees.items():
        path = out_dir / expand_template(subtree_uri, root)
        write_bytes_atomic(path, encode_subtree(availability))
        paths.append(path)
    tile = Tile(
        bounding_volume=root_volume,
        geometric_error=geometric_error,
        refine=refine,
        content_uri=content_uri if content_keys else None,
        transform=None if transform is None else tuple(float(v) for v in transform),
        implicit_tiling=implicit_tiling_json(
            subtree_levels=subtree_levels,
            available_levels=available_levels,
            octree=octree,
            subtree_uri=subtree_uri,
        ),
    )
    return ImplicitTileset(
        root=tile, subtree_paths=tuple(paths), available_levels=available_levels, subtrees=subtrees
    )


def _deepest_level(subtree: SubtreeAvailability) -> int:
    """Deepest subtree-relative level with an available tile."""
    b = subtree.branching
    last = int(np.flatnonzero(subtree.tiles).max())
    level = 0
    while level_offset(level + 1, b) <= last:
        level += 1
    return level
