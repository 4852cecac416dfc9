"""Local frames: east-north-up (ENU) <-> ECEF and the glTF y-up convention (T3D-2).

Pure numpy, float64 throughout. Every 4x4 matrix here acts on column vectors
(``M @ [x, y, z, 1]``); :func:`to_gltf_matrix` flattens one column-major, the layout that glTF
``node.matrix`` and 3D Tiles ``tile.transform`` expect.

Frames used by the writers:

- **ECEF**: EPSG:4978, WGS 84 geocentric, metres.
- **ENU**: a local Cartesian frame with its origin at an ECEF anchor point, x east, y north,
  z up along the ellipsoid normal (geodetic latitude), metres. Vertex positions are written as
  float32 in this frame and ``tile.transform`` = ENU->ECEF (T3D-2).
- **glTF y-up**: glTF's own axes; :data:`Z_UP_TO_Y_UP` goes on the glTF root node so that
  positions stay z-up (ENU) and clients apply 3D Tiles' y-up -> z-up rotation to undo it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from citymodel._typing import Float64Array

__all__ = [
    "Y_UP_TO_Z_UP",
    "Z_UP_TO_Y_UP",
    "ecef_to_local",
    "enu_rotation",
    "enu_to_ecef_matrix",
    "local_to_ecef",
    "to_gltf_matrix",
]


def _readonly(m: Float64Array) -> Float64Array:
    m.setflags(write=False)
    return m


Z_UP_TO_Y_UP: Float64Array = _readonly(
    np.array(
        [
            [1.0, 0.0, 0.0, 0.0],
            [0.0, 0.0, 1.0, 0.0],
            [0.0, -1.0, 0.0, 0.0],
            [0.0, 0.0, 0.0, 1.0],
        ],
        dtype=np.float64,
    )
)
"""z-up -> glTF y-up: ``x' = x, y' = z, z' = -y`` (T3D-2).

Column-major this is ``[1,0,0,0, 0,0,-1,0, 0,1,0,0, 0,0,0,1]``, the glTF root-node matrix of
the 3D Tiles "z-up" workflow."""

Y_UP_TO_Z_UP: Float64Array = _readonly(np.ascontiguousarray(Z_UP_TO_Y_UP.T))
"""glTF y-up -> z-up (``x' = x, y' = -z, z' = y``), the inverse of :data:`Z_UP_TO_Y_UP`.

This is the rotation 3D Tiles clients apply to glTF content (3D Tiles spec,
``#core-y-up-to-z-up``)."""


def enu_rotation(lon: npt.ArrayLike, lat: npt.ArrayLike) -> Float64Array:
    """Return ``(..., 3, 3)`` rotations whose rows are the east, north and up unit vectors.

    Parameters
    ----------
    lon, lat
        Geodetic longitude and latitude of the frame origins on the WGS 84 ellipsoid, radians:
        scalars for one frame or ``(N,)`` float64 arrays for many.

    Returns
    -------
    numpy.ndarray
        ``R`` in ECEF (EPSG:4978) axes with ``enu = R @ (ecef - origin)`` and
        ``ecef = R.T @ enu + origin``; up is the ellipsoid normal (geodetic latitude).
    """
    sl, cl = np.sin(lon), np.cos(lon)
    sp, cp = np.sin(lat), np.cos(lat)
    zero = np.zeros_like(sl)
    east = np.stack([-sl, cl, zero], axis=-1)
    north = np.stack([-sp * cl, -sp * sl, cp], axis=-1)
    up = np.stack([cp * cl, cp * sl, sp], axis=-1)
    return np.stack([east, north, up], axis=-2)


def enu_to_ecef_matrix(
    lon_deg: float, lat_deg: float, ecef_origin: Sequence[float] | npt.ArrayLike
) -> Float64Array:
    """Return the 4x4 ENU -> ECEF matrix of a local frame (T3D-2).

    Parameters
    ----------
    lon_deg, lat_deg
        Geodetic longitude and latitude of the anchor on the WGS 84 ellipsoid, degrees.
    ecef_origin
        The anchor in ECEF (EPSG:4978), metres: the frame origin. It should be the ECEF of
        (``lon_deg``, ``lat_deg``, ellipsoidal height), with the geoid already applied.

    Returns
    -------
    numpy.ndarray
        (4, 4) float64, columns east, north, up (unit vectors in ECEF) and the origin, so that
        ``M @ [e, n, u, 1]`` is the ECEF position of local point (e, n, u) in metres.

    Raises
    ------
    ValueError
        If the inputs are not finite, the latitude is outside [-90, 90] or the origin is not
        three numbers.
    """
    origin = np.asarray(ecef_origin, dtype=np.float64)
    if origin.shape != (3,):
        raise ValueError(f"ecef_origin must be 3 numbers (X, Y, Z), got shape {origin.shape}")
    if not (np.isfinite(lon_deg) and np.isfinite(lat_deg) and np.isfinite(origin).all()):
        raise ValueError("enu_to_ecef_matrix needs finite longitude, latitude and origin")
    if not -90.0 <= lat_deg <= 90.0:
        raise ValueError(f"latitude {lat_deg} is outside [-90, 90] degrees")
    m = np.zeros((4, 4), dtype=np.float64)
    m[:3, :3] = enu_rotation(np.radians(lon_deg), np.radians(lat_deg)).T  # columns east, north, up
    m[:3, 3] = origin
    m[3, 3] = 1.0
    return m


def to_gltf_matrix(m: npt.ArrayLike) -> list[float]:
    """Flatten a 4x4 matrix column-major for glTF ``node.matrix`` / 3D Tiles ``transform``.

    Parameters
    ----------
    m
        (4, 4) matrix acting on column vectors.

    Returns
    -------
    list[float]
        16 Python floats (full float64 precision in JSON), column-major.

    Raises
    ------
    ValueError
        If ``m`` is not 4x4 or not finite.
    """
    a = np.asarray(m, dtype=np.float64)
    if a.shape != (4, 4):
        raise ValueError(f"expected a 4x4 matrix, got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError("matrix contains non-finite values")
    return [float(v) for v in a.T.ravel()]


def _split_affine(enu_to_ecef: npt.ArrayLike) -> tuple[Float64Array, Float64Array]:
    m = np.asarray(enu_to_ecef, dtype=np.float64)
    if m.shape != (4, 4):
        raise ValueError(f"expected a 4x4 matrix, got shape {m.shape}")
    if not np.array_equal(m[3], (0.0, 0.0, 0.0, 1.0)):
        raise ValueError("expected an affine matrix (last row 0, 0, 0, 1)")
    return m[:3, :3], m[:3, 3]


def _points(points: npt.ArrayLike, name: str) -> Float64Array:
    p = np.asarray(points, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 3:
        raise ValueError(f"{name} must have shape (N, 3), got {p.shape}")
    return p


def ecef_to_local(points_ecef: npt.ArrayLike, enu_to_ecef: npt.ArrayLike) -> Float64Array:
    """Express ECEF points in the local frame of ``enu_to_ecef`` (T3D-2).

    The inverse is applied in float64 as ``R⁻¹ (p - t)``: the anchor is subtracted first, so
    the local coordinates keep full precision before writers cast them to float32.

    Parameters
    ----------
    points_ecef
        (N, 3) positions in ECEF (EPSG:4978), metres.
    enu_to_ecef
        (4, 4) affine local -> ECEF matrix, e.g. from :func:`enu_to_ecef_matrix`.

    Returns
    -------
    numpy.ndarray
        (N, 3) float64 local coordinates (east, north, up for an ENU frame), metres.
    """
    p = _points(points_ecef, "points_ecef")
    rot, origin = _split_affine(enu_to_ecef)
    inv = np.linalg.inv(rot)
    out: Float64Array = (p - origin) @ inv.T
    return out


def local_to_ecef(points_local: npt.ArrayLike, enu_to_ecef: npt.ArrayLike) -> Float64Array:
    """Map local-frame points to ECEF: ``R p + t`` in float64.

    Parameters
    ----------
    points_local
        (N, 3) positions in the local frame (east, north, up for an ENU frame), metres.
    enu_to_ecef
        (4, 4) affine local -> ECEF matrix, e.g. from :func:`enu_to_ecef_matrix`.

    Returns
    -------
    numpy.ndarray
        (N, 3) float64 positions in ECEF (EPSG:4978), metres.
    """
    p = _points(points_local, "points_local")
    rot, origin = _split_affine(enu_to_ecef)
    out: Float64Array = p @ rot.T + origin
    return out
