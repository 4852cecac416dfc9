"""Colours per semantic surface type, shared by the glTF and OBJ writers.

Colours are stored as **linear** RGBA floats in [0, 1], the space of glTF's
``baseColorFactor``. Colours given as hex strings (``"#8b3a2b"``) are read as sRGB, the way
every colour picker and CSS shows them, and converted to linear; the OBJ writer converts back
to sRGB for ``Kd``, which viewers display unconverted.

Per-feature colours: a feature-table column named :data:`FEATURE_COLOR_COLUMN` (``color``)
holding sRGB hex strings (e.g. the surface style of an IFC element) overrides the surface-type
colour of that feature's triangles (:func:`apply_feature_colors`); features without a valid
colour keep the palette colour of their surface types.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from citymodel._typing import UInt8Array, UInt32Array
from citymodel.model.semantics import SurfaceType

__all__ = [
    "FEATURE_COLOR_COLUMN",
    "RGBA",
    "SemanticMaterials",
    "apply_feature_colors",
    "linear_to_srgb",
    "parse_color",
    "srgb_to_linear",
]

log = logging.getLogger(__name__)

FEATURE_COLOR_COLUMN = "color"
"""Feature-table column with a per-feature display colour: sRGB hex ``#rrggbb`` or ``#rrggbbaa``."""
_FIRST_COLOR_CODE = 32
"""Material codes from here on stand for feature colours (surface type codes stay below)."""

RGBA = tuple[float, float, float, float]
"""Linear red, green, blue, alpha in [0, 1]."""

_HEX = re.compile(r"#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})")


def srgb_to_linear(c: float) -> float:
    """sRGB-encoded channel value in [0, 1] -> linear (IEC 61966-2-1 transfer function)."""
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def linear_to_srgb(c: float) -> float:
    """Linear channel value in [0, 1] -> sRGB encoding (inverse of :func:`srgb_to_linear`)."""
    return c * 12.92 if c <= 0.0031308 else 1.055 * c ** (1.0 / 2.4) - 0.055


def parse_color(text: str) -> RGBA:
    """Parse ``#rgb``, ``#rrggbb`` or ``#rrggbbaa`` (sRGB, alpha linear) into linear RGBA.

    Raises
    ------
    ValueError
        When ``text`` is not such a hex colour.
    """
    match = _HEX.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"not a colour: {text!r} (use #rrggbb, #rgb or #rrggbbaa)")
    digits = match.group(1)
    if len(digits) == 3:
        digits = "".join(d * 2 for d in digits)
    channels = [int(digits[i : i + 2], 16) / 255.0 for i in range(0, len(digits), 2)]
    alpha = channels[3] if len(channels) == 4 else 1.0
    r, g, b = (srgb_to_linear(c) for c in channels[:3])
    return (r, g, b, alpha)


def _surface_name(code: int) -> str:
    try:
        return SurfaceType(code).name.lower()
    except ValueError:
        return f"surface_{code}"


_SURFACE_BY_NAME: dict[str, int] = {t.name.lower(): int(t) for t in SurfaceType}

# sRGB hex; converted to linear once at import.
_DEFAULT_HEX: dict[SurfaceType, str] = {
    SurfaceType.ROOF: "#8b3a2b",  # red-brown tiles
    SurfaceType.WALL: "#d9d9d9",  # light grey
    SurfaceType.GROUND: "#4d4d4d",  # dark grey
    SurfaceType.CLOSURE: "#bfbfbf",  # neutral
    SurfaceType.OUTER_CEILING: "#cccccc",
    SurfaceType.OUTER_FLOOR: "#a6a6a6",
    SurfaceType.WINDOW: "#8fb0c8",  # pale blue
    SurfaceType.DOOR: "#6e5440",  # wood brown
    SurfaceType.INTERIOR_WALL: "#e6e6e6",
    SurfaceType.CEILING: "#f0f0f0",
    SurfaceType.FLOOR: "#9e9e9e",
    SurfaceType.TRAFFIC_AREA: "#6b6b6b",  # asphalt grey
    SurfaceType.AUXILIARY_TRAFFIC_AREA: "#9a9a8c",  # pavements, verges: lighter grey
    SurfaceType.TRANSPORTATION_MARKING: "#f2f2f2",  # road paint
    SurfaceType.TRANSPORTATION_HOLE: "#3a3a3a",
    SurfaceType.WATER_SURFACE: "#3f7fbf",  # water blue
    SurfaceType.WATER_GROUND: "#5a6f7f",  # river bed
    SurfaceType.WATER_CLOSURE: "#7fa8cf",  # virtual water boundary, pale blue
    SurfaceType.TERRAIN: "#a89a72",  # bare ground, ochre
    SurfaceType.VEGETATION: "#4f8a3c",  # green
    SurfaceType.LAND_USE: "#c8c49a",  # pale khaki
}
_DEFAULT_OTHER = "#bfbfbf"  # UNKNOWN and unlisted codes: neutral grey


def _check_rgba(value: Any, what: str) -> RGBA:
    try:
        rgba = tuple(float(c) for c in value)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{what}: expected 4 floats (linear RGBA), got {value!r}") from err
    if len(rgba) != 4 or not all(0.0 <= c <= 1.0 for c in rgba):
        raise ValueError(f"{what}: expected 4 floats in [0, 1] (linear RGBA), got {value!r}")
    return (rgba[0], rgba[1], rgba[2], rgba[3])


@dataclass(frozen=True, slots=True)
class SemanticMaterials:
    """Material colour per :class:`~citymodel.model.semantics.SurfaceType`.

    Attributes
    ----------
    colors
        Linear RGBA in [0, 1] per surface type code.
    default
        Linear RGBA for surface types not in ``colors``.
    double_sided
        Render both faces (glTF ``doubleSided``); useful for models with wrong ring orientation.
    """

    colors: Mapping[int, RGBA]
    default: RGBA
    double_sided: bool = False

    def __post_init__(self) -> None:
        for code, rgba in self.colors.items():
            _check_rgba(rgba, f"colour of surface type {code}")
        _check_rgba(self.default, "default colour")

    @classmethod
    def default_palette(cls, *, double_sided: bool = False) -> SemanticMaterials:
        """Roofs red-brown, walls light grey, roads grey, water blue, vegetation green, terrain ochre.

        Ground surfaces are dark grey; closure surfaces and unclassified polygons neutral grey.
        """
        return cls(
            colors={int(t): parse_color(h) for t, h in _DEFAULT_HEX.items()},
            default=parse_color(_DEFAULT_OTHER),
            double_sided=double_sided,
        )

    @classmethod
    def from_mapping(cls, m: Mapping[str, str], *, double_sided: bool = False) -> SemanticMaterials:
        """Build from ``{"roof": "#8b3a2b", "wall": "#d9d9d9", ...}``, starting from the defaults.

        Keys are surface type names in lower case (``roof``, ``wall``, ``ground``, ``closure``,
        ``outer_ceiling``, ``outer_floor``, ``window``, ``door``, ``interior_wall``, ``ceiling``,
        ``floor``, ``traffic_area``, ``auxiliary_traffic_area``, ``transportation_marking``,
        ``transportation_hole``, ``water_surface``, ``water_ground``, ``water_closure``,
        ``terrain``, ``vegetation``, ``land_use``, ``unknown``) or ``default`` (every type without a colour of its own); case and
        ``-``/``_`` are ignored. Values are sRGB hex colours (``#rrggbb``, ``#rgb``,
        ``#rrggbbaa``); alpha below 1 makes the material blended.

        Raises
        ------
        ValueError
            On an unknown key or a malformed colour.
        """
        base = cls.default_palette()
        colors = dict(base.colors)
        default = base.default
        for key, value in m.items():
            name = key.strip().lower().replace("-", "_")
            try:
                rgba = parse_color(value)
            except ValueError as err:
                raise ValueError(f"colour for {key!r}: {err}") from err
            if name == "default":
                default = rgba
            elif name in _SURFACE_BY_NAME:
                colors[_SURFACE_BY_NAME[name]] = rgba
            else:
                known = ", ".join([*_SURFACE_BY_NAME, "default"])
                raise ValueError(
                    f"unknown surface type {key!r} in the colour mapping; known: {known}"
                )
        return cls(colors=colors, default=default, double_sided=double_sided)

    def color(self, surface_type: int) -> RGBA:
        """Linear RGBA of a surface type code."""
        return self.colors.get(int(surface_type), self.default)

    @staticmethod
    def name(surface_type: int) -> str:
        """Material name of a surface type code: its lower-case name (``roof``) or ``surface_<n>``."""
        return _surface_name(int(surface_type))

    def gltf_material(self, surface_type: int) -> dict[str, Any]:
        """The glTF 2.0 material object of a surface type (unlit-looking PBR: metallic 0, rough 1)."""
        r, g, b, a = self.color(surface_type)
        material: dict[str, Any] = {
            "name": self.name(surface_type),
            "pbrMetallicRoughness": {
                "baseColorFactor": [round(r, 6), round(g, 6), round(b, 6), round(a, 6)],
                "metallicFactor": 0.0,
                "roughnessFactor": 1.0,
            },
        }
        if a < 1.0:
            material["alphaMode"] = "BLEND"
        if self.double_sided:
            material["doubleSided"] = True
        return material


@dataclass(frozen=True, slots=True)
class _FeatureColorMaterials(SemanticMaterials):
    """Surface-type materials plus one material per feature colour (named by its hex value)."""

    names: Mapping[int, str] = field(default_factory=dict)

    def gltf_material(self, surface_type: int) -> dict[str, Any]:
        """The glTF material of a surface type code or of a feature colour code."""
        material = SemanticMaterials.gltf_material(self, surface_type)
        name = self.names.get(int(surface_type))
        if name is not None:
            material["name"] = name
        return material


def apply_feature_colors(
    surface_types: UInt8Array,
    triangle_rows: UInt32Array,
    colors: Sequence[object],
    materials: SemanticMaterials,
) -> tuple[UInt8Array, SemanticMaterials]:
    """Material codes per triangle with per-feature colours, and the materials behind them.

    Parameters
    ----------
    surface_types
        ``(T,)`` surface type code per triangle.
    triangle_rows
        ``(T,)`` feature-table row of each triangle.
    colors
        The :data:`FEATURE_COLOR_COLUMN` values per row: sRGB hex strings; other values (None,
        malformed strings) leave the row's triangles with their surface-type colour.
    materials
        The surface-type palette.

    Returns
    -------
    tuple
        ``(codes, materials)``: ``codes`` ``(T,)`` uint8 are surface type codes for uncoloured
        triangles and ``32 + k`` for the ``k``-th distinct colour; ``materials`` resolves both.
        Unchanged inputs when no row has a colour. At most 224 distinct colours are used;
        further ones fall back to the surface-type colours (logged).
    """
    codes_by_text: dict[str, int] = {}
    palette: dict[int, RGBA] = {}
    names: dict[int, str] = {}
    row_codes = np.full(len(colors), -1, dtype=np.int16)
    dropped = 0
    for row, value in enumerate(colors):
        if not isinstance(value, str):
            continue
        code = codes_by_text.get(value)
        if code is None:
            code = -1
            try:
                rgba = parse_color(value)
            except ValueError:
                rgba = None
            if rgba is not None and _FIRST_COLOR_CODE + len(palette) <= 255:
                code = _FIRST_COLOR_CODE + len(palette)
                palette[code] = rgba
                names[code] = value.strip().lower()
            elif rgba is not None:
                dropped += 1
            codes_by_text[value] = code
        row_codes[row] = code
    if not palette:
        return surface_types, materials
    if dropped:
        log.warning(
            "%d feature colours beyond the first %d use their surface-type colour",
            dropped,
            256 - _FIRST_COLOR_CODE,
        )
    triangle_codes = row_codes[triangle_rows.astype(np.intp)]
    codes = np.where(triangle_codes >= 0, triangle_codes, surface_types).astype(np.uint8)
    return codes, _FeatureColorMaterials(
        colors={**materials.colors, **palette},
        default=materials.default,
        double_sided=materials.double_sided,
        names=names,
    )
