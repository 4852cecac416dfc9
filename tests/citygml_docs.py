"""Builders for small CityGML 1.0/2.0 documents used by the reader tests.

Everything is plain text so that each test shows the XML it relies on; coordinates are
metres in EPSG:25832 around (458870, 5438350) unless a test says otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

Point = tuple[float, float, float]

NAMESPACES = {
    "1.0": {
        "core": "http://www.opengis.net/citygml/1.0",
        "bldg": "http://www.opengis.net/citygml/building/1.0",
        "gen": "http://www.opengis.net/citygml/generics/1.0",
    },
    "2.0": {
        "core": "http://www.opengis.net/citygml/2.0",
        "bldg": "http://www.opengis.net/citygml/building/2.0",
        "gen": "http://www.opengis.net/citygml/generics/2.0",
    },
}
SRS = "urn:ogc:def:crs,crs:EPSG::25832,crs:EPSG::7837"


def envelope(
    srs: str | None = SRS, dim: int | None = 3, lower: str = "0 0 0", upper: str = "1 1 1"
) -> str:
    """A ``gml:boundedBy/gml:Envelope`` with optional srsName and srsDimension."""
    attrs = (f' srsName="{srs}"' if srs else "") + (f' srsDimension="{dim}"' if dim else "")
    return (
        f"<gml:boundedBy><gml:Envelope{attrs}><gml:lowerCorner>{lower}</gml:lowerCorner>"
        f"<gml:upperCorner>{upper}</gml:upperCorner></gml:Envelope></gml:boundedBy>"
    )


def city_model(
    members: Iterable[str] | str,
    *,
    version: str = "2.0",
    header: str | None = None,
    extra_ns: str = "",
) -> str:
    """A CityModel with the given ``core:cityObjectMember`` contents (objects as XML text)."""
    ns = NAMESPACES[version]
    body = (
        members
        if isinstance(members, str)
        else "".join(f"<core:cityObjectMember>{m}</core:cityObjectMember>" for m in members)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<core:CityModel xmlns:core="{ns["core"]}" xmlns:bldg="{ns["bldg"]}" '
        f'xmlns:gen="{ns["gen"]}" xmlns:gml="http://www.opengis.net/gml" '
        'xmlns:xlink="http://www.w3.org/1999/xlink" '
        f'xmlns:xAL="urn:oasis:names:tc:ciq:xsdschema:xAL:2.0"{extra_ns}>\n'
        f"{envelope() if header is None else header}\n{body}\n</core:CityModel>\n"
    )


def pos_list(points: Sequence[Point], *, close: bool = True, dim: int | None = 3) -> str:
    """A ``gml:posList`` (closing point repeated unless ``close`` is False)."""
    pts = [*points, points[0]] if close else list(points)
    attr = f' srsDimension="{dim}"' if dim else ""
    return f"<gml:posList{attr}>{' '.join(repr(float(c)) for p in pts for c in p)}</gml:posList>"


def polygon(
    points: Sequence[Point],
    *,
    gml_id: str | None = None,
    holes: Sequence[Sequence[Point]] = (),
    close: bool = True,
    dim: int | None = 3,
) -> str:
    """A ``gml:Polygon`` with a posList exterior and optional interior rings."""
    pid = f' gml:id="{gml_id}"' if gml_id else ""
    rings = f"<gml:exterior><gml:LinearRing>{pos_list(points, close=close, dim=dim)}</gml:LinearRing></gml:exterior>"
    for hole in holes:
        rings += f"<gml:interior><gml:LinearRing>{pos_list(hole, close=close, dim=dim)}</gml:LinearRing></gml:interior>"
    return f"<gml:Polygon{pid}>{rings}</gml:Polygon>"


def multi_surface(polygons: Iterable[str], *, gml_id: str | None = None) -> str:
    """A ``gml:MultiSurface`` of the given polygons (or xlink member strings)."""
    mid = f' gml:id="{gml_id}"' if gml_id else ""
    members = "".join(
        p if p.startswith("<gml:surfaceMember") else f"<gml:surfaceMember>{p}</gml:surfaceMember>"
        for p in polygons
    )
    return f"<gml:MultiSurface{mid}>{members}</gml:MultiSurface>"


def href_member(target: str) -> str:
    """A ``gml:surfaceMember`` referencing ``#target``."""
    return f'<gml:surfaceMember xlink:href="#{target}"/>'


def box_faces(
    x: float = 0.0, y: float = 0.0, z: float = 0.0, w: float = 10.0, d: float = 8.0, h: float = 6.0
) -> dict[str, list[Point]]:
    """The 6 faces of an axis-aligned box, each counter-clockwise seen from outside."""
    x1, y1, z1 = x + w, y + d, z + h
    return {
        "ground": [(x, y, z), (x, y1, z), (x1, y1, z), (x1, y, z)],
        "roof": [(x, y, z1), (x1, y, z1), (x1, y1, z1), (x, y1, z1)],
        "south": [(x, y, z), (x1, y, z), (x1, y, z1), (x, y, z1)],
        "east": [(x1, y, z), (x1, y1, z), (x1, y1, z1), (x1, y, z1)],
        "north": [(x1, y1, z), (x, y1, z), (x, y1, z1), (x1, y1, z1)],
        "west": [(x, y1, z), (x, y, z), (x, y, z1), (x, y1, z1)],
    }


FACE_SURFACE = {
    "ground": "GroundSurface",
    "roof": "RoofSurface",
    "south": "WallSurface",
    "east": "WallSurface",
    "north": "WallSurface",
    "west": "WallSurface",
}


def thematic_box(prefix: str, lod: int = 2, **box: float) -> str:
    """``bldg:boundedBy`` Ground/Roof/Wall surfaces of a box; polygon ids ``<prefix>_<face>``."""
    out = []
    for face, pts in box_faces(**box).items():
        surface = FACE_SURFACE[face]
        out.append(
            f"<bldg:boundedBy><bldg:{surface}><bldg:lod{lod}MultiSurface>"
            f"{multi_surface([polygon(pts, gml_id=f'{prefix}_{face}')])}"
            f"</bldg:lod{lod}MultiSurface></bldg:{surface}></bldg:boundedBy>"
        )
    return "".join(out)


def solid_of(prefix: str, lod: int = 2) -> str:
    """A ``bldg:lodNSolid`` whose members reference the polygons of :func:`thematic_box`."""
    members = "".join(href_member(f"{prefix}_{face}") for face in FACE_SURFACE)
    return (
        f"<bldg:lod{lod}Solid><gml:Solid><gml:exterior><gml:CompositeSurface>{members}"
        f"</gml:CompositeSurface></gml:exterior></gml:Solid></bldg:lod{lod}Solid>"
    )


def building(inner: str, *, gml_id: str | None = "B1", tag: str = "Building") -> str:
    """A ``bldg:Building`` (or BuildingPart) element."""
    bid = f' gml:id="{gml_id}"' if gml_id else ""
    return f"<bldg:{tag}{bid}>{inner}</bldg:{tag}>"


def part(inner: str, gml_id: str | None) -> str:
    """A ``bldg:consistsOfBuildingPart`` holding a BuildingPart."""
    return f"<bldg:consistsOfBuildingPart>{building(inner, gml_id=gml_id, tag='BuildingPart')}</bldg:consistsOfBuildingPart>"


def write(path: Path, text: str) -> Path:
    """Write ``text`` as UTF-8 and return ``path``."""
    path.write_text(text, encoding="utf-8")
    return path


def lod1_box(**box: float) -> str:
    """A ``bldg:lod1Solid`` box with inline polygons."""
    polys = "".join(
        f"<gml:surfaceMember>{polygon(pts)}</gml:surfaceMember>"
        for pts in box_faces(**box).values()
    )
    return (
        "<bldg:lod1Solid><gml:Solid><gml:exterior><gml:CompositeSurface>"
        f"{polys}</gml:CompositeSurface></gml:exterior></gml:Solid></bldg:lod1Solid>"
    )


def write_large_city(
    path: Path, n_buildings: int, *, version: str = "1.0", style: str = "adv"
) -> Path:
    """Stream a CityGML file of ``n_buildings`` box buildings to ``path``.

    Written building by building (the document is never held in memory). ``style="adv"``:
    AdV LoD2 (a ``lod2Solid`` referencing the thematic polygons, four attributes, ~3.5 KB
    per building); ``style="lod1"``: a bare ``lod1Solid`` (~1.3 KB per building).
    """
    head, _, tail = city_model("@@", version=version).partition("@@")
    with path.open("w", encoding="utf-8") as fh:
        fh.write(head)
        for i in range(n_buildings):
            x = (i % 200) * 20.0 + 458000.0
            y = (i // 200) * 20.0 + 5438000.0
            pid = f"b{i}"
            if style == "lod1":
                fh.write(
                    "<core:cityObjectMember>"
                    + building(lod1_box(x=x, y=y, z=50.0), gml_id=f"L{i}")
                    + "</core:cityObjectMember>\n"
                )
                continue
            fh.write(
                "<core:cityObjectMember>"
                + building(
                    f'<gen:stringAttribute name="Gemeindeschluessel"><gen:value>05315000</gen:value></gen:stringAttribute>'
                    f"<bldg:function>31001_1000</bldg:function><bldg:roofType>1000</bldg:roofType>"
                    f'<bldg:measuredHeight uom="urn:adv:uom:m">{6 + i % 7}</bldg:measuredHeight>'
                    + solid_of(pid)
                    + thematic_box(pid, x=x, y=y, z=50.0, h=6.0 + i % 7),
                    gml_id=f"DEBY{i:08d}",
                )
                + "</core:cityObjectMember>\n"
            )
        fh.write(tail)
    return path
