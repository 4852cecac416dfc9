"""Bounding volumes: regions with ellipsoidal heights, ENU boxes, containment (T3D-3)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from citymodel.crs import geodetic_to_ecef
from citymodel.ops.frames import ecef_to_local, local_to_ecef
from citymodel.tiler.content import tile_frame
from citymodel.tiler.volumes import (
    PADDING,
    OrientedBox,
    Region,
    bounding_volume_json,
    box_contains,
    box_excess,
    region_contains,
    region_excess,
    union_all,
)
from tests.tiler.conftest import BatchFactory


def test_golden_region_of_a_hamburg_building(hamburg_batch: BatchFactory) -> None:
    """T3D-3: a 20 x 10 x 12 m building at (566050, 5935050, H 10..22) spans h 49.9313..61.9315."""
    batch = hamburg_batch([[566050.0, 5935050.0, 10.0]])
    region = Region.from_ecef(batch.mesh.positions)
    assert region.min_height + PADDING == pytest.approx(49.9313, abs=5e-4)
    assert region.max_height - PADDING == pytest.approx(61.9315, abs=5e-4)
    assert region_contains(region, batch.mesh.positions).all()
    # the same region built from normal heights (no geoid) would lie ~40 m too low
    low = Region(region.west, region.south, region.east, region.north, 10.0, 22.0)
    excess = region_excess(low, batch.mesh.positions)
    assert excess.max() == pytest.approx(61.93 - 22.0, abs=0.01)
    assert not region_contains(low, batch.mesh.positions, 1.0).any()


def test_region_padding_is_at_least_one_centimetre() -> None:
    lon, lat = math.radians(10.0), math.radians(53.5)
    region = Region.from_bounds(lon, lat, lon, lat, 50.0, 50.0)
    # 1 cm east/north of the point are still inside; 3 cm are not
    for dist, inside in ((0.0099, True), (0.03, False)):
        east = geodetic_to_ecef(
            [[math.degrees(lon + dist / (6378137.0 * math.cos(lat))), 53.5, 50.0]]
        )
        north = geodetic_to_ecef([[10.0, math.degrees(lat + dist / 6335439.0), 50.0]])
        assert bool(region_contains(region, east)[0]) is inside
        assert bool(region_contains(region, north)[0]) is inside
    assert region.max_height - region.min_height == pytest.approx(2 * PADDING)


def test_region_validation_and_json() -> None:
    region = Region(0.1, 0.2, 0.3, 0.4, -5.0, 10.0)
    assert bounding_volume_json(region) == {"region": [0.1, 0.2, 0.3, 0.4, -5.0, 10.0]}
    assert Region.from_json(region.to_json()) == region
    with pytest.raises(ValueError, match="inverted"):
        Region(0.3, 0.2, 0.1, 0.4, 0.0, 1.0)
    with pytest.raises(ValueError, match="heights"):
        Region(0.1, 0.2, 0.3, 0.4, 2.0, 1.0)
    with pytest.raises(ValueError, match="finite"):
        Region(0.1, 0.2, 0.3, math.nan, 0.0, 1.0)
    with pytest.raises(ValueError, match="antimeridian"):
        Region.from_ecef(geodetic_to_ecef([[179.9, 0.0, 0.0], [-179.9, 0.0, 0.0]]))


def test_enu_box_is_tighter_than_an_ecef_box(hamburg_batch: BatchFactory) -> None:
    """T3D-3 measured: for a 200 x 200 x 50 m block the ECEF AABB is ~4x the ENU box volume."""
    batch = hamburg_batch([[565900.0, 5934900.0, 10.0]], size=(200.0, 200.0, 50.0))
    frame = tile_frame(batch.mesh.positions)
    box = OrientedBox.from_points(ecef_to_local(batch.mesh.positions, frame), padding=0.0)
    enu_volume = 8 * np.prod(np.linalg.norm(box.axes_array, axis=1))
    ecef_extent = np.ptp(batch.mesh.positions, axis=0)
    # measured: ENU box 2.06e6 m³ (grid convergence 0.8° widens it), ECEF box 8.08e6 m³
    assert enu_volume == pytest.approx(2.06e6, rel=0.01)
    assert np.prod(ecef_extent) == pytest.approx(8.08e6, rel=0.01)


@given(
    st.lists(st.tuples(*[st.floats(-1e4, 1e4)] * 3), min_size=1, max_size=30),
    st.lists(st.tuples(*[st.floats(-1e4, 1e4)] * 3), min_size=1, max_size=30),
)
def test_box_union_contains_both(a: list[tuple[float, ...]], b: list[tuple[float, ...]]) -> None:
    box_a, box_b = OrientedBox.from_points(a), OrientedBox.from_points(b)
    both = box_a.union(box_b)
    assert box_contains(both, a + b, 1e-6).all()
    assert box_contains(both, box_a.corners(), 1e-6).all()
    assert union_all([box_a, box_b]) == both == box_b.union(box_a)


def test_box_excess_in_a_rotated_box() -> None:
    c, s = math.cos(0.3), math.sin(0.3)
    box = OrientedBox(
        center=(1.0, 2.0, 3.0), half_axes=((2 * c, 2 * s, 0.0), (-s, c, 0.0), (0.0, 0.0, 0.5))
    )
    axis_x = np.array([c, s, 0.0])
    points = np.array([1.0, 2.0, 3.0]) + np.array([axis_x * 1.9, axis_x * 2.5, [0.0, 0.0, 0.6]])
    np.testing.assert_allclose(box_excess(box, points), [-0.1, 0.5, 0.1], atol=1e-12)
    assert box_contains(box, points, 0.2).tolist() == [True, False, True]
    assert OrientedBox.from_json(box.to_json()) == box


def test_box_padding_and_degenerate_points() -> None:
    box = OrientedBox.from_points([[5.0, 5.0, 5.0]])
    assert box.half_axes == ((PADDING, 0.0, 0.0), (0.0, PADDING, 0.0), (0.0, 0.0, PADDING))
    flat = OrientedBox.from_points([[0.0, 0.0, 0.0], [1.0, 1.0, 0.0]], padding=0.0)
    assert box_contains(flat, [[0.5, 0.5, 0.0]]).all()
    assert box_excess(flat, [[0.5, 0.5, 0.2]])[0] == pytest.approx(0.2)
    with pytest.raises(ValueError, match="at least one"):
        OrientedBox.from_points(np.zeros((0, 3)))


def test_region_union_and_mixed_union() -> None:
    a = Region(0.1, 0.2, 0.3, 0.4, 0.0, 10.0)
    b = Region(0.2, 0.1, 0.5, 0.3, -2.0, 5.0)
    assert a.union(b) == Region(0.1, 0.1, 0.5, 0.4, -2.0, 10.0)
    with pytest.raises(ValueError, match="unite"):
        union_all([a, OrientedBox.from_points([[0.0, 0.0, 0.0]])])


def test_box_in_a_frame_contains_the_ecef_content(hamburg_batch: BatchFactory) -> None:
    batch = hamburg_batch([[566000.0, 5935000.0, 10.0], [566100.0, 5935080.0, 20.0]])
    frame = tile_frame(batch.mesh.positions)
    local = ecef_to_local(batch.mesh.positions, frame)
    box = OrientedBox.from_points(local)
    assert box_contains(box, local).all()
    np.testing.assert_allclose(local_to_ecef(local, frame), batch.mesh.positions, atol=1e-6)
