"""Every real CityGML 3.0 file in ../shared/data/citygml3 reads, converts and tiles.

* every city object of the file (counted in the XML independently of the reader) is a feature,
  and every feature is written to the GLB, a parent of written features, or in the report;
* the GLBs pass the Khronos validator; a tileset of the georeferenced files passes
  check-tileset;
* ``ogc_examples_from_v2`` holds the CityGML 2.0 examples converted to 3.0 by the OGC: read
  with the 3.0 reader they give the same objects, ids, LoDs, polygons and vertices as the 2.0
  originals read with the 2.0 reader (surface types too, where 2.0 knows them);
* the local engineering CRS example fails as clearly as its 2.0 sibling, and ``--in-crs``
  behaves the same for both.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from lxml import etree

from citymodel.converters._citygml3_vocabulary import vocabulary3
from citymodel.converters.citygml import CityGMLReader
from citymodel.converters.convert import ConvertOptions, convert
from citymodel.errors import CRSError
from citymodel.model import Feature, SurfaceGeometry, SurfaceType
from citymodel.report import JobReport
from tests.conftest import CITYGML_DIR, SHARED
from tests.gltf_reader import read_file
from tests.gltf_validator import unexpected_issues, validate_gltf_files

pytestmark = pytest.mark.realdata

CITYGML3_DIR = SHARED / "data" / "citygml3"
FILES = sorted(CITYGML3_DIR.glob("*/*.gml"))
FROM_V2 = sorted((CITYGML3_DIR / "ogc_examples_from_v2").glob("*.gml"))
V2_DIR = CITYGML_DIR / "ogc_citygml2_examples"

# how each file can be placed: no srsName at all / a local engineering CRS -> source frame;
# EPSG:3946 without a vertical CRS -> heights taken as ellipsoidal (GEO-5 asks the user)
NO_GEOREFERENCE = {
    "LocalCRS_CityGML3.gml",
    "Building_LOD1-LocalEngineeringCRS.gml",
    "ParkingGarage_CityGML3.0_LOD2_with_CityObjectRelations.gml",
}
NO_VERTICAL = {
    "Opera-Lyon_CityGML3.0_LOD2_with_xAL3_FullyStructured.gml",
    "historicalSuccession_CityGML_3.0_LOD2_Versioning.gml",
}
# the OGC conversion gave the LoD3 example's TIN another id than the 2.0 original has
RENAMED = {
    ("Building_LOD3-EPSG25832.gml", "GML_4eb161b0-aa7e-4087-937c-5c4c427c7fc9"): (
        "GUID_04D4DsNGv1MfvYu5O3lkcW"
    )
}


def _options(path: Path) -> ConvertOptions:
    if path.name in NO_GEOREFERENCE:
        return ConvertOptions(frame="source", grids=(SHARED / "proj",))
    mode = "ellipsoidal-as-is" if path.name in NO_VERTICAL else "auto"
    return ConvertOptions(vertical_mode=mode, grids=(SHARED / "proj",))


def _xml_objects(path: Path) -> Counter[str]:
    """City objects in the file by feature type, counted from the XML tree (not the reader)."""
    classes = vocabulary3().object_types
    counts: Counter[str] = Counter()
    for el in etree.parse(str(path)).iter():
        if isinstance(el.tag, str) and el.tag in classes:
            counts[classes[el.tag]] += 1
    return counts


def _walk(features: list[Feature]) -> list[Feature]:
    return [feat for top in features for feat, _ in top.walk()]


def test_files_are_present(shared_data: Path) -> None:
    assert len(FILES) == 13 and len(FROM_V2) == 6, f"expected the samples under {CITYGML3_DIR}"


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_every_object_is_read(path: Path) -> None:
    report = JobReport()
    with CityGMLReader(path) as reader:
        assert reader.version == "3.0"
        features = list(reader.features(report=report))
        info = reader.metadata()
    counts = Counter(f.type for f in _walk(features))
    assert counts == _xml_objects(path)
    assert info.version == "3.0" and info.format == "CityGML"
    for name, n in counts.items():
        assert info.counts[name] == n
    ids = [f.id for f in _walk(features)]
    assert len(ids) == len(set(ids)), "an object referenced by xlink:href was read twice"
    assert any(f.geometries for f in _walk(features))


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> dict[Path, tuple[Path, JobReport]]:
    if not FILES:
        pytest.skip(f"real public data not available: {CITYGML3_DIR} is absent")
    out_dir = tmp_path_factory.mktemp("citygml3")
    return {
        path: (out := out_dir / f"{path.stem}.glb", convert(path, out, options=_options(path)))
        for path in FILES
    }


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_every_object_written_or_reported(
    converted: dict[Path, tuple[Path, JobReport]], path: Path
) -> None:
    out, report = converted[path]
    with CityGMLReader(path) as reader:
        features = _walk(list(reader.features(report=JobReport())))
    written = {str(v) for v in read_file(out).property_table()["gml_id"]}
    skipped = {s.id for s in report.skipped}
    for feat in features:
        if feat.geometries:
            assert feat.id in written or feat.id in skipped, feat.id
        elif not feat.children:  # nothing to mesh at all: said in the report
            assert any(f"{feat.type} without geometry" in w for w in report.warnings), feat.id
    assert written <= {f.id for f in features}


def test_glbs_pass_the_khronos_validator(converted: dict[Path, tuple[Path, JobReport]]) -> None:
    outs = [out for out, _ in converted.values()]
    results = validate_gltf_files(outs)
    bad = {
        out.name: unexpected_issues(r)[:3]
        for out, r in zip(outs, results, strict=True)
        if r["numErrors"] or unexpected_issues(r)
    }
    assert not bad, bad


def test_reports_say_what_is_not_geometry(converted: dict[Path, tuple[Path, JobReport]]) -> None:
    warnings = {p.name: " ".join(r.warnings) for p, (_, r) in converted.items()}
    assert (
        "Dynamizer x1" in warnings["Building_CityGML3.0_with_Dynamizer_and_inline_Timeseries.gml"]
    )
    versioning = warnings["historicalSuccession_CityGML_3.0_LOD2_Versioning.gml"]
    assert "Version x2" in versioning and "VersionTransition x1" in versioning
    assert "versions of one object may overlap" in versioning
    assert "BuildingUnit without geometry x2" in warnings["BuildingUnits_Storeys_xlink.gml"]


@pytest.mark.slow
def test_tileset_of_the_georeferenced_files_passes_check_tileset(tmp_path: Path) -> None:
    from citymodel.tiler.build import TileOptions, build_tileset
    from tests.tiler.conftest import assert_check_tileset_passes

    inputs = [p for p in FILES if p.name not in NO_GEOREFERENCE | NO_VERTICAL]
    out = tmp_path / "city3"
    report = build_tileset(inputs, out, options=TileOptions(jobs=1, grids=(SHARED / "proj",)))
    assert report.written["Building"] >= len(inputs)
    assert not report.skipped
    assert_check_tileset_passes(out / "tileset.json")


# --- the OGC 3.0 conversions of the 2.0 examples read as their originals --------------------


def _polygons(g: SurfaceGeometry) -> list[tuple[int, bytes]]:
    """Polygons as (surface type, rounded rings), order-free."""
    out = []
    for p in range(g.polygon_offsets.size - 1):
        r0, r1 = int(g.polygon_offsets[p]), int(g.polygon_offsets[p + 1])
        verts = g.vertices[g.ring_offsets[r0] : g.ring_offsets[r1]]
        out.append((int(g.surface_types[p]), np.round(verts, 6).tobytes()))
    return sorted(out, key=lambda t: t[1])


@pytest.mark.parametrize("path", FROM_V2, ids=[p.name for p in FROM_V2])
def test_v3_conversion_reads_as_the_v2_original(path: Path) -> None:
    with CityGMLReader(V2_DIR / path.name) as r2, CityGMLReader(path) as r3:
        v2 = _walk(list(r2.features(report=JobReport())))
        v3 = {f.id: f for f in _walk(list(r3.features(report=JobReport())))}
    assert v2, "the 2.0 reader read nothing"
    for f2 in v2:
        f3 = v3.get(RENAMED.get((path.name, f2.id), f2.id))
        assert f3 is not None, f"{f2.type} {f2.id} missing in the 3.0 reading"
        assert f3.type == f2.type
        assert [g.lod for g in f3.geometries] == [g.lod for g in f2.geometries], f2.id
        for g2, g3 in zip(f2.geometries, f3.geometries, strict=True):
            assert g3.vertex_count == g2.vertex_count and g3.solid == g2.solid, f2.id
            p2, p3 = _polygons(g2), _polygons(g3)
            assert [v for _, v in p2] == [v for _, v in p3], f"{f2.id} LoD {g2.lod}: vertices"
            unknown = int(SurfaceType.UNKNOWN)
            for (t2, _), (t3, _) in zip(p2, p3, strict=True):
                assert t2 in (t3, unknown), f"{f2.id}: surface type {t3}, 2.0 says {t2}"
        if f2.type in ("Building", "BuildingPart"):
            for name in ("name", "function", "roofType", "measuredHeight", "storeysAboveGround"):
                assert f3.attributes.get(name) == f2.attributes.get(name), (f2.id, name)
            for name in ("address_street", "address_number", "address_postcode", "address_city"):
                assert f3.attributes.get(name) == f2.attributes.get(name), (f2.id, name)


# --- local engineering CRS: the same clear error and --in-crs as 2.0 ------------------------


def test_local_crs_fails_like_the_2_0_file(tmp_path: Path) -> None:
    v3 = CITYGML3_DIR / "ogc_examples" / "LocalCRS_CityGML3.gml"
    v2 = V2_DIR / "Building_LOD1-LocalEngineeringCRS.gml"
    messages = []
    for path in (v3, v2):
        with pytest.raises(CRSError, match="--in-crs") as err:
            convert(path, tmp_path / f"{path.stem}.glb", options=ConvertOptions())
        messages.append(str(err.value).replace(str(path), "<file>"))
    assert messages[0] == messages[1]
    assert "#local-CRS-1" in messages[0]
    assert not list(tmp_path.iterdir()), "nothing may be written on a CRS error"
    outs = []
    for path in (v3, v2):
        report = convert(
            path,
            tmp_path / f"{path.stem}_src.glb",
            options=ConvertOptions(frame="source", in_crs="EPSG:25832+7837"),
        )
        outs.append(report.written.get("Building", 0))
    assert outs[0] == outs[1] == 1
