"""Appearances -> CityGML 2.0 local ``app:appearance`` of the object that owns the surfaces.

One ``app:Appearance`` per object and theme holds an ``app:X3DMaterial`` per material (its
``app:target`` elements name the polygons) and an ``app:ParameterizedTexture`` per texture
(``app:target uri="#polygon"`` with an ``app:TexCoordList``: ``textureCoordinates`` per ring,
``ring="#ring id"``, closed like the ring's ``posList``). Polygon and ring ids are the ones the
writer gives them (:func:`polygon_id`, :func:`ring_id`). Image references are relative to the
output (:meth:`~citymodel.converters._cityjson_write_appearance.AppearanceTables.image_reference`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Final

import numpy as np

from citymodel._typing import Float64Array
from citymodel.model import SurfaceGeometry
from citymodel.model.appearance import Material, Texture

__all__ = ["APP2", "is_closed", "polygon_id", "ring_id", "write_local_appearance"]

APP2: Final = "http://www.opengis.net/citygml/appearance/2.0"
_DECIMALS: Final = 7


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
    rounded: list[float] = np.round(np.asarray(list(values), np.float64), _DECIMALS).tolist()
    return " ".join(map(repr, rounded))


def _material(xf: Any, material: Material, targets: list[str]) -> None:
    def leaf(name: str, text: str) -> None:
        with xf.element(f"{{{APP2}}}{name}"):
            xf.write(text)

    with xf.element(f"{{{APP2}}}surfaceDataMember"), xf.element(f"{{{APP2}}}X3DMaterial"):
        leaf("ambientIntensity", repr(material.ambient_intensity))
        leaf("diffuseColor", _numbers(material.diffuse))
        leaf("emissiveColor", _numbers(material.emissive))
        leaf("specularColor", _numbers(material.specular))
        leaf("shininess", repr(material.shininess))
        leaf("transparency", repr(material.transparency))
        leaf("isSmooth", "true" if material.is_smooth else "false")
        for target in targets:
            leaf("target", f"#{target}")


def _texture(
    xf: Any,
    texture: Texture,
    image: str,
    targets: list[tuple[str, list[tuple[str, str]]]],
) -> None:
    def leaf(name: str, text: str, attrib: dict[str, str] | None = None) -> None:
        with xf.element(f"{{{APP2}}}{name}", attrib or {}):
            xf.write(text)

    with xf.element(f"{{{APP2}}}surfaceDataMember"), xf.element(f"{{{APP2}}}ParameterizedTexture"):
        leaf("imageURI", image)
        if texture.mime_type is not None:
            leaf("mimeType", texture.mime_type)
        if texture.wrap != "none":
            leaf("wrapMode", texture.wrap)
        if texture.border_color is not None:
            leaf("borderColor", _numbers(texture.border_color))
        for pid, rings in targets:
            with (
                xf.element(f"{{{APP2}}}target", {"uri": f"#{pid}"}),
                xf.element(f"{{{APP2}}}TexCoordList"),
            ):
                for rid, text in rings:
                    leaf("textureCoordinates", text, {"ring": f"#{rid}"})


def write_local_appearance(
    xf: Any,
    fid: str,
    geometries: Iterable[tuple[str, SurfaceGeometry, set[int]]],
    image_reference: Callable[[str], str],
) -> None:
    """``app:appearance`` elements of one object (nothing without appearance).

    ``geometries``: ``(written LoD, geometry, polygons written)``; only written polygons are
    targeted. Texture coordinates are ``(s, t)`` as in the model.
    """
    by_theme: dict[
        str,
        tuple[dict[Material, list[str]], dict[Texture, list[tuple[str, list[tuple[str, str]]]]]],
    ] = {}
    for lod, g, written in geometries:
        app = g.appearance
        if app is None:
            continue
        materials, textures = by_theme.setdefault(app.theme, ({}, {}))
        ro = g.ring_offsets
        po = g.polygon_offsets
        for p, (t, m) in enumerate(
            zip(app.polygon_texture.tolist(), app.polygon_material.tolist(), strict=True)
        ):
            if p not in written:
                continue
            pid = polygon_id(fid, lod, p)
            if m >= 0:
                materials.setdefault(app.materials[m], []).append(pid)
            if t < 0:
                continue
            rings: list[tuple[str, str]] = []
            for k, r in enumerate(range(int(po[p]), int(po[p + 1]))):
                uv = app.uv[int(ro[r]) : int(ro[r + 1])].astype(np.float64)
                if not np.isfinite(uv).all():
                    rings = []
                    break
                ring = g.vertices[int(ro[r]) : int(ro[r + 1])]
                closed = uv if is_closed(ring) else np.concatenate([uv, uv[:1]])
                rings.append((ring_id(pid, k), _numbers(closed.ravel())))
            if rings:
                textures.setdefault(app.textures[t], []).append((pid, rings))
    for theme, (materials, textures) in by_theme.items():
        if not materials and not textures:
            continue
        with xf.element(f"{{{APP2}}}appearance"), xf.element(f"{{{APP2}}}Appearance"):
            with xf.element(f"{{{APP2}}}theme"):
                xf.write(theme)
            for material, targets in materials.items():
                _material(xf, material, targets)
            for texture, texture_targets in textures.items():
                _texture(xf, texture, image_reference(texture.image), texture_targets)
