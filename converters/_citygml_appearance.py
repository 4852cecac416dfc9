"""CityGML 1.0/2.0/3.0 appearances: X3DMaterial, ParameterizedTexture, GeoreferencedTexture.

What is read
------------
- ``app:Appearance`` elements inside city objects (``app:appearance``, 3.0:
  ``core:appearance``; local: they target surfaces of that object) and at document level
  (``app:appearanceMember``, 3.0: ``core:appearanceMember``);
- ``app:theme``: every theme is read (``SurfaceGeometry.themes``, for interchange output);
  one of them is rendered (``SurfaceGeometry.appearance``): the one named by ``--theme`` or
  else the first theme met in the document (document-level members first, then object
  order); the others are listed in a note. Appearances without a theme form the theme ``""``;
- ``app:X3DMaterial`` (colours, shininess, transparency, isSmooth) with ``app:target``
  naming polygons or any surface geometry containing polygons (MultiSurface, Solid ...);
- ``app:ParameterizedTexture`` with ``app:TexCoordList`` (``textureCoordinates`` per ring,
  ``ring="#id"`` or ``ring="id"``) or ``app:TexCoordGen`` (``worldToTexture``, a 3x4
  matrix mapping world coordinates to homogeneous texture coordinates);
  1.0/2.0 hold them in ``app:target uri="#polygon"``, 3.0 in
  ``app:textureParameterization/app:TextureAssociation`` with an ``app:target`` element and
  its own ``app:textureParameterization`` (a 3.0 TexCoordList may also name its rings by
  ``app:ring`` elements, in the order of the ``textureCoordinates``);
- ``app:GeoreferencedTexture`` (e.g. an orthophoto on terrain or roofs): texture coordinates
  from ``referencePoint`` + ``orientation`` or, when those are absent, a world file beside
  the image (``.jgw``, ``.pgw``, ``.tfw``, ``.wld``, ``<image>w``); the image size is read
  from the file header (Pillow).

The tag names of each version are an :class:`AppearanceNames` (the vocabulary: the surface
data property, the members, the texture association); the parser is the same for every version.

Document-level members usually come at the *end* of the document, after the objects they
target. Reading stays a single streaming pass over the objects with bounded memory: when
the document has ``appearanceMember`` elements (found by a byte scan of the raw stream,
which costs a read of the file but no XML parsing), a first pass parses *only* the part of
the document from the first member on (the root start tag is prepended so namespaces
resolve), keeping the targets of each theme: per polygon its texture and the raw texture
coordinate text of its rings, per surface its material. That index is proportional to the
appearance data (the text of its texture coordinates), never to the geometry.
Spilling to disk was rejected: the index has to be probed for every polygon, and the
texture coordinates are a small part of a file (Berlin: 6 % of the bytes).

Texture coordinates are attached to the geometry after its coordinate batch is built
(:meth:`DocumentAppearances.apply`), so polygons dropped as invalid, flipped orientable
surfaces and dropped closing points are accounted for. A ring whose coordinate count fits
neither its vertices nor its vertices plus the closing point leaves its polygon untextured
(reported once per object).
"""

from __future__ import annotations

import functools
import logging
import os
import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

import numpy as np
from lxml import etree

from citymodel._typing import BoolArray, Float32Array, Float64Array, IndexArray
from citymodel.converters._gml import XLINK_HREF, GmlNames, SurfaceSink, line_of, local_name
from citymodel.converters._gml_batch import _parse_numbers
from citymodel.converters._xmlsource import BinaryStream, XMLSource
from citymodel.model import SurfaceGeometry
from citymodel.model.appearance import (
    NO_INDEX,
    WRAP_MODES,
    Int32Array,
    Material,
    SurfaceAppearance,
    Texture,
    WrapMode,
)
from citymodel.report import JobReport

__all__ = [
    "APPEARANCE_NAMESPACES",
    "AppearanceNames",
    "DocumentAppearances",
    "ThemeChoice",
    "appearance_namespace",
    "georeferenced_uv",
    "note_themes",
]

log = logging.getLogger(__name__)

APPEARANCE_NAMESPACES: Final = (
    "http://www.opengis.net/citygml/appearance/1.0",
    "http://www.opengis.net/citygml/appearance/2.0",
    "http://www.opengis.net/citygml/appearance/3.0",
)
CORE3_NAMESPACE: Final = "http://www.opengis.net/citygml/3.0"
"""CityGML 3.0 core: its ``appearance`` / ``appearanceMember`` properties hold appearances."""

ProblemFn = Callable[[str, int | None], None]
"""Receives ``(reason, line)`` for an appearance element that is left out."""

_SCAN_CHUNK: Final = 1 << 20
_NEEDLE: Final = b"appearanceMember"
_ROOT_START = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?CityModel\b[^>]*>")
_WORLD_FILE_SUFFIXES: Final = {
    ".jpg": (".jgw", ".jpgw", ".wld"),
    ".jpeg": (".jgw", ".jpegw", ".wld"),
    ".png": (".pgw", ".pngw", ".wld"),
    ".tif": (".tfw", ".tifw", ".wld"),
    ".tiff": (".tfw", ".tiffw", ".wld"),
    ".gif": (".gfw", ".gifw", ".wld"),
}


class AppearanceNames:
    """Clark names of the appearance module in one namespace (one CityGML version).

    CityGML 3.0 (namespace ``.../appearance/3.0``) moves the appearance properties of city
    objects and of the city model to the core module, renames ``surfaceDataMember`` to
    ``surfaceData`` and wraps each texture target in a ``TextureAssociation``
    (:attr:`associations` is True); 1.0/2.0 name the targeted polygon in the ``uri``
    attribute of ``app:target``.
    """

    def __init__(self, ns: str) -> None:
        def t(local: str) -> str:
            return f"{{{ns}}}{local}"

        self.ns = ns
        self.associations = ns == APPEARANCE_NAMESPACES[2]
        """3.0: texture targets are ``textureParameterization/TextureAssociation``."""
        owner = CORE3_NAMESPACE if self.associations else ns
        self.appearance_member = f"{{{owner}}}appearanceMember"
        self.appearance_property = f"{{{owner}}}appearance"
        self.appearance = t("Appearance")
        self.theme = t("theme")
        self.surface_data_member = t("surfaceData" if self.associations else "surfaceDataMember")
        self.texture_parameterization = t("textureParameterization")
        self.texture_association = t("TextureAssociation")
        self.ring = t("ring")
        self.parameterized = t("ParameterizedTexture")
        self.georeferenced = t("GeoreferencedTexture")
        self.material = t("X3DMaterial")
        self.image_uri = t("imageURI")
        self.mime_type = t("mimeType")
        self.wrap_mode = t("wrapMode")
        self.border_color = t("borderColor")
        self.target = t("target")
        self.tex_coord_list = t("TexCoordList")
        self.texture_coordinates = t("textureCoordinates")
        self.tex_coord_gen = t("TexCoordGen")
        self.world_to_texture = t("worldToTexture")
        self.reference_point = t("referencePoint")
        self.orientation = t("orientation")
        self.is_front = t("isFront")
        self.diffuse = t("diffuseColor")
        self.emissive = t("emissiveColor")
        self.specular = t("specularColor")
        self.shininess = t("shininess")
        self.transparency = t("transparency")
        self.ambient = t("ambientIntensity")
        self.is_smooth = t("isSmooth")


@dataclass(slots=True)
class ThemeChoice:
    """The theme rendered (``--theme`` or the first one met) and every theme seen.

    ``keep_all``: the other themes are read too (interchange output keeps them); False reads
    only the rendered one (meshing and tiling need no more).
    """

    wanted: str | None
    seen: dict[str, None] = field(default_factory=dict)
    keep_all: bool = True

    def accept(self, theme: str) -> bool:
        """Note ``theme``; whether its appearances are read (picks the first when free)."""
        self.seen.setdefault(theme, None)
        if self.wanted is None:
            self.wanted = theme
        return self.keep_all or theme == self.wanted


def appearance_namespace(version: str) -> str | None:
    """The appearance namespace of CityGML ``version`` (``"1.0"``, ``"2.0"``, ``"3.0"``).

    Its :class:`AppearanceNames` are the tag names the parser uses; every version attaches
    appearances through the same hook (``DocumentReader.appearances``: ``read_object`` while
    an object's elements exist, ``apply`` after its batch is built). None for other versions.
    """
    for prefix, namespace in zip("123", APPEARANCE_NAMESPACES, strict=True):
        if version.startswith(prefix):
            return namespace
    return None


def note_themes(
    themes: ThemeChoice, report: JobReport, document: DocumentAppearances, path: str
) -> None:
    """Report the theme choice, a wanted theme that is absent and invisible materials.

    Fully transparent X3DMaterials (a common exporter error: opacity written as transparency)
    get one warning per file; the report's ``extra["appearance"]["invisible_materials"]`` has
    each one's gml:id (or line) and number of target surfaces, per file.
    """
    if themes.wanted is not None and themes.seen and themes.wanted not in themes.seen:
        listed = ", ".join(repr(t) for t in themes.seen)
        report.warn(
            f"appearance theme {themes.wanted!r} not found (themes: {listed}); "
            "geometry is written untextured"
        )
    elif len(themes.seen) > 1:
        others = ", ".join(repr(t) for t in themes.seen if t != themes.wanted)
        report.warn(
            f"appearance theme {themes.wanted!r} rendered; also present: {others} (choose with "
            "--theme; CityJSON and CityGML output keep every theme)"
        )
    invisible = document.invisible_materials
    if invisible:
        named = ", ".join(list(invisible)[:5]) + (", ..." if len(invisible) > 5 else "")
        report.warn(
            f"{path}: {len(invisible)} X3DMaterial(s) with transparency 1.0 ({named}) make "
            f"{sum(invisible.values())} target surface(s) invisible (CityGML: 0 is opaque, "
            "1 fully transparent); if the source meant opacity, correct the values there "
            "(all of them under 'invisible_materials' in the --report JSON)"
        )
    counts: dict[str, Any] = report.extra.setdefault("appearance", {})
    counts["textured_polygons"] = counts.get("textured_polygons", 0) + document.textured_polygons
    if invisible:
        counts.setdefault("invisible_materials", {})[path] = dict(invisible)
    if document.bad_rings:
        counts["texture_mismatches"] = counts.get("texture_mismatches", 0) + document.bad_rings
    log.debug("%s: %d textured polygons", path, document.textured_polygons)


# -- parsed surface data ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Projection:
    """Texture coordinates computed from world coordinates: ``uv = f(x, y, z)``.

    ``matrix`` (3, 4) maps homogeneous world coordinates to homogeneous ``(s, t, q)``
    (TexCoordGen); a georeferenced texture stores the equivalent affine map.
    """

    matrix: Float64Array


@dataclass(slots=True)
class _TextureTarget:
    texture: Texture
    rings: dict[str, str] | None  # ring id -> coordinate text (TexCoordList)
    projection: _Projection | None = None


@dataclass(slots=True)
class _Index:
    """Targets of one theme: polygon (or surface) id -> texture / material."""

    textures: dict[str, _TextureTarget] = field(default_factory=dict)
    materials: dict[str, Material] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.textures or self.materials)


_Themes = dict[str, _Index]
"""The targets of every theme read, by theme name."""


@dataclass(slots=True)
class _PolygonLook:
    """What one polygon (by id) gets: texture + per-ring coordinate text, material."""

    texture: _TextureTarget | None
    ring_texts: list[str | None]
    material: Material | None


def _floats(text: str | None, count: int) -> tuple[float, ...] | None:
    if text is None:
        return None
    try:
        values = tuple(float(v) for v in text.split())
    except ValueError:
        return None
    return values if len(values) == count else None


def _rgb(el: etree._Element | None) -> tuple[float, float, float] | None:
    v = _floats(el.text if el is not None else None, 3)
    return (v[0], v[1], v[2]) if v is not None else None


def _strip(uri: str) -> str:
    return uri[1:] if uri.startswith("#") else uri


class _Parser:
    """Parses ``app:Appearance`` elements of the chosen theme into an :class:`_Index`."""

    def __init__(
        self,
        names: AppearanceNames,
        gml: GmlNames,
        base: Path | None,
        on_problem: ProblemFn,
        invisible: dict[str, int] | None = None,
    ) -> None:
        self.n = names
        self.gml = gml
        self.base = base
        self._problem = on_problem
        self.invisible = {} if invisible is None else invisible
        """Fully transparent materials: id (or line) -> target count (see :func:`note_themes`)."""
        self._textures: dict[Texture, Texture] = {}

    def appearance(self, app: etree._Element, themes: ThemeChoice, by_theme: _Themes) -> None:
        n = self.n
        theme_el = app.find(n.theme)
        theme = (theme_el.text or "").strip() if theme_el is not None else ""
        if not themes.accept(theme):
            return
        into = by_theme.setdefault(theme, _Index())
        for member in app.iterchildren(n.surface_data_member):
            if member.get(XLINK_HREF) is not None and not len(member):
                self._problem(
                    f"app:{local_name(member.tag)} by xlink:href is not followed; left out",
                    line_of(member),
                )
                continue
            for data in member:
                tag = data.tag
                if tag == n.material:
                    self._material(data, into)
                elif tag == n.parameterized:
                    self._parameterized(data, into)
                elif tag == n.georeferenced:
                    self._georeferenced(data, into)

    def _front(self, data: etree._Element) -> bool:
        front = data.find(self.n.is_front)
        return front is None or (front.text or "").strip() not in ("false", "0")

    def _material(self, data: etree._Element, into: _Index) -> None:
        n = self.n
        if not self._front(data):
            return
        defaults = Material()

        def number(tag: str, default: float) -> float:
            v = _floats((data.findtext(tag) or None), 1)
            return min(max(v[0], 0.0), 1.0) if v is not None else default

        material = Material(
            diffuse=_rgb(data.find(n.diffuse)) or defaults.diffuse,
            emissive=_rgb(data.find(n.emissive)) or defaults.emissive,
            specular=_rgb(data.find(n.specular)) or defaults.specular,
            shininess=number(n.shininess, defaults.shininess),
            transparency=number(n.transparency, defaults.transparency),
            ambient_intensity=number(n.ambient, defaults.ambient_intensity),
            is_smooth=(data.findtext(n.is_smooth) or "").strip() in ("true", "1"),
        )
        targets = 0
        for target in data.iterchildren(n.target):
            uri = (target.text or "").strip()
            if uri:
                into.materials.setdefault(_strip(uri), material)
                targets += 1
        if material.transparency >= 1.0 and targets:
            key = data.get(self.gml.id) or f"at line {line_of(data)}"
            self.invisible[key] = targets  # a gml:id or line is one material

    def _texture(self, data: etree._Element) -> Texture | None:
        n = self.n
        uri = (data.findtext(n.image_uri) or "").strip()
        if not uri:
            self._problem(f"{local_name(data.tag)} without app:imageURI; left out", line_of(data))
            return None
        wrap_text = (data.findtext(n.wrap_mode) or "none").strip()
        wrap: WrapMode = wrap_text if wrap_text in WRAP_MODES else "none"  # type: ignore[assignment]
        border = _floats(data.findtext(n.border_color), 4)
        texture = Texture(
            image=resolve_image(uri, self.base),
            wrap=wrap,
            border_color=border if wrap == "border" else None,  # type: ignore[arg-type]
            mime_type=(data.findtext(n.mime_type) or "").strip() or None,
        )
        return self._textures.setdefault(texture, texture)

    def _parameterized(self, data: etree._Element, into: _Index) -> None:
        n = self.n
        if not self._front(data):
            return
        texture = self._texture(data)
        if texture is None:
            return
        for uri, param in self._targets(data):
            if param.tag == n.tex_coord_list:
                into.textures.setdefault(_strip(uri), _TextureTarget(texture, self._rings(param)))
            elif param.tag == n.tex_coord_gen:
                m = _floats(param.findtext(n.world_to_texture), 12)
                if m is None:
                    self._problem(
                        "app:worldToTexture is not a 3x4 matrix (12 numbers); left out",
                        line_of(param),
                    )
                    continue
                projection = _Projection(np.array(m, dtype=np.float64).reshape(3, 4))
                into.textures.setdefault(_strip(uri), _TextureTarget(texture, None, projection))

    def _targets(self, data: etree._Element) -> Iterator[tuple[str, etree._Element]]:
        """``(polygon uri, TexCoordList or TexCoordGen)`` of a ParameterizedTexture.

        1.0/2.0: ``app:target uri="#id"`` holding the parameterization; 3.0:
        ``app:textureParameterization/app:TextureAssociation`` with ``app:target`` (element
        text) and ``app:textureParameterization`` holding it.
        """
        n = self.n
        if not n.associations:
            for target in data.iterchildren(n.target):
                uri = target.get("uri")
                if uri:
                    for param in target:
                        yield uri, param
            return
        for prop in data.iterchildren(n.texture_parameterization):
            if not len(prop) and prop.get(XLINK_HREF) is not None:
                self._problem(
                    "app:textureParameterization by xlink:href is not followed; left out",
                    line_of(prop),
                )
                continue
            for association in prop.iterchildren(n.texture_association):
                uri = (association.findtext(n.target) or "").strip()
                if not uri:
                    self._problem(
                        "app:TextureAssociation without app:target; left out", line_of(association)
                    )
                    continue
                for holder in association.iterchildren(n.texture_parameterization):
                    for param in holder:
                        yield uri, param

    def _rings(self, param: etree._Element) -> dict[str, str]:
        """Ring id -> texture coordinate text of a TexCoordList.

        The ring is the ``ring`` attribute of ``textureCoordinates`` or, in a 3.0 list that
        has none, the ``app:ring`` element at the same position.
        """
        n = self.n
        coordinates = list(param.iterchildren(n.texture_coordinates))
        ring_elements = list(param.iterchildren(n.ring)) if n.associations else []
        rings: dict[str, str] = {}
        for k, c in enumerate(coordinates):
            rid = c.get("ring")
            if rid is None and k < len(ring_elements):
                rid = (ring_elements[k].text or "").strip()
            rings[_strip(rid or "")] = c.text or ""
        return rings

    def _georeferenced(self, data: etree._Element, into: _Index) -> None:
        n = self.n
        texture = self._texture(data)
        if texture is None:
            return
        ref_el = data.find(n.reference_point)
        orientation = _floats(data.findtext(n.orientation), 4)
        reference = None
        if ref_el is not None:
            pos = next(ref_el.iter(self.gml.pos), None)
            coords = _floats(pos.text if pos is not None else None, 2) or _floats(
                pos.text if pos is not None else None, 3
            )
            if coords is not None:
                reference = (coords[0], coords[1])
        projection = georeferenced_uv(texture.image, reference, orientation)
        if isinstance(projection, str):
            self._problem(f"app:GeoreferencedTexture {texture.image}: {projection}", line_of(data))
            return
        target = _TextureTarget(texture, None, projection)
        for t in data.iterchildren(n.target):
            uri = (t.text or "").strip()
            if uri:
                into.textures.setdefault(_strip(uri), target)


@functools.lru_cache(maxsize=4096)
def resolve_image(uri: str, base: Path | None) -> str:
    """An image reference as an absolute path (relative to ``base``) or the URL as written."""
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]+://", uri):
        if uri.startswith("file://"):
            return str(Path(uri[7:]).resolve())
        return uri
    path = Path(uri.replace("\\", "/"))
    if not path.is_absolute() and base is not None:
        path = base / path
    return os.path.normpath(path)


def _world_file(image: Path) -> tuple[float, ...] | None:
    suffixes = _WORLD_FILE_SUFFIXES.get(image.suffix.lower(), (".wld",))
    for suffix in (*suffixes, image.suffix + "w"):
        candidate = image.with_suffix(suffix)
        try:
            text = candidate.read_text(encoding="ascii", errors="replace")
        except OSError:
            continue
        values = _floats(text, 6)
        if values is not None:
            return values
    return None


def georeferenced_uv(
    image: str,
    reference: tuple[float, float] | None,
    orientation: tuple[float, ...] | None,
) -> _Projection | str:
    """Texture projection of a georeferenced image, or the reason why there is none.

    ``reference`` is the world position (source CRS x/y, metres) of the centre of the upper
    left pixel and ``orientation`` the 2x2 matrix (row-major) from pixel offsets (column,
    row) to world offsets, as in CityGML 2.0 8.3.3; without them a world file beside the
    image gives the same six numbers. Heights do not matter (a vertical projection).
    """
    path = Path(image)
    if reference is None or orientation is None:
        world = _world_file(path)
        if world is None:
            return "no referencePoint/orientation and no world file beside the image"
        a, d, b, e, c, f = world
        orientation, reference = (a, b, d, e), (c, f)
    try:
        from PIL import Image

        with Image.open(path) as img:
            width, height = img.size
    except ImportError:
        return "Pillow is needed for georeferenced textures (pip install pillow)"
    except OSError as err:
        return f"cannot read the image size ({err})"
    o = np.array(orientation, dtype=np.float64).reshape(2, 2)
    if abs(np.linalg.det(o)) < 1e-30:
        return "orientation matrix is singular"
    inv = np.linalg.inv(o)  # world offset -> (column, row)
    # s = (col + 0.5) / W, t = 1 - (row + 0.5) / H with (col, row) = inv @ (xy - ref)
    m = np.zeros((3, 4), dtype=np.float64)
    m[0, :2] = inv[0] / width
    m[0, 3] = (0.5 - inv[0] @ np.asarray(reference)) / width
    m[1, :2] = -inv[1] / height
    m[1, 3] = 1.0 - (0.5 - inv[1] @ np.asarray(reference)) / height
    m[2, 3] = 1.0
    return _Projection(m)


# -- first pass: document-level appearance members -------------------------------------------


class _Chained:
    """A read-only byte stream: ``head`` then ``rest`` then the remainder of ``stream``."""

    def __init__(self, head: bytes, rest: bytes, stream: BinaryStream) -> None:
        self._buffer = head + rest
        self._stream = stream

    def read(self, size: int = -1) -> bytes:
        if self._buffer:
            if size < 0 or size >= len(self._buffer):
                data, self._buffer = self._buffer, b""
                return data
            data, self._buffer = self._buffer[:size], self._buffer[size:]
            return data
        return self._stream.read(size)


def _tail_of_members(stream: BinaryStream) -> tuple[_Chained | None, bool]:
    """The document from its first ``appearanceMember`` on, prefixed with the root start tag.

    Returns ``(None, has_namespace)`` when the document has no member; ``has_namespace`` tells
    whether the appearance namespace is declared at the start (local appearances possible).
    """
    first = stream.read(_SCAN_CHUNK)
    root = _ROOT_START.search(first)
    has_ns = b"citygml/appearance/" in first
    if root is None or not has_ns:
        return None, has_ns
    head = first[: root.end()]
    chunk, carry_start = first, 0
    offset_in_chunk = chunk.find(_NEEDLE, root.end())
    while offset_in_chunk < 0:
        more = stream.read(_SCAN_CHUNK)
        if not more:
            return None, has_ns
        keep = chunk[-64:]
        chunk = keep + more
        carry_start = len(keep)
        offset_in_chunk = chunk.find(_NEEDLE)
    del carry_start
    lt = chunk.rfind(b"<", 0, offset_in_chunk)
    if lt < 0:
        return None, has_ns
    return _Chained(head, chunk[lt:], stream), has_ns


def scan_members(
    source: XMLSource,
    names: AppearanceNames,
    gml: GmlNames,
    themes: ThemeChoice,
    parser_options: dict[str, object],
    on_problem: ProblemFn,
    invisible: dict[str, int] | None = None,
) -> tuple[_Themes, bool]:
    """Index the themes of the document-level appearance members of ``source``.

    Returns the index per theme and whether the document declares the appearance namespace
    at its start (when not, objects are not searched for local appearances either).
    ``invisible`` collects fully transparent materials (:attr:`_Parser.invisible`).
    """
    index: _Themes = {}
    base = _base_folder(source)
    parser = _Parser(names, gml, base, on_problem, invisible)
    stream = source.open()
    has_ns = True
    try:
        tail, has_ns = _tail_of_members(stream)
        if tail is None:
            return index, has_ns
        try:
            for _, el in etree.iterparse(
                tail, events=("end",), tag=(names.appearance_member,), **parser_options
            ):
                for app in el.iterchildren(names.appearance):
                    parser.appearance(app, themes, index)
                el.clear()
        except etree.XMLSyntaxError as err:
            on_problem(
                f"document-level appearances could not be read ({err.msg}); "
                "the objects they target stay untextured",
                None,
            )
    except (EOFError, OSError, zlib.error):
        # A truncated or corrupt compressed stream: the object pass reads the same bytes and
        # stops there with the file and line (its error names the cause); nothing to add here.
        log.debug("appearance scan of %s stopped at a stream error", source.display)
    finally:
        stream.close()
    return index, has_ns


def _base_folder(source: XMLSource) -> Path | None:
    if source.member is not None:
        return None  # images inside a zip are not read
    return source.path.resolve().parent


# -- per object --------------------------------------------------------------------------------


class DocumentAppearances:
    """Appearances of one document, attached to its geometries as they are built.

    Parameters
    ----------
    source
        The document (image paths are resolved against its folder).
    gml
        GML names of the document.
    namespace
        The appearance namespace of the document's CityGML version.
    themes
        The theme choice shared by all documents of an input.
    on_problem
        Receives ``(reason, line)`` for appearance elements left out.
    parser_options
        lxml parser options of the reader (no network, no entities).
    """

    def __init__(
        self,
        source: XMLSource,
        gml: GmlNames,
        namespace: str,
        themes: ThemeChoice,
        on_problem: Callable[[str, str | None, int | None], None],
        parser_options: dict[str, object],
    ) -> None:
        self.names = AppearanceNames(namespace)
        self.gml = gml
        self.themes = themes
        self._on_problem = on_problem
        self._object_id: str | None = None
        self.invisible_materials: dict[str, int] = {}
        """X3DMaterials with transparency 1: gml:id (or line) -> surfaces they target."""
        self._parser = _Parser(
            self.names, gml, _base_folder(source), self._problem, self.invisible_materials
        )
        self.index, self.enabled = scan_members(
            source, self.names, gml, themes, parser_options, self._problem, self.invisible_materials
        )
        self._pending: dict[int, dict[str, dict[str, _PolygonLook]]] = {}
        """Per sink: per theme, what its polygons (by id) look like."""
        self.textured_polygons = 0
        self.bad_rings = 0

    def _problem(self, reason: str, line: int | None) -> None:
        self._on_problem(reason, self._object_id, line)

    # -- while the object's elements exist -------------------------------------------------

    def read_object(self, obj: etree._Element, object_id: str, sinks: list[int]) -> None:
        """Find what the polygons of ``obj`` look like; ``sinks``: its batch sink indices."""
        if not self.enabled or not sinks:
            return
        self._object_id = object_id
        local: _Themes = {}
        for app in obj.iter(self.names.appearance):
            self._parser.appearance(app, self.themes, local)
        by_theme: dict[str, dict[str, _PolygonLook]] = {}
        for theme in dict.fromkeys([*self.index, *local]):
            indexes = [i for i in (local.get(theme), self.index.get(theme)) if i]
            if indexes:
                looks = self._polygon_looks(obj, indexes)
                if looks:
                    by_theme[theme] = looks
        if by_theme:
            for j in sinks:
                self._pending[j] = by_theme
        self._object_id = None

    def attach_apart(
        self,
        obj: etree._Element,
        object_id: str,
        geometries: list[SurfaceGeometry | None],
        sinks: list[SurfaceSink],
        kept: BoolArray,
    ) -> None:
        """Read and attach at once the appearance of geometries built apart from the batch.

        Implicit geometry templates are built on their own: ``obj`` is the city object holding
        the template (its local appearances count), ``geometries``/``sinks``/``kept`` the
        template's own batch. What waits for the document's batch is left untouched.
        """
        if not self.enabled:
            return
        waiting, self._pending = self._pending, {}
        try:
            self.read_object(obj, object_id, list(range(len(sinks))))
            self.apply(geometries, sinks, kept)
        finally:
            self._pending = waiting

    def _polygon_looks(self, obj: etree._Element, indexes: list[_Index]) -> dict[str, _PolygonLook]:
        """What the polygons of ``obj`` look like in one theme (its local and document index)."""
        looks: dict[str, _PolygonLook] = {}
        gml = self.gml
        polygon_tag = gml.polygon
        idattr = gml.id
        for poly in obj.iter(polygon_tag):
            pid = poly.get(idattr)
            if pid is None:
                continue
            texture, material = _lookup(poly, pid, indexes, idattr, obj)
            if texture is None and material is None:
                continue
            ring_texts: list[str | None] = []
            if texture is not None and texture.rings is not None:
                for ring in _rings(poly, gml):
                    rid = ring.get(idattr)
                    ring_texts.append(texture.rings.get(rid) if rid is not None else None)
                if not any(t is not None for t in ring_texts):
                    texture = None
            looks[pid] = _PolygonLook(texture, ring_texts, material)
        return looks

    # -- after the batch is built ------------------------------------------------------------

    def apply(
        self,
        geometries: list[SurfaceGeometry | None],
        sinks: list[SurfaceSink],
        kept: BoolArray,
    ) -> None:
        """Attach appearances to the built ``geometries`` (in place, by sink index).

        ``sinks`` and ``kept`` are the batch's sinks and its usable-polygon mask over all
        their polygons (as :meth:`SurfaceBatch.build` left them). The rendered theme becomes
        ``appearance``; with other themes, all of them (in the order met) are ``themes``.
        """
        if not self._pending:
            return
        pending, self._pending = self._pending, {}
        starts = np.zeros(len(sinks) + 1, dtype=np.int64)
        np.cumsum([s.polygon_count for s in sinks], out=starts[1:])
        wanted = self.themes.wanted or ""
        order = {theme: k for k, theme in enumerate(self.themes.seen)}
        for j, by_theme in pending.items():
            geometry = geometries[j]
            if geometry is None:
                continue
            sink = sinks[j]
            mask = kept[starts[j] : starts[j + 1]]
            built: list[SurfaceAppearance] = []
            for theme in sorted(by_theme, key=lambda t: order.get(t, len(order))):
                appearance = self._build(geometry, sink, mask, by_theme[theme], theme)
                if appearance is not None:
                    built.append(appearance)
            rendered = next((a for a in built if a.theme == wanted), None)
            if rendered is not None:
                self.textured_polygons += int((rendered.polygon_texture != NO_INDEX).sum())
            if built:
                themes = () if len(built) == 1 and built[0] is rendered else tuple(built)
                geometries[j] = replace(geometry, appearance=rendered, themes=themes)

    def _build(
        self,
        g: SurfaceGeometry,
        sink: SurfaceSink,
        mask: BoolArray,
        looks: dict[str, _PolygonLook],
        theme: str,
    ) -> SurfaceAppearance | None:
        kept_polys = np.flatnonzero(mask).tolist()
        flipped = set(sink.flipped)
        polygons = g.polygon_count
        poly_tex = np.full(polygons, NO_INDEX, np.int32)
        poly_mat = np.full(polygons, NO_INDEX, np.int32)
        uv = np.full((g.vertex_count, 2), np.nan, np.float32)
        textures: dict[Texture, int] = {}
        materials: dict[Material, int] = {}
        ring_off = g.ring_offsets
        poly_off = g.polygon_offsets
        texts: list[str] = []
        jobs: list[tuple[int, int, int, bool]] = []  # (polygon, ring, first vertex, flip)
        projected: list[tuple[int, _Projection]] = []
        for k, original in enumerate(kept_polys):
            pid = sink.poly_ids[original]
            look = looks.get(pid) if pid is not None else None
            if look is None:
                continue
            if look.material is not None:
                poly_mat[k] = materials.setdefault(look.material, len(materials))
            target = look.texture
            if target is None:
                continue
            r0, r1 = int(poly_off[k]), int(poly_off[k + 1])
            if target.projection is not None:
                projected.append((k, target.projection))
            else:
                if len(look.ring_texts) != r1 - r0 or any(t is None for t in look.ring_texts):
                    self.bad_rings += 1
                    continue
                for r, text in zip(range(r0, r1), look.ring_texts, strict=True):
                    texts.append(text or "")
                    jobs.append((k, r, int(ring_off[r]), original in flipped))
            poly_tex[k] = textures.setdefault(target.texture, len(textures))
        if jobs:
            self._fill_lists(uv, poly_tex, texts, jobs, ring_off, sink.owner)
        for k, projection in projected:
            v0, v1 = int(ring_off[poly_off[k]]), int(ring_off[poly_off[k + 1]])
            uv[v0:v1] = _project(g.vertices[v0:v1], projection.matrix)
        if not (poly_tex != NO_INDEX).any() and not materials:
            return None
        return SurfaceAppearance(
            theme=theme,
            uv=uv,
            polygon_texture=poly_tex,
            polygon_material=poly_mat,
            textures=tuple(textures),
            materials=tuple(materials),
        )

    def _fill_lists(
        self,
        uv: Float32Array,
        poly_tex: Int32Array,
        texts: list[str],
        jobs: list[tuple[int, int, int, bool]],
        ring_off: IndexArray,
        owner: str,
    ) -> None:
        values, counts = _parse_numbers(texts)
        ends = np.cumsum(np.maximum(counts, 0))
        bad_polygons: set[int] = set()
        for i, (k, r, first, flip) in enumerate(jobs):
            n = int(ring_off[r + 1]) - first
            c = int(counts[i])
            if c < 0 or c % 2 or c // 2 not in (n, n + 1):
                bad_polygons.add(k)
                continue
            pairs = values[int(ends[i]) - c : int(ends[i])].reshape(-1, 2)[:n]
            uv[first : first + n] = pairs[::-1] if flip else pairs
        if bad_polygons:
            self.bad_rings += len(bad_polygons)
            poly_tex[list(bad_polygons)] = NO_INDEX
            self._on_problem(
                f"{len(bad_polygons)} polygon(s) with texture coordinates that do not match "
                "their ring vertices are left untextured",
                owner,
                None,
            )


def _project(vertices: Float64Array, m: Float64Array) -> Float64Array:
    """``(s, t)`` of ``vertices`` under the 3x4 homogeneous projection ``m``."""
    h = vertices @ m[:, :3].T + m[:, 3]
    q = h[:, 2:3]
    q = np.where(np.abs(q) < 1e-300, 1.0, q)
    out: Float64Array = h[:, :2] / q
    return out


def _rings(poly: etree._Element, gml: GmlNames) -> Iterator[etree._Element]:
    """Exterior ring first, then the interior rings, as the geometry reader orders them."""
    exterior: list[etree._Element] = []
    interior: list[etree._Element] = []
    for boundary in poly:
        tag = boundary.tag
        if tag in (gml.exterior, gml.outer_boundary_is):
            exterior.extend(boundary.iterchildren("{*}*"))
        elif tag in (gml.interior, gml.inner_boundary_is):
            interior.extend(boundary.iterchildren("{*}*"))
    yield from exterior[:1]
    yield from interior


def _lookup(
    poly: etree._Element,
    pid: str,
    indexes: list[_Index],
    idattr: str,
    root: etree._Element,
) -> tuple[_TextureTarget | None, Material | None]:
    """Texture and material of polygon ``pid``: its own targets, else those of an ancestor."""
    texture: _TextureTarget | None = None
    material: Material | None = None
    for index in indexes:
        if texture is None:
            texture = index.textures.get(pid)
        if material is None:
            material = index.materials.get(pid)
    if texture is not None and material is not None:
        return texture, material
    for anc in poly.iterancestors():
        aid = anc.get(idattr)
        if aid is not None:
            for index in indexes:
                if texture is None:
                    t = index.textures.get(aid)
                    if t is not None and t.projection is not None:
                        texture = t  # coordinates per ring only exist for polygons
                if material is None:
                    material = index.materials.get(aid)
        if anc is root:
            break
    return texture, material
