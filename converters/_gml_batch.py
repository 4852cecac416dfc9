"""Batched conversion of collected ring text into :class:`~citymodel.model.SurfaceGeometry`.

The coordinate text of many buildings (:class:`~citymodel.converters._gml.SurfaceSink`
objects) is parsed in **one** vectorised pass; closing points, orientation, validation and the
per-feature slicing are vectorised offset arithmetic (performance.md).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from itertools import chain
from typing import Any

import numpy as np
import numpy.typing as npt

from citymodel._typing import BoolArray, Float64Array, IndexArray
from citymodel.converters._decimal_text import parse_plain_decimals
from citymodel.converters._gml import ProblemSink, SurfaceSink, known_line
from citymodel.model import SurfaceGeometry

__all__ = ["BatchStats", "SurfaceBatch"]


@dataclass(frozen=True, slots=True)
class BatchStats:
    """What :meth:`SurfaceBatch.build` noticed besides the polygons it left out.

    Attributes
    ----------
    unclosed_rings
        Rings whose last point differs from the first (accepted as they are, CGML-4).
    first_unclosed
        ``(description, line)`` of the first such ring.
    """

    unclosed_rings: int = 0
    first_unclosed: tuple[str, int | None] | None = None


class SurfaceBatch:
    """Collects :class:`SurfaceSink` objects and converts them together (one vectorised parse)."""

    def __init__(self) -> None:
        self._sinks: list[SurfaceSink] = []
        self.text_chars = 0
        """Characters of coordinate text queued so far (to decide when to build)."""
        self.built: tuple[list[SurfaceSink], BoolArray] = ([], np.zeros(0, dtype=bool))
        """The sinks of the last :meth:`build` and its usable-polygon mask over their polygons."""

    def __len__(self) -> int:
        return len(self._sinks)

    def add(self, sink: SurfaceSink) -> int:
        """Queue ``sink``; returns its index in the list :meth:`build` returns."""
        self._sinks.append(sink)
        self.text_chars += sum(map(len, sink.texts))
        return len(self._sinks) - 1

    def build(
        self, *, swap_xy: bool, on_problem: ProblemSink
    ) -> tuple[list[SurfaceGeometry | None], BatchStats]:
        """Parse all queued coordinates and return one geometry per sink (None when empty).

        Polygons with an unusable ring (dimension other than 3, a value count that is not a
        multiple of 3, fewer than 3 distinct points, non-finite numbers) are left out and
        reported through ``on_problem``. A ring's closing point (equal to its first point) is
        dropped; a ring without one is kept as it is and counted in the returned stats
        (CGML-4). Rings of flipped polygons (``OrientableSurface orientation="-"``) are
        reversed. The queue is empty afterwards.
        """
        sinks, self._sinks, self.text_chars = self._sinks, [], 0
        if not sinks:
            return [], BatchStats()
        rings = _Rings.parse(sinks)
        poly_ok = rings.polygon_ok()
        self.built = (sinks, poly_ok)
        sink_poly_end = np.cumsum([s.polygon_count for s in sinks], dtype=np.int64)
        names = _PolygonNames(sinks, sink_poly_end)
        if not poly_ok.all():
            for p in np.flatnonzero(~poly_ok).tolist():
                sink, label = names.describe(p)
                on_problem(f"{label}: {rings.why_bad(p)}; left out", sink, names.line(p))
        stats = BatchStats()
        open_rings = np.flatnonzero(rings.has_points & ~rings.closed & rings.ok)
        if open_rings.size:
            p = int(rings.ring_poly[open_rings[0]])
            sink, label = names.describe(p)
            stats = BatchStats(
                int(open_rings.size), (f"{label} of feature {sink.owner}", names.line(p))
            )
        flipped = np.zeros(rings.n_polys, dtype=bool)
        if any(s.flipped for s in sinks):
            starts = (sink_poly_end - [s.polygon_count for s in sinks]).tolist()
            for s, begin in zip(sinks, starts, strict=True):
                if s.flipped:
                    flipped[np.asarray(s.flipped, dtype=np.int64) + begin] = True
        vertices, ring_offsets = rings.gather(poly_ok, flipped)
        if swap_xy:
            vertices = vertices[:, [1, 0, 2]]
        kept_ring_counts = rings.ring_counts[poly_ok]
        polygon_offsets = np.zeros(kept_ring_counts.size + 1, dtype=np.int64)
        np.cumsum(kept_ring_counts, out=polygon_offsets[1:])
        types = _flat(sinks, "types", np.uint8, rings.n_polys)[poly_ok]
        kept_before = np.zeros(rings.n_polys + 1, dtype=np.int64)
        np.cumsum(poly_ok, out=kept_before[1:])
        # polygon range [k0, k1) of every sink among the kept polygons
        kept_end = kept_before[sink_poly_end]
        kept_start = np.empty_like(kept_end)
        kept_start[0] = 0
        kept_start[1:] = kept_end[:-1]
        local = _LocalOffsets.of(kept_start, kept_end, polygon_offsets, ring_offsets)
        out: list[SurfaceGeometry | None] = []
        k_start = kept_start.tolist()  # Python ints: cheaper slicing than numpy scalars
        k_end = kept_end.tolist()
        poly_off = polygon_offsets.tolist()
        ring_off = ring_offsets.tolist()
        ring_at = local.ring_start.tolist()
        poly_at = local.polygon_start.tolist()
        for j, s in enumerate(sinks):
            k0, k1 = k_start[j], k_end[j]
            if k1 == k0:
                out.append(None)
                continue
            r0, r1 = poly_off[k0], poly_off[k1]
            ro, po = ring_at[j], poly_at[j]
            out.append(
                SurfaceGeometry(
                    lod=s.lod,
                    vertices=vertices[ring_off[r0] : ring_off[r1]],
                    ring_offsets=local.rings[ro : ro + r1 - r0 + 1],
                    polygon_offsets=local.polygons[po : po + k1 - k0 + 1],
                    surface_types=types[k0:k1],
                    solid=s.solid,
                )
            )
        return out, stats


class _PolygonNames:
    """Maps a batch-wide polygon index back to its sink, gml:id and line."""

    def __init__(self, sinks: list[SurfaceSink], sink_poly_end: IndexArray) -> None:
        self._sinks = sinks
        self._ends = sink_poly_end

    def _locate(self, p: int) -> tuple[SurfaceSink, int]:
        s = int(np.searchsorted(self._ends, p, side="right"))
        begin = int(self._ends[s - 1]) if s else 0
        return self._sinks[s], p - begin

    def describe(self, p: int) -> tuple[SurfaceSink, str]:
        sink, i = self._locate(p)
        pid = sink.poly_ids[i]
        return sink, (f"polygon {pid}" if pid else "polygon")

    def line(self, p: int) -> int | None:
        sink, i = self._locate(p)
        return known_line(sink.poly_lines[i])


@dataclass(slots=True)
class _Rings:
    """The parsed rings of one batch (index ``r`` runs over all rings of all sinks)."""

    xyz: Float64Array  # (M, 3) all points of usable rings, closing points included
    dims: IndexArray  # declared dimension per ring
    n_values: IndexArray  # numbers per ring (-1: not a list of numbers)
    npts: IndexArray  # points per ring in xyz (0 for unusable rings)
    start: IndexArray  # first point of each ring in xyz
    ring_counts: IndexArray  # rings per polygon
    ring_poly: IndexArray  # polygon of each ring
    has_points: BoolArray
    closed: BoolArray
    finite: BoolArray
    ok: BoolArray  # ring usable

    @property
    def n_polys(self) -> int:
        return int(self.ring_counts.size)

    @classmethod
    def parse(cls, sinks: list[SurfaceSink]) -> _Rings:
        texts = list(chain.from_iterable([s.texts for s in sinks]))
        n_rings = len(texts)
        dims = _flat(sinks, "dims", np.int64, n_rings)
        ring_counts = _flat(sinks, "ring_counts", np.int64, sum(s.polygon_count for s in sinks))
        values, n_values = _parse_numbers(texts)
        ok = (dims == 3) & (n_values >= 0) & (n_values % 3 == 0)
        if not ok.all():
            values = values[np.repeat(ok, np.maximum(n_values, 0))]
        xyz = values.reshape(-1, 3)
        npts = np.where(ok, n_values // 3, 0)
        end = np.cumsum(npts)
        start = end - npts
        has_points = npts >= 2
        closed = np.zeros(n_rings, dtype=bool)
        if has_points.any():
            closed[has_points] = (xyz[start[has_points]] == xyz[end[has_points] - 1]).all(axis=1)
        finite = np.ones(n_rings, dtype=bool)
        if not np.isfinite(values).all():
            bad = np.zeros(xyz.shape[0] + 1, dtype=np.int64)
            np.cumsum(~np.isfinite(xyz).all(axis=1), out=bad[1:])
            finite = (bad[end] - bad[start]) == 0
        ok &= finite & (npts - closed >= 3)
        return cls(
            xyz=xyz,
            dims=dims,
            n_values=n_values,
            npts=npts,
            start=start,
            ring_counts=ring_counts,
            ring_poly=np.repeat(np.arange(ring_counts.size, dtype=np.int64), ring_counts),
            has_points=has_points,
            closed=closed,
            finite=finite,
            ok=ok,
        )

    def polygon_ok(self) -> BoolArray:
        """A polygon is usable when all its rings are."""
        if not self.n_polys:
            return np.zeros(0, dtype=bool)
        first = np.cumsum(self.ring_counts) - self.ring_counts
        return np.logical_and.reduceat(self.ok, first)

    def why_bad(self, p: int) -> str:
        """Why polygon ``p`` is unusable (one reason per bad ring)."""
        r0 = int(self.ring_counts[:p].sum())
        reasons = []
        for r in range(r0, r0 + int(self.ring_counts[p])):
            if self.ok[r]:
                continue
            which = "exterior ring" if r == r0 else f"interior ring {r - r0}"
            dim, nv = int(self.dims[r]), int(self.n_values[r])
            if dim != 3:
                what = (
                    f"srsDimension {dim}" if dim else "invalid srsDimension"
                ) + " (only 3D coordinates are supported)"
            elif nv < 0:
                what = "coordinates are not a list of numbers"
            elif nv % 3:
                what = f"{nv} coordinate values is not a multiple of 3"
            elif not self.finite[r]:
                what = "non-finite coordinate"
            else:
                what = f"{int(self.npts[r] - self.closed[r])} distinct points (at least 3 needed)"
            reasons.append(f"{which}: {what}")
        return "; ".join(reasons)

    def gather(self, poly_ok: BoolArray, flipped: BoolArray) -> tuple[Float64Array, IndexArray]:
        """Vertices of the usable polygons and the ring offsets into them.

        Closing points are dropped and the rings of flipped polygons reversed.
        """
        keep = poly_ok[self.ring_poly]
        sizes = (self.npts - self.closed)[keep]
        ring_offsets = np.zeros(sizes.size + 1, dtype=np.int64)
        np.cumsum(sizes, out=ring_offsets[1:])
        local = np.arange(int(ring_offsets[-1]), dtype=np.int64) - np.repeat(
            ring_offsets[:-1], sizes
        )
        flip = flipped[self.ring_poly][keep]
        if flip.any():
            local = np.where(np.repeat(flip, sizes), np.repeat(sizes - 1, sizes) - local, local)
        return self.xyz[np.repeat(self.start[keep], sizes) + local], ring_offsets


def _flat(
    sinks: list[SurfaceSink], name: str, dtype: type[np.generic], count: int
) -> npt.NDArray[Any]:
    """The per-ring or per-polygon list ``name`` of all sinks as one array."""
    return np.fromiter(
        chain.from_iterable([getattr(s, name) for s in sinks]), dtype=dtype, count=count
    )


@dataclass(frozen=True, slots=True)
class _LocalOffsets:
    """Every sink's ring and polygon offsets, relative to its own first vertex and first ring.

    Sink ``j`` has its ``r1 - r0 + 1`` ring offsets at ``rings[ring_start[j]:]`` and its
    ``k1 - k0 + 1`` polygon offsets at ``polygons[polygon_start[j]:]``. Computed for all sinks
    at once, so each :class:`SurfaceGeometry` gets views instead of new arrays.
    """

    rings: IndexArray
    ring_start: IndexArray
    polygons: IndexArray
    polygon_start: IndexArray

    @classmethod
    def of(
        cls,
        kept_start: IndexArray,
        kept_end: IndexArray,
        polygon_offsets: IndexArray,
        ring_offsets: IndexArray,
    ) -> _LocalOffsets:
        """Offsets of the sinks holding the kept polygons ``[kept_start[j], kept_end[j])``."""
        ring_first = polygon_offsets[kept_start]
        ring_end = polygon_offsets[kept_end]
        polygon_sizes = kept_end - kept_start + 1
        ring_sizes = ring_end - ring_first + 1
        polygons, polygon_start = _ranges(kept_start, polygon_sizes)
        rings, ring_start = _ranges(ring_first, ring_sizes)
        return cls(
            rings=ring_offsets[rings] - np.repeat(ring_offsets[ring_first], ring_sizes),
            ring_start=ring_start,
            polygons=polygon_offsets[polygons] - np.repeat(ring_first, polygon_sizes),
            polygon_start=polygon_start,
        )


def _ranges(first: IndexArray, sizes: IndexArray) -> tuple[IndexArray, IndexArray]:
    """The indices ``first[j] .. first[j] + sizes[j] - 1`` of all ``j`` in one array.

    Also returns where each range starts in it.
    """
    starts = np.zeros(sizes.size, dtype=np.int64)
    np.cumsum(sizes[:-1], out=starts[1:])
    total = int(starts[-1] + sizes[-1]) if sizes.size else 0
    indices = np.arange(total, dtype=np.int64) + np.repeat(first - starts, sizes)
    return indices, starts


def _parse_numbers(texts: list[str]) -> tuple[Float64Array, IndexArray]:
    """All numbers of ``texts`` in one array, and the count per text (-1: not numbers).

    Plain decimals (all real coordinate text seen so far) are converted exactly by
    :func:`~citymodel.converters._decimal_text.parse_plain_decimals`. Other text is joined with
    a ``nan`` separator and parsed by one ``strtod``-based C call; the separators give the
    boundaries. When a text holds ``nan`` itself or something that is not a number, each text
    is parsed on its own instead.
    """
    plain = parse_plain_decimals(texts)
    if plain is not None:
        return plain
    n = len(texts)
    joined = " nan ".join(texts)
    if not joined or joined.isspace():  # numpy parses an all-blank string as [-1.0]
        return np.zeros(0, dtype=np.float64), np.zeros(n, dtype=np.int64)
    values = _fromstring(joined)
    if values is not None:
        sep = np.isnan(values)
        where = np.flatnonzero(sep)
        if where.size == n - 1:
            bounds = np.empty(n + 1, dtype=np.int64)
            bounds[0] = -1
            bounds[1:-1] = where
            bounds[-1] = values.size
            return values[~sep], np.diff(bounds) - 1
    parts: list[Float64Array] = []
    counts = np.zeros(n, dtype=np.int64)
    for i, text in enumerate(texts):
        if not text or text.isspace():
            continue
        arr = _fromstring(text)
        if arr is None:
            counts[i] = -1
        else:
            counts[i] = arr.size
            parts.append(arr)
    return (np.concatenate(parts) if parts else np.zeros(0, dtype=np.float64)), counts


def _fromstring(text: str) -> Float64Array | None:
    """Parse whitespace-separated numbers; None when the text is not only numbers."""
    # numpy raises ValueError on malformed text; older versions warned (DeprecationWarning)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        try:
            return np.fromstring(text, dtype=np.float64, sep=" ")
        except (ValueError, DeprecationWarning):
            return None
