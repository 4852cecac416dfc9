"""Triangle meshes with per-vertex feature ids and per-triangle semantics, and their feature tables."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from citymodel._typing import AttributeValue, Float64Array, UInt8Array, UInt32Array
from citymodel.model.appearance import MeshAppearance

__all__ = ["FeatureTable", "Mesh", "MeshBatch", "MeshCounts", "select_rows"]


class MeshCounts:
    """Vertex and triangle counts of a mesh class.

    The class has ``positions`` ``(N, 3)`` and ``triangles`` ``(M, 3)`` arrays.
    """

    __slots__ = ()
    positions: npt.NDArray[Any]
    triangles: npt.NDArray[Any]

    @property
    def vertex_count(self) -> int:
        """Number of vertices."""
        return int(self.positions.shape[0])

    @property
    def triangle_count(self) -> int:
        """Number of triangles."""
        return int(self.triangles.shape[0])


@dataclass(frozen=True, slots=True)
class Mesh(MeshCounts):
    """An indexed triangle mesh in absolute float64 coordinates.

    Vertices are never shared between polygons (flat shading) nor between features
    (feature ids are per vertex).

    Attributes
    ----------
    positions
        ``(N, 3)`` float64 vertex positions, metres, in the CRS of the enclosing :class:`MeshBatch`.
    triangles
        ``(M, 3)`` uint32 vertex indices, counter-clockwise seen from outside.
    feature_ids
        ``(N,)`` uint32 row of the owning feature in the :class:`FeatureTable`.
    surface_types
        ``(M,)`` uint8 :class:`~citymodel.model.semantics.SurfaceType` per triangle.
    appearance
        Texture coordinates per vertex and texture/material per triangle, or None.
    """

    positions: Float64Array
    triangles: UInt32Array
    feature_ids: UInt32Array
    surface_types: UInt8Array
    appearance: MeshAppearance | None = None

    @classmethod
    def empty(cls) -> Mesh:
        """A mesh with no vertices."""
        return cls(
            positions=np.zeros((0, 3), np.float64),
            triangles=np.zeros((0, 3), np.uint32),
            feature_ids=np.zeros(0, np.uint32),
            surface_types=np.zeros(0, np.uint8),
        )

    @staticmethod
    def concat(meshes: Sequence[Mesh], feature_offsets: Sequence[int] | None = None) -> Mesh:
        """Concatenate meshes, shifting triangle indices and (optionally) feature ids.

        Parameters
        ----------
        meshes
            Meshes in the same CRS.
        feature_offsets
            Amount added to the feature ids of each mesh (one per mesh); ``None`` keeps them.
        """
        if not meshes:
            return Mesh.empty()
        vert_counts = np.array([m.vertex_count for m in meshes], dtype=np.int64)
        vstart = np.concatenate([[0], np.cumsum(vert_counts)[:-1]])
        triangles = np.concatenate(
            [m.triangles.astype(np.int64) + s for m, s in zip(meshes, vstart, strict=True)]
        )
        if feature_offsets is None:
            feature_ids = np.concatenate([m.feature_ids for m in meshes])
        else:
            feature_ids = np.concatenate(
                [
                    m.feature_ids.astype(np.int64) + o
                    for m, o in zip(meshes, feature_offsets, strict=True)
                ]
            ).astype(np.uint32)
        return Mesh(
            positions=np.concatenate([m.positions for m in meshes]),
            triangles=triangles.astype(np.uint32),
            feature_ids=feature_ids.astype(np.uint32, copy=False),
            surface_types=np.concatenate([m.surface_types for m in meshes]),
            appearance=MeshAppearance.concat(
                [(m.appearance, m.vertex_count, m.triangle_count) for m in meshes]
            ),
        )


@dataclass(slots=True)
class FeatureTable:
    """Attribute rows of the features of a mesh; row ``i`` belongs to feature id ``i``.

    Columns are kept as Python lists (``None`` = no value) and typed by the writers.
    Every row has the string columns ``gml_id`` (the object's id), ``building_id`` (id of the
    top-level object it belongs to) and ``object_type``.
    """

    columns: dict[str, list[AttributeValue]] = field(default_factory=dict)
    row_count: int = 0

    def add_row(self, values: Mapping[str, AttributeValue]) -> int:
        """Append a row and return its index; unknown columns are created and back-filled."""
        row = self.row_count
        for name, value in values.items():
            column = self.columns.get(name)
            if column is None:
                column = self.columns[name] = [None] * row
            column.append(value)
        self.row_count = row + 1
        for column in self.columns.values():
            if len(column) < self.row_count:
                column.append(None)
        return row

    def extend(self, other: FeatureTable) -> int:
        """Append all rows of ``other``; return the row offset they start at."""
        offset = self.row_count
        for name in other.columns:  # in order: a set difference would order by string hash
            if name not in self.columns:
                self.columns[name] = [None] * offset
        for name, column in self.columns.items():
            column.extend(other.columns.get(name, [None] * other.row_count))
        self.row_count += other.row_count
        return offset

    def column(self, name: str) -> list[AttributeValue]:
        """Return a column (``KeyError`` when absent)."""
        return self.columns[name]


@dataclass(frozen=True, slots=True)
class MeshBatch:
    """A mesh and its feature table: the unit that writers and tile encoders consume.

    Attributes
    ----------
    mesh
        The geometry, in the CRS named by ``crs`` (float64 metres).
    features
        One row per feature id used in ``mesh.feature_ids``.
    crs
        The CRS of ``mesh.positions`` as a user-input string (e.g. ``"EPSG:25832+7837"``).
    """

    mesh: Mesh
    features: FeatureTable
    crs: str | None = None

    @staticmethod
    def concat(batches: Iterable[MeshBatch]) -> MeshBatch:
        """Concatenate batches that share one CRS, renumbering feature ids."""
        batches = list(batches)
        table = FeatureTable()
        offsets = [table.extend(b.features) for b in batches]
        mesh = Mesh.concat([b.mesh for b in batches], offsets)
        return MeshBatch(mesh=mesh, features=table, crs=batches[0].crs if batches else None)


def select_rows(batch: MeshBatch, keep: npt.NDArray[np.bool_]) -> MeshBatch:
    """Return ``batch`` without the features whose ``keep`` flag is False (ids renumbered).

    Parameters
    ----------
    batch
        The mesh batch.
    keep
        ``(batch.features.row_count,)`` boolean mask over feature rows.
    """
    if keep.all():
        return batch
    mesh = batch.mesh
    new_row = np.cumsum(keep, dtype=np.int64) - 1
    vkeep = keep[mesh.feature_ids]
    new_vertex = np.cumsum(vkeep, dtype=np.int64) - 1
    tkeep = vkeep[mesh.triangles[:, 0]]
    kept_mesh = Mesh(
        positions=mesh.positions[vkeep],
        triangles=new_vertex[mesh.triangles[tkeep]].astype(np.uint32),
        feature_ids=new_row[mesh.feature_ids[vkeep]].astype(np.uint32),
        surface_types=mesh.surface_types[tkeep],
        appearance=None if mesh.appearance is None else mesh.appearance.take(vkeep, tkeep),
    )
    rows = np.flatnonzero(keep)
    table = FeatureTable(
        columns={name: [col[i] for i in rows] for name, col in batch.features.columns.items()},
        row_count=int(rows.size),
    )
    return MeshBatch(mesh=kept_mesh, features=table, crs=batch.crs)
