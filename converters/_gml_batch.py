"""Batched conversion of collected ring text into :class:`~citymodel.model.SurfaceGeometry`.

The coordinate text of many buildings (:class:`~citymodel.converters._gml.SurfaceSink`
objects) is parsed by **one** numpy call; closing points, orientation, validation and the
per-feature slicing are vectorised offset arithmetic (performance.md).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from citymodel._typing import BoolArray, Float64Array, IndexArray
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
    """Collects :class:`SurfaceSink` objects and converts them together (one numpy parse)."""

    def __init__(self) -> None:
        self._sinks: list[SurfaceSink] = []
        self.text_chars = 0
        """Characters of coordinate text queued so far (to decide when to build)."""

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
        for s, begin in zip(sinks, sink_poly_end - [s.polygon_count for s in sinks], strict=True):
            if s.flipped:
                flipped[np.asarray(s.flipped, dtype=np.int64) + begin] = True
        vertices, ring_offsets = rings.gather(poly_ok, flipped)
        if swap_xy:
            vertices = vertices[:, [1, 0, 2]]
        kept_ring_counts = rings.ring_counts[poly_ok]
        polygon_offsets = np.zeros(kept_ring_counts.size + 1, dtype=np.int64)
        np.cumsum(kept_ring_counts, out=polygon_offsets[1:])
        types = np.fromiter((t for s in sinks for t in s.types), np.uint8, rings.n_polys)[poly_ok]
        kept_before = np.zeros(rings.n_polys + 1, dtype=np.int64)
        np.cumsum(poly_ok, out=kept_before[1:])
        out: list[SurfaceGeometry | None] = []
        kept = kept_before.tolist()  # Python ints: cheaper slicing than numpy scalars
        poly_off = polygon_offsets.tolist()
        ring_off = ring_offsets.tolist()
        p_begin = 0
        for s, p_end in zip(sinks, sink_poly_end.tolist(), strict=True):
            k0, k1 = kept[p_begin], kept[p_end]
            p_begin = p_end
            if k1 == k0:
                out.append(None)
                continue
            r0, r1 = poly_off[k0], poly_off[k1]
            v0 = ring_off[r0]
            out.append(
                SurfaceGeometry(
                    lod=s.lod,
                    vertices=vertices[v0 : ring_off[r1]],
                    ring_offsets=ring_offsets[r0 : r1 + 1] - v0,
                    polygon_offsets=polygon_offsets[k0 : k1 + 1] - r0,
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
        texts = [t for s in sinks for t in s.texts]
        n_rings = len(texts)
        dims = np.fromiter((d for s in sinks for d in s.dims), np.int64, n_rings)
        ring_counts = np.fromiter(
            (c for s in sinks for c in s.ring_counts),
            np.int64,
            sum(s.polygon_count for s in sinks),
        )
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


def _parse_numbers(texts: list[str]) -> tuple[Float64Array, IndexArray]:
    """All numbers of ``texts`` in one array, and the count per text (-1: not numbers).

    The texts are joined with a ``nan`` separator and parsed by one C call; the separators
    give the boundaries. When a text holds ``nan`` itself or something that is not a number,
    each text is parsed on its own instead.
    """
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
