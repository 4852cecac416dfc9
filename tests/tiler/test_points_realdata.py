"""The point tiler on every LAS/LAZ/COPC file in ``../shared/data/las`` (realdata).

Each file tiles with the options its CRS needs (table below, with the reason); every point
the reader delivers is written exactly once. The German NRW sample (no CRS in the file:
ETRS89 / UTM 32N + DHHN2016) is also checked for its ellipsoidal heights (GCG2016, GEO-1)
and with check-tileset at its real place.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from citymodel.crs import Georeferencer, ecef_to_geodetic
from citymodel.tiler.points.build import PointTileOptions, build_point_tileset
from tests.conftest import SHARED
from tests.tiler.conftest import assert_check_tileset_passes, run_check_tileset
from tests.tiler.points_helpers import decode, read_tileset

pytestmark = pytest.mark.realdata

LAS_DIR = SHARED / "data" / "las"
LAS_FILES = (
    sorted(p for p in LAS_DIR.rglob("*") if p.suffix.lower() in {".las", ".laz"})
    if LAS_DIR.is_dir()
    else []
)

ELLIPSOIDAL: dict[str, Any] = {"vertical_mode": "ellipsoidal-as-is"}
OPTIONS: dict[str, dict[str, Any]] = {
    # US files without a vertical CRS: z taken as ellipsoidal (no US geoid grid here)
    "laspy/1_4_w_evlr.laz": ELLIPSOIDAL,
    "laspy/autzen.las": ELLIPSOIDAL,
    "laspy/file_with_both_wkt_and_geotiff_vlrs.las": ELLIPSOIDAL,
    "laspy/test1_4.las": ELLIPSOIDAL,
    "pdal/4_6_crop.las": ELLIPSOIDAL,
    "pdal/autzen_trim.laz": ELLIPSOIDAL,
    # no usable CRS in the file: the Autzen coordinates are Oregon GIC Lambert (ft)
    "laspy/extrabytes.las": {"in_crs": "EPSG:6557", **ELLIPSOIDAL},
    "laspy/simple.las": {"in_crs": "EPSG:6557", **ELLIPSOIDAL},
    "laspy/simple1_1.las": {"in_crs": "EPSG:6557", **ELLIPSOIDAL},
    # the file's NAD83 CRS needs US datum grids not available offline: NAD83(2011) instead
    "laspy/simple.copc.laz": {"in_crs": "EPSG:6556", **ELLIPSOIDAL},
    "pdal/mvk-thin.las": {"in_crs": "EPSG:6510", **ELLIPSOIDAL},
    # CRS records unusable (user-defined by parameters / lon-lat label on local coordinates /
    # geocentric label on projected coordinates): a nominal CRS places them
    # geocentric label on projected coordinates): a nominal CRS places them (outside the
    # GCG2016 grid, so their z is taken as ellipsoidal)
    "laspy/plane.laz": {"in_crs": "EPSG:25832", **ELLIPSOIDAL},
    "laspy/simple1_4.las": {"in_crs": "EPSG:25832", **ELLIPSOIDAL},
    "pdal/lone-star.copc.laz": {"in_crs": "EPSG:32614", **ELLIPSOIDAL},
    # no CRS; its header bounds are 1000 x the points' (the job measures the points instead)
    "laspy/simple1_3.las": {"in_crs": "EPSG:25832", **ELLIPSOIDAL},
    # German airborne LiDAR without a CRS record: ETRS89 / UTM 32N + DHHN2016 (MANIFEST)
    "nrw_potree_root/3dm_32_291_5744_1_nw_potree_r.laz": {"in_crs": "EPSG:25832+7837"},
}


def _name(path: Path) -> str:
    return path.relative_to(LAS_DIR).as_posix()


@pytest.mark.parametrize("path", LAS_FILES, ids=_name)
def test_every_real_file_tiles(path: Path, tmp_path: Path) -> None:
    name = _name(path)
    assert name in OPTIONS, f"{name}: add it to the table of options"
    out = tmp_path / "tiles"
    report = build_point_tileset(path, out, options=PointTileOptions(jobs=1, **OPTIONS[name]))
    summary = report.extra["tiling"]["points"]
    assert summary["skipped"] == 0
    assert summary["in"] == summary["written"] > 0
    tileset = read_tileset(out)
    decoded = sum(len(decode(t.content)[0]) for t in tileset.root.walk() if t.content)
    assert decoded == summary["written"]


@pytest.mark.node
def test_nrw_sample_sits_at_its_place_with_ellipsoidal_heights(tmp_path: Path) -> None:
    name = "nrw_potree_root/3dm_32_291_5744_1_nw_potree_r.laz"
    path = LAS_DIR / name
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    out = tmp_path / "nrw"
    build_point_tileset(path, out, options=PointTileOptions(jobs=2, **OPTIONS[name]))
    tileset = read_tileset(out)
    enu = np.concatenate([decode(t.content)[0] for t in tileset.root.walk() if t.content])
    ecef = enu @ tileset.transform[:3, :3].T + tileset.transform[:3, 3]
    lon, lat, height = ecef_to_geodetic(ecef).T
    # DHHN2016 heights 8.55..87.51 m (MANIFEST) + the GCG2016 quasigeoid (43-48 m in NRW)
    assert height.min() > 8.55 + 42.0 and height.max() < 87.51 + 49.0
    anchor = Georeferencer.create("EPSG:25832+7837").to_geodetic([[291500.0, 5744500.0, 30.0]])
    assert abs(float(np.median(lon)) - anchor[0, 0]) < 0.02
    assert abs(float(np.median(lat)) - anchor[0, 1]) < 0.02
    assert_check_tileset_passes(out)
    near = f"{anchor[0, 0]:.4f},{anchor[0, 1]:.4f},5"
    result = run_check_tileset_near(out, near)
    assert result.returncode == 0, result.stdout[-3000:]


def run_check_tileset_near(out: Path, near: str) -> Any:
    """check-tileset with ``--expect-near LON,LAT,KM``."""
    import subprocess

    from tests.tiler.conftest import CHECK_TILESET

    run_check_tileset(out)  # skips without node / the tool
    return subprocess.run(
        ["bash", str(CHECK_TILESET), str(out), "-q", "--expect-near", near],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.mark.node
def test_largest_real_file_passes_check_tileset(tmp_path: Path) -> None:
    path = LAS_DIR / "pdal/autzen_trim.laz"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    for version in ("1.1", "1.0"):
        out = tmp_path / version
        options = PointTileOptions(
            jobs=2, tiles_version=version, points_per_tile=10_000, **OPTIONS["pdal/autzen_trim.laz"]
        )
        build_point_tileset(path, out, options=options)
        assert_check_tileset_passes(out)
