"""Pre-triangulated geometries (IFC meshes) pass meshing unchanged, alone and mixed with polygons."""

from __future__ import annotations

import numpy as np
import pytest

from citymodel.meshing import mesh_features
from citymodel.model import Feature, SurfaceGeometry, SurfaceType
from citymodel.report import JobReport

ORIGIN = np.array([566_000.0, 5_935_000.0, 10.0])


def _tiny_triangles() -> SurfaceGeometry:
    """Two triangles of 0.5 mm edges (below the polygon pipeline's 1 mm / 1e-4 m² limits)."""
    corners = ORIGIN + np.array(
        [[0, 0, 0], [5e-4, 0, 0], [0, 5e-4, 0], [1, 1, 1], [1, 1 + 5e-4, 1], [1 + 5e-4, 1, 1]]
    )
    types = np.array([int(SurfaceType.WINDOW), int(SurfaceType.DOOR)], dtype=np.uint8)
    return SurfaceGeometry.from_triangles(corners, types, lod="3")


def _square() -> SurfaceGeometry:
    ring = ORIGIN + np.array([[0, 0, 5], [2, 0, 5], [2, 2, 5], [0, 2, 5]], dtype=np.float64)
    return SurfaceGeometry.from_polygons([[ring]], [int(SurfaceType.ROOF)], lod="2")


def test_triangles_are_kept_exactly() -> None:
    geometry = _tiny_triangles()
    report = JobReport()
    batch = mesh_features(
        [Feature(id="a", type="IfcWindow", geometries=(geometry,))], report=report
    )
    mesh = batch.mesh
    assert mesh.triangles.tolist() == [[0, 1, 2], [3, 4, 5]]
    np.testing.assert_array_equal(mesh.positions, geometry.vertices)
    assert mesh.surface_types.tolist() == [int(SurfaceType.WINDOW), int(SurfaceType.DOOR)]
    assert not report.skipped
    assert report.extra["meshing"]["triangles"] == 2


def test_mixed_chunk_triangulates_only_the_polygons() -> None:
    features = [
        Feature(id="poly1", type="Building", geometries=(_square(),)),
        Feature(id="tris", type="IfcWindow", geometries=(_tiny_triangles(),)),
        Feature(id="poly2", type="Building", geometries=(_square(),)),
    ]
    batch = mesh_features(features, report=JobReport())
    assert batch.features.column("gml_id") == ["poly1", "tris", "poly2"]
    rows = batch.mesh.feature_ids[batch.mesh.triangles[:, 0]]
    assert np.bincount(rows).tolist() == [2, 2, 2]
    tri_rows = batch.mesh.triangles[rows == 1]
    np.testing.assert_array_equal(
        batch.mesh.positions[tri_rows.ravel()], _tiny_triangles().vertices
    )
    roof = batch.mesh.surface_types[rows == 0]
    assert roof.tolist() == [int(SurfaceType.ROOF)] * 2


def test_triangulated_flag_needs_triangle_layout() -> None:
    ring = np.zeros((4, 3))
    with pytest.raises(ValueError, match="one ring of 3 vertices"):
        SurfaceGeometry(
            lod="3",
            vertices=ring,
            ring_offsets=np.array([0, 4]),
            polygon_offsets=np.array([0, 1]),
            surface_types=np.zeros(1, np.uint8),
            triangulated=True,
        )
    with pytest.raises(ValueError, match="expected"):
        SurfaceGeometry.from_triangles(np.zeros((4, 3)), np.zeros(1, np.uint8), lod="3")
