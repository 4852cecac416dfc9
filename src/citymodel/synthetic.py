"""Deterministic synthetic city: AdV-style CityGML 1.0/2.0 LoD1/LoD2 files of any size.

The generated files follow the structure of the official NRW LoD2 tiles (AdV CityGML profile):
``bldg:lod2Solid`` whose ``gml:surfaceMember`` elements are ``xlink:href`` references to the
polygons of the ``bldg:boundedBy`` Wall/Roof/GroundSurface ``lod2MultiSurface`` elements
(CGML-3), ``bldg:lod2TerrainIntersection`` curves (not surfaces: readers must not render
them, CGML-2), BuildingParts with their own ``measuredHeight`` and ``roofType`` (CGML-2),
courtyard buildings whose roof and ground polygons have interior rings (CGML-4), collinear
footprint vertices (CGML-5), AdV attributes (CGML-7): ``bldg:function`` ``31001_xxxx``,
``roofType`` 1000/2100/3100/3200, ``measuredHeight uom="urn:adv:uom:m"``, generic
string/int/double/date attributes, xAL addresses with umlauts.

Coordinates are EPSG:25832 eastings/northings and DHHN2016 heights in metres, written with
three decimals under the AdV srsName ``urn:adv:crs:ETRS89_UTM32*DE_DHHN2016_NH*GCG2016``.
Every solid is closed, with rings counter-clockwise seen from outside (CGML-5).

Files are written as a stream, one building at a time, with the standard library only (the
city is never held in memory), atomically (temporary file + rename); a ``.gz`` suffix writes
gzip. The same options give byte-identical files (on one platform: libm may differ in the
last bit elsewhere). Building ``i`` is the same object in
:func:`write_city` and :func:`write_city_tiles`.

Examples
--------
>>> from citymodel.synthetic import SyntheticCityOptions, write_city
>>> summary = write_city("city.gml", SyntheticCityOptions(n_buildings=2000, seed=1))  # doctest: +SKIP
>>> summary.n_buildings, summary.bytes  # doctest: +SKIP
"""

from __future__ import annotations

import gzip
import logging
import math
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from xml.sax.saxutils import escape, quoteattr

from citymodel._synthetic_plan import (
    BuildingPlan,
    CityLayout,
    PartPlan,
    Point2,
    Point3,
    Polygon3,
    Surface,
    plan_building,
)
from citymodel.atomic import atomic_output

__all__ = [
    "SyntheticCityOptions",
    "SyntheticCitySummary",
    "plan_city_building",
    "write_city",
    "write_city_tiles",
]

log = logging.getLogger(__name__)

Extent = tuple[float, float, float, float, float, float]
"""``(xmin, ymin, zmin, xmax, ymax, zmax)``: EPSG:25832 metres and DHHN2016 metres."""

_FLUSH_BYTES = 1 << 18
_FUNCTION_CODESPACE = (
    "http://repository.gdi-de.org/schemas/adv/citygml/Codelisten/BuildingFunctionTypeAdV.xml"
)
_ROOFTYPE_CODESPACE = (
    "http://repository.gdi-de.org/schemas/adv/citygml/Codelisten/RoofTypeTypeAdV.xml"
)
_ALKIS_SYSTEM = "http://repository.gdi-de.org/schemas/adv/citygml/fdv/art.htm#_9100"
_NAMESPACES: dict[str, tuple[tuple[str, str], ...]] = {
    # CGML-1: the namespaces differ between versions; gml stays GML 3.1.1 in both.
    "1.0": (
        ("core", "http://www.opengis.net/citygml/1.0"),
        ("gen", "http://www.opengis.net/citygml/generics/1.0"),
        ("grp", "http://www.opengis.net/citygml/cityobjectgroup/1.0"),
        ("app", "http://www.opengis.net/citygml/appearance/1.0"),
        ("bldg", "http://www.opengis.net/citygml/building/1.0"),
    ),
    "2.0": (
        ("core", "http://www.opengis.net/citygml/2.0"),
        ("gen", "http://www.opengis.net/citygml/generics/2.0"),
        ("grp", "http://www.opengis.net/citygml/cityobjectgroup/2.0"),
        ("app", "http://www.opengis.net/citygml/appearance/2.0"),
        ("bldg", "http://www.opengis.net/citygml/building/2.0"),
    ),
}
_SCHEMA_LOCATIONS = {
    "1.0": (
        "http://www.opengis.net/citygml/1.0 http://repository.gdi-de.org/schemas/adv/citygml/1.0/cityGMLBaseLoD2.xsd "
        "http://www.opengis.net/citygml/building/1.0 http://repository.gdi-de.org/schemas/adv/citygml/building/1.0/buildingLoD2.xsd "
        "http://www.opengis.net/citygml/generics/1.0 http://repository.gdi-de.org/schemas/adv/citygml/generics/1.0/genericsLoD2.xsd"
    ),
    "2.0": (
        "http://www.opengis.net/citygml/2.0 http://schemas.opengis.net/citygml/2.0/cityGMLBase.xsd "
        "http://www.opengis.net/citygml/building/2.0 http://schemas.opengis.net/citygml/building/2.0/building.xsd "
        "http://www.opengis.net/citygml/generics/2.0 http://schemas.opengis.net/citygml/generics/2.0/generics.xsd"
    ),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class SyntheticCityOptions:
    """What to generate.

    Attributes
    ----------
    n_buildings
        Number of top-level ``bldg:Building`` objects (>= 1).
    seed
        Random seed; the same options give byte-identical output.
    version
        CityGML version: ``"2.0"`` or ``"1.0"`` (namespaces and schema locations differ).
    lod
        ``2``: boundary surfaces + ``lod2Solid`` of xlinks; ``1``: ``lod1Solid`` blocks with the
        footprint extruded to ``measuredHeight``.
    origin
        South-west corner of the first tile: easting, northing in EPSG:25832 metres.
    ground_height
        Mean ground height in DHHN2016 metres; the terrain varies smoothly by about ±5 m.
    tile_size_m
        Edge of the square tiles (metres, >= 50); each holds one building per parcel of at
        least 50 m (400 buildings on a 1 km tile).
    part_ratio
        Share of buildings made of BuildingParts (a main house with annexes).
    courtyard_ratio
        Share of flat-roofed courtyard blocks (roof and ground polygons with holes); takes
        precedence over ``part_ratio`` when both add up to more than 1.
    srs_name
        ``srsName`` written on the Envelope (the AdV URN for ETRS89/UTM32 + DHHN2016).
    """

    n_buildings: int = 1000
    seed: int = 0
    version: Literal["1.0", "2.0"] = "2.0"
    lod: Literal[1, 2] = 2
    origin: tuple[float, float] = (356000.0, 5645000.0)
    ground_height: float = 50.0
    tile_size_m: float = 1000.0
    part_ratio: float = 0.25
    courtyard_ratio: float = 0.05
    srs_name: str = "urn:adv:crs:ETRS89_UTM32*DE_DHHN2016_NH*GCG2016"

    def __post_init__(self) -> None:
        problems = []
        if self.n_buildings < 1:
            problems.append(f"n_buildings must be >= 1, got {self.n_buildings!r}")
        if self.version not in _NAMESPACES:
            problems.append(f"version must be '1.0' or '2.0', got {self.version!r}")
        if self.lod not in (1, 2):
            problems.append(f"lod must be 1 or 2, got {self.lod!r}")
        if not (math.isfinite(self.tile_size_m) and self.tile_size_m >= 50.0):
            problems.append(f"tile_size_m must be >= 50 m, got {self.tile_size_m!r}")
        for name in ("part_ratio", "courtyard_ratio"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                problems.append(f"{name} must be within [0, 1], got {value!r}")
        if not all(math.isfinite(v) for v in (*self.origin, self.ground_height)):
            problems.append(
                f"origin and ground_height must be finite, got {self.origin!r}, {self.ground_height!r}"
            )
        if problems:
            raise ValueError("; ".join(problems))


@dataclass(frozen=True, slots=True, kw_only=True)
class SyntheticCitySummary:
    """What :func:`write_city` wrote.

    Attributes
    ----------
    path
        The file written.
    n_buildings
        ``bldg:Building`` elements.
    n_parts
        ``bldg:BuildingPart`` elements.
    n_polygons
        ``gml:Polygon`` elements.
    bytes
        Size of the file on disk (compressed size for ``.gz``).
    extent
        ``(xmin, ymin, zmin, xmax, ymax, zmax)`` of all coordinates written: EPSG:25832
        metres and DHHN2016 metres, equal to the file's ``gml:Envelope``.
    """

    path: Path
    n_buildings: int
    n_parts: int
    n_polygons: int
    bytes: int
    extent: Extent


def _layout(opts: SyntheticCityOptions) -> CityLayout:
    return CityLayout(origin=opts.origin, tile_size=opts.tile_size_m, n_buildings=opts.n_buildings)


def plan_city_building(opts: SyntheticCityOptions, index: int) -> BuildingPlan:
    """The plan of building ``index`` (0-based) of the city: what :func:`write_city` writes.

    Used by :mod:`citymodel.synthetic_points` to scan the same buildings.
    """
    return _plan(opts, index)


def _plan(opts: SyntheticCityOptions, index: int) -> BuildingPlan:
    return plan_building(
        _layout(opts),
        index,
        seed=opts.seed,
        ground_height=opts.ground_height,
        part_ratio=opts.part_ratio,
        courtyard_ratio=opts.courtyard_ratio,
    )


def write_city(
    path: str | os.PathLike[str], options: SyntheticCityOptions | None = None
) -> SyntheticCitySummary:
    """Write a synthetic city as one CityGML file.

    Parameters
    ----------
    path
        Output file; a ``.gz`` suffix writes gzip. Replaced atomically; the parent folder is
        created when missing.
    options
        What to generate; defaults to :class:`SyntheticCityOptions` ().

    Returns
    -------
    SyntheticCitySummary
        Counts, size and extent of what was written.

    Raises
    ------
    OutputError
        When the file cannot be written.
    """
    opts = options if options is not None else SyntheticCityOptions()
    target = Path(path)
    return _write_model(target, opts, range(opts.n_buildings), name=_model_name(target))


def write_city_tiles(
    folder: str | os.PathLike[str], options: SyntheticCityOptions | None = None
) -> list[Path]:
    """Write a synthetic city as one CityGML file per tile, named like state downloads.

    Files are named ``LoD2_32_<E>_<N>_<size>_NW.gml`` after the tile's south-west corner in
    kilometres and its edge in kilometres (``LoD2_32_356_5645_1_NW.gml`` for a 1 km tile;
    ``LoD1_...`` for LoD1). Building ``i`` is identical to building ``i`` of
    :func:`write_city` with the same options.

    Parameters
    ----------
    folder
        Output folder, created when missing.
    options
        What to generate; defaults to :class:`SyntheticCityOptions` ().

    Returns
    -------
    list[Path]
        The files written, in tile order.

    Raises
    ------
    OutputError
        When a file cannot be written.
    """
    opts = options if options is not None else SyntheticCityOptions()
    layout = _layout(opts)
    out = Path(folder)
    paths = []
    for tile in range(layout.n_tiles):
        e, n = layout.tile_origin(tile)
        name = f"LoD{opts.lod}_32_{e / 1000:g}_{n / 1000:g}_{opts.tile_size_m / 1000:g}_NW"
        summary = _write_model(out / f"{name}.gml", opts, layout.tile_indices(tile), name=name)
        paths.append(summary.path)
    return paths


def _model_name(path: Path) -> str:
    name = path.name
    for suffix in (".gz", ".gml", ".xml"):
        name = name.removesuffix(suffix)
    return name


@contextmanager
def _open_output(path: Path) -> Iterator[Callable[[bytes], object]]:
    """Atomic output; yields the ``write`` of the file, or of a gzip stream for ``.gz``."""
    with atomic_output(path) as raw:
        if path.name.endswith(".gz"):
            # Fixed header (no file name, mtime 0): identical bytes for identical options.
            with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as gz:
                yield gz.write
        else:
            yield raw.write


def _write_model(
    path: Path, opts: SyntheticCityOptions, indices: range, *, name: str
) -> SyntheticCitySummary:
    extent = _extent(_plan(opts, i) for i in indices)
    counts = _Counts()
    with _open_output(path) as write:
        chunks = [_header(opts, name, extent)]
        size = len(chunks[0])
        for i in indices:
            text = _building(_plan(opts, i), opts, counts)
            chunks.append(text)
            size += len(text)
            if size >= _FLUSH_BYTES:
                write("".join(chunks).encode())
                chunks, size = [], 0
        chunks.append("</core:CityModel>\n")
        write("".join(chunks).encode())
    summary = SyntheticCitySummary(
        path=path,
        n_buildings=len(indices),
        n_parts=counts.parts,
        n_polygons=counts.polygons,
        bytes=path.stat().st_size,
        extent=extent,
    )
    log.info(
        "wrote %s: %d buildings, %d parts, %d polygons, %d bytes",
        path,
        summary.n_buildings,
        summary.n_parts,
        summary.n_polygons,
        summary.bytes,
    )
    return summary


@dataclass(slots=True)
class _Counts:
    parts: int = 0
    polygons: int = 0


def _extent(plans: Iterable[BuildingPlan]) -> Extent:
    """Extent of the coordinates as written (rounded to the millimetre)."""
    xmin = ymin = zmin = math.inf
    xmax = ymax = zmax = -math.inf
    for plan in plans:
        for part in plan.parts:
            for p in part.outer:
                x, y = plan.to_world(p)
                xmin, ymin, xmax, ymax = min(xmin, x), min(ymin, y), max(xmax, x), max(ymax, y)
            zmin = min(zmin, plan.ground_z)
            zmax = max(zmax, plan.ground_z + part.measured_height)
    return (
        _mm(xmin),
        _mm(ymin),
        _mm(zmin),
        _mm(xmax),
        _mm(ymax),
        _mm(zmax),
    )


def _mm(value: float) -> float:
    return float(f"{value:.3f}")


def _header(opts: SyntheticCityOptions, name: str, extent: Extent) -> str:
    ns = _NAMESPACES[opts.version]
    decls = " ".join(
        [
            f'xmlns="{ns[0][1]}"',
            *(f'xmlns:{prefix}="{uri}"' for prefix, uri in ns),
            'xmlns:gml="http://www.opengis.net/gml"',
            'xmlns:xAL="urn:oasis:names:tc:ciq:xsdschema:xAL:2.0"',
            'xmlns:xlink="http://www.w3.org/1999/xlink"',
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"',
            f'xsi:schemaLocation="{_SCHEMA_LOCATIONS[opts.version]}"',
        ]
    )
    xmin, ymin, zmin, xmax, ymax, zmax = extent
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f"<core:CityModel {decls}>\n"
        f"  <gml:name>{escape(name)}</gml:name>\n"
        "  <gml:boundedBy>\n"
        f"    <gml:Envelope srsName={quoteattr(opts.srs_name)}>\n"
        f'      <gml:lowerCorner srsDimension="3">{xmin:.3f} {ymin:.3f} {zmin:.3f}</gml:lowerCorner>\n'
        f'      <gml:upperCorner srsDimension="3">{xmax:.3f} {ymax:.3f} {zmax:.3f}</gml:upperCorner>\n'
        "    </gml:Envelope>\n"
        "  </gml:boundedBy>\n"
    )


# --- buildings ---------------------------------------------------------------------------------


def _building(plan: BuildingPlan, opts: SyntheticCityOptions, counts: _Counts) -> str:
    """One ``core:cityObjectMember`` (CityGML element order of AbstractBuilding)."""
    ind = "      "
    out = ["  <core:cityObjectMember>\n", f'    <bldg:Building gml:id="{plan.gml_id}">\n']
    if plan.name is not None:
        out.append(f"{ind}<gml:name>{escape(plan.name)}</gml:name>\n")
    out.append(f"{ind}<core:creationDate>{plan.creation_date}</core:creationDate>\n")
    out.append(
        f"{ind}<core:externalReference>\n"
        f"{ind}  <core:informationSystem>{_ALKIS_SYSTEM}</core:informationSystem>\n"
        f"{ind}  <core:externalObject>\n"
        f"{ind}    <core:name>{plan.gml_id}</core:name>\n"
        f"{ind}  </core:externalObject>\n"
        f"{ind}</core:externalReference>\n"
    )
    out.append(_generic(ind, "string", "Gemeindeschluessel", "05315000"))
    out.append(_generic(ind, "double", "Flaeche", f"{plan.footprint_area:.2f}"))
    if plan.has_parts:
        out.append(_generic(ind, "date", "Grundrissaktualitaet", plan.footprint_date))
        out.append(_code(ind, "function", plan.function, _FUNCTION_CODESPACE))
        for part in plan.parts:
            counts.parts += 1
            pind = ind + "    "
            out.append(
                f'{ind}<bldg:consistsOfBuildingPart>\n{ind}  <bldg:BuildingPart gml:id="{part.gml_id}">\n'
            )
            out.append(f"{pind}<core:creationDate>{plan.creation_date}</core:creationDate>\n")
            out.append(_source_attributes(pind, plan, part))
            out.append(_solid_object(pind, plan, part, opts.lod, counts))
            out.append(f"{ind}  </bldg:BuildingPart>\n{ind}</bldg:consistsOfBuildingPart>\n")
    else:
        out.append(_source_attributes(ind, plan, plan.parts[0]))
        out.append(_code(ind, "function", plan.function, _FUNCTION_CODESPACE))
        out.append(_solid_object(ind, plan, plan.parts[0], opts.lod, counts))
    if plan.address is not None:
        out.append(_address(ind, plan))
    out.append("    </bldg:Building>\n  </core:cityObjectMember>\n")
    return "".join(out)


def _generic(ind: str, kind: str, name: str, value: str) -> str:
    return (
        f'{ind}<gen:{kind}Attribute name="{name}">\n'
        f"{ind}  <gen:value>{value}</gen:value>\n"
        f"{ind}</gen:{kind}Attribute>\n"
    )


def _code(ind: str, tag: str, value: str, code_space: str) -> str:
    return f'{ind}<bldg:{tag} codeSpace="{code_space}">{value}</bldg:{tag}>\n'


def _source_attributes(ind: str, plan: BuildingPlan, part: PartPlan) -> str:
    """Generic attributes of a geometry-carrying object (they precede the bldg: properties)."""
    return "".join(
        (
            _generic(ind, "int", "DatenquelleDachhoehe", str(plan.roof_height_source)),
            _generic(ind, "string", "DatenquelleLage", "1000"),
            _generic(ind, "string", "DatenquelleBodenhoehe", "1100"),
            _generic(ind, "date", "Grundrissaktualitaet", plan.footprint_date),
            _generic(ind, "double", "Dachneigung", f"{part.roof_pitch_deg:.1f}"),
        )
    )


def _solid_object(ind: str, plan: BuildingPlan, part: PartPlan, lod: int, counts: _Counts) -> str:
    """Roof, height, storeys and geometry of a geometry-carrying Building or BuildingPart."""
    out = [
        _code(ind, "roofType", part.roof_type, _ROOFTYPE_CODESPACE),
        f'{ind}<bldg:measuredHeight uom="urn:adv:uom:m">{part.measured_height:.3f}</bldg:measuredHeight>\n',
        f"{ind}<bldg:storeysAboveGround>{part.storeys}</bldg:storeysAboveGround>\n",
    ]
    fmt = _VertexFormatter(plan)
    if lod == 1:
        out.append(_lod1_solid(ind, part, fmt, counts))
    else:
        out.append(_lod2_geometry(ind, plan, part, fmt, counts))
    return "".join(out)


class _VertexFormatter:
    """Local (x, y, z above ground) -> ``"E N H"`` text with millimetres, cached per vertex."""

    __slots__ = ("_cache", "_cos", "_e", "_n", "_sin", "_z")

    def __init__(self, plan: BuildingPlan) -> None:
        self._cos, self._sin = math.cos(plan.angle), math.sin(plan.angle)
        self._e, self._n = plan.centre
        self._z = plan.ground_z
        self._cache: dict[Point3, str] = {}

    def __call__(self, p: Point3) -> str:
        text = self._cache.get(p)
        if text is None:
            x, y, z = p
            e = self._e + x * self._cos - y * self._sin
            n = self._n + x * self._sin + y * self._cos
            text = self._cache[p] = f"{e:.3f} {n:.3f} {self._z + z:.3f}"
        return text

    def ring(self, ring: Sequence[Point3]) -> str:
        """A closed posList (the first position repeated at the end, CGML-4)."""
        return " ".join([*(self(p) for p in ring), self(ring[0])])


def _polygon(ind: str, gml_id: str, polygon: Polygon3, fmt: _VertexFormatter) -> str:
    out = [f'{ind}<gml:Polygon gml:id="{gml_id}">\n']
    for k, ring in enumerate(polygon):
        tag = "exterior" if k == 0 else "interior"
        out.append(
            f"{ind}  <gml:{tag}>\n"
            f'{ind}    <gml:LinearRing gml:id="{gml_id}_{k}">\n'
            f'{ind}      <gml:posList srsDimension="3">{fmt.ring(ring)}</gml:posList>\n'
            f"{ind}    </gml:LinearRing>\n"
            f"{ind}  </gml:{tag}>\n"
        )
    out.append(f"{ind}</gml:Polygon>\n")
    return "".join(out)


def _solid_open(ind: str, lod: int) -> str:
    return (
        f"{ind}<bldg:lod{lod}Solid>\n{ind}  <gml:Solid>\n{ind}    <gml:exterior>\n"
        f"{ind}      <gml:CompositeSurface>\n"
    )


def _solid_close(ind: str, lod: int) -> str:
    return (
        f"{ind}      </gml:CompositeSurface>\n{ind}    </gml:exterior>\n{ind}  </gml:Solid>\n"
        f"{ind}</bldg:lod{lod}Solid>\n"
    )


def _lod1_solid(ind: str, part: PartPlan, fmt: _VertexFormatter, counts: _Counts) -> str:
    out = [_solid_open(ind, 1)]
    mind = ind + "        "
    for k, polygon in enumerate(p for s in part.block_surfaces() for p in s.polygons):
        counts.polygons += 1
        out.append(f"{mind}<gml:surfaceMember>\n")
        out.append(_polygon(mind + "  ", f"{part.gml_id}_P{k + 1}", polygon, fmt))
        out.append(f"{mind}</gml:surfaceMember>\n")
    out.append(_solid_close(ind, 1))
    return "".join(out)


def _lod2_geometry(
    ind: str, plan: BuildingPlan, part: PartPlan, fmt: _VertexFormatter, counts: _Counts
) -> str:
    """``lod2Solid`` of xlinks, ``lod2TerrainIntersection``, then the ``boundedBy`` surfaces."""
    surfaces = part.surfaces()
    ids: list[list[str]] = []
    n = 0
    for surface in surfaces:
        ids.append([f"{part.gml_id}_P{n + k + 1}" for k in range(len(surface.polygons))])
        n += len(surface.polygons)
    counts.polygons += n

    out = [_solid_open(ind, 2)]
    out.extend(
        f'{ind}        <gml:surfaceMember xlink:href="#{pid}"/>\n' for group in ids for pid in group
    )
    out.append(_solid_close(ind, 2))
    out.append(_terrain_intersection(ind, part, fmt))
    serial = dict.fromkeys(_SURFACE_CODES, 0)
    for surface, polygon_ids in zip(surfaces, ids, strict=True):
        serial[surface.kind] += 1
        out.append(
            _boundary_surface(ind, plan, part, surface, serial[surface.kind], polygon_ids, fmt)
        )
    return "".join(out)


def _terrain_intersection(ind: str, part: PartPlan, fmt: _VertexFormatter) -> str:
    """The footprint rings at ground level as closed LineStrings (AdV, like NRW)."""
    out = [f"{ind}<bldg:lod2TerrainIntersection>\n{ind}  <gml:MultiCurve>\n"]
    out.extend(
        f"{ind}    <gml:curveMember>\n{ind}      <gml:LineString>\n"
        f'{ind}        <gml:posList srsDimension="3">{fmt.ring(_on_ground(ring))}</gml:posList>\n'
        f"{ind}      </gml:LineString>\n{ind}    </gml:curveMember>\n"
        for ring in (part.outer, *part.holes)
    )
    out.append(f"{ind}  </gml:MultiCurve>\n{ind}</bldg:lod2TerrainIntersection>\n")
    return "".join(out)


def _on_ground(ring: Sequence[Point2]) -> list[Point3]:
    return [(x, y, 0.0) for x, y in ring]


_SURFACE_CODES = {
    "WallSurface": "W",
    "ClosureSurface": "C",
    "RoofSurface": "R",
    "GroundSurface": "G",
}


def _boundary_surface(
    ind: str,
    plan: BuildingPlan,
    part: PartPlan,
    surface: Surface,
    serial: int,
    polygon_ids: list[str],
    fmt: _VertexFormatter,
) -> str:
    sid = f"{part.gml_id}_{_SURFACE_CODES[surface.kind]}{serial}"
    out = [
        (
            f"{ind}<bldg:boundedBy>\n"
            f'{ind}  <bldg:{surface.kind} gml:id="{sid}">\n'
            f"{ind}    <core:creationDate>{plan.creation_date}</core:creationDate>\n"
            f"{ind}    <bldg:lod2MultiSurface>\n"
            f'{ind}      <gml:MultiSurface gml:id="{sid}_MS">\n'
        )
    ]
    mind = ind + "        "
    for pid, polygon in zip(polygon_ids, surface.polygons, strict=True):
        out.append(f"{mind}<gml:surfaceMember>\n")
        out.append(_polygon(mind + "  ", pid, polygon, fmt))
        out.append(f"{mind}</gml:surfaceMember>\n")
    out.append(
        f"{ind}      </gml:MultiSurface>\n"
        f"{ind}    </bldg:lod2MultiSurface>\n"
        f"{ind}  </bldg:{surface.kind}>\n"
        f"{ind}</bldg:boundedBy>\n"
    )
    return "".join(out)


def _address(ind: str, plan: BuildingPlan) -> str:
    a = plan.address
    if a is None:
        return ""
    return (
        f"{ind}<bldg:address>\n"
        f'{ind}  <core:Address gml:id="{plan.gml_id}_A1">\n'
        f"{ind}    <core:xalAddress>\n"
        f"{ind}      <xAL:AddressDetails>\n"
        f"{ind}        <xAL:Country>\n"
        f"{ind}          <xAL:CountryName>{escape(a.country)}</xAL:CountryName>\n"
        f'{ind}          <xAL:Locality Type="Town">\n'
        f"{ind}            <xAL:LocalityName>{escape(a.locality)}</xAL:LocalityName>\n"
        f'{ind}            <xAL:Thoroughfare Type="Street">\n'
        f"{ind}              <xAL:ThoroughfareNumber>{escape(a.number)}</xAL:ThoroughfareNumber>\n"
        f"{ind}              <xAL:ThoroughfareName>{escape(a.street)}</xAL:ThoroughfareName>\n"
        f"{ind}            </xAL:Thoroughfare>\n"
        f"{ind}          </xAL:Locality>\n"
        f"{ind}        </xAL:Country>\n"
        f"{ind}      </xAL:AddressDetails>\n"
        f"{ind}    </core:xalAddress>\n"
        f"{ind}  </core:Address>\n"
        f"{ind}</bldg:address>\n"
    )
