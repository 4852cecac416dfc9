"""The project's own structural checks of a written tileset folder (correctness.md T3D-0..T3D-8).

:func:`validate_tileset` walks ``tileset.json``, its external tilesets and implicit subtrees,
and returns a list of :class:`Problem` (empty = sound). It complements
``../shared/tools/check-tileset`` where the official validator is blind:

- every content file exists; JSON is UTF-8 without BOM; ``asset.version`` is 1.0 / 1.1 and a
  1.0 tileset with glTF content declares ``3DTILES_content_gltf`` (T3D-1);
- ``geometricError`` never grows from parent to child, nor from tileset to root (T3D-1, T3D-4);
- every vertex of every GLB / b3dm content, placed as clients place it (glTF node matrices,
  y-up -> z-up, ``RTC_CENTER``, the chain of tile transforms), lies inside the content's
  volume, its tile's volume and every ancestor's volume within ``tolerance`` metres (T3D-3,
  blind spot 1);
- GLB chunks end on 8-byte file offsets (T3D-7, blind spot 2); b3dm header arithmetic,
  section alignment, ``BATCH_LENGTH`` and ``_BATCHID`` (T3D-8, blind spot 3);
- subtree files: header and padding, 8-aligned views, availability rules; implicit contents
  exist and lie inside their computed cell (T3D-5).

Other content types (pnts, i3dm, cmpt) are reported as not checked.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from citymodel._typing import Float64Array
from citymodel.ops.frames import Y_UP_TO_Z_UP, ecef_to_local
from citymodel.tiler.implicit import available_tiles, expand_template, implicit_volume
from citymodel.tiler.keys import TileKey
from citymodel.tiler.readers import (
    b3dm_problems,
    glb_problems,
    read_b3dm,
    read_glb,
    scene_positions,
)
from citymodel.tiler.subtree import (
    SubtreeAvailability,
    decode_subtree,
    subtree_layout_problems,
    subtree_problems,
    tile_bit_count,
)
from citymodel.tiler.tileset import CONTENT_GLTF_EXTENSION
from citymodel.tiler.volumes import BoundingVolume, OrientedBox, Region, box_excess, region_excess

__all__ = ["CONTAINMENT_TOLERANCE", "Problem", "validate_tileset"]

log = logging.getLogger(__name__)

CONTAINMENT_TOLERANCE = 0.01
"""Metres a vertex may lie outside a volume before it is reported (the writers pad by 1 cm)."""
_GE_EPSILON = 1e-9
_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding: the file (relative to the tileset folder), where in it, and what."""

    file: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.file} [{self.where}]: {self.message}"


@dataclass(frozen=True, slots=True)
class _Sphere:
    center: Float64Array
    radius: float


@dataclass(frozen=True, slots=True)
class _Bounds:
    """A volume with the absolute (local -> ECEF) matrix of the frame it is expressed in."""

    volume: BoundingVolume | _Sphere
    world: Float64Array
    label: str

    def excess(self, ecef: Float64Array) -> Float64Array:
        if isinstance(self.volume, Region):
            return region_excess(self.volume, ecef)
        local = ecef_to_local(ecef, self.world)
        if isinstance(self.volume, OrientedBox):
            return box_excess(self.volume, local)
        out: Float64Array = np.linalg.norm(local - self.volume.center, axis=1) - self.volume.radius
        return out


def _matrix(values: Any) -> Float64Array:
    m = np.asarray(values, dtype=np.float64)
    if m.shape != (16,) or not np.isfinite(m).all():
        raise ValueError("transform must be 16 finite numbers")
    out: Float64Array = m.reshape(4, 4).T
    return out


def _volume(obj: Mapping[str, Any]) -> BoundingVolume | _Sphere:
    if "region" in obj:
        return Region.from_json(obj["region"])
    if "box" in obj:
        return OrientedBox.from_json(obj["box"])
    if "sphere" in obj:
        values = [float(v) for v in obj["sphere"]]
        if len(values) != 4 or values[3] < 0:
            raise ValueError(f"invalid sphere {values}")
        return _Sphere(np.asarray(values[:3]), values[3])
    raise ValueError("no region, box or sphere")


@dataclass(frozen=True, slots=True)
class _Context:
    """What a tile inherits from its ancestors."""

    file: Path
    world: Float64Array
    ancestors: tuple[_Bounds, ...]
    parent_error: float | None
    refine: str | None
    version: str


class _Walker:
    def __init__(self, root_file: Path, tolerance: float) -> None:
        self.base = root_file.parent
        self.tolerance = tolerance
        self.problems: list[Problem] = []
        self.visited: set[Path] = set()

    def add(self, file: Path, where: str, message: str) -> None:
        try:
            name = file.relative_to(self.base).as_posix()
        except ValueError:
            name = str(file)
        self.problems.append(Problem(name, where, message))

    # -- tileset files ------------------------------------------------------------------------

    def load_json(self, path: Path, where: str, referrer: Path) -> dict[str, Any] | None:
        try:
            raw = path.read_bytes()
        except OSError as err:
            self.add(referrer, where, f"cannot read {path.name}: {err.strerror or err}")
            return None
        if raw.startswith(_BOM):
            self.add(path, "file", "JSON starts with a byte-order mark (T3D-1)")
            raw = raw[len(_BOM) :]
        try:
            doc = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            self.add(path, "file", f"not UTF-8 JSON: {err}")
            return None
        if not isinstance(doc, dict):
            self.add(path, "file", "tileset JSON is not an object")
            return None
        return doc

    def tileset(
        self,
        path: Path,
        *,
        world: Float64Array,
        ancestors: tuple[_Bounds, ...],
        parent_error: float | None,
        refine: str | None,
        referrer: Path,
        where: str,
    ) -> None:
        path = path.resolve()
        if path in self.visited:
            self.add(
                referrer, where, f"external tileset {path.name} is referenced twice (or a cycle)"
            )
            return
        self.visited.add(path)
        doc = self.load_json(path, where, referrer)
        if doc is None:
            return
        version = str(doc.get("asset", {}).get("version", ""))
        if version not in ("1.0", "1.1"):
            self.add(
                path, "asset", f"asset.version must be '1.0' or '1.1', got {version!r} (T3D-1)"
            )
        root = doc.get("root")
        if not isinstance(root, dict):
            self.add(path, "file", "no root tile")
            return
        error = doc.get("geometricError")
        if not isinstance(error, (int, float)) or error < 0:
            self.add(path, "file", f"top-level geometricError missing or negative: {error!r}")
            error = None
        elif parent_error is not None and error > parent_error + _GE_EPSILON:
            self.add(
                path, "file", f"geometricError {error} exceeds the referring tile's {parent_error}"
            )
        if refine is None and root.get("refine") is None:
            self.add(path, "root", "the root tile has no refine (T3D-1)")
        if version == "1.0" and self._has_gltf(root):
            used = doc.get("extensionsUsed", [])
            if CONTENT_GLTF_EXTENSION not in used:
                self.add(
                    path,
                    "file",
                    f"1.0 tileset with glTF content must declare {CONTENT_GLTF_EXTENSION} (T3D-1)",
                )
        ctx = _Context(path, world, ancestors, error, refine, version)
        self.tile(root, "root", ctx)

    @staticmethod
    def _has_gltf(tile: Mapping[str, Any]) -> bool:
        stack = [tile]
        while stack:
            node = stack.pop()
            contents = [node["content"]] if "content" in node else list(node.get("contents", []))
            if any(str(c.get("uri", "")).lower().endswith((".glb", ".gltf")) for c in contents):
                return True
            stack.extend(node.get("children", []))
        return False

    # -- tiles ----------------------------------------------------------------------------------

    def tile(self, tile: Mapping[str, Any], where: str, ctx: _Context) -> None:
        error = tile.get("geometricError")
        if not isinstance(error, (int, float)) or not math.isfinite(error) or error < 0:
            self.add(ctx.file, where, f"geometricError missing or invalid: {error!r}")
            error = ctx.parent_error
        elif ctx.parent_error is not None and error > ctx.parent_error + _GE_EPSILON:
            self.add(
                ctx.file,
                where,
                f"geometricError {error} > parent's {ctx.parent_error} (T3D-1, T3D-4)",
            )
        refine = tile.get("refine", ctx.refine)
        if refine not in ("ADD", "REPLACE"):
            self.add(ctx.file, where, f"refine must be 'ADD' or 'REPLACE', got {refine!r}")
        world = ctx.world
        if "transform" in tile:
            try:
                world = world @ _matrix(tile["transform"])
            except ValueError as err:
                self.add(ctx.file, where, str(err))
        try:
            bounds = _Bounds(_volume(tile.get("boundingVolume", {})), world, where)
        except (ValueError, TypeError) as err:
            self.add(ctx.file, where, f"bad boundingVolume: {err}")
            return
        chain = (*ctx.ancestors, bounds)
        inner = _Context(ctx.file, world, chain, error, refine, ctx.version)
        contents = [tile["content"]] if "content" in tile else list(tile.get("contents", []))
        if "implicitTiling" in tile:
            self.implicit(tile, where, inner, contents)
        else:
            for i, content in enumerate(contents):
                self.content(
                    content, where if len(contents) == 1 else f"{where} content {i}", inner
                )
        for i, child in enumerate(tile.get("children", [])):
            self.tile(child, f"{where}/{i}", inner)

    def content(self, content: Mapping[str, Any], where: str, ctx: _Context) -> None:
        uri = str(content.get("uri", ""))
        if not uri or ":" in uri.split("/", 1)[0]:
            self.add(ctx.file, where, f"content URI {uri!r} is empty or not relative: not checked")
            return
        path = ctx.file.parent / uri
        if not path.is_file():
            self.add(ctx.file, where, f"content {uri} does not exist")
            return
        chain = ctx.ancestors
        if "boundingVolume" in content:
            try:
                chain = (
                    *chain,
                    _Bounds(_volume(content["boundingVolume"]), ctx.world, f"{where} content"),
                )
            except (ValueError, TypeError) as err:
                self.add(ctx.file, where, f"bad content boundingVolume: {err}")
        suffix = path.suffix.lower()
        if suffix == ".json":
            self.tileset(
                path,
                world=ctx.world,
                ancestors=chain,
                parent_error=ctx.parent_error,
                refine=ctx.refine,
                referrer=ctx.file,
                where=where,
            )
        elif suffix in (".glb", ".b3dm"):
            self.binary(path, where, ctx.world, chain, b3dm=suffix == ".b3dm")
        else:
            self.add(ctx.file, where, f"content type {suffix or uri!r} is not checked")

    def binary(
        self, path: Path, where: str, world: Float64Array, chain: tuple[_Bounds, ...], *, b3dm: bool
    ) -> None:
        data = path.read_bytes()
        problems = b3dm_problems(data) if b3dm else glb_problems(data)
        for p in problems:
            self.add(path, "layout", p)
        try:
            rtc = np.zeros(3)
            glb_bytes = data
            if b3dm:
                tile = read_b3dm(data)
                glb_bytes = tile.glb
                rtc = np.asarray(
                    tile.feature_table.get("RTC_CENTER", [0.0, 0.0, 0.0]), dtype=np.float64
                )
            positions = scene_positions(read_glb(glb_bytes))
        except (ValueError, KeyError, IndexError, TypeError, UnicodeDecodeError) as err:
            self.add(path, "positions", f"cannot decode positions: {err}")
            return
        self.contained(path, where, self.to_ecef(positions, rtc, world), chain)

    @staticmethod
    def to_ecef(
        gltf_positions: Float64Array, rtc: Float64Array, world: Float64Array
    ) -> Float64Array:
        """glTF scene frame (y-up) -> z-up -> + RTC_CENTER -> tile transforms (T3D-2)."""
        z_up = gltf_positions @ Y_UP_TO_Z_UP[:3, :3].T + rtc
        out: Float64Array = z_up @ world[:3, :3].T + world[:3, 3]
        return out

    def contained(
        self, path: Path, where: str, ecef: Float64Array, chain: tuple[_Bounds, ...]
    ) -> None:
        if ecef.shape[0] == 0:
            return
        for bounds in reversed(chain):
            excess = bounds.excess(ecef)
            outside = excess > self.tolerance
            if outside.any():
                self.add(
                    path,
                    where,
                    f"{int(outside.sum())} of {ecef.shape[0]} vertices up to {float(excess.max()):.3f} m "
                    f"outside the bounding volume of {bounds.label} (T3D-3)",
                )

    # -- implicit tiling ------------------------------------------------------------------------

    def implicit(
        self, tile: Mapping[str, Any], where: str, ctx: _Context, contents: list[Any]
    ) -> None:
        spec = tile["implicitTiling"]
        try:
            scheme = spec["subdivisionScheme"]
            levels = int(spec["subtreeLevels"])
            available_levels = int(spec["availableLevels"])
            subtree_uri = str(spec["subtrees"]["uri"])
        except (KeyError, TypeError, ValueError) as err:
            self.add(ctx.file, where, f"incomplete implicitTiling: {err}")
            return
        if scheme not in ("QUADTREE", "OCTREE") or levels < 1 or available_levels < 1:
            self.add(ctx.file, where, f"invalid implicitTiling {spec}")
            return
        octree = scheme == "OCTREE"
        if "children" in tile:
            self.add(ctx.file, where, "an implicit root must not have children (T3D-5)")
        root_bounds = ctx.ancestors[-1]
        if isinstance(root_bounds.volume, _Sphere):
            self.add(ctx.file, where, "implicit tiling cannot use a sphere (T3D-3, T3D-5)")
            return
        root_volume: BoundingVolume = root_bounds.volume
        templates = [str(c.get("uri", "")) for c in contents]
        for c in contents:
            if "boundingVolume" in c:
                self.add(
                    ctx.file, where, "implicit content must not carry a boundingVolume (T3D-5)"
                )
        branching = 8 if octree else 4
        empty = SubtreeAvailability(
            tiles=np.zeros(tile_bit_count(levels, branching), bool),
            contents=tuple(np.zeros(tile_bit_count(levels, branching), bool) for _ in templates),
            child_subtrees=np.zeros(branching**levels, bool),
        )
        read = self._subtree_reader(ctx.file, subtree_uri, levels, octree, len(templates), empty)
        for key, flags in available_tiles(
            read, subtree_levels=levels, available_levels=available_levels, octree=octree
        ):
            for template, flag in zip(templates, flags, strict=False):
                if not flag:
                    continue
                uri = expand_template(template, key)
                path = ctx.file.parent / uri
                if not path.is_file():
                    self.add(
                        ctx.file, f"implicit {key.path}", f"available content {uri} does not exist"
                    )
                    continue
                suffix = path.suffix.lower()
                if suffix not in (".glb", ".b3dm"):
                    self.add(
                        ctx.file, f"implicit {key.path}", f"content type {suffix!r} is not checked"
                    )
                    continue
                cell = _Bounds(
                    implicit_volume(root_volume, key), ctx.world, f"implicit tile {key.path}"
                )
                self.binary(
                    path,
                    f"implicit {key.path}",
                    ctx.world,
                    (*ctx.ancestors, cell),
                    b3dm=suffix == ".b3dm",
                )

    def _subtree_reader(
        self,
        file: Path,
        template: str,
        levels: int,
        octree: bool,
        content_count: int,
        empty: SubtreeAvailability,
    ) -> Callable[[TileKey], SubtreeAvailability]:
        def read(key: TileKey) -> SubtreeAvailability:
            path = file.parent / expand_template(template, key)
            where = f"subtree {key.path}"
            try:
                data = path.read_bytes()
            except OSError:
                self.add(file, where, f"subtree {path.name} is available but missing")
                return empty
            for p in subtree_layout_problems(data):
                self.add(path, "layout", p)
            try:
                subtree = decode_subtree(
                    data,
                    subtree_levels=levels,
                    octree=octree,
                    read_buffer=lambda uri: (path.parent / uri).read_bytes(),
                )
            except (ValueError, KeyError, IndexError, OSError) as err:
                self.add(path, where, f"cannot decode: {err}")
                return empty
            for p in subtree_problems(subtree):
                self.add(path, where, p)
            if not subtree.tiles[0]:
                self.add(path, where, "the subtree root tile is not available")
            if len(subtree.contents) != content_count:
                self.add(
                    path,
                    where,
                    f"{len(subtree.contents)} content availabilities for {content_count} contents",
                )
                return SubtreeAvailability(subtree.tiles, empty.contents, subtree.child_subtrees)
            return subtree

        return read


def validate_tileset(path: Path, *, tolerance: float = CONTAINMENT_TOLERANCE) -> list[Problem]:
    """Check a tileset folder (explicit, external and implicit parts); return what is wrong.

    Parameters
    ----------
    path
        ``tileset.json`` or the folder containing it.
    tolerance
        Metres a vertex may lie outside a bounding volume (T3D-3).

    Returns
    -------
    list[Problem]
        Empty when every check passes.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "tileset.json"
    walker = _Walker(path.resolve(), tolerance)
    walker.tileset(
        path.resolve(),
        world=np.eye(4),
        ancestors=(),
        parent_error=None,
        refine=None,
        referrer=path.resolve(),
        where="file",
    )
    if walker.problems:
        log.info("%s: %d problem(s)", path, len(walker.problems))
    return walker.problems
