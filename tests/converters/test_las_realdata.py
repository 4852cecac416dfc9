"""Every LAS/LAZ/COPC file in ../shared/data/las reads completely; CRS outcomes per MANIFEST.md."""

from __future__ import annotations

import itertools
from pathlib import Path

import laspy
import numpy as np
import pytest

from citymodel.converters.las import open_point_cloud
from citymodel.errors import CRSError
from tests.conftest import LAS_DIR, LAS_FILES

pytestmark = pytest.mark.realdata


def _id(path: Path) -> str:
    return str(path.relative_to(LAS_DIR))


# (horizontal, vertical) codes or names, or the CRSError message pattern (MANIFEST.md "CRS").
EXPECTED_CRS: dict[str, tuple[str | None, str | None] | str] = {
    "laspy/1_4_w_evlr.laz": ("EPSG:2903", None),
    "laspy/autzen.las": ("EPSG:2994", None),
    "laspy/extrabytes.las": "no CRS in the file",
    "laspy/file_with_both_wkt_and_geotiff_vlrs.las": ("EPSG:6880", None),
    "laspy/plane.laz": "user-defined projected CRS",
    "laspy/simple.copc.laz": ("EPSG:2991", "EPSG:6360"),
    "laspy/simple.las": "no CRS in the file",
    "laspy/simple1_1.las": "no CRS in the file",
    "laspy/simple1_3.las": "name no horizontal CRS",
    "laspy/simple1_4.las": "geographic, but x 1.000..226.000, y 1.000..100.000 are not longitudes",
    "laspy/test1_4.las": ("EPSG:2903", None),
    "nrw_potree_root/3dm_32_291_5744_1_nw_potree_r.laz": "no CRS in the file",
    "pdal/4_6_crop.las": ("EPSG:2903", "EPSG:6360"),
    "pdal/autzen_trim.laz": ("NAD_1983_HARN_Lambert_Conformal_Conic", None),
    "pdal/lone-star.copc.laz": "geocentric \\(ECEF\\), but the centre of the data lies 4,945 km",
    "pdal/mvk-thin.las": ("EPSG:2255", None),
}


def test_real_files_are_present(shared_data: Path) -> None:
    assert len(LAS_FILES) >= 16, f"expected the LAS samples under {shared_data / 'las'}"
    assert {_id(p) for p in LAS_FILES} == set(EXPECTED_CRS)


@pytest.mark.parametrize("path", LAS_FILES, ids=_id)
def test_reads_every_point(path: Path) -> None:
    with laspy.open(path) as raw:
        expected = raw.header.point_count
    with open_point_cloud(path) as cloud:
        assert cloud.point_count == expected
        chunks = list(cloud.read(chunk_size=4_000))
        stats = cloud.scan()
    assert sum(len(c) for c in chunks) == expected
    assert stats.point_count == expected == sum(stats.classes.values())
    xyz = np.concatenate([c.xyz for c in chunks])
    assert stats.bounds == (*xyz.min(axis=0).tolist(), *xyz.max(axis=0).tolist())
    reference = laspy.read(path)
    np.testing.assert_allclose(xyz[:, 2], np.asarray(reference.z), rtol=0, atol=1e-9)


@pytest.mark.parametrize("path", LAS_FILES, ids=_id)
def test_crs_outcome(path: Path) -> None:
    expected = EXPECTED_CRS[_id(path)]
    with open_point_cloud(path) as cloud:
        if isinstance(expected, str):
            with pytest.raises(CRSError, match=expected) as err:
                cloud.crs()
            assert str(path) in str(err.value) and "--in-crs" in str(err.value)
            return
        crs = cloud.crs()
    horizontal = crs.horizontal_code or (crs.horizontal.name if crs.horizontal else None)
    vertical = crs.vertical_code if not crs.assumed_vertical else None
    assert (horizontal, vertical) == expected


def test_nrw_sample_with_in_crs_and_loose_header_bounds(shared_data: Path) -> None:
    """German NRW LiDAR without CRS: --in-crs EPSG:25832+7837; header z max 1008 m is wrong."""
    path = shared_data / "las/nrw_potree_root/3dm_32_291_5744_1_nw_potree_r.laz"
    with open_point_cloud(path) as cloud:
        crs = cloud.crs(in_crs="EPSG:25832+7837")
        meta = cloud.metadata()
        assert cloud.header_bounds()[5] == pytest.approx(1008.43)
    assert crs.to_string() == "EPSG:25832+7837"
    assert meta.extent is not None and meta.extent[5] == pytest.approx(87.51)
    assert meta.details["header_bounds_tight"] is False
    assert any("not tight" in n for n in meta.notes)


def test_lone_star_with_the_real_crs(shared_data: Path) -> None:
    """The ECEF-labelled COPC is UTM 12N (Yellowstone): with --in-crs it is accepted."""
    path = shared_data / "las/pdal/lone-star.copc.laz"
    with open_point_cloud(path) as cloud:
        assert cloud.format_name == "COPC"
        assert cloud.crs(in_crs="EPSG:32612").horizontal_code == "EPSG:32612"


@pytest.mark.parametrize("parallel", [False, True])
@pytest.mark.parametrize("name", ["pdal/lone-star.copc.laz", "laspy/simple.copc.laz"])
def test_copc_ranges_seek(shared_data: Path, name: str, parallel: bool) -> None:
    """Variable-size chunks (one per COPC node): ranges come from the right chunks."""
    path = shared_data / "las" / name
    data = laspy.read(path)
    reference = np.stack([data.x, data.y, data.z], axis=1)
    n = len(reference)
    cuts = [0, 1, n // 7, n // 3, n // 2 + 1, n - 5, n]
    with open_point_cloud(path, parallel_decode=parallel) as cloud:
        assert cloud.format_name == "COPC"
        for a, b in itertools.pairwise(cuts):
            got = np.concatenate([c.xyz for c in cloud.read(a, b, chunk_size=50_000)])
            np.testing.assert_array_equal(got, reference[a:b])


def test_extra_bytes_of_a_real_file(shared_data: Path) -> None:
    path = shared_data / "las/laspy/extrabytes.las"
    with open_point_cloud(path) as cloud:
        assert cloud.extra_dimensions() == ("Colors", "Reserved", "Flags", "Intensity", "Time")
        chunk = next(cloud.read(extra_dims=["Colors", "Time", "gps_time"]))
    assert chunk.attributes["Colors"].shape == (1065, 3)
    assert chunk.attributes["Time"].dtype == np.uint64
    reference = laspy.read(path)
    np.testing.assert_array_equal(chunk.attributes["Time"], np.asarray(reference["Time"]))
    np.testing.assert_array_equal(chunk.attributes["gps_time"], np.asarray(reference.gps_time))
