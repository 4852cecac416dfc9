"""Coarse appearance of parent tiles: block prisms coloured with their unit's mean texture colour.

Parent tiles show per-object block prisms (:mod:`citymodel.tiler.blocks`), not the source
polygons, so a downsampled atlas has nothing to map onto. Instead each block gets, per
surface class (roof; everything else), the area-weighted mean colour of what the unit's
polygons of that class show: the mean colour of their texture image (sampled on a grid of
about 32 x 32 pixels after Pillow's JPEG draft decoding, once per image and process) or their X3D diffuse
colour. From a distance, where parents are drawn, a facade photo's mean colour is what the
eye resolves; the cost is one tiny decode per image and a few bytes per block instead of a
second atlas per parent tile.
"""

from __future__ import annotations

import logging
from typing import Final

import numpy as np

from citymodel._typing import Float64Array, IndexArray
from citymodel.mesh import Mesh
from citymodel.model.appearance import NO_INDEX, Material, MeshAppearance
from citymodel.model.semantics import SurfaceType

__all__ = ["block_appearance", "mean_colour"]

log = logging.getLogger(__name__)

_PREVIEW: Final = 32
_cache: dict[str, tuple[float, float, float] | None] = {}
_CACHE_LIMIT: Final = 4096


def _linear(c: Float64Array) -> Float64Array:
    out: Float64Array = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return out


def mean_colour(image: str) -> tuple[float, float, float] | None:
    """Mean linear RGB of an image file (None when it cannot be read); cached per process."""
    if image in _cache:
        return _cache[image]
    colour: tuple[float, float, float] | None = None
    try:
        from PIL import Image

        with Image.open(image) as img:
            img.draft("RGB", (_PREVIEW, _PREVIEW))  # JPEG: decode at 1/8 scale or less
            small = img.convert("RGB")
            # nearest-neighbour samples keep the mean unbiased (sRGB must not be blended)
            small.thumbnail((_PREVIEW, _PREVIEW), Image.Resampling.NEAREST)
            srgb = np.asarray(small, dtype=np.float64).reshape(-1, 3) / 255.0
            mean = _linear(srgb).mean(axis=0)
            colour = (float(mean[0]), float(mean[1]), float(mean[2]))
    except (ImportError, OSError, ValueError, SyntaxError) as err:
        log.debug("no mean colour for %s: %s", image, err)
    if len(_cache) >= _CACHE_LIMIT:
        _cache.clear()
    _cache[image] = colour
    return colour


def _areas(positions: Float64Array, triangles: IndexArray) -> Float64Array:
    a, b, c = (positions[triangles[:, k]] for k in range(3))
    out: Float64Array = 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1)
    return out


def block_appearance(
    mesh: Mesh,
    triangle_unit: IndexArray,
    block: Mesh,
    block_triangle_unit: IndexArray,
    unit_count: int,
) -> MeshAppearance | None:
    """Per-unit mean colours of ``mesh`` (roof / other) as materials of the ``block`` triangles.

    ``triangle_unit`` / ``block_triangle_unit`` give the unit of every triangle. None when no
    triangle of ``mesh`` has a texture or material.
    """
    look = mesh.appearance
    if look is None or block.triangle_count == 0:
        return None
    tex = look.triangle_texture
    mat = look.triangle_material
    has = (tex >= 0) | (mat >= 0)
    if not has.any():
        return None
    colours = np.full((len(look.textures) + len(look.materials), 3), np.nan)
    for i, texture in enumerate(look.textures):
        c = mean_colour(texture.image)
        if c is not None:
            colours[i] = c
    for j, material in enumerate(look.materials):
        colours[len(look.textures) + j] = material.diffuse
    source = np.where(tex >= 0, tex, np.where(mat >= 0, len(look.textures) + mat, NO_INDEX))
    tri = np.flatnonzero(source >= 0)
    rgb = colours[source[tri]]
    ok = np.isfinite(rgb).all(axis=1)
    tri, rgb = tri[ok], rgb[ok]
    if tri.size == 0:
        return None
    weight = _areas(mesh.positions, mesh.triangles[tri].astype(np.int64))
    roof = mesh.surface_types[tri] == SurfaceType.ROOF
    key = triangle_unit[tri] * 2 + roof
    sums = np.zeros((2 * unit_count, 3))
    np.add.at(sums, key, rgb * weight[:, None])
    totals = np.bincount(key, weights=weight, minlength=2 * unit_count)
    known = totals > 0
    means = np.zeros_like(sums)
    means[known] = sums[known] / totals[known, None]
    # a class without any coloured polygon takes the unit's other class
    for cls in (0, 1):
        idx = np.arange(unit_count) * 2 + cls
        other = idx + (1 - 2 * cls)
        fill = ~known[idx] & known[other]
        means[idx[fill]] = means[other[fill]]
        known[idx[fill]] = True
    block_key = block_triangle_unit * 2 + (block.surface_types == SurfaceType.ROOF)
    used = np.unique(block_key[known[block_key]])
    material_of = np.full(2 * unit_count, NO_INDEX, np.int32)
    material_of[used] = np.arange(used.size, dtype=np.int32)
    materials = tuple(
        Material(diffuse=(float(r), float(g), float(b)), shininess=0.0) for r, g, b in means[used]
    )
    return MeshAppearance(
        uv=np.zeros((block.vertex_count, 2), np.float32),
        triangle_texture=np.full(block.triangle_count, NO_INDEX, np.int32),
        triangle_material=material_of[block_key],
        materials=materials,
    )
