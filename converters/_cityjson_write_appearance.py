"""Appearances -> CityJSON ``appearance`` tables and per-geometry ``texture``/``material`` values.

The inverse of :mod:`citymodel.converters._cityjson_appearance`: the
:class:`~citymodel.model.appearance.SurfaceAppearance` of a geometry becomes

* entries of the ``materials`` and ``textures`` tables (equal ones stored once),
* ``vertices-texture`` rows (distinct ``(s, t)`` pairs of one geometry stored once),
* ``"texture": {theme: {"values": ...}}`` nested like the boundaries down to the rings
  (``[texture, uv_0, uv_1, ...]`` per ring, ``[[null]]`` for an untextured surface) and
  ``"material": {theme: {"values": [...]}}`` per surface.

Image files are referenced, not copied: the path is written relative to the output's folder
(``/`` separators), so the output and the images can be moved together; URLs are written as
read. Only an image that no relative path can reach (another drive) is copied into
``<output name>.textures/`` next to the output.
"""

from __future__ import annotations

import os
import re
import shutil
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from citymodel._typing import Float64Array, IndexArray
from citymodel.model import SurfaceGeometry
from citymodel.model.appearance import (
    NO_INDEX,
    Int32Array,
    Material,
    SurfaceAppearance,
    Texture,
    merge_index,
)

__all__ = ["AppearanceTables", "concat_appearance", "material_json", "texture_json"]

_URL: Final = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]+://")
_TYPES: Final = {
    "image/png": "PNG",
    "image/jpeg": "JPG",
    ".png": "PNG",
    ".jpg": "JPG",
    ".jpeg": "JPG",
}
_UV_DECIMALS: Final = 7
"""Texture coordinates are float32 in the model: 7 decimals keep them (error < 1e-7)."""


def concat_appearance(
    parts: Sequence[SurfaceGeometry],
) -> tuple[SurfaceAppearance | None, tuple[SurfaceAppearance, ...]]:
    """The rendered appearance and the themes of the geometries ``parts`` put one after another.

    Parts without an appearance (in a theme) are untextured there; the rendered appearance is
    named after the first part's. The themes are empty when the rendered appearance is the
    only one (:attr:`~citymodel.model.SurfaceGeometry.themes`).
    """
    rendered = _concat(parts, [g.appearance for g in parts])
    names = dict.fromkeys(a.theme for g in parts for a in g.appearances)
    if len(names) <= 1 and not any(g.themes for g in parts):
        return rendered, ()
    themes = (
        _concat(parts, [next((a for a in g.appearances if a.theme == name), None) for g in parts])
        for name in names
    )
    return rendered, tuple(t for t in themes if t is not None)


def _concat(
    parts: Sequence[SurfaceGeometry], looks: Sequence[SurfaceAppearance | None]
) -> SurfaceAppearance | None:
    """``looks`` (one per part, None: untextured) as one appearance; None when all are None."""
    first = next((a for a in looks if a is not None), None)
    if first is None:
        return None
    textures: dict[Texture, int] = {}
    materials: dict[Material, int] = {}
    uvs: list[npt.NDArray[np.float32]] = []
    tex: list[Int32Array] = []
    mat: list[Int32Array] = []
    for g, look in zip(parts, looks, strict=True):
        if look is None:
            uvs.append(np.full((g.vertex_count, 2), np.nan, np.float32))
            tex.append(np.full(g.polygon_count, NO_INDEX, np.int32))
            mat.append(np.full(g.polygon_count, NO_INDEX, np.int32))
            continue
        uvs.append(look.uv)
        tex.append(merge_index(look.textures, textures)[look.polygon_texture])
        mat.append(merge_index(look.materials, materials)[look.polygon_material])
    return SurfaceAppearance(
        theme=first.theme,
        uv=np.concatenate(uvs).astype(np.float32, copy=False),
        polygon_texture=np.concatenate(tex),
        polygon_material=np.concatenate(mat),
        textures=tuple(textures),
        materials=tuple(materials),
    )


def material_json(material: Material, index: int) -> dict[str, Any]:
    """A CityJSON material (``name`` is required: ``material-<index>`` when the model has none)."""
    return {
        "name": material.name if material.name is not None else f"material-{index}",
        "ambientIntensity": material.ambient_intensity,
        "diffuseColor": list(material.diffuse),
        "emissiveColor": list(material.emissive),
        "specularColor": list(material.specular),
        "shininess": material.shininess,
        "transparency": material.transparency,
        "isSmooth": material.is_smooth,
    }


def texture_json(texture: Texture, image: str) -> tuple[dict[str, Any], bool]:
    """A CityJSON texture naming ``image``; the flag is False when the image is no PNG/JPEG."""
    kind = _TYPES.get(texture.mime_type or "") or _TYPES.get(Path(image).suffix.lower())
    out: dict[str, Any] = {"type": kind or "PNG", "image": image}
    if texture.wrap != "none":
        out["wrapMode"] = texture.wrap
    if texture.border_color is not None:
        out["borderColor"] = list(texture.border_color)
    return out, kind is not None


@dataclass(slots=True)
class AppearanceTables:
    """Material, texture and texture-vertex tables of one output (or one CityJSONSeq line).

    Attributes
    ----------
    output
        The output file (image paths are written relative to its folder).
    uv_offset
        Texture vertices written before the pending ones (document: all earlier features).
    """

    output: Path
    textures: dict[Texture, int] = field(default_factory=dict)
    materials: dict[Material, int] = field(default_factory=dict)
    uv_offset: int = 0
    texture_themes: Counter[str] = field(default_factory=Counter)
    """Geometries rendering the textures of a theme (the most frequent one is the default)."""
    material_themes: Counter[str] = field(default_factory=Counter)
    """Geometries rendering the materials of a theme (the most frequent one is the default)."""
    notes: list[str] = field(default_factory=list)
    """What the report should say (copied images, unknown image types)."""
    images: dict[str, str] = field(default_factory=dict)
    """Image -> the reference written (shared by the tables of one output)."""
    _pending: list[Float64Array] = field(default_factory=list)
    _pending_count: int = 0

    def geometry_members(
        self,
        geometry: SurfaceGeometry,
        keep: npt.NDArray[np.bool_] | None,
        ring_offsets: IndexArray,
    ) -> dict[str, Any]:
        """``texture``/``material`` members of a geometry, one entry per theme (empty without).

        ``keep`` marks the ring vertices written (None: all), ``ring_offsets`` are the offsets
        of the written rings.
        """
        textures: dict[str, Any] = {}
        materials: dict[str, Any] = {}
        solid = geometry.solid
        for app in geometry.appearances:
            poly_tex = merge_index(app.textures, self.textures)[app.polygon_texture]
            poly_mat = merge_index(app.materials, self.materials)[app.polygon_material]
            if (poly_mat >= 0).any():
                values: list[Any] = [None if m < 0 else m for m in poly_mat.tolist()]
                materials[app.theme] = {"values": [values] if solid else values}
            if (poly_tex >= 0).any():
                surfaces = self._texture_values(geometry, app.uv, keep, ring_offsets, poly_tex)
                textures[app.theme] = {"values": [surfaces] if solid else surfaces}
        self._count_rendered(geometry, textures, materials)
        out: dict[str, Any] = {}
        if materials:
            out["material"] = materials
        if textures:
            out["texture"] = textures
        return out

    def _count_rendered(
        self, geometry: SurfaceGeometry, textures: dict[str, Any], materials: dict[str, Any]
    ) -> None:
        """Count the themes whose textures and materials the geometry renders (the defaults)."""
        rendered = geometry.appearance
        if rendered is None:
            return
        if rendered.theme in textures:
            self.texture_themes[rendered.theme] += 1
        for app in geometry.appearances:  # the theme whose materials are the rendered ones
            if (
                app.theme in materials
                and app.materials == rendered.materials
                and np.array_equal(app.polygon_material, rendered.polygon_material)
            ):
                self.material_themes[app.theme] += 1
                break

    def _texture_values(
        self,
        geometry: SurfaceGeometry,
        uv_all: npt.NDArray[np.float32],
        keep: npt.NDArray[np.bool_] | None,
        ring_offsets: IndexArray,
        poly_tex: npt.NDArray[np.int32],
    ) -> list[Any]:
        uv = uv_all if keep is None else uv_all[keep]
        rings_per_polygon = np.diff(geometry.polygon_offsets)
        sizes = np.diff(ring_offsets)
        vertex_polygon = np.repeat(np.repeat(np.arange(len(poly_tex)), rings_per_polygon), sizes)
        missing = ~np.isfinite(uv).all(axis=1) & (poly_tex[vertex_polygon] >= 0)
        if missing.any():  # a textured polygon needs a coordinate at every vertex
            poly_tex = poly_tex.copy()
            poly_tex[vertex_polygon[missing]] = -1
            self.notes.append(
                "textured polygons without texture coordinates at some vertices written untextured"
            )
        textured = poly_tex[vertex_polygon] >= 0
        rows = np.asarray(np.round(uv[textured].astype(np.float64), _UV_DECIMALS), np.float64)
        unique, inverse = np.unique(rows, axis=0, return_inverse=True)
        index = np.full(len(uv), -1, dtype=np.int64)
        index[textured] = inverse.reshape(-1) + self.uv_offset + self._pending_count
        self._pending.append(np.asarray(unique, dtype=np.float64))
        self._pending_count += len(unique)
        flat = index.tolist()
        offsets = ring_offsets.tolist()
        polygon_offsets = geometry.polygon_offsets.tolist()
        surfaces: list[Any] = []
        for p, t in enumerate(poly_tex.tolist()):
            first, last = polygon_offsets[p], polygon_offsets[p + 1]
            if t < 0:
                surfaces.append([[None]])
                continue
            surfaces.append([[t, *flat[offsets[r] : offsets[r + 1]]] for r in range(first, last)])
        return surfaces

    def take_uv(self) -> Float64Array:
        """The texture vertices added since the last call (they are counted as written)."""
        rows = np.concatenate(self._pending) if self._pending else np.zeros((0, 2))
        self.uv_offset += self._pending_count
        self._pending.clear()
        self._pending_count = 0
        return rows

    def tables_json(self) -> dict[str, Any]:
        """``materials``, ``textures`` and the default themes (no ``vertices-texture``)."""
        out: dict[str, Any] = {}
        if self.materials:
            out["materials"] = [material_json(m, i) for i, m in enumerate(self.materials)]
        if self.textures:
            out["textures"] = [self._texture(t) for t in self.textures]
        if self.textures and self.texture_themes:
            out["default-theme-texture"] = self.texture_themes.most_common(1)[0][0]
        if self.materials and self.material_themes:
            out["default-theme-material"] = self.material_themes.most_common(1)[0][0]
        return out

    def _texture(self, texture: Texture) -> dict[str, Any]:
        image = self.image_reference(texture.image)
        out, known = texture_json(texture, image)
        if not known:
            self.notes.append(
                f"texture {image}: CityJSON holds PNG and JPEG images; written with type PNG"
            )
        return out

    def image_reference(self, image: str) -> str:
        """What the output names ``image`` (an absolute path or URL, as the readers keep it).

        A path relative to the output's folder; the URL as it is; a copy next to the output
        when no relative path reaches the image.
        """
        done = self.images.get(image)
        if done is not None:
            return done
        if _URL.match(image):
            ref = image
        else:
            folder = self.output.resolve().parent
            try:
                ref = Path(os.path.relpath(image, folder)).as_posix()
            except ValueError:  # another drive: no relative path reaches it
                ref = self._copy(Path(image), folder)
        self.images[image] = ref
        return ref

    def _copy(self, image: Path, folder: Path) -> str:
        target_dir = folder / f"{self.output.name}.textures"
        target = target_dir / f"{len(self.images)}_{image.name}"
        try:
            target_dir.mkdir(exist_ok=True)
            shutil.copyfile(image, target)
        except OSError as err:
            self.notes.append(f"texture {image}: cannot be copied next to the output ({err})")
            return image.as_posix()
        self.notes.append(f"texture {image}: on another drive; copied to {target}")
        return target.relative_to(folder).as_posix()
