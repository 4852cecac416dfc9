"""Pass 1 on real LoD2 tiles (NRW, Berlin): blocks closed and outward, exact store round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import citymodel
from citymodel.converters.pipeline import source_crs
from citymodel.crs import Georeferencer, ecef_to_geodetic
from citymodel.mesh import Mesh, MeshBatch
from citymodel.meshing import mesh_features
from citymodel.ops.frames import enu_rotation
from citymodel.placement import to_ecef_checked
from citymodel.report import JobReport
from citymodel.tiler._enu import ecef_to_enu
from citymodel.tiler.blocks import block_meshes
from citymodel.tiler.store import Locations, ShardWriter, read_units
from citymodel.tiler.units import prepare_units

pytestmark = pytest.mark.realdata

FILES = [
    "citygml/nrw_lod2_solingen/LoD2_32_369_5667_1_NW.gml",
    "citygml/berlin_lod2/3910_5820.gml",
]


def _ecef_batch(path: Path) -> MeshBatch:
    report = JobReport()
    with citymodel.open(path) as reader:
        crs = source_crs(reader.srs_name, in_crs=None, path=path, report=report)
        features = list(reader.features(report=report))
    batch = mesh_features(features, report=report)
    return to_ecef_checked(batch, Georeferencer.create(crs), report=report)


def _closed_and_outward(positions: np.ndarray, triangles: np.ndarray) -> tuple[bool, float]:
    """Every directed edge has its reverse as often (closed, consistently oriented; footprints
    pinched at a vertex are allowed), and the signed volume."""
    _, weld = np.unique(np.round(positions, 6), axis=0, return_inverse=True)
    t = weld.ravel()[triangles]
    edges = np.concatenate([t[:, [0, 1]], t[:, [1, 2]], t[:, [2, 0]]])
    forward = {tuple(e) for e in edges.tolist()}
    counts: dict[tuple[int, int], int] = {}
    for a, b in edges.tolist():
        counts[(a, b)] = counts.get((a, b), 0) + 1
    balanced = all(counts.get((b, a), 0) == n for (a, b), n in counts.items()) and bool(forward)
    p = positions[triangles]
    volume = float(np.einsum("ij,ij->i", p[:, 0], np.cross(p[:, 1], p[:, 2])).sum() / 6)
    return balanced, volume


@pytest.mark.parametrize("name", FILES)
def test_real_blocks_are_closed_and_outward(shared_data: Path, name: str) -> None:
    batch = _ecef_batch(shared_data / name)
    units = prepare_units(batch)
    assert units.skipped_ids == ()
    unit_of_vertex = np.repeat(np.arange(len(units)), np.diff(units.vertex_offsets))
    rotations = enu_rotation(units.centroids[:, 0], units.centroids[:, 1])
    mesh = units.batch.mesh
    local = ecef_to_enu(mesh.positions, units.anchors, rotations, unit_of_vertex)
    blocks = block_meshes(Mesh(local, mesh.triangles, mesh.feature_ids, mesh.surface_types))
    rows = np.flatnonzero(np.bincount(mesh.feature_ids, minlength=len(blocks.has_block)))
    assert blocks.has_block[rows].all()  # every part with geometry gets a prism
    for row in rows.tolist():
        v0, v1 = blocks.vertex_offsets[row], blocks.vertex_offsets[row + 1]
        t0, t1 = blocks.triangle_offsets[row], blocks.triangle_offsets[row + 1]
        tris = blocks.mesh.triangles[t0:t1].astype(np.int64) - v0
        balanced, volume = _closed_and_outward(blocks.mesh.positions[v0:v1], tris)
        assert balanced, f"block of row {row} is not closed"
        assert volume > 0, f"block of row {row} faces inward"
    assert (units.deviation <= units.importance + 1e-6).all()


@pytest.mark.parametrize("name", FILES[:1])
def test_real_units_round_trip(shared_data: Path, tmp_path: Path, name: str) -> None:
    batch = _ecef_batch(shared_data / name)
    with ShardWriter(tmp_path, 0) as writer:
        result = writer.append_batch(batch)
    index = result.index
    back = read_units(tmp_path, Locations.of(index, np.arange(len(index))))
    units = prepare_units(batch)
    original = units.batch
    assert np.linalg.norm(back.mesh.positions - original.mesh.positions, axis=1).max() < 1e-6
    np.testing.assert_array_equal(back.mesh.triangles, original.mesh.triangles)
    for name_, column in original.features.columns.items():
        if any(v is not None for v in column):
            assert back.features.columns[name_] == column
    # Regions hold every vertex (T3D-3): ellipsoidal heights, radians.
    geo = np.asarray(ecef_to_geodetic(original.mesh.positions))
    unit = np.repeat(np.arange(len(index)), np.diff(units.vertex_offsets))
    lon, lat = np.radians(geo[:, 0]), np.radians(geo[:, 1])
    assert (lon >= index.west[unit]).all() and (lon <= index.east[unit]).all()
    assert (lat >= index.south[unit]).all() and (lat <= index.north[unit]).all()
    assert (geo[:, 2] >= index.min_height[unit]).all()
    assert (geo[:, 2] <= index.max_height[unit]).all()
