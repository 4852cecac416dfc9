"""Carrying appearances through triangulation (texture coordinates follow their vertices).

Triangulation never creates vertices: every triangle corner is a ring vertex of the batch, so
a mesh vertex takes the texture coordinate of the ring vertex it came from and a triangle the
texture and material of the polygon it came from. Textures and materials of all geometries
are merged into one table per mesh (equal entries once).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from citymodel._typing import Float32Array, IndexArray
from citymodel.model.appearance import (
    NO_INDEX,
    Int32Array,
    Material,
    MeshAppearance,
    Texture,
    merge_index,
)
from citymodel.model.geometry import SurfaceGeometry

__all__ = ["mesh_appearance"]


def mesh_appearance(
    geometries: Sequence[SurfaceGeometry],
    vertex_index: IndexArray | None,
    polygon_index: IndexArray,
) -> MeshAppearance | None:
    """The appearance of a mesh made from ``geometries`` (concatenated in this order).

    Parameters
    ----------
    geometries
        The triangulated geometries; their vertices, concatenated, are the batch vertices.
    vertex_index
        ``(N,)`` batch vertex of every mesh vertex, or None when the mesh keeps all of them.
    polygon_index
        ``(M,)`` batch polygon of every mesh triangle.

    Returns
    -------
    MeshAppearance or None
        None when no geometry has an appearance. Coordinates of untextured vertices are 0.
    """
    if all(g.appearance is None for g in geometries):
        return None
    textures: dict[Texture, int] = {}
    materials: dict[Material, int] = {}
    uvs: list[Float32Array] = []
    poly_tex: list[Int32Array] = []
    poly_mat: list[Int32Array] = []
    for g in geometries:
        a = g.appearance
        polygons = g.polygon_count
        if a is None:
            uvs.append(np.zeros((g.vertex_count, 2), np.float32))
            poly_tex.append(np.full(polygons, NO_INDEX, np.int32))
            poly_mat.append(np.full(polygons, NO_INDEX, np.int32))
            continue
        uvs.append(np.nan_to_num(a.uv, nan=0.0))
        poly_tex.append(merge_index(a.textures, textures)[a.polygon_texture])
        poly_mat.append(merge_index(a.materials, materials)[a.polygon_material])
    uv = np.concatenate(uvs)
    if vertex_index is not None:
        uv = uv[vertex_index]
    return MeshAppearance(
        uv=np.ascontiguousarray(uv, dtype=np.float32),
        triangle_texture=np.concatenate(poly_tex)[polygon_index],
        triangle_material=np.concatenate(poly_mat)[polygon_index],
        textures=tuple(textures),
        materials=tuple(materials),
    )
