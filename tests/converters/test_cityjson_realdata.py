"""Every CityJSON / CityJSONSeq file in ../shared/data reads, converts and tiles; broken ones fail clearly."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np
import pyproj
import pytest

from citymodel.converters.cityjson import CityJSONReader
from citymodel.converters.convert import ConvertOptions, convert
from citymodel.errors import InputError
from citymodel.model import Feature
from citymodel.ops.frames import enu_to_ecef_matrix
from citymodel.report import JobReport
from citymodel.tiler.build import TileOptions, build_tileset
from tests.conftest import SHARED
from tests.gltf_reader import read_file
from tests.tiler.conftest import assert_check_tileset_passes

pytestmark = pytest.mark.realdata

CITYJSON_DIR = SHARED / "data" / "cityjson"
BROKEN_DIR = SHARED / "data" / "broken" / "cityjson"
FILES = sorted(chain(CITYJSON_DIR.rglob("*.json"), CITYJSON_DIR.rglob("*.jsonl")))
GEOREFERENCED = [
    "cjio/delft_v2.city.json",
    "cjseq_3dbag/3dbag_b2.city.json",
    "cjseq_3dbag/3dbag_b2.city.jsonl",
    "rotterdam_textured/rotterdam_one_v11.city.json",
]


def _json_texts(path: Path) -> Iterator[Any]:
    """The JSON texts of a file, independently of the reader (handles pretty-printed texts)."""
    text = path.read_text(encoding="utf-8")
    decoder = json.JSONDecoder()
    pos = 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            return
        value, pos = decoder.raw_decode(text, pos)
        yield value


def _ids(feature: Feature) -> list[str]:
    return [f.id for f, _ in feature.walk()]


def _expected_vertices(geoms: list[dict[str, Any]], decoded: np.ndarray) -> np.ndarray:
    """Flatten boundaries the plain way: nested lists down to rings, closing vertex removed."""

    def rings(node: Any) -> Iterator[list[int]]:
        if node and isinstance(node[0], int):
            yield node[:-1] if len(node) > 1 and node[0] == node[-1] else node
        else:
            for child in node:
                yield from rings(child)

    index = [i for g in geoms for ring in rings(g["boundaries"]) for i in ring]
    return decoded[np.asarray(index, dtype=np.int64)]


def _check_vertices(
    features: list[Feature], texts: list[Any], header: dict[str, Any] | None
) -> int:
    """Compare every surface geometry with coordinates decoded here from the raw JSON."""
    checked = 0
    by_id = {f.id: f for top in features for f, _ in top.walk()}
    transform = (header or {}).get("transform")
    for doc in texts:
        if (
            doc.get("type") == "CityJSON"
            and header is not None
            and doc is header
            and not doc["CityObjects"]
        ):
            continue
        raw = np.asarray(doc.get("vertices") or np.zeros((0, 3)), dtype=np.float64)
        if transform is not None:
            raw = raw * np.asarray(transform["scale"]) + np.asarray(transform["translate"])
        for oid, obj in doc.get("CityObjects", {}).items():
            geoms = [
                g
                for g in obj.get("geometry", [])
                if g["type"]
                in ("MultiSurface", "CompositeSurface", "Solid", "MultiSolid", "CompositeSolid")
            ]
            for lod in {str(g["lod"]) for g in geoms}:
                expected = _expected_vertices([g for g in geoms if str(g["lod"]) == lod], raw)
                got = by_id[oid].geometry(lod)
                assert got is not None and got.lod == lod
                np.testing.assert_allclose(got.vertices, expected, rtol=0, atol=1e-9)
                checked += 1
    return checked


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_file_reads_objects_counted_and_vertices_exact(path: Path) -> None:
    texts = list(_json_texts(path))
    header = texts[0] if texts[0].get("type") == "CityJSON" else None
    all_ids = [oid for doc in texts for oid in doc.get("CityObjects", {})]
    report = JobReport()
    with CityJSONReader(path) as reader:
        features = list(reader.features(report=report))
        meta = reader.metadata()
    yielded = [i for top in features for i in _ids(top)]
    assert len(yielded) == len(set(yielded))
    not_yielded = set(all_ids) - set(yielded)
    assert not_yielded <= {s.id for s in report.skipped}, not_yielded  # read or reported
    assert sum(meta.counts.values()) == len(all_ids)
    assert meta.format == ("CityJSONSeq" if path.suffix == ".jsonl" else "CityJSON")
    # no transform applies in a header-less sequence: the raw vertices are the coordinates
    _check_vertices(features, texts, header)
    if header is not None and header.get("metadata", {}).get("referenceSystem"):
        assert meta.horizontal_crs == "EPSG:28992" and meta.vertical_crs == "EPSG:5709"


def test_real_files_have_expected_structure() -> None:
    if not FILES:
        pytest.skip(f"real public data not available: {CITYJSON_DIR} is absent")
    with CityJSONReader(CITYJSON_DIR / "cjio/multi_lod_v2.city.json") as reader:
        features = list(reader.features())
    assert len(features) == 10
    assert all([g.lod for g in f.geometries] == ["1.2", "1.3", "2.2"] for f in features)
    assert all(g.solid for f in features for g in f.geometries)
    with CityJSONReader(CITYJSON_DIR / "cjseq_3dbag/3dbag_b2.city.jsonl") as reader:
        seq = list(reader.features())
    with CityJSONReader(CITYJSON_DIR / "cjseq_3dbag/3dbag_b2.city.json") as reader:
        doc = list(reader.features())
    seq.sort(key=lambda f: f.id)
    doc.sort(key=lambda f: f.id)
    assert [_ids(f) for f in seq] == [_ids(f) for f in doc]
    for a, b in zip(seq, doc, strict=True):
        for fa, fb in zip(a.walk(), b.walk(), strict=True):
            assert [g.lod for g in fa[0].geometries] == [g.lod for g in fb[0].geometries]
            for ga, gb in zip(fa[0].geometries, fb[0].geometries, strict=True):
                np.testing.assert_allclose(ga.vertices, gb.vertices, atol=1e-6)
                assert ga.surface_types.tolist() == gb.surface_types.tolist()
                assert set(ga.surface_types.tolist()) >= {1, 2, 3}  # roof, wall, ground
    with CityJSONReader(CITYJSON_DIR / "cjio/delft_v2.city.json") as reader:
        by_type = {f.type for f in reader.features(types={"Road", "Bridge"})}
    assert by_type == {"Road", "Bridge"}


def test_headerless_sequence_with_separate_header() -> None:
    feature_file = CITYJSON_DIR / "tyler_3dbag/3dbag_feature_x71.city.jsonl"
    header_file = CITYJSON_DIR / "tyler_3dbag/3dbag_x00.city.json"
    if not feature_file.is_file():
        pytest.skip(f"real public data not available: {feature_file} is absent")
    report = JobReport()
    with CityJSONReader(feature_file, header=header_file) as reader:
        (feature,) = reader.features(report=report)
        assert reader.srs_name == "https://www.opengis.net/def/crs/EPSG/0/7415"
    header = json.loads(header_file.read_text())
    extent = np.asarray(header["metadata"]["geographicalExtent"])
    for geom in feature.geometries:
        assert (geom.vertices >= extent[:3] - 1e-6).all() and (
            geom.vertices <= extent[3:] + 1e-6
        ).all()
    assert not report.warnings


@pytest.fixture(scope="module")
def georeferenced(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    paths = [CITYJSON_DIR / name for name in GEOREFERENCED]
    if not all(p.is_file() for p in paths):
        pytest.skip(f"real public data not available under {CITYJSON_DIR}")
    return paths


def test_georeferenced_files_convert_placed_right(
    georeferenced: list[Path], tmp_path: Path
) -> None:
    pyproj.datadir.append_data_dir(str(SHARED / "proj"))
    to_ecef = pyproj.Transformer.from_crs(
        "EPSG:7415", "EPSG:4978", always_xy=True, allow_ballpark=False
    )
    for path in georeferenced:
        out = tmp_path / f"{path.name}.glb"
        report = convert(path, out, options=ConvertOptions(grids=(SHARED / "proj",)))
        with CityJSONReader(path) as reader:
            tops = list(reader.features(report=JobReport()))
        gltf = read_file(out)
        assert {str(v) for v in gltf.property_table()["building_id"]} == {
            t.id for t in tops if any(g for f, _ in t.walk() for g in f.geometries)
        }
        assert sum(report.written.values()) == sum(1 for t in tops for _ in t.walk())
        # every sampled source vertex lies on the GLB (independent pyproj, EPSG:7415 -> ECEF)
        origin = gltf.document["asset"]["extras"]["citymodel"]["origin"]
        matrix = enu_to_ecef_matrix(
            origin["longitude_deg"], origin["latitude_deg"], origin["ecef_m"]
        )
        local = np.concatenate(
            [
                gltf.accessor(p["attributes"]["POSITION"]).astype(np.float64)
                for p in gltf.primitives()
            ]
        )
        glb_ecef = local @ matrix[:3, :3].T + matrix[:3, 3]
        source = np.concatenate(
            [g.vertices for t in tops[:5] for f, _ in t.walk() for g in f.geometries[-1:]]
        )
        truth = np.column_stack(to_ecef.transform(*source.T))
        for point in truth[:: max(1, len(truth) // 40)]:
            nearest = np.min(np.linalg.norm(glb_ecef - point, axis=1))
            assert nearest < 0.05, (path.name, nearest)


@pytest.mark.node
def test_georeferenced_files_tile_and_pass_check_tileset(
    georeferenced: list[Path], tmp_path: Path
) -> None:
    out = tmp_path / "tiles"
    report = build_tileset(
        georeferenced, out, options=TileOptions(jobs=1, grids=(SHARED / "proj",))
    )
    assert report.written["Building"] == 160 + 2 + 2 + 1
    assert report.written["Road"] == 143
    assert_check_tileset_passes(out / "tileset.json")


_BROKEN_SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from citymodel.converters.cityjson import CityJSONReader
    from citymodel.errors import InputError
    from citymodel.report import JobReport
    out = {}
    for name in sys.argv[1:]:
        path = Path(name)
        report = JobReport()
        start = time.monotonic()
        try:
            with CityJSONReader(path) as reader:
                n = sum(1 for _ in reader.features(report=report))
            result = {"features": n, "skipped": [s.reason for s in report.skipped],
                      "warnings": report.warnings}
        except InputError as err:
            result = {"error": type(err).__name__, "message": str(err), "line": err.line}
        result["seconds"] = time.monotonic() - start
        out[path.name] = result
    print(json.dumps(out))
    """
)


def test_broken_files_fail_clearly_and_fast() -> None:
    files = sorted(BROKEN_DIR.iterdir()) if BROKEN_DIR.is_dir() else []
    if not files:
        pytest.skip(f"real public data not available: {BROKEN_DIR} is absent")
    proc = subprocess.run(
        [sys.executable, "-c", _BROKEN_SCRIPT, *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    results = json.loads(proc.stdout)
    assert set(results) == {f.name for f in files}
    for name, result in results.items():
        assert result["seconds"] < 10, name
        if "error" in result:
            assert name in result["message"], result  # the message names the file
    err = results["val3dity_invalid_json_cityjson.json"]
    assert err["error"] == "ParseError" and err["line"] == 3 and "column" in err["message"]
    assert "empty file" in results["val3dity_completely_empty.json"]["message"]
    assert results["val3dity_unclosedbracket.city.jsonl"]["line"] == 1
    assert "64-bit" in results["corpus_invalid_u64_f64_bounds.city.json"]["message"]
    oob = results["val3dity_invalid_schema_cityjson_2.json"]
    assert any("vertex index 22 out of range" in r for r in oob["skipped"])
    notransform = results["val3dity_notransform.city.jsonl"]
    assert any("no 'transform'" in w for w in notransform["warnings"])
    assert any("geographicalExtent" in w for w in notransform["warnings"])
    # appearances are read; a broken texture leaves the object untextured with a skip record
    texture1 = results["cjval_texture1.city.json"]
    assert any("texture 1 out of range" in r for r in texture1["skipped"]), texture1
    assert results["cjval_material.city.json"]["features"] == 1  # its default theme is valid
    assert results["val3dity_emptygeom.json"]["features"] == 1


def test_object_without_geometry_is_reported_by_convert(tmp_path: Path) -> None:
    path = BROKEN_DIR / "val3dity_emptygeom.json"
    if not path.is_file():
        pytest.skip(f"real public data not available: {path} is absent")
    report = JobReport()
    options = ConvertOptions(in_crs="EPSG:7415", grids=(SHARED / "proj",))
    with pytest.raises(InputError, match="nothing to write"):
        convert(path, tmp_path / "e.glb", options=options, report=report)
    assert [(s.id, s.reason) for s in report.skipped] == [("id-1", "no geometry")]
    assert not (tmp_path / "e.glb").exists()
