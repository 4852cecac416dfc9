"""Local ENU frames and the glTF y-up convention (correctness.md T3D-2)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from citymodel.ops.frames import (
    Y_UP_TO_Z_UP,
    Z_UP_TO_Y_UP,
    ecef_to_local,
    enu_to_ecef_matrix,
    local_to_ecef,
    to_gltf_matrix,
)

# Hamburg anchor, EPSG:25832 (566000, 5935000), DHHN2016 H = 10 m (GEO-2): WGS 84 lon/lat and
# ECEF with the GCG2016 geoid applied.
HAMBURG_LON_LAT = (9.996402814636063, 53.55972535816002)
HAMBURG_ECEF = (3739137.70576009, 659068.8127602959, 5107828.750484065)
# T3D-2, measured: tile.transform at the Hamburg anchor (column-major).
HAMBURG_TRANSFORM = [
    -0.173586, 0.984819, 0, 0,
    -0.792263, -0.139646, 0.593985, 0,
    0.584967, 0.103108, 0.804476, 0,
    3739137.70576, 659068.81276, 5107828.750484, 1,
]  # fmt: skip

WGS84_A = 6378137.0
WGS84_E2 = 6.69437999014e-3


def geodetic_to_ecef(lon: float, lat: float, h: float) -> np.ndarray:
    """Textbook closed form, independent of the code under test."""
    lam, phi = np.radians(lon), np.radians(lat)
    n = WGS84_A / np.sqrt(1 - WGS84_E2 * np.sin(phi) ** 2)
    return np.array(
        [
            (n + h) * np.cos(phi) * np.cos(lam),
            (n + h) * np.cos(phi) * np.sin(lam),
            (n * (1 - WGS84_E2) + h) * np.sin(phi),
        ]
    )


def hamburg_matrix() -> np.ndarray:
    return enu_to_ecef_matrix(*HAMBURG_LON_LAT, HAMBURG_ECEF)


def test_hamburg_tile_transform_golden() -> None:
    flat = to_gltf_matrix(hamburg_matrix())
    assert len(flat) == 16
    assert all(type(v) is float for v in flat)
    np.testing.assert_allclose(flat[:12], HAMBURG_TRANSFORM[:12], atol=1e-6)
    np.testing.assert_allclose(flat[12:], HAMBURG_TRANSFORM[12:], atol=1e-5)


def test_enu_axes_are_orthonormal_right_handed_and_up_is_the_normal() -> None:
    m = hamburg_matrix()
    rot = m[:3, :3]
    np.testing.assert_allclose(rot.T @ rot, np.eye(3), atol=1e-15)
    assert np.linalg.det(rot) == pytest.approx(1.0, abs=1e-14)
    np.testing.assert_array_equal(m[3], [0, 0, 0, 1])
    # "up" is the ellipsoid normal: moving 100 m along it changes the ellipsoidal height only.
    lon, lat = HAMBURG_LON_LAT
    p0, p100 = geodetic_to_ecef(lon, lat, 0.0), geodetic_to_ecef(lon, lat, 100.0)
    np.testing.assert_allclose(p0 + 100.0 * m[:3, 2], p100, atol=1e-6)
    # "north" points to increasing latitude, "east" to increasing longitude.
    d_north = geodetic_to_ecef(lon, lat + 1e-5, 0) - geodetic_to_ecef(lon, lat, 0)
    d_east = geodetic_to_ecef(lon + 1e-5, lat, 0) - geodetic_to_ecef(lon, lat, 0)
    assert np.dot(d_north / np.linalg.norm(d_north), m[:3, 1]) > 1 - 1e-9
    assert np.dot(d_east / np.linalg.norm(d_east), m[:3, 0]) > 1 - 1e-9


def test_ecef_to_local_of_anchor_and_up_offset() -> None:
    m = hamburg_matrix()
    anchor = np.array([HAMBURG_ECEF])
    np.testing.assert_allclose(ecef_to_local(anchor, m), [[0, 0, 0]], atol=1e-9)
    above = anchor + 25.0 * m[:3, 2]
    np.testing.assert_allclose(ecef_to_local(above, m), [[0, 0, 25.0]], atol=1e-9)


def test_local_ecef_round_trip_in_float64() -> None:
    m = hamburg_matrix()
    rng = np.random.default_rng(7)
    local = rng.uniform([-2000, -2000, -50], [2000, 2000, 300], size=(5000, 3))
    ecef = local_to_ecef(local, m)
    assert ecef.dtype == np.float64
    back = ecef_to_local(ecef, m)
    assert back.dtype == np.float64
    assert np.abs(back - local).max() < 1e-8
    ecef_again = local_to_ecef(ecef_to_local(ecef, m), m)
    assert np.abs(ecef_again - ecef).max() < 1e-8


@settings(max_examples=60, deadline=None)
@given(
    lon=st.floats(-180, 180),
    lat=st.floats(-89.9, 89.9),
    h=st.floats(-500, 9000),
    offset=st.tuples(*[st.floats(-5000, 5000)] * 3),
)
def test_round_trip_anywhere(
    lon: float, lat: float, h: float, offset: tuple[float, float, float]
) -> None:
    m = enu_to_ecef_matrix(lon, lat, geodetic_to_ecef(lon, lat, h))
    local = np.array([offset])
    assert np.abs(ecef_to_local(local_to_ecef(local, m), m) - local).max() < 1e-8


def test_float32_local_positions_keep_millimetres_unlike_float32_ecef() -> None:
    """T3D-2: ENU-local float32 is sub-millimetre; absolute ECEF float32 is decimetres off."""
    m = hamburg_matrix()
    rng = np.random.default_rng(3)
    truth = local_to_ecef(rng.uniform([-500, -500, 0], [500, 500, 60], size=(2000, 3)), m)
    local32 = ecef_to_local(truth, m).astype(np.float32)
    assert np.abs(local_to_ecef(local32.astype(np.float64), m) - truth).max() < 1e-3
    absolute32 = truth.astype(np.float32).astype(np.float64)
    assert np.abs(absolute32 - truth).max() > 0.05


def test_z_up_to_y_up_convention() -> None:
    np.testing.assert_array_equal(Z_UP_TO_Y_UP @ Y_UP_TO_Z_UP, np.eye(4))
    np.testing.assert_array_equal(Y_UP_TO_Z_UP @ Z_UP_TO_Y_UP, np.eye(4))
    # glTF root node matrix of the 3D Tiles z-up workflow (T3D-2), column-major.
    assert to_gltf_matrix(Z_UP_TO_Y_UP) == [1, 0, 0, 0, 0, 0, -1, 0, 0, 1, 0, 0, 0, 0, 0, 1]
    # x' = x, y' = z, z' = -y
    np.testing.assert_array_equal(Z_UP_TO_Y_UP @ [1, 2, 3, 1], [1, 3, -2, 1])
    # 3D Tiles spec y-up -> z-up rotation: (x, y, z) -> (x, -z, y)
    np.testing.assert_array_equal(Y_UP_TO_Z_UP[:3, :3], [[1, 0, 0], [0, 0, -1], [0, 1, 0]])
    with pytest.raises(ValueError):
        Z_UP_TO_Y_UP[0, 0] = 2.0  # read-only constant


def test_decoded_chain_matches_source_within_a_millimetre() -> None:
    """Writer: local z-up float32 + root node Z_UP_TO_Y_UP; client: Y_UP_TO_Z_UP then tile
    transform. The composed result must reproduce the ECEF input (T3D-2 test)."""
    m = hamburg_matrix()
    rng = np.random.default_rng(11)
    truth = local_to_ecef(rng.uniform([-300, -300, 0], [300, 300, 40], size=(500, 3)), m)
    positions = ecef_to_local(truth, m).astype(np.float32)
    homogeneous = np.c_[positions.astype(np.float64), np.ones(len(positions))]
    world = (m @ Y_UP_TO_Z_UP @ Z_UP_TO_Y_UP @ homogeneous.T).T[:, :3]
    assert np.abs(world - truth).max() < 1e-3


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: enu_to_ecef_matrix(10, 95, (0, 0, 0)), "latitude"),
        (lambda: enu_to_ecef_matrix(10, 50, (0, 0)), "3 numbers"),
        (lambda: enu_to_ecef_matrix(float("nan"), 50, (1, 2, 3)), "finite"),
        (lambda: to_gltf_matrix(np.eye(3)), "4x4"),
        (lambda: ecef_to_local(np.zeros((4, 2)), np.eye(4)), r"\(N, 3\)"),
        (lambda: local_to_ecef(np.zeros((4, 3)), np.ones((4, 4))), "affine"),
    ],
)
def test_invalid_input(call: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()  # type: ignore[operator]
