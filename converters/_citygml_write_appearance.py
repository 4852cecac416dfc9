"""Appearances -> CityGML 2.0/3.0 local appearances of the object that owns the surfaces.

One ``app:Appearance`` per object and theme (every theme of the geometries,
:attr:`~citymodel.model.SurfaceGeometry.appearances`) holds an ``app:X3DMaterial`` per
material (its ``app:target`` elements name the polygons) and an ``app:ParameterizedTexture``
per texture with an ``app:TexCoordList`` per polygon: ``textureCoordinates`` per ring, closed
like the ring's ``posList``.

The two versions differ in where things go (the tag names come from the reader's
:class:`~citymodel.converters._citygml_appearance.AppearanceNames`, so what is written is what
is read):

* CityGML 2.0: ``app:appearance`` / ``app:surfaceDataMember``; a texture target is
  ``app:target uri="#polygon"`` holding the list, each ``textureCoordinates ring="#ring"``.
* CityGML 3.0: ``core:appearance`` / ``app:surfaceData``; a texture target is an
  ``app:textureParameterization/app:TextureAssociation`` with ``app:target`` (element text
  ``#polygon``) and its own ``app:textureParameterization`` holding the list, whose
  ``textureCoordinates`` are followed by one ``app:ring`` (``#ring``) each, in the same order.

Polygon and ring ids are the ones the writer gives them (:func:`polygon_id`, :func:`ring_id`).
Image references are relative to the output
(:meth:`~citymodel.converters._cityjson_write_appearance.AppearanceTables.image_reference`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np

from citymodel._typing import Float64Array
from citymodel.converters._citygml_appearance import APPEARANCE_NAMESPACES, AppearanceNames
from citymodel.model import SurfaceGeometry
from citymodel.model.appearance import Material, SurfaceAppearance, Texture

__all__ = ["APP2", "APP3", "is_closed", "polygon_id", "ring_id", "write_local_appearance"]

APP2: Final = APPEARANCE_NAMESPACES[1]
APP3: Final = APPEARANCE_NAMESPACES[2]
_NAMES: Final = {"2.0": AppearanceNames(APP2), "3.0": AppearanceNames(APP3)}
_DECIMALS: Final = 7

_RingTexts = list[tuple[str, str]]
"""``(ring id, texture coordinate text)`` of the rings of one polygon."""


def is_closed(ring: Float64Array) -> bool:
    """Whether ``ring`` (``(N, 3)``) already repeats its first vertex at the end."""
    return len(ring) > 3 and bool(np.array_equal(ring[0], ring[-1]))


def polygon_id(fid: str, lod: str, p: int) -> str:
    """``gml:id`` of polygon ``p`` of the LoD ``lod`` geometry of object ``fid``."""
    return f"{fid}_p{lod}_{p}"


def ring_id(pid: str, k: int) -> str:
    """``gml:id`` of ring ``k`` (0: exterior) of polygon ``pid``."""
    return f"{pid}_r{k}"


def _numbers(values: Iterable[float]) -> str:
    """Texture coordinates (float32 in the model): 7 decimals keep them."""
    rounded: list[float] = np.round(np.asarray(list(values), np.float64), _DECIMALS).tolist()
    return " ".join(map(repr, rounded))


def _exact(values: Iterable[float]) -> str:
    """Colours as they are (the shortest text that reads back to the same float)."""
    return " ".join(repr(float(v)) for v in values)


@dataclass(slots=True)
class _Theme:
    """What one theme of an object targets: polygons per material, rings per texture."""

    materials: dict[Material, list[str]] = field(default_factory=dict)
    textures: dict[Texture, list[tuple[str, _RingTexts]]] = field(default_factory=dict)


def _collect(
    fid: str, lod: str, g: SurfaceGeometry, app: SurfaceAppearance, written: set[int], into: _Theme
) -> None:
    """Add the written polygons of ``g`` that ``app`` gives a material or texture."""
    ro = g.ring_offsets
    po = g.polygon_offsets
    for p, (t, m) in enumerate(
        zip(app.polygon_texture.tolist(), app.polygon_material.tolist(), strict=True)
    ):
        if p not in written:
            continue
        pid = polygon_id(fid, lod, p)
        if m >= 0:
            into.materials.setdefault(app.materials[m], []).append(pid)
        if t < 0:
            continue
        rings: _RingTexts = []
        for k, r in enumerate(range(int(po[p]), int(po[p + 1]))):
            uv = app.uv[int(ro[r]) : int(ro[r + 1])].astype(np.float64)
            if not np.isfinite(uv).all():
                rings = []
                break
            ring = g.vertices[int(ro[r]) : int(ro[r + 1])]
            closed = uv if is_closed(ring) else np.concatenate([uv, uv[:1]])
            rings.append((ring_id(pid, k), _numbers(closed.ravel())))
        if rings:
            into.textures.setdefault(app.textures[t], []).append((pid, rings))


class _Emitter:
    """Writes the elements of one version through lxml's ``xmlfile`` writer ``xf``."""

    def __init__(self, xf: Any, names: AppearanceNames) -> None:
        self.xf = xf
        self.n = names

    def leaf(self, tag: str, text: str, attrib: dict[str, str] | None = None) -> None:
        with self.xf.element(tag, attrib or {}):
            self.xf.write(text)

    def appearance(self, theme: str, look: _Theme, image_reference: Callable[[str], str]) -> None:
        xf, n = self.xf, self.n
        with xf.element(n.appearance_property), xf.element(n.appearance):
            self.leaf(n.theme, theme)
            for material, targets in look.materials.items():
                with xf.element(n.surface_data_member):
                    self.material(material, targets)
            for texture, texture_targets in look.textures.items():
                with xf.element(n.surface_data_member):
                    self.texture(texture, image_reference(texture.image), texture_targets)

    def material(self, material: Material, targets: list[str]) -> None:
        n = self.n
        with self.xf.element(n.material):
            self.leaf(n.ambient, repr(material.ambient_intensity))
            self.leaf(n.diffuse, _exact(material.diffuse))
            self.leaf(n.emissive, _exact(material.emissive))
            self.leaf(n.specular, _exact(material.specular))
            self.leaf(n.shininess, repr(material.shininess))
            self.leaf(n.transparency, repr(material.transparency))
            self.leaf(n.is_smooth, "true" if material.is_smooth else "false")
            for target in targets:
                self.leaf(n.target, f"#{target}")

    def texture(self, texture: Texture, image: str, targets: list[tuple[str, _RingTexts]]) -> None:
        xf, n = self.xf, self.n
        with xf.element(n.parameterized):
            self.leaf(n.image_uri, image)
            if texture.mime_type is not None:
                self.leaf(n.mime_type, texture.mime_type)
            if texture.wrap != "none":
                self.leaf(n.wrap_mode, texture.wrap)
            if texture.border_color is not None:
                self.leaf(n.border_color, _exact(texture.border_color))
            for pid, rings in targets:
                if n.associations:
                    with (
                        xf.element(n.texture_parameterization),
                        xf.element(n.texture_association),
                    ):
                        self.leaf(n.target, f"#{pid}")
                        with xf.element(n.texture_parameterization):
                            self.coordinates(rings)
                else:
                    with xf.element(n.target, {"uri": f"#{pid}"}):
                        self.coordinates(rings)

    def coordinates(self, rings: _RingTexts) -> None:
        n = self.n
        with self.xf.element(n.tex_coord_list):
            if n.associations:  # 3.0: the coordinate lists, then their rings in that order
                for _, text in rings:
                    self.leaf(n.texture_coordinates, text)
                for rid, _ in rings:
                    self.leaf(n.ring, f"#{rid}")
            else:
                for rid, text in rings:
                    self.leaf(n.texture_coordinates, text, {"ring": f"#{rid}"})


def write_local_appearance(
    xf: Any,
    fid: str,
    geometries: Iterable[tuple[str, SurfaceGeometry, set[int]]],
    image_reference: Callable[[str], str],
    *,
    version: str = "2.0",
) -> None:
    """The local appearance properties of one object, one per theme (nothing without any).

    The rendered theme comes first, so that a reader that renders the first theme it meets
    renders the same one. ``geometries``: ``(written LoD, geometry, polygons written)``; only written polygons are
    targeted. Texture coordinates are ``(s, t)`` as in the model. ``version``: ``"2.0"`` or
    ``"3.0"`` (the namespaces the document declares).
    """
    by_theme: dict[str, _Theme] = {}
    for lod, g, written in geometries:
        if g.appearance is not None:  # the rendered theme first: readers render the first met
            by_theme.setdefault(g.appearance.theme, _Theme())
        for app in g.appearances:
            _collect(fid, lod, g, app, written, by_theme.setdefault(app.theme, _Theme()))
    emitter = _Emitter(xf, _NAMES[version])
    for theme, look in by_theme.items():
        if look.materials or look.textures:
            emitter.appearance(theme, look, image_reference)
