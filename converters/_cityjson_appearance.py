"""CityJSON appearances: ``materials``, ``textures``, ``vertices-texture`` and per-surface values.

A document's ``appearance`` holds the material and texture tables and the texture
coordinates (``vertices-texture``); each geometry names, per theme, a texture and texture
coordinate indices per ring (``"texture": {theme: {"values": ...}}``, nested like the
boundaries down to the rings: ``[texture, uv_0, uv_1, ...]`` with one coordinate per ring
vertex, ``[[null]]`` / ``null`` for an untextured surface) and a material per surface
(``"material": {theme: {"values": [...]}}`` nested like the surfaces, or ``{"value": i}`` for
all surfaces).

Every theme is read (``SurfaceGeometry.themes``: per theme name its textures and its
materials, for interchange output); the rendered appearance (``SurfaceGeometry.appearance``)
combines the textures of ``--theme`` if given, else of ``default-theme-texture``, with the
materials of ``--theme``, else of ``default-theme-material`` (else the first theme met of
each). Image paths are resolved against the
folder of the CityJSON file. Invalid appearance data of a geometry (indices out of range, not
integers, counts that do not match the rings) leave that geometry untextured and are
reported per object; its geometry is still converted.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

import numpy as np

from citymodel._typing import Float32Array, IndexArray
from citymodel.model.appearance import (
    NO_INDEX,
    WRAP_MODES,
    Int32Array,
    Material,
    SurfaceAppearance,
    Texture,
)

__all__ = ["AppearanceProblem", "DocumentLook", "PartLook", "decode_look", "merge_looks"]

_MIME: Final = {"PNG": "image/png", "JPG": "image/jpeg", "JPEG": "image/jpeg"}


class AppearanceProblem(ValueError):
    """Appearance data of a geometry that cannot be used; the message says why."""


def _index(value: object, limit: int, what: str) -> int:
    """``value`` as an index below ``limit``; raises :class:`AppearanceProblem` otherwise."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise AppearanceProblem(f"{what} {value!r:.20} is not an integer")
    if not 0 <= value < limit:
        raise AppearanceProblem(f"{what} {value} out of range ({limit} available)")
    return value


def _color(value: object, default: tuple[float, float, float]) -> tuple[float, float, float]:
    if (
        isinstance(value, list)
        and len(value) == 3
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    ):
        r, g, b = (min(max(float(v), 0.0), 1.0) for v in value)
        return r, g, b
    return default


def _unit(value: object, default: float) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return min(max(float(value), 0.0), 1.0)
    return default


def _material(raw: object) -> Material:
    d = raw if isinstance(raw, dict) else {}
    base = Material()
    return Material(
        diffuse=_color(d.get("diffuseColor"), base.diffuse),
        emissive=_color(d.get("emissiveColor"), base.emissive),
        specular=_color(d.get("specularColor"), base.specular),
        shininess=_unit(d.get("shininess"), base.shininess),
        transparency=_unit(d.get("transparency"), base.transparency),
        ambient_intensity=_unit(d.get("ambientIntensity"), base.ambient_intensity),
        is_smooth=d.get("isSmooth") is True,
        name=d.get("name") if isinstance(d.get("name"), str) else None,
    )


def _texture(raw: object, base: Path | None) -> Texture | None:
    d = raw if isinstance(raw, dict) else {}
    image = d.get("image")
    if not isinstance(image, str) or not image.strip():
        return None
    from citymodel.converters._citygml_appearance import resolve_image

    wrap = d.get("wrapMode")
    wrap = wrap if isinstance(wrap, str) and wrap in WRAP_MODES else "none"
    border = d.get("borderColor")
    border_rgba = None
    if (
        wrap == "border"
        and isinstance(border, list)
        and len(border) == 4
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in border)
    ):
        border_rgba = (float(border[0]), float(border[1]), float(border[2]), float(border[3]))
    kind = d.get("type")
    return Texture(
        image=resolve_image(image.strip(), base),
        wrap=wrap,  # type: ignore[arg-type]
        border_color=border_rgba,
        mime_type=_MIME.get(kind.upper()) if isinstance(kind, str) else None,
    )


@dataclass(slots=True)
class DocumentLook:
    """The appearance tables of one CityJSON document (or CityJSONSeq header + feature).

    Attributes
    ----------
    textures, materials
        The document's tables (None entries: unusable texture objects).
    uv
        ``(K, 2)`` float64 ``vertices-texture``.
    texture_theme, material_theme
        The theme read for textures and materials (None: decided by the first geometry).
    themes
        Every theme seen (for ``info``).
    problems
        Document-level problems (reported once by the reader).
    all_themes
        Decode every theme of a geometry, not only the rendered textures and materials.
    """

    textures: list[Texture | None]
    materials: list[Material]
    uv: Any
    texture_theme: str | None
    material_theme: str | None
    themes: dict[str, None] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    all_themes: bool = True

    @classmethod
    def from_document(
        cls, appearance: object, base: Path | None, theme: str | None, *, all_themes: bool = True
    ) -> DocumentLook | None:
        """Tables of an ``appearance`` member; None when it is absent or empty."""
        if not isinstance(appearance, dict) or not appearance:
            return None
        problems: list[str] = []
        raw_textures = appearance.get("textures") or []
        raw_materials = appearance.get("materials") or []
        if not isinstance(raw_textures, list):
            problems.append('"textures" is not a list; ignored')
            raw_textures = []
        if not isinstance(raw_materials, list):
            problems.append('"materials" is not a list; ignored')
            raw_materials = []
        textures = [_texture(t, base) for t in raw_textures]
        bad = sum(t is None for t in textures)
        if bad:
            problems.append(f"{bad} texture(s) without an image; their surfaces are untextured")
        materials = [_material(m) for m in raw_materials]
        invisible = [i for i, m in enumerate(materials) if m.transparency >= 1.0]
        if invisible:
            listed = ", ".join(map(str, invisible[:5])) + (", ..." if len(invisible) > 5 else "")
            problems.append(
                f"{len(invisible)} material(s) with transparency 1.0 (index {listed}) make the "
                "surfaces they are on invisible (0 is opaque, 1 fully transparent); if the "
                "source meant opacity, correct the values there"
            )
        uv = cls.texture_vertices(appearance.get("vertices-texture"), problems)
        default_tex = appearance.get("default-theme-texture")
        default_mat = appearance.get("default-theme-material")
        return cls(
            textures=textures,
            materials=materials,
            uv=uv,
            texture_theme=theme or (default_tex if isinstance(default_tex, str) else None),
            material_theme=theme or (default_mat if isinstance(default_mat, str) else None),
            problems=problems,
            all_themes=all_themes,
        )

    @staticmethod
    def texture_vertices(raw: object, problems: list[str]) -> Any:
        """``vertices-texture`` as ``(K, 2)`` float64 (empty when missing or malformed)."""
        if raw is None:
            return np.zeros((0, 2), dtype=np.float64)
        try:
            uv = np.asarray(raw, dtype=np.float64)
        except (TypeError, ValueError, OverflowError):
            uv = np.zeros((0, 3))
        if uv.ndim != 2 or uv.shape[1] != 2 or not np.isfinite(uv).all():
            if len(raw) if isinstance(raw, list) else True:
                problems.append('"vertices-texture" is not a list of [u, v] numbers; ignored')
            return np.zeros((0, 2), dtype=np.float64)
        return uv

    def with_vertices(self, raw: object) -> DocumentLook:
        """A copy using another ``vertices-texture`` list (a CityJSONSeq feature's own)."""
        problems: list[str] = []
        return DocumentLook(
            textures=self.textures,
            materials=self.materials,
            uv=self.texture_vertices(raw, problems),
            texture_theme=self.texture_theme,
            material_theme=self.material_theme,
            themes=self.themes,
            problems=problems,
            all_themes=self.all_themes,
        )

    def _pick(self, by_theme: object, current: str | None) -> tuple[object, str | None]:
        if not isinstance(by_theme, dict) or not by_theme:
            return None, current
        for name in by_theme:
            if isinstance(name, str):
                self.themes.setdefault(name, None)
        if current is None:
            current = next(iter(by_theme))
        return by_theme.get(current), current


@dataclass(frozen=True, slots=True)
class PartLook:
    """Appearance of one decoded geometry part (document-wide texture/material indices).

    ``theme`` names it; the rendered look of a part also carries, in ``themes``, the look of
    every theme of the part when that is more than itself (empty otherwise).
    """

    uv: Float32Array  # (N, 2) per kept ring vertex, NaN untextured
    polygon_texture: Int32Array
    polygon_material: Int32Array
    theme: str = ""
    themes: tuple[PartLook, ...] = ()

    def reordered(self, order: IndexArray) -> PartLook:
        """The same look with its ring-vertex coordinates taken in ``order`` (every theme)."""
        return PartLook(
            uv=np.ascontiguousarray(self.uv[order]),
            polygon_texture=self.polygon_texture,
            polygon_material=self.polygon_material,
            theme=self.theme,
            themes=tuple(t.reordered(order) for t in self.themes),
        )

    def of_theme(self, theme: str) -> PartLook | None:
        """The look of ``theme`` (None: the part has none in that theme)."""
        if not self.themes:
            return self if self.theme == theme else None
        return next((t for t in self.themes if t.theme == theme), None)


def _flatten(values: object, depth: int, what: str) -> list[object]:
    """The per-surface items of ``values`` nested ``depth`` levels like the boundaries."""
    if depth == 0:
        return [values]
    if not isinstance(values, list):
        raise AppearanceProblem(f"{what} values must be nested lists")
    out: list[object] = []
    for member in values:
        out.extend(_flatten(member, depth - 1, what) if depth > 1 else [member])
    return out


def decode_look(
    geom: Mapping[str, Any],
    depth: int,
    written_sizes: IndexArray,
    closed: Any,
    polygon_rings: IndexArray,
    look: DocumentLook,
) -> PartLook | None:
    """The rendered appearance of a geometry with its themes, aligned with its decoded rings.

    ``written_sizes`` are the ring sizes as written, ``closed`` flags rings whose closing vertex
    was dropped (their last coordinate is dropped too).

    Raises
    ------
    AppearanceProblem
        Indices out of range or not integers, structure not matching the boundaries.
    """
    by_texture, by_material = geom.get("texture"), geom.get("material")
    tex_spec, look.texture_theme = look._pick(by_texture, look.texture_theme)
    mat_spec, look.material_theme = look._pick(by_material, look.material_theme)
    if (
        tex_spec is None
        and mat_spec is None
        and not (look.all_themes and (by_texture or by_material))
    ):
        return None
    shape = (depth, written_sizes, closed, polygon_rings, look)
    theme = (look.texture_theme if tex_spec is not None else look.material_theme) or ""
    if not look.all_themes:
        return _decode(tex_spec, mat_spec, theme, *shape)
    textures = by_texture if isinstance(by_texture, dict) else {}
    materials = by_material if isinstance(by_material, dict) else {}
    specs = {
        name: (textures.get(name), materials.get(name))
        for name in dict.fromkeys([*textures, *materials])
        if isinstance(name, str)
    }
    themes = [_decode(t, m, name, *shape) for name, (t, m) in specs.items()]
    # the rendered look is one theme's when its textures and materials are both that theme's
    rendered = next(
        (t for t in themes if specs[t.theme][0] is tex_spec and specs[t.theme][1] is mat_spec),
        None,
    )
    if rendered is None:  # textures of one theme, materials of another
        rendered = _decode(tex_spec, mat_spec, theme, *shape)
    if len(themes) == 1 and themes[0] is rendered:
        return rendered
    return replace(rendered, themes=tuple(themes))


def _decode(
    tex_spec: object,
    mat_spec: object,
    theme: str,
    depth: int,
    written_sizes: IndexArray,
    closed: Any,
    polygon_rings: IndexArray,
    look: DocumentLook,
) -> PartLook:
    """The look of one ``texture`` and one ``material`` theme entry of a geometry."""
    polygons = len(polygon_rings)
    poly_mat = np.full(polygons, NO_INDEX, np.int32)
    if isinstance(mat_spec, dict):
        if "value" in mat_spec and mat_spec["value"] is not None:
            poly_mat[:] = _index(mat_spec["value"], len(look.materials), "material")
        elif "values" in mat_spec:
            items = _flatten(mat_spec["values"], depth, "material")
            if len(items) != polygons:
                raise AppearanceProblem(
                    f"material values name {len(items)} surfaces, the geometry has {polygons}"
                )
            poly_mat[:] = [
                NO_INDEX if v is None else _index(v, len(look.materials), "material") for v in items
            ]
    poly_tex = np.full(polygons, NO_INDEX, np.int32)
    total = int(written_sizes.sum())
    uv_index = np.full(total, -1, dtype=np.int64)
    if isinstance(tex_spec, dict) and "values" in tex_spec:
        surfaces = _flatten(tex_spec["values"], depth, "texture")
        if len(surfaces) != polygons:
            raise AppearanceProblem(
                f"texture values name {len(surfaces)} surfaces, the geometry has {polygons}"
            )
        ring_start = np.zeros(len(written_sizes) + 1, dtype=np.int64)
        np.cumsum(written_sizes, out=ring_start[1:])
        first_ring = np.zeros(polygons + 1, dtype=np.int64)
        np.cumsum(polygon_rings, out=first_ring[1:])
        n_uv = len(look.uv)
        for p, surface in enumerate(surfaces):
            if surface is None or not isinstance(surface, list) or not surface:
                continue
            if all(r is None or r == [None] for r in surface):
                continue
            if len(surface) != int(polygon_rings[p]):
                raise AppearanceProblem(
                    f"surface {p}: texture values for {len(surface)} rings, it has "
                    f"{int(polygon_rings[p])}"
                )
            texture: int | None = None
            for k, ring in enumerate(surface):
                r = int(first_ring[p]) + k
                if not isinstance(ring, list) or not ring or ring[0] is None:
                    raise AppearanceProblem(f"surface {p}, ring {k}: no texture index")
                t = _index(ring[0], len(look.textures), "texture")
                if texture is not None and t != texture:
                    raise AppearanceProblem(f"surface {p}: rings name different textures")
                texture = t
                size = int(written_sizes[r])
                if len(ring) - 1 != size:
                    raise AppearanceProblem(
                        f"surface {p}, ring {k}: {len(ring) - 1} texture coordinates for "
                        f"{size} vertices"
                    )
                try:
                    idx = np.fromiter(ring[1:], dtype=np.float64, count=size)
                except (TypeError, ValueError, OverflowError):
                    raise AppearanceProblem(
                        f"surface {p}, ring {k}: texture coordinate indices must be integers"
                    ) from None
                if not np.array_equal(idx, np.trunc(idx)):
                    raise AppearanceProblem(
                        f"surface {p}, ring {k}: texture coordinate indices must be integers"
                    )
                if size and (idx.min() < 0 or idx.max() >= n_uv):
                    raise AppearanceProblem(
                        f"surface {p}, ring {k}: texture coordinate index out of range "
                        f"({n_uv} in vertices-texture)"
                    )
                uv_index[int(ring_start[r]) : int(ring_start[r]) + size] = idx.astype(np.int64)
            if texture is not None and look.textures[texture] is not None:
                poly_tex[p] = texture
    keep = np.ones(total, dtype=np.bool_)
    if closed is not None and np.any(closed):
        ends = np.cumsum(written_sizes)
        keep[(ends - 1)[closed]] = False
    uv_index = uv_index[keep]
    uv = np.full((uv_index.shape[0], 2), np.nan, np.float32)
    has = uv_index >= 0
    uv[has] = look.uv[uv_index[has]]
    return PartLook(uv=uv, polygon_texture=poly_tex, polygon_material=poly_mat, theme=theme)


def merge_looks(
    looks: Sequence[PartLook | None],
    vertex_counts: Sequence[int],
    polygon_counts: Sequence[int],
    document: DocumentLook | None,
) -> tuple[SurfaceAppearance | None, tuple[SurfaceAppearance, ...]]:
    """The rendered appearance and the themes of parts merged into one geometry.

    Tables are compacted; the themes are empty when the rendered appearance is the only one
    (:attr:`~citymodel.model.SurfaceGeometry.themes`).
    """
    if document is None or all(look is None for look in looks):
        return None, ()
    rendered = _merged(looks, vertex_counts, polygon_counts, document)
    if all(look is None or not look.themes for look in looks):
        return rendered, ()
    names = dict.fromkeys(t.theme for look in looks if look is not None for t in look.themes)
    names.update(dict.fromkeys(look.theme for look in looks if look is not None))
    themes: list[SurfaceAppearance] = []
    for name in names:
        merged = _merged(
            [None if look is None else look.of_theme(name) for look in looks],
            vertex_counts,
            polygon_counts,
            document,
        )
        if merged is not None:
            themes.append(merged)
    return rendered, tuple(themes)


def _merged(
    looks: Sequence[PartLook | None],
    vertex_counts: Sequence[int],
    polygon_counts: Sequence[int],
    document: DocumentLook,
) -> SurfaceAppearance | None:
    """The :class:`SurfaceAppearance` of the looks of one theme of the parts."""
    theme = next((look.theme for look in looks if look is not None), None)
    if theme is None:
        return None
    uvs: list[Float32Array] = []
    tex: list[Int32Array] = []
    mat: list[Int32Array] = []
    for look, nv, npoly in zip(looks, vertex_counts, polygon_counts, strict=True):
        if look is None:
            uvs.append(np.full((nv, 2), np.nan, np.float32))
            tex.append(np.full(npoly, NO_INDEX, np.int32))
            mat.append(np.full(npoly, NO_INDEX, np.int32))
        else:
            uvs.append(look.uv)
            tex.append(look.polygon_texture)
            mat.append(look.polygon_material)
    poly_tex = np.concatenate(tex)
    poly_mat = np.concatenate(mat)
    if (poly_tex == NO_INDEX).all() and (poly_mat == NO_INDEX).all():
        return None
    used_tex, tex_codes = _compact(poly_tex)
    used_mat, mat_codes = _compact(poly_mat)
    textures = tuple(t for i in used_tex if (t := document.textures[i]) is not None)
    return SurfaceAppearance(
        theme=theme,
        uv=np.concatenate(uvs),
        polygon_texture=tex_codes,
        polygon_material=mat_codes,
        textures=textures,
        materials=tuple(document.materials[i] for i in used_mat),
    )


def _compact(codes: Int32Array) -> tuple[list[int], Int32Array]:
    """Used table indices (ascending) and ``codes`` renumbered over them (-1 kept)."""
    used = np.unique(codes[codes >= 0])
    lookup = np.full(int(used.max()) + 2 if used.size else 1, NO_INDEX, np.int32)
    lookup[used] = np.arange(used.size, dtype=np.int32)
    return used.tolist(), lookup[codes]
