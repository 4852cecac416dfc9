"""Putting meshes on the globe: source CRS -> ECEF with checks, and the output frames.

Three output frames (``--frame``):

``enu`` (default)
    Positions are float32 in a local east-north-up frame (metres) whose origin is given as
    longitude, latitude (degrees, WGS 84) and ellipsoidal height (metres); the glTF root node only
    turns z-up into glTF's y-up.
``ecef``
    Positions are float32 in the same local ENU frame, but the root node matrix also carries
    ENU -> ECEF (float64 in JSON), so positions after the node transforms and the y-up -> z-up
    rotation are EPSG:4978 metres, exactly as a 3D Tiles content with an identity tile transform
    is read (correctness.md T3D-2).
``source``
    Positions are the source CRS coordinates minus a float64 origin (source CRS units), z-up
    turned into glTF's y-up; no reprojection.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np

from citymodel._typing import Float32Array, Float64Array
from citymodel.crs import Georeferencer, ecef_to_geodetic, geodetic_to_ecef
from citymodel.mesh import MeshBatch, select_rows
from citymodel.ops.frames import Z_UP_TO_Y_UP, ecef_to_local, enu_to_ecef_matrix, to_gltf_matrix
from citymodel.report import JobReport

__all__ = ["Frame", "LocalFrame", "to_ecef_checked"]

Frame = Literal["enu", "ecef", "source"]

GCG2016_CREDIT = "GCG2016 © Bundesamt für Kartographie und Geodäsie (BKG), CC BY 4.0"


def to_ecef_checked(
    batch: MeshBatch, georef: Georeferencer, *, report: JobReport | None
) -> MeshBatch:
    """Transform a batch from its source CRS to ECEF (EPSG:4978 metres), dropping bad features.

    Features with any vertex that cannot be transformed (e.g. outside the geoid grid,
    correctness.md GEO-4) are removed and recorded in ``report`` by their ``gml_id``.
    """
    ecef = georef.to_ecef(batch.mesh.positions)
    finite = np.isfinite(ecef).all(axis=1)
    mesh = batch.mesh
    keep = np.ones(batch.features.row_count, dtype=bool)
    if not finite.all():
        bad_rows = np.unique(mesh.feature_ids[~finite])
        keep[bad_rows] = False
        ids = batch.features.columns.get("gml_id", [])
        files = batch.features.columns.get("source_file", [])
        for row in bad_rows.tolist():
            reason = "coordinates cannot be transformed (outside the area of the CRS or geoid grid)"
            if report is not None:
                report.skip(
                    reason,
                    id=str(ids[row]) if ids else None,
                    file=str(files[row]) if files else None,
                )
    placed = MeshBatch(
        mesh=replace(mesh, positions=ecef),
        features=batch.features,
        crs="EPSG:4978",
    )
    return select_rows(placed, keep)


@dataclass(frozen=True, slots=True)
class LocalFrame:
    """A float64 origin and the matrices that place float32 local positions.

    Build with :meth:`enu_at` (for ``enu``/``ecef`` frames, from ECEF positions) or
    :meth:`source_at` (for the ``source`` frame).
    """

    kind: Frame
    origin: tuple[float, float, float]
    """ECEF origin (metres) for enu/ecef frames; source CRS origin for the source frame."""
    lon_lat_h: tuple[float, float, float] | None
    """Origin as WGS 84 longitude, latitude (degrees) and ellipsoidal height (metres)."""
    enu_to_ecef: Float64Array | None
    crs: str | None = None

    @classmethod
    def enu_at(cls, ecef_points: Float64Array, kind: Frame = "enu") -> LocalFrame:
        """A frame centred on the bounding-box centre of ``ecef_points`` (EPSG:4978 metres)."""
        centre = (ecef_points.min(axis=0) + ecef_points.max(axis=0)) / 2.0
        lon, lat, _ = ecef_to_geodetic(centre.reshape(1, 3))[0]
        # Put the origin on the mean height of the points so local z stays small.
        geo = ecef_to_geodetic(ecef_points[:: max(1, len(ecef_points) // 1000)])
        h = float(np.round(geo[:, 2].mean(), 3))
        origin = geodetic_to_ecef(np.array([[lon, lat, h]]))[0]
        matrix = enu_to_ecef_matrix(float(lon), float(lat), origin)
        return cls(
            kind=kind,
            origin=(float(origin[0]), float(origin[1]), float(origin[2])),
            lon_lat_h=(float(lon), float(lat), h),
            enu_to_ecef=matrix,
        )

    @classmethod
    def source_at(cls, points: Float64Array, crs: str | None) -> LocalFrame:
        """A frame at the bounding-box centre of ``points`` in the source CRS, rounded to 1 m."""
        centre = np.round((points.min(axis=0) + points.max(axis=0)) / 2.0)
        return cls(
            kind="source",
            origin=(float(centre[0]), float(centre[1]), float(centre[2])),
            lon_lat_h=None,
            enu_to_ecef=None,
            crs=crs,
        )

    def to_local(self, points: Float64Array) -> Float32Array:
        """Positions (ECEF for enu/ecef frames, source CRS for source) -> float32 local, z-up."""
        return self.to_local64(points).astype(np.float32)

    def to_local64(self, points: Float64Array) -> Float64Array:
        """As :meth:`to_local` but float64 (for text formats such as OBJ)."""
        if self.enu_to_ecef is not None:
            return ecef_to_local(points, self.enu_to_ecef)
        local: Float64Array = points - np.asarray(self.origin, dtype=np.float64)
        return local

    def root_matrix(self) -> list[float]:
        """glTF root node matrix (column-major): z-up -> y-up, plus ENU -> ECEF for ``ecef``."""
        if self.kind == "ecef" and self.enu_to_ecef is not None:
            return to_gltf_matrix(Z_UP_TO_Y_UP @ self.enu_to_ecef)
        return to_gltf_matrix(Z_UP_TO_Y_UP)

    def extras(self) -> dict[str, Any]:
        """What goes into glTF ``asset.extras`` to make the frame reproducible."""
        info: dict[str, Any] = {"frame": self.kind, "up_axis": "glTF y-up (source z-up)"}
        if self.lon_lat_h is not None:
            lon, lat, h = self.lon_lat_h
            info["origin"] = {
                "longitude_deg": lon,
                "latitude_deg": lat,
                "ellipsoidal_height_m": h,
                "ecef_m": list(self.origin),
                "crs": "EPSG:4979",
            }
            info["heights"] = "ellipsoidal (WGS 84)"
        else:
            info["origin"] = {"xyz": list(self.origin), "crs": self.crs}
        return info
