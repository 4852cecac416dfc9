"""The reader's fast paths give exactly what the general GML walker gives.

Every file is read three times: with the compiled walker (``_citygml_fastwalk``, when built),
with the Python fast path (``_gml.FAST_PATHS``: the walker's plain-polygon path,
``GeometryWalker._fast``), and with both switched off, so that every polygon goes through the
general walker. Features
(ids, types, attributes, per-LoD vertices bit for bit, offsets, surface types, solid flags,
children, source lines) and the report (skips with ids and lines, warnings) must be equal.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from citymodel.converters import _citygml_fast, _gml
from citymodel.converters.citygml import CityGMLReader
from citymodel.model import Feature, SurfaceType
from citymodel.report import JobReport
from citymodel.synthetic import SyntheticCityOptions, write_city
from tests import citygml_docs as docs
from tests.conftest import CITYGML_DIR
from tests.conftest import CITYGML_FILES as REAL_FILES

Snapshot = tuple[list[tuple[object, ...]], list[tuple[object, ...]], list[str]]


def _attributes(feature: Feature) -> list[tuple[str, str, str]]:
    """Names, value types and values (``repr``: -0.0, nan) in the feature's order."""
    return [(k, type(v).__name__, repr(v)) for k, v in feature.attributes.items()]


def _flat(features: Iterator[Feature]) -> Iterator[tuple[object, ...]]:
    for feature in features:
        for feat, parent in feature.walk():
            geoms = tuple(
                (
                    g.lod,
                    g.vertices.tobytes(),
                    g.vertices.shape,
                    g.ring_offsets.tolist(),
                    g.polygon_offsets.tolist(),
                    g.surface_types.tolist(),
                    g.solid,
                )
                for g in feat.geometries
            )
            yield (
                feat.id,
                feat.type,
                parent.id if parent is not None else None,
                tuple(c.id for c in feat.children),
                _attributes(feat),
                feat.source,
                geoms,
            )


COMPILED = _citygml_fast.plain_walker(_gml.GML_NS, _gml.parse_dimension) is not None
MODES = ("compiled", "python", "general") if COMPILED else ("python", "general")


def _read(path: Path, monkeypatch: pytest.MonkeyPatch, *, mode: str) -> Snapshot:
    monkeypatch.setattr(_gml, "FAST_PATHS", mode != "general")
    monkeypatch.setattr(_citygml_fast, "ENABLED", mode == "compiled")
    report = JobReport()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # CRS notes of the metadata are not compared here
        with CityGMLReader(path) as reader:
            features = list(_flat(reader.features(report=report)))
    skips = [(s.id, s.file, s.line, s.reason) for s in report.skipped]
    return features, skips, list(report.warnings)


def _assert_same(path: Path, monkeypatch: pytest.MonkeyPatch) -> Snapshot:
    general = _read(path, monkeypatch, mode="general")
    for mode in MODES[:-1]:
        fast = _read(path, monkeypatch, mode=mode)
        assert len(fast[0]) == len(general[0]), mode
        for a, b in zip(fast[0], general[0], strict=True):
            assert a == b, f"{path}: feature {b[0]} differs ({mode})"
        assert fast[1] == general[1], mode
        assert fast[2] == general[2], mode
    return general


def test_compiled_walker_is_used_when_built(monkeypatch: pytest.MonkeyPatch) -> None:
    built = list(Path(_citygml_fast.__file__).parent.glob("_citygml_fastwalk.*.so"))
    if not COMPILED:
        # a built extension that does not load (an import cycle, a missing name) would
        # otherwise only make these tests compare the Python paths with each other
        if _citygml_fast.ENABLED:
            assert not built, f"{built[0].name} is built but not used: {_citygml_fast.status()}"
        pytest.skip(f"compiled walker not in use: {_citygml_fast.status()}")
    monkeypatch.setattr(_citygml_fast, "ENABLED", True)
    walker = _gml.GeometryWalker(
        _gml.GmlNames.for_namespace(_gml.GML_NS), on_problem=lambda *a: None, srs_ok=bool
    )
    assert walker.compiled is not None
    assert _citygml_fast.status().startswith("yes")
    monkeypatch.setattr(_citygml_fast, "ENABLED", False)
    assert _citygml_fast.status().startswith("no")


@pytest.mark.realdata
@pytest.mark.parametrize("path", REAL_FILES, ids=lambda p: str(p.relative_to(CITYGML_DIR)))
def test_real_files_read_the_same_with_and_without_fast_paths(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    features, _, _ = _assert_same(path, monkeypatch)
    assert features


CITYGML3_DIR = CITYGML_DIR.parent / "citygml3"
CITYGML3_FILES = (
    sorted(p for p in CITYGML3_DIR.rglob("*") if p.suffix.lower() in {".gml", ".xml"})
    if CITYGML3_DIR.is_dir()
    else []
)


@pytest.mark.realdata
@pytest.mark.skipif(not CITYGML3_FILES, reason=f"{CITYGML3_DIR} is absent")
@pytest.mark.parametrize("path", CITYGML3_FILES, ids=lambda p: str(p.relative_to(CITYGML3_DIR)))
def test_citygml3_files_read_the_same(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """CityGML 3.0 (GML 3.2) goes through the same walker with its own namespace."""
    _assert_same(path, monkeypatch)


BROKEN_DIR = CITYGML_DIR.parent / "broken" / "citygml"
BROKEN_FILES = sorted(BROKEN_DIR.glob("*.gml")) if BROKEN_DIR.is_dir() else []


@pytest.mark.realdata
@pytest.mark.skipif(not BROKEN_FILES, reason=f"{BROKEN_DIR} is absent")
@pytest.mark.parametrize("path", BROKEN_FILES, ids=lambda p: p.name)
def test_broken_files_read_the_same(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    outcomes = []
    for mode in MODES:
        try:
            outcomes.append(_read(path, monkeypatch, mode=mode))
        except Exception as err:  # a file that cannot be read must fail the same way
            outcomes.append(([], [], [f"{type(err).__name__}: {err}"]))
    assert all(o == outcomes[-1] for o in outcomes), path


def test_generated_city_reads_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    opts = SyntheticCityOptions(n_buildings=150, part_ratio=0.4, courtyard_ratio=0.3, seed=3)
    path = write_city(tmp_path / "city.gml", opts).path
    features, _, _ = _assert_same(path, monkeypatch)
    assert any(f[1] == "BuildingPart" for f in features)
    # courtyards: polygons with holes
    assert any(len(g[4]) < len(g[3]) for f in features for g in f[6])


def test_generated_lod1_and_citygml_1_0_read_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for version, lod in (("1.0", 2), ("2.0", 1)):
        opts = SyntheticCityOptions(n_buildings=40, version=version, lod=lod, part_ratio=0.3)
        _assert_same(write_city(tmp_path / f"c{version}{lod}.gml", opts).path, monkeypatch)


# --- hand-written structures the fast path must decline or handle -------------------------

_RING = "0 0 0 10 0 0 10 10 0 0 10 0 0 0 0"
_HOLE = "2 2 0 2 4 0 4 4 0 4 2 0 2 2 0"


def _poly(pid: str | None, rings: str | None = None, attrs: str = "") -> str:
    ident = f' gml:id="{pid}"' if pid else ""
    body = (
        rings
        or f"<gml:exterior><gml:LinearRing><gml:posList>{_RING}</gml:posList></gml:LinearRing></gml:exterior>"
    )
    return f"<gml:Polygon{ident}{attrs}>{body}</gml:Polygon>"


def _surface(kind: str, polys: str, lod: int = 2, geom_attrs: str = "") -> str:
    members = (
        polys if "surfaceMember" in polys else f"<gml:surfaceMember>{polys}</gml:surfaceMember>"
    )
    return (
        f"<bldg:boundedBy><bldg:{kind}><bldg:lod{lod}MultiSurface><gml:MultiSurface{geom_attrs}>"
        f"{members}</gml:MultiSurface></bldg:lod{lod}MultiSurface></bldg:{kind}></bldg:boundedBy>"
    )


_CASES = {
    "plain": _surface("RoofSurface", _poly("a")) + _surface("WallSurface", _poly("b")),
    "no ids": _surface(
        "RoofSurface",
        f"<gml:surfaceMember>{_poly(None)}</gml:surfaceMember>"
        f"<gml:surfaceMember>{_poly(None)}</gml:surfaceMember>",
    ),
    "hole": _surface(
        "RoofSurface",
        _poly(
            "h",
            f"<gml:exterior><gml:LinearRing><gml:posList>{_RING}</gml:posList></gml:LinearRing>"
            f"</gml:exterior><gml:interior><gml:LinearRing><gml:posList>{_HOLE}</gml:posList>"
            "</gml:LinearRing></gml:interior>",
        ),
    ),
    "repeated id": _surface("RoofSurface", _poly("a")) + _surface("WallSurface", _poly("a")),
    "two lods interleaved": _surface("RoofSurface", _poly("a"), lod=2)
    + _surface("WallSurface", _poly("b"), lod=3)
    + _surface("GroundSurface", _poly("c"), lod=2),
    "other srsName": _surface("RoofSurface", _poly("a"), geom_attrs=' srsName="EPSG:4326"'),
    "srsDimension 2": _surface(
        "RoofSurface",
        _poly(
            "a",
            '<gml:exterior><gml:LinearRing><gml:posList srsDimension="2">0 0 1 0 1 1 0 0'
            "</gml:posList></gml:LinearRing></gml:exterior>",
        ),
    ),
    "ring srsDimension": _surface(
        "RoofSurface",
        _poly(
            "a",
            '<gml:exterior><gml:LinearRing srsDimension="2"><gml:posList>0 0 1 0 1 1 0 0'
            "</gml:posList></gml:LinearRing></gml:exterior>",
        ),
    ),
    "gml:pos": _surface(
        "RoofSurface",
        _poly(
            "a",
            "<gml:exterior><gml:LinearRing><gml:pos>0 0 0</gml:pos><gml:pos>1 0 0</gml:pos>"
            "<gml:pos>1 1 0</gml:pos><gml:pos>0 0 0</gml:pos></gml:LinearRing></gml:exterior>",
        ),
    ),
    "empty posList": _surface(
        "RoofSurface",
        _poly("a", "<gml:exterior><gml:LinearRing><gml:posList/></gml:LinearRing></gml:exterior>"),
    ),
    "bad numbers": _surface(
        "RoofSurface",
        _poly(
            "a",
            "<gml:exterior><gml:LinearRing><gml:posList>0 0 0 1 x 0 1 1 0</gml:posList>"
            "</gml:LinearRing></gml:exterior>",
        ),
    ),
    "href member": _surface("RoofSurface", _poly("a"))
    + _surface("WallSurface", '<gml:surfaceMember xlink:href="#a"/>'),
    "orientable": _surface(
        "RoofSurface",
        '<gml:surfaceMember><gml:OrientableSurface orientation="-"><gml:baseSurface>'
        + _poly("o")
        + "</gml:baseSurface></gml:OrientableSurface></gml:surfaceMember>",
    ),
    "envelope after boundedBy": _surface("RoofSurface", _poly("a"))
    + docs.envelope(dim=2)
    + _surface("WallSurface", _poly("b")),
    "two geometries in one property": "<bldg:boundedBy><bldg:RoofSurface><bldg:lod2MultiSurface>"
    + "".join(
        f"<gml:MultiSurface><gml:surfaceMember>{_poly(pid)}</gml:surfaceMember></gml:MultiSurface>"
        for pid in "ab"
    )
    + "</bldg:lod2MultiSurface></bldg:RoofSurface></bldg:boundedBy>",
    "polygon with two attributes": _surface("RoofSurface", _poly("a", attrs=' srsDimension="3"')),
    "polygon with another attribute": _surface("RoofSurface", _poly(None, attrs=' foo="1"')),
    "unclosed ring": _surface(
        "RoofSurface",
        _poly(
            "u",
            "<gml:exterior><gml:LinearRing><gml:posList>0 0 0 1 0 0 1 1 0</gml:posList>"
            "</gml:LinearRing></gml:exterior>",
        ),
    ),
    # shapes the compiled walker must read exactly as lxml's Python API does, or decline
    "CDATA and split text": _surface(
        "RoofSurface",
        _poly(
            "t",
            "<gml:exterior><gml:LinearRing><gml:posList>0 0 0 10 0 0<!-- c --> 10 10 0"
            "<![CDATA[ 0 10 0 ]]>0 0 0</gml:posList></gml:LinearRing></gml:exterior>",
        ),
    ),
    "posList with a child element": _surface(
        "RoofSurface",
        _poly(
            "t",
            f"<gml:exterior><gml:LinearRing><gml:posList>{_RING}<gml:name>x</gml:name> 1 2 3"
            "</gml:posList></gml:LinearRing></gml:exterior>",
        ),
    ),
    "interior first": _surface(
        "RoofSurface",
        _poly(
            "i",
            f"<gml:interior><gml:LinearRing><gml:posList>{_HOLE}</gml:posList></gml:LinearRing>"
            f"</gml:interior><gml:exterior><gml:LinearRing><gml:posList>{_RING}</gml:posList>"
            "</gml:LinearRing></gml:exterior>",
        ),
    ),
    "polygon without rings": _surface("RoofSurface", "<gml:Polygon gml:id='e'/>"),
    "empty member": _surface("RoofSurface", "<gml:surfaceMember/>" + _poly("a")),
    "empty multisurface": "<bldg:boundedBy><bldg:RoofSurface><bldg:lod2MultiSurface>"
    "<gml:MultiSurface/></bldg:lod2MultiSurface></bldg:RoofSurface></bldg:boundedBy>",
    "empty id": _surface("RoofSurface", "<gml:Polygon gml:id=''>" + _poly(None)[13:]),
    "boundedBy by reference": _surface("RoofSurface", _poly("a"))
    + '<bldg:boundedBy xlink:href="#x"/>',
    "unknown surface class": "<bldg:boundedBy><bldg:OtherSurface><bldg:lod2MultiSurface>"
    f"<gml:MultiSurface><gml:surfaceMember>{_poly('a')}</gml:surfaceMember></gml:MultiSurface>"
    "</bldg:lod2MultiSurface></bldg:OtherSurface></bldg:boundedBy>",
    "two surfaces in one boundedBy": "<bldg:boundedBy>"
    + _surface("RoofSurface", _poly("a"))[len("<bldg:boundedBy>") : -len("</bldg:boundedBy>")]
    + _surface("WallSurface", _poly("b"))[len("<bldg:boundedBy>") : -len("</bldg:boundedBy>")]
    + "</bldg:boundedBy>",
    "opening": "<bldg:boundedBy><bldg:WallSurface><bldg:lod3MultiSurface><gml:MultiSurface>"
    f"<gml:surfaceMember>{_poly('w')}</gml:surfaceMember></gml:MultiSurface>"
    "</bldg:lod3MultiSurface><bldg:opening><bldg:Window gml:id='win'><bldg:lod3MultiSurface>"
    f"<gml:MultiSurface><gml:surfaceMember>{_poly('g')}</gml:surfaceMember></gml:MultiSurface>"
    "</bldg:lod3MultiSurface></bldg:Window></bldg:opening></bldg:WallSurface></bldg:boundedBy>",
    "geometry srsDimension equal": _surface(
        "RoofSurface", _poly("a"), geom_attrs=' srsDimension="3"'
    ),
    "solid with plain shell": "<bldg:lod1Solid><gml:Solid><gml:exterior><gml:CompositeSurface>"
    f"<gml:surfaceMember>{_poly('s1')}</gml:surfaceMember>"
    f"<gml:surfaceMember>{_poly('s2')}</gml:surfaceMember>"
    "</gml:CompositeSurface></gml:exterior></gml:Solid></bldg:lod1Solid>",
}


@pytest.mark.parametrize("case", sorted(_CASES))
def test_structures_read_the_same(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    building = f'<bldg:Building gml:id="B">{_CASES[case]}</bldg:Building>'
    solid = (
        "<bldg:lod2Solid><gml:Solid><gml:exterior><gml:CompositeSurface>"
        '<gml:surfaceMember xlink:href="#a"/><gml:surfaceMember xlink:href="#b"/>'
        "</gml:CompositeSurface></gml:exterior></gml:Solid></bldg:lod2Solid>"
    )
    with_solid = f'<bldg:Building gml:id="S">{_CASES[case]}{solid}</bldg:Building>'
    part = (
        f'<bldg:Building gml:id="P">{_CASES["plain"]}<bldg:consistsOfBuildingPart>'
        f'<bldg:BuildingPart gml:id="P1">{_CASES[case]}</bldg:BuildingPart>'
        "</bldg:consistsOfBuildingPart></bldg:Building>"
    )
    path = tmp_path / "doc.gml"
    path.write_text(docs.city_model([building, with_solid, part]), encoding="utf-8")
    features, _, _ = _assert_same(path, monkeypatch)
    assert [f[0] for f in features] == ["B", "S", "P", "P1"]


def test_fast_path_keeps_polygons_and_solid_flag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the fast path yields for the AdV pattern, checked directly (not only by equality)."""
    solid = (
        "<bldg:lod2Solid><gml:Solid><gml:exterior><gml:CompositeSurface>"
        '<gml:surfaceMember xlink:href="#a"/><gml:surfaceMember xlink:href="#b"/>'
        "</gml:CompositeSurface></gml:exterior></gml:Solid></bldg:lod2Solid>"
    )
    building = f'<bldg:Building gml:id="S">{_CASES["plain"]}{solid}</bldg:Building>'
    path = tmp_path / "doc.gml"
    path.write_text(docs.city_model([building]), encoding="utf-8")
    monkeypatch.setattr(_gml, "FAST_PATHS", True)
    with CityGMLReader(path) as reader:
        (feature,) = reader.features()
    (geom,) = feature.geometries
    assert geom.lod == "2" and geom.solid
    assert geom.polygon_count == 2
    assert geom.surface_types.tolist() == [SurfaceType.ROOF, SurfaceType.WALL]
    assert np.array_equal(
        geom.vertices[:4], np.array([[0, 0, 0], [10, 0, 0], [10, 10, 0], [0, 10, 0]])
    )


def test_lines_past_65535_read_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """libxml2 keeps 16-bit element lines; the compiled walker must give lxml's big lines."""
    building = f'<bldg:Building gml:id="B">{_CASES["plain"]}{_CASES["hole"]}</bldg:Building>'
    # polygon lines reach the report through a skipped polygon and an unclosed ring
    late = (
        f'<bldg:Building gml:id="L">\n  {_CASES["plain"]}\n  {_CASES["bad numbers"]}\n'
        f"  {_CASES['unclosed ring']}</bldg:Building>"
    )
    members = "".join(
        f"<core:cityObjectMember>{m}</core:cityObjectMember>" for m in (building, late)
    )
    path = tmp_path / "doc.gml"
    path.write_text(
        docs.city_model(
            members.replace(
                '</core:cityObjectMember><core:cityObjectMember><bldg:Building gml:id="L">',
                "</core:cityObjectMember>"
                + "\n" * 70_000
                + '<core:cityObjectMember><bldg:Building gml:id="L">',
            )
        ),
        encoding="utf-8",
    )
    features, _, warnings = _assert_same(path, monkeypatch)
    assert [f[0] for f in features] == ["B", "L"]
    assert features[1][5].line is not None and features[1][5].line > 70_000
    assert any("polygon u of feature L, line 7000" in w for w in warnings), warnings


def test_document_with_a_dtd_reads_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A DTD's attribute defaults are seen by lxml's ``get``: the compiled walk declines."""
    building = f'<bldg:Building gml:id="B">{_CASES["plain"]}</bldg:Building>'
    text = docs.city_model([building]).replace(
        "\n<core:CityModel",
        '\n<!DOCTYPE core:CityModel [<!ATTLIST gml:posList srsDimension CDATA "2">]>'
        "\n<core:CityModel",
        1,
    )
    path = tmp_path / "doc.gml"
    path.write_text(text, encoding="utf-8")
    _assert_same(path, monkeypatch)
