# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, embedsignature=True
"""Compiled per-point loops of the point tiler (optional; see ``tiler/points/kernels.py``).

Each function computes exactly what its numpy counterpart in ``kernels.py`` computes, with
the same floating-point operations in the same order (the module is compiled with
``-ffp-contract=off``, so no multiply-add is fused), so both give bit-identical results; the
tests compare them. The loops replace several whole-array numpy passes and their temporaries
by one pass over the points.
"""

from libc.math cimport floor, isfinite
from libc.stdint cimport int64_t, uint32_t, uint64_t

cdef double _STEPS = <double>(1 << 21)


cdef inline uint64_t _spread3(uint64_t v) noexcept nogil:
    """The low 21 bits of ``v`` spread to every third bit."""
    v &= 0x1FFFFFULL
    v = (v | (v << 32)) & 0x1F00000000FFFFULL
    v = (v | (v << 16)) & 0x1F0000FF0000FFULL
    v = (v | (v << 8)) & 0x100F00F00F00F00FULL
    v = (v | (v << 4)) & 0x10C30C30C30C30C3ULL
    v = (v | (v << 2)) & 0x1249249249249249ULL
    return v


def xyz_bounds(const double[:, ::1] xyz):
    """Per-column minimum and maximum of (N, 3) values, and the rows of the lowest and highest z.

    Returns ``(lo, hi, argmin_z, argmax_z)`` (first row on ties, as numpy's ``argmin``); N >= 1.
    A coordinate that is not finite makes every bound NaN.
    """
    cdef Py_ssize_t n = xyz.shape[0], i
    cdef int k
    cdef double lo[3]
    cdef double hi[3]
    cdef double v
    cdef Py_ssize_t imin = 0, imax = 0
    cdef bint finite = True
    for k in range(3):
        lo[k] = xyz[0, k]
        hi[k] = xyz[0, k]
    with nogil:
        for i in range(n):
            for k in range(3):
                v = xyz[i, k]
                if not isfinite(v):
                    finite = False
                if v < lo[k]:
                    lo[k] = v
                    if k == 2:
                        imin = i
                if v > hi[k]:
                    hi[k] = v
                    if k == 2:
                        imax = i
    if not finite:  # as numpy's min and max would say
        for k in range(3):
            lo[k] = float("nan")
            hi[k] = float("nan")
    return (lo[0], lo[1], lo[2]), (hi[0], hi[1], hi[2]), imin, imax


def interpolate(
    const double[:, ::1] xyz,
    double x0,
    double y0,
    double dx,
    double dy,
    Py_ssize_t nx,
    Py_ssize_t ny,
    double z0,
    const double[:, ::1] a,
    const double[:, ::1] b,
    const unsigned char[::1] valid,
    double[:, ::1] out,
    unsigned char[::1] inside,
):
    """Lattice georeferencing: A bilinear per cell plus (z - z0) B bilinear per batch.

    ``a`` is (12, cells): component k, term j in row 4 k + j; ``b`` is (4, 3); ``valid``
    (cells,) or None. Writes ENU metres to ``out`` and per point whether its cell is valid to
    ``inside``; returns True when every point's cell is.
    """
    cdef Py_ssize_t n = xyz.shape[0], i, ix, iy, cell
    cdef int k
    cdef double fx, fy, cx, cy, t, u, tu, dz, dzx, dzy, dzxy, value
    cdef double hx = <double>(nx - 2)
    cdef double hy = <double>(ny - 2)
    cdef double mx = <double>(nx - 1)
    cdef double my = <double>(ny - 1)
    cdef Py_ssize_t rows = ny - 1
    cdef bint check = valid is not None
    cdef bint all_inside = True
    with nogil:
        for i in range(n):
            fx = (xyz[i, 0] - x0) / dx
            fy = (xyz[i, 1] - y0) / dy
            cx = fx
            if cx < 0.0:
                cx = 0.0
            elif cx > hx:
                cx = hx
            cy = fy
            if cy < 0.0:
                cy = 0.0
            elif cy > hy:
                cy = hy
            ix = <Py_ssize_t>cx
            iy = <Py_ssize_t>cy
            t = fx - <double>ix
            u = fy - <double>iy
            tu = t * u
            cell = ix * rows + iy
            dz = xyz[i, 2] - z0
            dzx = dz * (fx / mx)
            dzy = dz * (fy / my)
            dzxy = dzx * (fy / my)
            for k in range(3):
                value = a[4 * k, cell] + a[4 * k + 1, cell] * t
                value = value + a[4 * k + 2, cell] * u
                value = value + a[4 * k + 3, cell] * tu
                value = value + (((b[0, k] * dz + b[1, k] * dzx) + b[2, k] * dzy) + b[3, k] * dzxy)
                out[i, k] = value
            if check:
                inside[i] = valid[cell]
                if not valid[cell]:
                    all_inside = False
            else:
                inside[i] = 1
    return all_inside


def encode(
    const double[:, ::1] enu,
    double lx,
    double ly,
    double lz,
    double scale,
    double edge,
    uint64_t[::1] codes,
):
    """Octree codes of ENU positions, with their bounds and how far they lie outside the cube.

    Returns ``(finite, lower, upper, outside, excess)``: ``finite`` False (and nothing else
    computed) when a coordinate is not finite; ``outside`` points beyond the cube (clamped to
    its nearest step) and the largest distance outside, metres.
    """
    cdef Py_ssize_t n = enu.shape[0], i
    cdef int k
    cdef double lo[3]
    cdef double hi[3]
    cdef double corner[3]
    cdef double s, v, beyond, worst, excess = 0.0
    cdef double top = _STEPS - 1.0
    cdef double step = edge / _STEPS
    cdef Py_ssize_t outside = 0
    cdef uint64_t code
    cdef bint bad = False
    corner[0] = lx
    corner[1] = ly
    corner[2] = lz
    for k in range(3):
        lo[k] = float("inf")
        hi[k] = -float("inf")
    with nogil:
        for i in range(n):
            code = 0
            worst = 0.0
            for k in range(3):
                v = enu[i, k]
                if not isfinite(v):
                    bad = True
                    break
                if v < lo[k]:
                    lo[k] = v
                if v > hi[k]:
                    hi[k] = v
                s = (v - corner[k]) * scale
                if s < 0.0 or s > _STEPS:
                    beyond = -s if -s > s - _STEPS else s - _STEPS
                    if beyond > worst:
                        worst = beyond
                if s < 0.0:
                    s = 0.0
                elif s > top:
                    s = top
                code |= _spread3(<uint64_t>(<uint32_t>s)) << k
            if bad:
                break
            codes[i] = code
            if worst > 0.0:
                outside += 1
                worst = worst * step
                if worst > excess:
                    excess = worst
    if bad:
        return False, None, None, 0, 0.0
    return True, (lo[0], lo[1], lo[2]), (hi[0], hi[1], hi[2]), outside, excess


def closest_per_voxel(
    const uint64_t[::1] codes,
    const double[:, ::1] enu,
    double lx,
    double ly,
    double lz,
    double factor,
    int shift,
    int64_t[::1] out,
):
    """Per run of equal ``codes >> shift``: the first point closest to its voxel's centre.

    ``factor`` is voxels per metre. Writes the indices to ``out`` (increasing) and returns
    how many.
    """
    cdef Py_ssize_t n = codes.shape[0], i, best_i = 0, m = 0
    cdef uint64_t key, run_key = 0
    cdef double sx, sy, sz, d2, best = 0.0
    if n == 0:
        return 0
    with nogil:
        for i in range(n):
            key = codes[i] >> shift
            sx = (enu[i, 0] - lx) * factor
            sy = (enu[i, 1] - ly) * factor
            sz = (enu[i, 2] - lz) * factor
            sx = sx - floor(sx)
            sy = sy - floor(sy)
            sz = sz - floor(sz)
            sx = sx - 0.5
            sy = sy - 0.5
            sz = sz - 0.5
            d2 = (sx * sx + sy * sy) + sz * sz
            if i == 0 or key != run_key:
                if i:
                    out[m] = best_i
                    m += 1
                run_key = key
                best = d2
                best_i = i
            elif d2 < best:
                best = d2
                best_i = i
        out[m] = best_i
        m += 1
    return m


def local_offsets(const double[:, ::1] enu, float[:, ::1] out):
    """Float32 offsets of (N, 3) positions from the centre of their bounds (N >= 1).

    Returns ``(origin, small, large)``: the centre (float64) and the per-column bounds of the
    offsets (as float32 values). Positions must be finite.
    """
    cdef Py_ssize_t n = enu.shape[0], i
    cdef int k
    cdef double lo[3]
    cdef double hi[3]
    cdef double origin[3]
    cdef float small[3]
    cdef float large[3]
    cdef double v
    cdef float f
    for k in range(3):
        lo[k] = enu[0, k]
        hi[k] = enu[0, k]
    with nogil:
        for i in range(n):
            for k in range(3):
                v = enu[i, k]
                if v < lo[k]:
                    lo[k] = v
                if v > hi[k]:
                    hi[k] = v
        for k in range(3):
            origin[k] = (lo[k] + hi[k]) / 2.0
            small[k] = <float>(enu[0, k] - origin[k])
            large[k] = small[k]
        for i in range(n):
            for k in range(3):
                f = <float>(enu[i, k] - origin[k])
                out[i, k] = f
                if f < small[k]:
                    small[k] = f
                if f > large[k]:
                    large[k] = f
    return (origin[0], origin[1], origin[2]), (small[0], small[1], small[2]), (large[0], large[1], large[2])
