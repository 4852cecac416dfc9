"""GLB tile content in a local east-north-up frame (correctness.md T3D-2, T3D-3, T3D-6, T3D-7).

:func:`encode_tile_glb` turns a :class:`~citymodel.mesh.MeshBatch` with ECEF positions into a
GLB whose float32 positions are small local offsets, plus everything the tileset needs to place
and bound it:

- **Own frame** (default, explicit tilesets): the frame is the ENU frame at the centre of the
  batch's ECEF bounding box (:func:`tile_frame`). Positions are ``inv(T) @ ecef`` computed in
  float64, then cast to float32; the glTF root node carries only the z-up -> y-up rotation
  (:data:`~citymodel.ops.frames.Z_UP_TO_Y_UP`), and ``TileContent.transform`` = T (ENU -> ECEF)
  becomes the tile's ``transform``.
- **Shared frame** (``frame=`` given, e.g. the root frame of an implicit tileset, whose tiles
  cannot carry their own transforms): positions are taken relative to the centre ``o`` of the
  batch in that frame, and the root node matrix is ``Z_UP_TO_Y_UP · translate(o)`` (doubles in
  JSON), so float32 precision is kept (the RTC approach of the glTF migration guide).

Either way clients compute ``ECEF = transform · Y_UP_TO_Z_UP · node matrix · position``. The
box is axis-aligned in the frame, computed from the float32 values actually written and padded
by :data:`~citymodel.tiler.volumes.PADDING`; the region is computed from the float64 ECEF input.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from citymodel._typing import Float32Array, Float64Array
from citymodel.converters.gltf import GltfMesh, PropertySpec, SemanticMaterials, encode_glb
from citymodel.converters.gltf_compression import Compression
from citymodel.converters.texture_encoding import TextureEncoding
from citymodel.crs import ecef_to_geodetic, resolve_crs
from citymodel.mesh import MeshBatch
from citymodel.ops.frames import Z_UP_TO_Y_UP, ecef_to_local, enu_to_ecef_matrix, to_gltf_matrix
from citymodel.tiler.texture_atlas import DEFAULT_ATLAS_SIZE, pack_textures
from citymodel.tiler.volumes import OrientedBox, Region

__all__ = [
    "LocalGeometry",
    "TileContent",
    "content_of",
    "encode_local_glb",
    "encode_tile_glb",
    "local_geometry",
    "tile_frame",
]


@dataclass(frozen=True, slots=True)
class TileContent:
    """An encoded tile content and its placement.

    Attributes
    ----------
    data
        The content file (GLB or b3dm bytes).
    transform
        16 floats, column-major: local frame -> ECEF (EPSG:4978, metres). For own-frame
        content this is the tile's ``transform``; for shared-frame content it is the frame given.
    box
        Frame-aligned box around the content, metres in that frame.
    region
        Region around the content (radians, metres above the WGS 84 ellipsoid).
    triangles, vertices, features
        Counts of what was written.
    """

    data: bytes
    transform: tuple[float, ...]
    box: OrientedBox
    region: Region
    triangles: int
    vertices: int
    features: int


@dataclass(frozen=True, slots=True)
class LocalGeometry:
    """Positions of a batch prepared for a glTF: float32 offsets, root node matrix and frame."""

    positions: Float32Array
    node_matrix: Float64Array
    frame: Float64Array
    box: OrientedBox
    region: Region


def _check_ecef(batch: MeshBatch) -> Float64Array:
    horizontal = None if batch.crs is None else resolve_crs(batch.crs).horizontal
    if batch.crs is not None and (horizontal is None or not horizontal.is_geocentric):
        raise ValueError(
            f"tile contents need ECEF (EPSG:4978) positions, the batch is in {batch.crs}"
        )
    positions = np.asarray(batch.mesh.positions, dtype=np.float64)
    if batch.mesh.triangle_count == 0 or positions.shape[0] == 0:
        raise ValueError("a tile content needs at least one triangle")
    if not np.isfinite(positions).all():
        raise ValueError("tile content positions contain NaN or infinite values")
    return positions


def tile_frame(ecef_points: npt.ArrayLike) -> Float64Array:
    """The ENU -> ECEF matrix anchored at the centre of the points' ECEF bounding box (T3D-2).

    Parameters
    ----------
    ecef_points
        (N, 3) ECEF positions (EPSG:4978), metres.

    Returns
    -------
    numpy.ndarray
        (4, 4) float64; origin = the box centre, axes east / north / up at its geodetic position.
    """
    p = np.asarray(ecef_points, dtype=np.float64)
    centre = (p.min(axis=0) + p.max(axis=0)) / 2.0
    lon, lat, _ = np.asarray(ecef_to_geodetic(centre[None, :]), dtype=np.float64)[0]
    return enu_to_ecef_matrix(float(lon), float(lat), centre)


def local_geometry(batch: MeshBatch, *, frame: npt.ArrayLike | None = None) -> LocalGeometry:
    """Float32 local positions of an ECEF batch, its glTF root node matrix, frame and volumes.

    Parameters
    ----------
    batch
        Mesh in ECEF (EPSG:4978), metres; ``batch.crs`` None or geocentric.
    frame
        Optional (4, 4) local -> ECEF matrix shared by several contents; None = own ENU frame.

    Raises
    ------
    ValueError
        For a batch without triangles, non-finite positions or a non-ECEF CRS.
    """
    ecef = _check_ecef(batch)
    if frame is None:
        matrix = tile_frame(ecef)
        local = ecef_to_local(ecef, matrix)
        offset = np.zeros(3)
    else:
        matrix = np.asarray(frame, dtype=np.float64)
        local = ecef_to_local(ecef, matrix)
        offset = (local.min(axis=0) + local.max(axis=0)) / 2.0
    positions = (local - offset).astype(np.float32)
    written = positions.astype(np.float64) + offset
    translate = np.eye(4)
    translate[:3, 3] = offset
    return LocalGeometry(
        positions=positions,
        node_matrix=Z_UP_TO_Y_UP @ translate,
        frame=matrix,
        box=OrientedBox.from_points(written),
        region=Region.from_ecef(ecef),
    )


def encode_tile_glb(
    batch: MeshBatch,
    *,
    frame: npt.ArrayLike | None = None,
    properties: Mapping[str, PropertySpec] | None = None,
    materials: SemanticMaterials | None = None,
    extras: Mapping[str, Any] | None = None,
    schema_id: str = "citymodel",
    class_name: str = "building",
    compression: Compression = "none",
    atlas_size: int = DEFAULT_ATLAS_SIZE,
    textures: TextureEncoding | None = None,
) -> TileContent:
    """Encode an ECEF mesh batch as a GLB tile content (3D Tiles 1.1).

    Parameters
    ----------
    batch
        Mesh with ECEF (EPSG:4978) float64 positions, metres, and its feature table.
    frame
        None: own ENU frame at the batch centre (``TileContent.transform`` becomes the tile's
        transform). Otherwise a (4, 4) local -> ECEF matrix shared by many contents (the frame
        of an implicit root).
    properties
        Metadata types per column shared by all tiles (one schema for the tileset); None =
        inferred from this batch.
    atlas_size
        Texture pixel budget of the content (:mod:`citymodel.tiler.texture_atlas`).
    textures
        Image format of the textures (JPEG/PNG or KTX2,
        :mod:`citymodel.converters.texture_encoding`); None = ``auto``.
    materials, extras, schema_id, class_name, compression
        Passed to :func:`citymodel.converters.gltf.encode_glb` (``compression="meshopt"``:
        quantized, meshopt-compressed geometry moved by at most 1 cm, see
        :mod:`citymodel.converters.gltf_compression`).

    Returns
    -------
    TileContent
        The GLB with ``EXT_mesh_features`` / ``EXT_structural_metadata`` (T3D-6, T3D-7), its
        frame, box and region.

    Raises
    ------
    ValueError
        For an empty or non-ECEF batch, or feature ids the table does not cover.
    """
    geometry = local_geometry(batch, frame=frame)
    data = encode_local_glb(
        batch,
        geometry,
        materials=materials,
        extras=extras,
        schema_id=schema_id,
        class_name=class_name,
        properties=properties,
        compression=compression,
        atlas_size=atlas_size,
        textures=textures,
    )
    return content_of(data, geometry, batch)


def encode_local_glb(
    batch: MeshBatch,
    geometry: LocalGeometry,
    *,
    materials: SemanticMaterials | None,
    extras: Mapping[str, Any] | None,
    batch_ids: bool = False,
    schema_id: str = "citymodel",
    class_name: str = "building",
    properties: Mapping[str, PropertySpec] | None = None,
    compression: Compression = "none",
    atlas_size: int = DEFAULT_ATLAS_SIZE,
    textures: TextureEncoding | None = None,
) -> bytes:
    """The GLB of ``batch`` at the float32 positions of its :func:`local_geometry` (T3D-2).

    The root node carries ``geometry.node_matrix``; the keywords go to
    :func:`citymodel.converters.gltf.encode_glb`. Textures are packed into a per-content
    atlas within the pixel budget ``atlas_size`` (:mod:`citymodel.tiler.texture_atlas`),
    written in the format ``textures`` chooses.
    """
    mesh = batch.mesh
    appearance = mesh.appearance
    images = None
    if appearance is not None and appearance.textures:
        packed = pack_textures(appearance, mesh.triangles, atlas_size, textures)
        appearance, images = packed.appearance, packed.images
    return encode_glb(
        GltfMesh(
            positions=geometry.positions,
            triangles=mesh.triangles,
            feature_ids=mesh.feature_ids,
            surface_types=mesh.surface_types,
            appearance=appearance,
        ),
        batch.features,
        root_matrix=to_gltf_matrix(geometry.node_matrix),
        extras=extras,
        materials=materials,
        schema_id=schema_id,
        class_name=class_name,
        properties=properties,
        batch_ids=batch_ids,
        compression=compression,
        images=images,
    )


def content_of(data: bytes, geometry: LocalGeometry, batch: MeshBatch) -> TileContent:
    """Bundle encoded bytes with the placement computed by :func:`local_geometry`."""
    return TileContent(
        data=data,
        transform=tuple(to_gltf_matrix(geometry.frame)),
        box=geometry.box,
        region=geometry.region,
        triangles=batch.mesh.triangle_count,
        vertices=batch.mesh.vertex_count,
        features=batch.features.row_count,
    )
