"""Every real CityGML 1.0/2.0 file in ../shared/data converts: nothing lost silently, placed right, valid glTF."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pyproj
import pytest

from citymodel.converters.citygml import CityGMLReader
from citymodel.converters.convert import ConvertOptions, convert
from citymodel.ops.frames import enu_to_ecef_matrix
from citymodel.report import JobReport
from tests.conftest import CITYGML_DIR, SHARED
from tests.conftest import CITYGML_FILES as FILES
from tests.gltf_reader import Gltf, read_file
from tests.gltf_validator import unexpected_issues, validate_gltf_files

pytestmark = pytest.mark.realdata

LOCAL_CRS = {"Building_LOD1-LocalEngineeringCRS.gml"}  # no EPSG CRS: only --frame source applies


def _options(path: Path) -> ConvertOptions:
    frame = "source" if path.name in LOCAL_CRS else "enu"
    return ConvertOptions(frame=frame, grids=(SHARED / "proj",))


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> dict[Path, tuple[Path, JobReport]]:
    if not FILES:
        pytest.skip(f"real public data not available: {CITYGML_DIR} is absent")
    out_dir = tmp_path_factory.mktemp("realdata")
    results = {}
    for i, path in enumerate(FILES):
        out = out_dir / f"{i:02d}_{path.stem}.glb"
        report = convert(path, out, options=_options(path))
        results[path] = (out, report)
    return results


def _building_ids(gltf: Gltf) -> set[str]:
    return {str(v) for v in gltf.property_table()["building_id"]}


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_every_building_written_or_reported(
    converted: dict[Path, tuple[Path, JobReport]], path: Path
) -> None:
    out, report = converted[path]
    with CityGMLReader(path) as reader:
        features = list(reader.features(report=JobReport()))
    ids_in = {f.id for f in features}
    ids_out = _building_ids(read_file(out))
    skipped = {s.id for s in report.skipped}
    assert ids_out <= ids_in
    lost = ids_in - ids_out - skipped
    assert not lost, f"{len(lost)} objects neither written nor reported, e.g. {sorted(lost)[:5]}"
    types_in = Counter(f.type for f in features)
    assert {t: report.read[t] for t in types_in} == dict(types_in)
    types_out = Counter(f.type for f in features if f.id in ids_out)
    assert {t: report.written[t] for t in types_out} == dict(types_out)


def test_glbs_pass_the_khronos_validator(converted: dict[Path, tuple[Path, JobReport]]) -> None:
    outs = [out for out, _ in converted.values()]
    reports = validate_gltf_files(outs)
    bad = {
        str(out.name): unexpected_issues(r)[:3]
        for out, r in zip(outs, reports, strict=True)
        if r["numErrors"] or unexpected_issues(r)
    }
    assert not bad, bad


# --- placement against an independent pyproj computation -----------------------------------

PLACEMENT_CASES = {
    # file (relative to data/citygml): the CRS an independent transformation starts from
    "nrw_lod2_koeln/LoD2_32_356_5655_1_NW.gml": "EPSG:25832+7837",
    "berlin_lod2/3910_5820.gml": "EPSG:25833+7837",  # 2D srsName -> DHHN2016 default (GEO-5)
    "lowersaxony_lod1/LoD1_24065860_2_2021-01-25.gml": "EPSG:25832+5783",
}


def _independent_ecef(points: np.ndarray, src: str) -> np.ndarray:
    pyproj.datadir.append_data_dir(str(SHARED / "proj"))
    if src.endswith("+5783"):  # DHHN92: through DHHN2016 (correctness.md GEO-6)
        step = pyproj.Transformer.from_crs(
            src, src.replace("5783", "7837"), always_xy=True, allow_ballpark=False
        )
        points = np.column_stack(step.transform(*points.T))
        src = src.replace("5783", "7837")
    t = pyproj.Transformer.from_crs(src, "EPSG:4978", always_xy=True, allow_ballpark=False)
    return np.column_stack(t.transform(*points.T))


@pytest.mark.parametrize("rel", sorted(PLACEMENT_CASES))
def test_placement_matches_pyproj(converted: dict[Path, tuple[Path, JobReport]], rel: str) -> None:
    path = CITYGML_DIR / rel
    out, _ = converted[path]
    gltf = read_file(out)
    origin = gltf.document["asset"]["extras"]["citymodel"]["origin"]
    to_ecef = enu_to_ecef_matrix(origin["longitude_deg"], origin["latitude_deg"], origin["ecef_m"])
    (prim, *_) = gltf.primitives()
    local = gltf.accessor(prim["attributes"]["POSITION"]).astype(np.float64)
    glb_ecef = local @ to_ecef[:3, :3].T + to_ecef[:3, 3]
    with CityGMLReader(path) as reader:
        sample = [f for _, f in zip(range(3), reader.features(report=JobReport()), strict=False)]
    geometries = [feat.geometry() for top in sample for feat, _ in top.walk()]
    source = np.concatenate([g.vertices for g in geometries if g is not None])
    truth = _independent_ecef(source, PLACEMENT_CASES[rel])
    for p in truth[:: max(1, len(truth) // 50)]:
        d = glb_ecef - p
        nearest = d[np.argmin(np.einsum("ij,ij->i", d, d))]
        up = p / np.linalg.norm(p)  # geocentric up is within 0.2 degrees of the ellipsoid normal
        vertical = abs(float(nearest @ up))
        horizontal = float(np.linalg.norm(nearest - (nearest @ up) * up))
        assert horizontal < 0.5 and vertical < 0.1, (horizontal, vertical)
