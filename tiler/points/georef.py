"""Dense point sets from a source CRS to the dataset's ENU frame, exact to well below 1 mm.

Transforming every LiDAR point through PROJ costs more than decoding it (about 0.4 µs per
point for UTM + DHHN2016 -> ECEF with the GCG2016 grid, 1 core). For a fixed horizontal
position every supported source -> ECEF chain is *affine in z*: the height becomes an
ellipsoidal height by adding the geoid undulation and a unit factor (GEO-1, GEO-6), and ECEF
is affine in the ellipsoidal height along the ellipsoid normal. So

    enu(x, y, z) = A(x, y) + (z - z0) · B(x, y)

with ``A`` the ENU position at height ``z0`` and ``B`` the ENU direction per unit of z. Both
are smooth in (x, y) — their second derivatives are of the order of 1 / Earth radius, plus
the kinks of the geoid grid's bilinear interpolation in ``A`` (slope changes below 1e-4 in
Germany). :class:`LatticeGeoreferencer` computes ``A`` and ``B`` exactly with the
:class:`~citymodel.crs.Georeferencer` on a lattice of at most :data:`STEP_M` metres over
each batch and interpolates ``A`` bilinearly per lattice cell (error below
``STEP²/(8R) + 1e-4 · STEP / 4`` ≈ 0.25 mm) and ``B`` bilinearly over the batch (the normal
turns by 1.6e-4 per km; the error is of the order of 1e-8 per metre of height).

Every batch is checked: a sample of its points is transformed exactly and compared; above
:data:`TOLERANCE_M` (and for batches too sparse for a lattice, and points in lattice cells
where PROJ returns no value, GEO-4) the batch — or those points — go through PROJ directly.
Rows PROJ cannot transform come back as ``inf``, as from the Georeferencer.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from citymodel._typing import Float64Array
from citymodel.crs import Georeferencer
from citymodel.ops.frames import ecef_to_local
from citymodel.tiler.points.frame import CACHE_POINTS, column_bounds
from citymodel.tiler.points.kernels import COMPILED

__all__ = ["STEP_M", "TOLERANCE_M", "LatticeGeoreferencer"]

log = logging.getLogger(__name__)

STEP_M = 10.0
"""Largest lattice spacing on the ground, metres."""
TOLERANCE_M = 5e-4
"""Largest deviation from the exact transformation accepted on the check sample, metres."""
_CHECK_POINTS = 512
_MIN_POINTS = 2_048
"""Batches smaller than this are transformed exactly (a lattice would not pay off)."""
_NODES_PER_POINT = 0.25
"""Most lattice nodes per point of a batch; sparser batches are transformed exactly."""


@dataclass(frozen=True, slots=True)
class _Lattice:
    """Bilinear coefficients of A per lattice cell, and of B over the whole batch."""

    x0: float
    y0: float
    dx: float
    dy: float
    nx: int
    ny: int
    z0: float
    a: Float64Array  # (12, cells): component k, term j in row 4 k + j
    b: Float64Array  # (4, 3): bilinear terms of B in the batch's unit square
    valid: npt.NDArray[np.bool_] | None  # (cells,); None when every cell is valid


class LatticeGeoreferencer:
    """Source coordinates -> ENU of the dataset frame, through an exact lattice per batch.

    Parameters
    ----------
    georef
        The exact source -> ECEF (EPSG:4978) transformation.
    enu_to_ecef
        (4, 4) ENU -> ECEF matrix of the dataset frame.
    """

    def __init__(self, georef: Georeferencer, enu_to_ecef: Float64Array) -> None:
        self.georef = georef
        self.matrix = np.asarray(enu_to_ecef, dtype=np.float64)
        self.exact_batches = 0

    def exact(self, xyz: Float64Array) -> Float64Array:
        """ENU metres of source coordinates through PROJ (``inf`` rows where it fails)."""
        ecef = self.georef.to_ecef(xyz)
        if np.isfinite(ecef).all():
            return ecef_to_local(ecef, self.matrix)
        finite = np.isfinite(ecef).all(axis=1)
        out = np.full(ecef.shape, np.inf)
        out[finite] = ecef_to_local(ecef[finite], self.matrix)
        return out

    def to_enu(self, xyz: Float64Array) -> Float64Array:
        """ENU metres of source coordinates (x east/longitude, y north/latitude, z height).

        Returns
        -------
        numpy.ndarray
            (N, 3) float64; ``inf`` rows where PROJ cannot transform the point.
        """
        n = xyz.shape[0]
        lattice = None
        if n >= _MIN_POINTS:
            xyz = np.ascontiguousarray(xyz, dtype=np.float64)
            lo, hi, low, high = _bounds(xyz)
            lattice = self._lattice(xyz, lo, hi)
        if lattice is None:
            self.exact_batches += 1
            return self.exact(xyz)
        enu, inside = _interpolate(lattice, xyz)
        if inside is not None:
            enu[~inside] = self.exact(xyz[~inside])
        check = np.linspace(0, n - 1, min(n, _CHECK_POINTS)).astype(np.int64)
        check = np.union1d(check, [low, high])
        truth = self.exact(xyz[check])
        usable = np.isfinite(truth).all(axis=1) & np.isfinite(enu[check]).all(axis=1)
        error = float(np.abs(enu[check][usable] - truth[usable]).max(initial=0.0))
        if error > TOLERANCE_M or (~usable & np.isfinite(enu[check]).all(axis=1)).any():
            log.debug("lattice georeferencing off by %.2g m; batch transformed exactly", error)
            self.exact_batches += 1
            return self.exact(xyz)
        return enu

    def _lattice(self, xyz: Float64Array, lo: Float64Array, hi: Float64Array) -> _Lattice | None:
        if not (np.isfinite(lo).all() and np.isfinite(hi).all()):
            return None
        cx, cy = (lo[0] + hi[0]) / 2.0, (lo[1] + hi[1]) / 2.0
        z0 = float(lo[2])
        z1 = float(hi[2]) if hi[2] > lo[2] else z0 + 1.0
        # Ground metres per source unit along x and y, from a small exact step.
        span = max(float(hi[0] - lo[0]), float(hi[1] - lo[1]), 1e-6)
        h = span * 1e-3
        probe = self.exact(np.array([[cx, cy, z0], [cx + h, cy, z0], [cx, cy + h, z0]]))
        if not np.isfinite(probe).all():
            return None
        mx = float(np.linalg.norm(probe[1] - probe[0])) / h
        my = float(np.linalg.norm(probe[2] - probe[0])) / h
        if not (mx > 0.0 and my > 0.0):
            return None
        nx = max(2, math.ceil((hi[0] - lo[0]) * mx / STEP_M) + 1)
        ny = max(2, math.ceil((hi[1] - lo[1]) * my / STEP_M) + 1)
        if nx * ny > max(16.0, _NODES_PER_POINT * xyz.shape[0]):
            return None
        dx = max(float(hi[0] - lo[0]) / (nx - 1), 1e-12)
        dy = max(float(hi[1] - lo[1]) / (ny - 1), 1e-12)
        gx, gy = np.meshgrid(lo[0] + dx * np.arange(nx), lo[1] + dy * np.arange(ny), indexing="ij")
        flat = np.c_[gx.ravel(), gy.ravel()]
        nodes = np.concatenate([np.c_[flat, np.full(len(flat), z)] for z in (z0, z1)])
        enu = self.exact(nodes)
        a = enu[: len(flat)].reshape(nx, ny, 3)
        b = ((enu[len(flat) :] - enu[: len(flat)]) / (z1 - z0)).reshape(nx, ny, 3)
        # A bilinear per cell. B, the ENU direction of +z (the ellipsoid normal times the
        # height unit), turns by 1.6e-4 per km: bilinear over the batch is exact to 1e-8.
        a00, a10, a01, a11 = a[:-1, :-1], a[1:, :-1], a[:-1, 1:], a[1:, 1:]
        terms = [a00, a10 - a00, a01 - a00, a11 - a10 - a01 + a00]
        coefficients = np.stack([terms[j][:, :, k].ravel() for k in range(3) for j in range(4)])
        b00, b10, b01, b11 = b[0, 0], b[-1, 0], b[0, -1], b[-1, -1]
        b_terms = np.ascontiguousarray(np.stack([b00, b10 - b00, b01 - b00, b11 - b10 - b01 + b00]))
        valid = np.asarray(np.isfinite(coefficients).all(axis=0), dtype=bool)
        if not np.isfinite(b_terms).all():
            return None
        mask: npt.NDArray[np.bool_] | None = None
        if not valid.all():
            mask = valid
            coefficients = np.where(valid, coefficients, 0.0)
        return _Lattice(float(lo[0]), float(lo[1]), dx, dy, nx, ny, z0, coefficients, b_terms, mask)


def _bounds(xyz: Float64Array) -> tuple[Float64Array, Float64Array, int, int]:
    """Per-column bounds of (N, 3) coordinates and the rows of the lowest and highest z."""
    if COMPILED is not None:
        lo, hi, low, high = COMPILED.xyz_bounds(xyz)
        return np.array(lo), np.array(hi), low, high
    lo_, hi_ = column_bounds(xyz)
    z = xyz[:, 2]
    return lo_, hi_, int(np.argmin(z)), int(np.argmax(z))


def _interpolate(
    lattice: _Lattice, xyz: Float64Array
) -> tuple[Float64Array, npt.NDArray[np.bool_] | None]:
    """A (bilinear per cell) + (z - z0) B (bilinear per batch) per point.

    Also returns per point whether its cell's corners all had values (None: all had). The
    compiled kernel when built; else numpy, through the points in cache-sized slices (twice as
    fast as whole-array temporaries). Both compute the same operations in the same order.
    """
    n = xyz.shape[0]
    enu = np.empty((n, 3))
    if COMPILED is not None:
        flags = np.empty(n, dtype=np.uint8)
        valid = None if lattice.valid is None else lattice.valid.view(np.uint8)
        everywhere = COMPILED.interpolate(
            xyz, lattice.x0, lattice.y0, lattice.dx, lattice.dy, lattice.nx, lattice.ny,
            lattice.z0, lattice.a, lattice.b, valid, enu, flags,
        )  # fmt: skip
        return enu, None if everywhere else flags.view(bool)
    inside = np.ones(n, dtype=bool)
    a, b = lattice.a, lattice.b
    for start in range(0, n, CACHE_POINTS):
        part = xyz[start : start + CACHE_POINTS]
        fx = (part[:, 0] - lattice.x0) / lattice.dx
        fy = (part[:, 1] - lattice.y0) / lattice.dy
        ix = np.clip(fx, 0.0, lattice.nx - 2).astype(np.int64)
        iy = np.clip(fy, 0.0, lattice.ny - 2).astype(np.int64)
        t = fx - ix
        u = fy - iy
        tu = t * u
        cell = ix * (lattice.ny - 1) + iy
        dz = part[:, 2] - lattice.z0
        dzx = dz * (fx / (lattice.nx - 1))
        dzy = dz * (fy / (lattice.ny - 1))
        dzxy = dzx * (fy / (lattice.ny - 1))
        out = enu[start : start + CACHE_POINTS]
        for k in range(3):
            value = a[4 * k][cell] + a[4 * k + 1][cell] * t
            value += a[4 * k + 2][cell] * u
            value += a[4 * k + 3][cell] * tu
            value += b[0, k] * dz + b[1, k] * dzx + b[2, k] * dzy + b[3, k] * dzxy
            out[:, k] = value
        if lattice.valid is not None:
            inside[start : start + CACHE_POINTS] = lattice.valid[cell]
    return enu, None if lattice.valid is None or inside.all() else inside
