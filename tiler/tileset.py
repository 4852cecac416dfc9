"""The tileset JSON model and writer: explicit trees, external tilesets, 1.0 / 1.1 (T3D-1).

A :class:`Tile` is a frozen value: bounding volume, geometric error, refinement, optional
content URI and content volume, optional transform and children. :func:`write_tileset`
serialises a tree to ``tileset.json`` and, when the JSON would exceed ``max_json_bytes``,
moves subtrees into external tilesets ``tilesets/<level>_<x>_<y>.json`` referenced as content
of a stub tile, so that no JSON file is larger than the budget.

Conventions:

- ``Tile.transform`` is the tile's own ``transform`` as written in JSON: 16 numbers,
  column-major, *relative to the parent tile's frame* (3D Tiles chains them
  ``root · ... · tile``). :func:`relative_transform` turns two absolute frames into one.
- ``Tile.content_uri`` (and an implicit root's URI templates) are relative to the output
  folder; they are rewritten relative to the external tileset file that ends up holding them.
- An externalised tile keeps its volume and error in the stub. A box volume is expressed in
  the tile's frame, so then the stub carries the tile's transform and the external root none;
  a region is absolute, so then the external root keeps the transform. Either way the frame
  chain is unchanged.
- ``tileset.json`` is written last (atomically), after every external tileset: a reader never
  sees a root that points at missing files.
"""

from __future__ import annotations

import logging
import math
import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from citymodel.atomic import write_bytes_atomic
from citymodel.converters.gltf_binary import dump_json
from citymodel.errors import TilingError
from citymodel.tiler.keys import TileKey
from citymodel.tiler.volumes import BoundingVolume, OrientedBox, bounding_volume_json

__all__ = [
    "CONTENT_GLTF_EXTENSION",
    "EXTERNAL_DIR",
    "Refine",
    "Tile",
    "TilesetVersion",
    "relative_transform",
    "write_tileset",
]

log = logging.getLogger(__name__)

Refine = Literal["ADD", "REPLACE"]
TilesetVersion = Literal["1.0", "1.1"]

CONTENT_GLTF_EXTENSION = "3DTILES_content_gltf"
"""Declared by 3D Tiles 1.0 tilesets with glTF/GLB content (T3D-1)."""
EXTERNAL_DIR = "tilesets"
"""Folder (below the output folder) of the external tilesets."""

_GLTF_SUFFIXES = (".glb", ".gltf")


_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def _has_scheme(uri: str) -> bool:
    """True for absolute URIs (``http:``, ``data:``) and absolute paths, which stay as given."""
    return uri.startswith("/") or _SCHEME.match(uri) is not None


def _relative_uri(uri: str, from_dir: str) -> str:
    """``uri`` (relative to the output folder) as seen from ``from_dir`` (also relative)."""
    if not from_dir or _has_scheme(uri):
        return uri
    return posixpath.relpath(uri, from_dir)


@dataclass(frozen=True, slots=True)
class Tile:
    """One tile of a tileset tree (3D Tiles ``tile`` object).

    Attributes
    ----------
    bounding_volume
        Region (absolute, radians / ellipsoidal metres) or box (in this tile's frame, metres).
    geometric_error
        Metres of error when this tile is rendered without its children (T3D-4), >= 0.
    refine
        ``"ADD"`` or ``"REPLACE"``; ``None`` inherits the parent's (required on the root).
    content_uri
        Content file relative to the output folder (POSIX separators), or ``None``.
    content_bounding_volume
        Optional tighter volume of the content, same frame rules as ``bounding_volume``.
    transform
        16 numbers, column-major 4x4, relative to the parent's frame (``None`` = identity).
    children
        Child tiles (any sequence; stored as a tuple).
    key
        The tile's address; names its external tileset file when it gets one.
    implicit_tiling
        The ``implicitTiling`` object when this tile is an implicit root (then ``content_uri``
        is a template and ``children`` must be empty).

    Raises
    ------
    ValueError
        For a negative or non-finite geometric error, a malformed transform, an unknown refine
        value or an implicit root with children.
    """

    bounding_volume: BoundingVolume
    geometric_error: float
    refine: Refine | None = None
    content_uri: str | None = None
    content_bounding_volume: BoundingVolume | None = None
    transform: tuple[float, ...] | None = None
    children: Sequence[Tile] = ()
    key: TileKey | None = None
    implicit_tiling: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.geometric_error) and self.geometric_error >= 0.0):
            raise ValueError(f"geometricError must be finite and >= 0, got {self.geometric_error}")
        if self.refine not in (None, "ADD", "REPLACE"):
            raise ValueError(f"refine must be 'ADD' or 'REPLACE', got {self.refine!r}")
        if self.content_uri is not None and not self.content_uri:
            raise ValueError("content_uri must not be empty")
        if self.transform is not None:
            values = tuple(float(v) for v in self.transform)
            if len(values) != 16 or not all(math.isfinite(v) for v in values):
                raise ValueError("transform must be 16 finite numbers (column-major 4x4)")
            object.__setattr__(self, "transform", values)
        object.__setattr__(self, "children", tuple(self.children))
        if self.implicit_tiling is not None and self.children:
            raise ValueError("an implicit root tile must not have explicit children")

    def to_json(self, *, base_dir: str = "") -> dict[str, Any]:
        """The tile object without ``children``; URIs made relative to ``base_dir``."""
        out: dict[str, Any] = {
            "boundingVolume": bounding_volume_json(self.bounding_volume),
            "geometricError": self.geometric_error,
        }
        if self.refine is not None:
            out["refine"] = self.refine
        if self.transform is not None:
            out["transform"] = list(self.transform)
        if self.content_uri is not None:
            content: dict[str, Any] = {"uri": _relative_uri(self.content_uri, base_dir)}
            if self.content_bounding_volume is not None:
                content["boundingVolume"] = bounding_volume_json(self.content_bounding_volume)
            out["content"] = content
        if self.implicit_tiling is not None:
            implicit = dict(self.implicit_tiling)
            subtrees = dict(implicit.get("subtrees", {}))
            if "uri" in subtrees:
                subtrees["uri"] = _relative_uri(str(subtrees["uri"]), base_dir)
                implicit["subtrees"] = subtrees
            out["implicitTiling"] = implicit
        return out

    def walk(self) -> list[Tile]:
        """Return this tile and all descendants, depth first (pre-order)."""
        out: list[Tile] = []
        stack: list[Tile] = [self]
        while stack:
            tile = stack.pop()
            out.append(tile)
            stack.extend(reversed(tile.children))
        return out


def relative_transform(
    parent_world: npt.ArrayLike | None, child_world: npt.ArrayLike
) -> tuple[float, ...]:
    """The ``transform`` of a tile whose absolute frame is ``child_world``.

    Parameters
    ----------
    parent_world
        (4, 4) absolute local->ECEF matrix of the parent's frame (product of all ancestor
        transforms), or ``None`` when no ancestor has a transform.
    child_world
        (4, 4) absolute local->ECEF matrix wanted for the tile (e.g. its ENU frame, T3D-2).

    Returns
    -------
    tuple[float, ...]
        ``inverse(parent_world) @ child_world`` column-major, 16 floats.
    """
    child = np.asarray(child_world, dtype=np.float64)
    rel = (
        child
        if parent_world is None
        else np.linalg.solve(np.asarray(parent_world, np.float64), child)
    )
    return tuple(float(v) for v in rel.T.ravel())


@dataclass(slots=True)
class _Plan:
    """Which tiles go to external tilesets and the file name of each."""

    external: dict[int, str] = field(default_factory=dict)


def _json_len(obj: Any) -> int:
    return len(dump_json(obj))


_CHILDREN_OVERHEAD = len(',"children":[]')
_REFINE_OVERHEAD = len(',"refine":"REPLACE"')


def _stub_keeps_transform(tile: Tile) -> bool:
    """A box is expressed in the tile's frame, so its stub needs the transform; a region not."""
    return isinstance(tile.bounding_volume, OrientedBox)


def _stub(tile: Tile, uri: str) -> Tile:
    """The tile that references ``tile``'s external tileset (same volume and error)."""
    return Tile(
        bounding_volume=tile.bounding_volume,
        geometric_error=tile.geometric_error,
        refine=tile.refine,
        content_uri=uri,
        transform=tile.transform if _stub_keeps_transform(tile) else None,
        key=tile.key,
    )


def _external_root(tile: Tile, refine: Refine) -> Tile:
    """``tile`` as the root of its external tileset: explicit refine, the frame not applied twice."""
    transform = None if _stub_keeps_transform(tile) else tile.transform
    return replace(tile, transform=transform, refine=refine)


def _external_name(tile: Tile, used: set[str]) -> str:
    stem = tile.key.stem if tile.key is not None else f"t{len(used)}"
    name = f"{EXTERNAL_DIR}/{stem}.json"
    n = 1
    while name in used:
        name = f"{EXTERNAL_DIR}/{stem}_{n}.json"
        n += 1
    used.add(name)
    return name


def _plan_split(root: Tile, budget: int) -> _Plan:
    """Choose subtrees to externalise so that every file's root fits ``budget`` bytes.

    Bottom-up: a tile's serialised size is its own JSON plus its children's; when it exceeds
    the budget its largest children are replaced by stubs until it fits. Sizes are estimated
    with URIs as seen from the external folder (the longer form), so they never underestimate.
    """
    plan = _Plan()
    used: set[str] = set()
    ext_base = EXTERNAL_DIR

    def size(tile: Tile) -> int:
        # An external root gets an explicit refine: count it for tiles that inherit theirs.
        own = _json_len(tile.to_json(base_dir=ext_base)) + (
            _REFINE_OVERHEAD if tile.refine is None else 0
        )
        if not tile.children:
            total = own
        else:
            child_sizes = [(size(c), c) for c in tile.children]
            total = own + _CHILDREN_OVERHEAD + sum(s for s, _ in child_sizes) + len(child_sizes) - 1
            if total > budget:
                for child_size, child in sorted(child_sizes, key=lambda sc: -sc[0]):
                    name = _external_name(child, used)
                    plan.external[id(child)] = name
                    total -= child_size - _json_len(_stub(child, name).to_json())
                    if total <= budget:
                        break
        if total > budget:
            raise TilingError(
                f"tile {tile.key} alone needs {total} bytes of JSON, more than the "
                f"max_json_bytes budget allows ({budget}); raise max_json_bytes"
            )
        return total

    size(root)
    return plan


def _effective_refines(root: Tile) -> dict[int, Refine]:
    out: dict[int, Refine] = {}
    if root.refine is None:
        raise ValueError("the root tile needs refine ('ADD' or 'REPLACE', T3D-1)")
    stack: list[tuple[Tile, Refine]] = [(root, root.refine)]
    while stack:
        tile, inherited = stack.pop()
        refine: Refine = tile.refine or inherited
        out[id(tile)] = refine
        stack.extend((c, refine) for c in tile.children)
    return out


def _depths(root: Tile) -> dict[int, int]:
    out: dict[int, int] = {}
    stack = [(root, 0)]
    while stack:
        tile, d = stack.pop()
        out[id(tile)] = d
        stack.extend((c, d + 1) for c in tile.children)
    return out


def _tree_json(tile: Tile, plan: _Plan, base_dir: str) -> dict[str, Any]:
    out = tile.to_json(base_dir=base_dir)
    if tile.children:
        kids = []
        for child in tile.children:
            name = plan.external.get(id(child))
            if name is None:
                kids.append(_tree_json(child, plan, base_dir))
            else:
                kids.append(_stub(child, name).to_json(base_dir=base_dir))
        out["children"] = kids
    return out


def _has_gltf(tree: Mapping[str, Any]) -> bool:
    stack = [tree]
    while stack:
        node = stack.pop()
        uri = node.get("content", {}).get("uri", "")
        if uri.lower().endswith(_GLTF_SUFFIXES):
            return True
        stack.extend(node.get("children", []))
    return False


def write_tileset(
    root: Tile,
    out_dir: Path,
    *,
    version: TilesetVersion = "1.1",
    geometric_error: float,
    schema: Mapping[str, Any] | None = None,
    extensions_used: Sequence[str] = (),
    extensions_required: Sequence[str] = (),
    max_json_bytes: int = 2_000_000,
    name: str = "tileset.json",
) -> list[Path]:
    """Write ``tileset.json`` (and external tilesets when needed) for the tree under ``root``.

    Parameters
    ----------
    root
        The root tile; must have ``refine``.
    out_dir
        Output folder; content files are expected under it at their ``content_uri``.
    version
        ``asset.version``. With ``"1.0"``, files holding ``.glb``/``.gltf`` content declare
        ``3DTILES_content_gltf`` as used and required (T3D-1); implicit tiling needs ``"1.1"``.
    geometric_error
        Tileset-level geometric error, metres; must be >= ``root.geometric_error`` (T3D-1).
    schema
        Optional 3D Metadata schema (``schema`` object) of the root tileset.
    extensions_used, extensions_required
        Extra tileset extensions declared in the root tileset.
    max_json_bytes
        No JSON file written here exceeds this many bytes (UTF-8).
    name
        File name of the root tileset in ``out_dir``.

    Returns
    -------
    list[pathlib.Path]
        Every file written; the root tileset last.

    Raises
    ------
    ValueError
        For a root without refine, an inconsistent geometric error or 1.0 with implicit tiling.
    TilingError
        When a single tile cannot fit ``max_json_bytes``.
    OutputError
        When a file cannot be written.
    """
    if version not in ("1.0", "1.1"):
        raise ValueError(f"asset.version must be '1.0' or '1.1', got {version!r}")
    if not (math.isfinite(geometric_error) and geometric_error >= root.geometric_error):
        raise ValueError(
            f"tileset geometricError {geometric_error} must be >= root geometricError {root.geometric_error} (T3D-1)"
        )
    tiles = root.walk()
    if version == "1.0" and any(t.implicit_tiling is not None for t in tiles):
        raise ValueError("implicit tiling needs asset.version '1.1'")
    refines = _effective_refines(root)

    def document(
        tree: dict[str, Any],
        error: float,
        extra_used: Sequence[str],
        extra_required: Sequence[str],
        with_schema: bool,
    ) -> dict[str, Any]:
        used = list(dict.fromkeys(extra_used))
        required = list(dict.fromkeys(extra_required))
        if version == "1.0" and _has_gltf(tree):
            used = list(dict.fromkeys([*used, CONTENT_GLTF_EXTENSION]))
            required = list(dict.fromkeys([*required, CONTENT_GLTF_EXTENSION]))
        doc: dict[str, Any] = {"asset": {"version": version}, "geometricError": error}
        if used:
            doc["extensionsUsed"] = used
        if required:
            doc["extensionsRequired"] = required
        if with_schema and schema is not None:
            doc["schema"] = dict(schema)
        doc["root"] = tree
        return doc

    # Budget for a file's root tile: the largest wrapper any file can get (the root's, with
    # schema and every extension name) is subtracted from max_json_bytes.
    all_used = [*extensions_used, CONTENT_GLTF_EXTENSION]
    all_required = [*extensions_required, CONTENT_GLTF_EXTENSION]
    wrapper = _json_len(document({}, geometric_error, all_used, all_required, True)) - len("{}")
    plan = _plan_split(root, max_json_bytes - wrapper)

    out_dir = Path(out_dir)
    written: list[Path] = []
    by_id = {id(t): t for t in tiles}
    depth = _depths(root)
    # Deepest externals first: a nested external tileset exists before the file referencing it.
    for tile_id, rel in sorted(plan.external.items(), key=lambda kv: -depth[kv[0]]):
        tile = by_id[tile_id]
        ext_root = _external_root(tile, refines[tile_id])
        tree = _tree_json(ext_root, plan, EXTERNAL_DIR)
        written.append(
            _write_json(
                out_dir / rel, document(tree, tile.geometric_error, (), (), False), max_json_bytes
            )
        )
    tree = _tree_json(root, plan, "")
    written.append(
        _write_json(
            out_dir / name,
            document(tree, geometric_error, extensions_used, extensions_required, True),
            max_json_bytes,
        )
    )
    if plan.external:
        log.info("tileset split into %d external tilesets", len(plan.external))
    return written


def _write_json(path: Path, doc: Mapping[str, Any], limit: int) -> Path:
    data = dump_json(doc)
    if len(data) > limit:
        raise TilingError(f"{path.name}: {len(data)} bytes of JSON exceed max_json_bytes={limit}")
    write_bytes_atomic(path, data)
    return path
