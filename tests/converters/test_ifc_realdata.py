"""Every IFC model in ../shared/data/ifc converts; the georeferenced one lands where its STEP says.

Options per file (what a user has to give, and why):

- ``bsi_geographic-referencing_IFC4_EPSG25832.ifc``: IfcMapConversion + IfcProjectedCRS
  EPSG:25832 in a millimetre model with Scale omitted (IFC-2): nothing to give.
- ``IfcOpenHouse_IFC4.ifc``: no georeferencing at all: ``--in-crs EPSG:25832+7837 --origin``.
- ``AC20-FZK-Haus.ifc``, ``Sample_entities.ifc``: IfcSite latitude/longitude in Germany:
  placed approximately in ETRS89 / UTM 32 with DHHN2016 heights (GEO-5 default), warned.
- ``duplex.ifc`` (Chicago) and ``ISSUE_171_...ifc`` (England): IfcSite latitude/longitude
  outside the German default datums: their UTM zone has no default vertical CRS, so
  ``--vertical-mode ellipsoidal-as-is`` (RefElevation taken as ellipsoidal height).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyproj
import pytest

pytest.importorskip("ifcopenshell")

from citymodel.converters.convert import ConvertOptions, convert
from citymodel.converters.ifc import IFCReader
from citymodel.converters.materials import FEATURE_COLOR_COLUMN
from citymodel.ops.frames import enu_to_ecef_matrix
from citymodel.report import JobReport
from tests.conftest import SHARED
from tests.gltf_reader import Gltf, read_file
from tests.gltf_validator import unexpected_issues, validate_gltf_files

pytestmark = pytest.mark.realdata

IFC_DIR = SHARED / "data" / "ifc"
FILES = sorted(IFC_DIR.glob("*.ifc")) if IFC_DIR.is_dir() else []
BSI = "bsi_geographic-referencing_IFC4_EPSG25832.ifc"
SLOW = {"AC20-FZK-Haus.ifc", "duplex.ifc", "ISSUE_171_IfcSurfaceCurveSweptAreaSolid.ifc"}
OPTIONS: dict[str, ConvertOptions] = {
    "IfcOpenHouse_IFC4.ifc": ConvertOptions(
        in_crs="EPSG:25832+7837",
        reader_options=(("origin", (458_700.0, 5_438_300.0, 112.0, 15.0)),),
    ),
    "duplex.ifc": ConvertOptions(vertical_mode="ellipsoidal-as-is"),
    "ISSUE_171_IfcSurfaceCurveSweptAreaSolid.ifc": ConvertOptions(
        vertical_mode="ellipsoidal-as-is"
    ),
}
# where each model must land (longitude, latitude in degrees) and how far off it may be (km)
LOCATIONS = {
    BSI: (8.4337, 49.0956, 0.5),
    "IfcOpenHouse_IFC4.ifc": (8.4343, 49.0962, 0.5),
    "AC20-FZK-Haus.ifc": (8.4365, 49.1004, 0.5),
    "Sample_entities.ifc": (9.9863, 53.4645, 0.5),
    "duplex.ifc": (-87.6394, 41.8744, 0.5),
    "ISSUE_171_IfcSurfaceCurveSweptAreaSolid.ifc": (1.4667, 53.3833, 0.5),
}

PARAMS = [
    pytest.param(p, id=p.name, marks=[pytest.mark.slow] if p.name in SLOW else []) for p in FILES
]


def _convert(path: Path, out_dir: Path) -> tuple[Path, JobReport]:
    out = out_dir / f"{path.stem}.glb"
    options = OPTIONS.get(path.name, ConvertOptions())
    report = convert(
        path, out, options=ConvertOptions(**{**_fields(options), "grids": (SHARED / "proj",)})
    )
    return out, report


def _fields(options: ConvertOptions) -> dict[str, object]:
    return {name: getattr(options, name) for name in options.__dataclass_fields__}


def _ecef(gltf: Gltf) -> np.ndarray:
    origin = gltf.document["asset"]["extras"]["citymodel"]["origin"]
    to_ecef = enu_to_ecef_matrix(origin["longitude_deg"], origin["latitude_deg"], origin["ecef_m"])
    points = [
        gltf.accessor(prim["attributes"]["POSITION"]).astype(np.float64)
        for prim in gltf.primitives()
    ]
    local = np.concatenate(points)
    return local @ to_ecef[:3, :3].T + to_ecef[:3, 3]


@pytest.mark.parametrize("path", PARAMS)
def test_every_ifc_converts(tmp_path: Path, path: Path) -> None:
    out, report = _convert(path, tmp_path)
    gltf = read_file(out)
    table = gltf.property_table()
    written = set(map(str, table["gml_id"]))
    with IFCReader(path, **_reader_options(path)) as reader:
        expected = sum(reader.metadata().counts.values())
    skipped = {s.id for s in report.skipped}
    assert len(written) + len(skipped) == expected, (len(written), skipped, expected)
    assert len(written) >= 1
    assert FEATURE_COLOR_COLUMN in table or path.name == BSI
    # placed where the file (or the user's --origin) says
    lon_exp, lat_exp, km = LOCATIONS[path.name]
    lon, lat, _ = pyproj.Transformer.from_crs("EPSG:4978", "EPSG:4326", always_xy=True).transform(
        *_ecef(gltf).mean(axis=0)
    )
    _, _, distance = pyproj.Geod(ellps="WGS84").inv(lon_exp, lat_exp, lon, lat)
    assert distance < km * 1000, (lon, lat)
    georef = report.crs[str(path)]["georeferencing"]
    assert georef["method"] in {"IfcMapConversion", "IfcSite", "origin"}
    reports = validate_gltf_files([out])
    assert reports[0]["numErrors"] == 0 and not unexpected_issues(reports[0]), reports[0]


def _reader_options(path: Path) -> dict[str, object]:
    options = OPTIONS.get(path.name)
    if options is None:
        return {}
    extra: dict[str, object] = dict(options.reader_options)
    if options.in_crs:
        extra["in_crs"] = options.in_crs
    return extra


@pytest.mark.skipif(not (IFC_DIR / BSI).is_file(), reason=f"{IFC_DIR / BSI} is absent")
def test_map_conversion_sample_lands_within_10_cm(tmp_path: Path) -> None:
    """A known vertex, transformed by hand from the STEP numbers and with pyproj, within 0.1 m.

    From the file: IFCMAPCONVERSION(#100011,#1,458658.78,5438232.79,113.7,0.270600445976,
    0.962691746426,$) to IfcProjectedCRS 'EPSG:25832'; length unit millimetre, Scale omitted
    (so 0.001 from the units, IFC-2). The cone IFCRIGHTCIRCULARCONE(#5002,500.,150.) with
    Position at (0,0,500) mm, Axis (0,0,-1), RefDirection (-1,0,0): its base rim point along
    RefDirection is the engineering point (-150, 0, 500) mm; its apex is (0, 0, 0).
    """
    pyproj.datadir.append_data_dir(str(SHARED / "proj"))
    out, _ = _convert(IFC_DIR / BSI, tmp_path)
    glb = _ecef(read_file(out))
    e0, n0, h0 = 458658.78, 5438232.79, 113.7
    a, o = 0.270600445976, 0.962691746426
    theta = np.arctan2(o, a)
    scale = 0.001
    points = []
    for x, y, z in ((-150.0, 0.0, 500.0), (0.0, 0.0, 0.0)):
        east = e0 + scale * (np.cos(theta) * x - np.sin(theta) * y)
        north = n0 + scale * (np.sin(theta) * x + np.cos(theta) * y)
        points.append((east, north, h0 + scale * z))
    # heights: the file names no vertical datum; DHHN2016 is the default for EPSG:25832 (GEO-5)
    to_ecef = pyproj.Transformer.from_crs(
        "EPSG:25832+7837", "EPSG:4978", always_xy=True, allow_ballpark=False
    )
    for point in np.array(points):
        truth = np.array(to_ecef.transform(*point))
        assert np.linalg.norm(glb - truth, axis=1).min() < 0.1
