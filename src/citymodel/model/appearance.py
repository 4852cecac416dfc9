"""Appearances: materials, textures and texture coordinates of surfaces (CityGML app, CityJSON).

A geometry renders one *theme* (the reader selects it: ``--theme`` or the first theme of the
input), :attr:`SurfaceGeometry.appearance`; it is None unless a polygon of the geometry has a
material or a texture in that theme, so untextured data pay nothing. The appearance of every
theme read is :attr:`SurfaceGeometry.themes` (empty when the rendered one is all there is):
format conversion keeps them all, meshing and tiling use the rendered one.

- :class:`Material` is CityGML's X3DMaterial (CityJSON materials have the same fields).
- :class:`Texture` is an image file (a path resolved against the source file's folder, or a
  URL as written) with its wrap mode and border colour.
- :class:`SurfaceAppearance` holds, per ring vertex of its geometry, a texture coordinate
  (``uv``, float32, NaN where the polygon has no texture) and per polygon an index into its
  ``textures`` and ``materials`` tuples (-1: none).
- :class:`MeshAppearance` is the same after triangulation: one texture coordinate per mesh
  vertex and a texture and material index per triangle (:mod:`citymodel.meshing`).

Texture coordinates follow CityGML/CityJSON: ``(s, t)`` with ``t`` pointing *up* in the image
(origin at the lower-left corner); glTF writers flip ``t``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal, TypeAlias, TypeVar

import numpy as np
import numpy.typing as npt

from citymodel._typing import Float32Array, IndexArray

__all__ = [
    "NO_INDEX",
    "WRAP_MODES",
    "Int32Array",
    "Material",
    "MeshAppearance",
    "SurfaceAppearance",
    "Texture",
    "WrapMode",
    "merge_index",
]

Int32Array: TypeAlias = npt.NDArray[np.int32]

NO_INDEX: Final = -1
"""Texture/material index of a polygon or triangle without one."""

WrapMode: TypeAlias = Literal["none", "wrap", "mirror", "clamp", "border"]
WRAP_MODES: Final[frozenset[str]] = frozenset(("none", "wrap", "mirror", "clamp", "border"))
"""CityGML 2.0 ``app:wrapMode`` values (CityJSON uses the same words)."""

RGB: TypeAlias = tuple[float, float, float]
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Material:
    """An X3D material (CityGML ``app:X3DMaterial``, a CityJSON material).

    Colours are linear RGB in ``[0, 1]`` as the sources define them; ``transparency`` 0 is
    opaque, 1 fully transparent (glTF alpha = 1 - transparency).
    """

    diffuse: RGB = (0.8, 0.8, 0.8)
    emissive: RGB = (0.0, 0.0, 0.0)
    specular: RGB = (1.0, 1.0, 1.0)
    shininess: float = 0.2
    transparency: float = 0.0
    ambient_intensity: float = 0.2
    is_smooth: bool = False
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Texture:
    """A texture image and how it is sampled.

    Attributes
    ----------
    image
        Absolute path of the image file (relative references are resolved against the folder
        of the source file), or an ``http(s):`` URL as written in the source.
    wrap
        How coordinates outside ``[0, 1]`` sample the image (CityGML ``wrapMode``; ``none``
        behaves like ``wrap`` in most viewers and is written so).
    border_color
        RGBA for ``wrap == "border"``, else None.
    mime_type
        As declared by the source, else None (the writer sniffs the file).
    """

    image: str
    wrap: WrapMode = "none"
    border_color: tuple[float, float, float, float] | None = None
    mime_type: str | None = None


@dataclass(frozen=True, slots=True)
class SurfaceAppearance:
    """One theme's appearance of one :class:`~citymodel.model.SurfaceGeometry`.

    Attributes
    ----------
    theme
        Theme name (``""`` for appearances without a theme).
    uv
        ``(N, 2)`` float32 texture coordinate per ring vertex of the geometry (same order as
        its ``vertices``); NaN for vertices of polygons without texture.
    polygon_texture
        ``(P,)`` int32 index into ``textures`` per polygon, :data:`NO_INDEX` when none.
    polygon_material
        ``(P,)`` int32 index into ``materials`` per polygon, :data:`NO_INDEX` when none.
    textures, materials
        What the indices refer to.
    """

    theme: str
    uv: Float32Array
    polygon_texture: Int32Array
    polygon_material: Int32Array
    textures: tuple[Texture, ...] = ()
    materials: tuple[Material, ...] = ()

    def __post_init__(self) -> None:
        if self.uv.ndim != 2 or self.uv.shape[1] != 2:
            raise ValueError(f"uv must have shape (N, 2), got {self.uv.shape}")
        if self.polygon_texture.shape != self.polygon_material.shape:
            raise ValueError("polygon_texture and polygon_material differ in length")
        for arr, items in (
            (self.polygon_texture, self.textures),
            (self.polygon_material, self.materials),
        ):
            if arr.size and (int(arr.max()) >= len(items) or int(arr.min()) < NO_INDEX):
                raise ValueError("a polygon texture/material index is out of range")
            arr.flags.writeable = False
        self.uv.flags.writeable = False

    @staticmethod
    def concat(
        parts: Sequence[tuple[SurfaceAppearance | None, int, int]], *, theme: str
    ) -> SurfaceAppearance | None:
        """Concatenate one theme's appearances of geometries ``(appearance, vertices, polygons)``.

        Geometries without appearance get NaN coordinates and no texture/material; equal
        textures and materials are merged. None when no geometry has an appearance.
        """
        for appearance, n_vertices, n_polygons in parts:
            if appearance is not None and (
                appearance.uv.shape[0] != n_vertices
                or appearance.polygon_texture.shape != (n_polygons,)
            ):
                raise ValueError("an appearance does not match its geometry's vertices/polygons")
        merged = _concat_tables(
            [(None if a is None else a.tables(), n, m) for a, n, m in parts],
            blank_uv=np.nan,
        )
        if merged is None:
            return None
        uv, texture, material, textures, materials = merged
        return SurfaceAppearance(
            theme=theme,
            uv=uv,
            polygon_texture=texture,
            polygon_material=material,
            textures=textures,
            materials=materials,
        )

    def tables(self) -> _Tables:
        """``(uv, polygon_texture, polygon_material, textures, materials)``."""
        return self.uv, self.polygon_texture, self.polygon_material, self.textures, self.materials

    def reordered(self, order: IndexArray) -> SurfaceAppearance:
        """The same appearance with its ring-vertex coordinates taken in ``order`` (``(N,)``)."""
        return SurfaceAppearance(
            theme=self.theme,
            uv=np.ascontiguousarray(self.uv[order]),
            polygon_texture=self.polygon_texture,
            polygon_material=self.polygon_material,
            textures=self.textures,
            materials=self.materials,
        )


@dataclass(frozen=True, slots=True)
class MeshAppearance:
    """Textures and materials of a triangle mesh (:class:`~citymodel.mesh.Mesh`).

    Attributes
    ----------
    uv
        ``(N, 2)`` float32 texture coordinate per mesh vertex (0 where untextured).
    triangle_texture
        ``(M,)`` int32 index into ``textures`` per triangle, :data:`NO_INDEX` when none.
    triangle_material
        ``(M,)`` int32 index into ``materials`` per triangle, :data:`NO_INDEX` when none.
    """

    uv: Float32Array
    triangle_texture: Int32Array
    triangle_material: Int32Array
    textures: tuple[Texture, ...] = ()
    materials: tuple[Material, ...] = ()

    @staticmethod
    def concat(
        parts: Sequence[tuple[MeshAppearance | None, int, int]],
    ) -> MeshAppearance | None:
        """Concatenate the appearances of meshes given as ``(appearance, vertices, triangles)``.

        Meshes without appearance get zero coordinates and no texture/material; equal textures
        and materials are merged. None when no mesh has an appearance.
        """
        merged = _concat_tables(
            [(None if a is None else a.tables(), n, m) for a, n, m in parts],
            blank_uv=0.0,
        )
        if merged is None:
            return None
        uv, texture, material, textures, materials = merged
        return MeshAppearance(
            uv=uv,
            triangle_texture=texture,
            triangle_material=material,
            textures=textures,
            materials=materials,
        )

    def tables(self) -> _Tables:
        """``(uv, triangle_texture, triangle_material, textures, materials)``."""
        return self.uv, self.triangle_texture, self.triangle_material, self.textures, self.materials

    def take(
        self,
        vertices: IndexArray | npt.NDArray[np.bool_],
        triangles: IndexArray | npt.NDArray[np.bool_],
    ) -> MeshAppearance:
        """The appearance of a sub-mesh: ``vertices``/``triangles`` as index arrays or masks."""
        return MeshAppearance(
            uv=self.uv[vertices],
            triangle_texture=self.triangle_texture[triangles],
            triangle_material=self.triangle_material[triangles],
            textures=self.textures,
            materials=self.materials,
        )


def merge_index(items: tuple[_T, ...], into: dict[_T, int]) -> Int32Array:
    """Where each of ``items`` lands in the growing table ``into`` (added when new).

    Returns ``(len(items) + 1,)`` int32; the last slot is :data:`NO_INDEX`, so indexing the
    result with codes that may be -1 maps them in one step.
    """
    lookup = np.empty(len(items) + 1, np.int32)
    lookup[-1] = NO_INDEX
    for i, item in enumerate(items):
        lookup[i] = into.setdefault(item, len(into))
    return lookup


_Tables = tuple[Float32Array, Int32Array, Int32Array, tuple[Texture, ...], tuple[Material, ...]]


def _concat_tables(
    parts: Sequence[tuple[_Tables | None, int, int]], *, blank_uv: float
) -> _Tables | None:
    """Concatenate ``(uv, texture per element, material per element, textures, materials)``.

    ``parts`` are ``(tables, vertices, elements)`` with elements being polygons or triangles;
    a part without tables gets ``blank_uv`` coordinates and no texture/material. Equal
    textures and materials are merged. None when no part has tables.
    """
    if all(t is None for t, _, _ in parts):
        return None
    textures: dict[Texture, int] = {}
    materials: dict[Material, int] = {}
    uvs: list[Float32Array] = []
    tex: list[Int32Array] = []
    mat: list[Int32Array] = []
    for tables, n_vertices, n_elements in parts:
        if tables is None:
            uvs.append(np.full((n_vertices, 2), blank_uv, np.float32))
            tex.append(np.full(n_elements, NO_INDEX, np.int32))
            mat.append(np.full(n_elements, NO_INDEX, np.int32))
            continue
        uv, texture, material, own_textures, own_materials = tables
        uvs.append(uv)
        tex.append(_remap(texture, own_textures, textures))
        mat.append(_remap(material, own_materials, materials))
    return (
        np.concatenate(uvs).astype(np.float32, copy=False),
        np.concatenate(tex),
        np.concatenate(mat),
        tuple(textures),
        tuple(materials),
    )


def _remap(codes: Int32Array, items: tuple[_T, ...], into: dict[_T, int]) -> Int32Array:
    """``codes`` (indices into ``items``, -1 for none) as indices into the table ``into``."""
    return merge_index(items, into)[codes]
