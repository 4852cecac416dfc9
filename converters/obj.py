"""Wavefront OBJ + MTL writer for inspecting meshes in desktop tools (Blender, MeshLab, ...).

Layout of the ``.obj``:

- a header comment, ``mtllib <name>.mtl`` (written next to the ``.obj``);
- ``v x y z`` with 4 decimals (0.1 mm) in **y-up** axes, as DCC tools expect: an input
  ``(x, y, z)`` (z-up, e.g. east, north, up) is written as ``(x, z, -y)``;
- ``vn`` flat normals (same axis swap), de-duplicated;
- per building (``group_column`` of the feature table) a ``g <name>`` line, then per surface
  type a ``usemtl <roof|wall|...>`` line and its faces ``f a//n b//n c//n`` (1-based).

Group names are the column values with whitespace and control characters replaced by ``_``;
features without a value are grouped as ``feature_<row>``. The ``.mtl`` has one material per
surface type used, colours from :class:`SemanticMaterials` converted back to sRGB. Both files
are written atomically.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from citymodel import __version__
from citymodel._typing import Float64Array, UInt8Array, UInt32Array
from citymodel.atomic import atomic_output
from citymodel.converters.gltf import vertex_normals
from citymodel.converters.materials import SemanticMaterials, linear_to_srgb
from citymodel.mesh import FeatureTable

__all__ = ["write_obj"]

_CHUNK = 65536  # rows formatted per string operation
_UNSAFE = re.compile(r"[\s\x00-\x1f\x7f]+")


def _group_name(value: object, row: int) -> str:
    text = "" if value is None else _UNSAFE.sub("_", str(value)).strip("_")
    return text or f"feature_{row}"


def _formatted(template: str, rows: np.ndarray[Any, Any]) -> Iterator[bytes]:
    """``template`` (one row, ending in a newline) applied to every row, in chunks."""
    for start in range(0, rows.shape[0], _CHUNK):
        block = rows[start : start + _CHUNK]
        yield ((template * block.shape[0]) % tuple(block.ravel().tolist())).encode("utf-8")


def _y_up(points: np.ndarray[Any, Any]) -> Float64Array:
    """``(x, y, z)`` z-up -> ``(x, z, -y)`` y-up (``+ 0.0`` turns -0.0 into 0.0)."""
    return np.stack([points[:, 0], points[:, 2], -points[:, 1] + 0.0], axis=1)


def _dedupe_normals(normals: Float64Array) -> tuple[Float64Array, np.ndarray[Any, Any]]:
    """Unique unit normals at 1e-6 resolution and the index of each input row among them."""
    q = np.rint(normals * 1e6).astype(np.int64) + (1 << 20)  # each component in [0, 2^21)
    keys = (q[:, 0] << 42) | (q[:, 1] << 21) | q[:, 2]
    unique_keys, index = np.unique(keys, return_inverse=True)
    mask = (1 << 21) - 1
    parts = [(unique_keys >> shift) & mask for shift in (42, 21, 0)]
    unique = (np.stack(parts, axis=1) - (1 << 20)) / 1e6
    return unique + 0.0, index.reshape(-1)


def _face_chunks(
    corners: np.ndarray[Any, Any], starts: list[int], ends: list[int], headers: list[str]
) -> Iterator[bytes]:
    """Face lines of runs ``[start, end)`` each preceded by its header, formatted in chunks."""
    face = "f %d//%d %d//%d %d//%d\n"
    template: list[str] = []
    first = pending = 0
    for start, end, header in zip(starts, ends, headers, strict=True):
        template += [header.replace("%", "%%"), face * (end - start)]
        pending += end - start
        if pending >= _CHUNK:
            yield ("".join(template) % tuple(corners[first:end].ravel().tolist())).encode("utf-8")
            template, first, pending = [], end, 0
    if template:
        yield ("".join(template) % tuple(corners[first:].ravel().tolist())).encode("utf-8")


def _mtl_text(materials: SemanticMaterials, types: list[int]) -> str:
    lines = [f"# citymodel {__version__}: colours per semantic surface type (sRGB)"]
    for code in types:
        r, g, b, a = materials.color(code)
        kd = " ".join(f"{linear_to_srgb(c):.6f}" for c in (r, g, b))
        lines += [
            "",
            f"newmtl {materials.name(code)}",
            "Ka 0.000000 0.000000 0.000000",
            f"Kd {kd}",
            "Ks 0.000000 0.000000 0.000000",
            f"d {a:.6f}",
            "illum 1",
        ]
    return "\n".join(lines) + "\n"


def write_obj(
    path: str | os.PathLike[str],
    positions: Float64Array,
    triangles: UInt32Array,
    feature_ids: UInt32Array,
    surface_types: UInt8Array,
    features: FeatureTable,
    *,
    materials: SemanticMaterials | None = None,
    group_column: str = "building_id",
) -> None:
    """Write a triangle mesh as ``path`` (``.obj``) and its materials as ``path`` with ``.mtl``.

    Parameters
    ----------
    path
        The ``.obj`` file; the ``.mtl`` gets the same name with suffix ``.mtl``.
    positions
        ``(N, 3)`` float64 vertex positions, metres, z-up (a local frame: ENU or source CRS
        minus an origin; absolute projected coordinates work but bloat the file). Written
        y-up as ``(x, z, -y)`` with 4 decimals.
    triangles
        ``(M, 3)`` vertex indices (0-based), counter-clockwise seen from outside.
    feature_ids
        ``(N,)`` row in ``features`` per vertex.
    surface_types
        ``(M,)`` :class:`~citymodel.model.semantics.SurfaceType` code per triangle.
    features
        Feature rows; ``group_column`` names the OBJ group of each feature.
    materials
        Colours per surface type; None = the default palette.
    group_column
        Feature-table column giving the group (default: one group per building).

    Raises
    ------
    ValueError
        On inconsistent array shapes, indices out of range or non-finite positions.
    OutputError
        When a file cannot be written.
    """
    target = Path(path)
    pos = np.asarray(positions, dtype=np.float64)
    tri = np.asarray(triangles).reshape(-1, 3).astype(np.int64)
    fid = np.asarray(feature_ids).astype(np.int64)
    stypes = np.asarray(surface_types).astype(np.int64)
    n = pos.shape[0]
    if pos.ndim != 2 or pos.shape[1] != 3:
        raise ValueError(f"positions must have shape (N, 3), got {pos.shape}")
    if not np.isfinite(pos).all():
        raise ValueError("positions contain NaN or infinite values")
    if fid.shape != (n,) or stypes.shape != (tri.shape[0],):
        raise ValueError(
            "feature_ids must have one entry per vertex and surface_types one per triangle"
        )
    if tri.size and (tri.min() < 0 or tri.max() >= n):
        raise ValueError(f"triangle indices must lie in [0, {n})")
    if fid.size and (fid.min() < 0 or fid.max() >= features.row_count):
        raise ValueError(
            f"feature ids must lie in [0, {features.row_count}) (rows of the feature table)"
        )
    materials = materials or SemanticMaterials.default_palette()

    # Group of each feature row, numbered by first appearance among the rows.
    column = features.columns.get(group_column)
    names = [
        _group_name(column[row] if column is not None else None, row)
        for row in range(features.row_count)
    ]
    group_of_name: dict[str, int] = {}
    row_group = np.array(
        [group_of_name.setdefault(name, len(group_of_name)) for name in names], dtype=np.int64
    )
    group_names = list(group_of_name)

    # Faces sorted by (group, surface type), stable so the input order survives within a run.
    tri_group = row_group[fid[tri[:, 0]]] if tri.size else np.zeros(0, np.int64)
    order = np.lexsort((stypes, tri_group))
    tri_sorted, group_sorted, type_sorted = tri[order], tri_group[order], stypes[order]
    change = np.flatnonzero((np.diff(group_sorted) != 0) | (np.diff(type_sorted) != 0)) + 1
    run_starts = np.concatenate([[0], change]) if tri.size else np.zeros(0, np.int64)
    run_ends = np.concatenate([change, [tri.shape[0]]]) if tri.size else np.zeros(0, np.int64)

    # De-duplicated flat normals (rounded to the 6 decimals written); one index per vertex.
    normals = _y_up(vertex_normals(pos, tri.astype(np.uint32)).astype(np.float64))
    unique_normals, normal_index = _dedupe_normals(normals)

    used_types = [int(t) for t in np.unique(stypes)]
    material_names = {code: materials.name(code) for code in used_types}
    headers = []
    previous_group = -1
    for start in run_starts.tolist():
        group = int(group_sorted[start])
        prefix = f"g {group_names[group]}\n" if group != previous_group else ""
        headers.append(f"{prefix}usemtl {material_names[int(type_sorted[start])]}\n")
        previous_group = group
    corners = np.empty((tri_sorted.shape[0], 6), dtype=np.int64)
    corners[:, 0::2] = tri_sorted + 1
    corners[:, 1::2] = normal_index[tri_sorted] + 1

    mtl_path = target.with_suffix(".mtl")
    with atomic_output(mtl_path) as stream:
        stream.write(_mtl_text(materials, used_types).encode("utf-8"))
    with atomic_output(target) as stream:
        header = (
            f"# citymodel {__version__}\n"
            f"# {n} vertices, {tri.shape[0]} triangles, {len(group_names)} groups\n"
            "# axes: y-up, metres; input (x, y, z) z-up is written as (x, z, -y)\n"
            f"mtllib {mtl_path.name}\n"
        )
        stream.write(header.encode("utf-8"))
        for chunk in _formatted("v %.4f %.4f %.4f\n", _y_up(pos)):
            stream.write(chunk)
        for chunk in _formatted("vn %.6f %.6f %.6f\n", unique_normals):
            stream.write(chunk)
        for chunk in _face_chunks(corners, run_starts.tolist(), run_ends.tolist(), headers):
            stream.write(chunk)
