"""LAS/LAZ/COPC point clouds: a chunked, seekable reader and the ``las`` format plug-in.

:func:`open_point_cloud` checks the file before laspy reads it
(:mod:`~citymodel.converters._las_header`: a garbage VLR count, a truncated file or a missing
chunk table become clear errors instead of hangs or short reads), reads its CRS from WKT records
or GeoTIFF keys (:mod:`~citymodel.converters._las_crs`, LAS-1) and streams points as
:class:`~citymodel.model.PointChunk` batches in the file's CRS (LAS-2, LAS-3).

``read(start, stop)`` seeks (uncompressed: by byte offset; LAZ and COPC: through the LASzip
chunk table), so several processes can decode disjoint ranges of one file at the same time.
LAZ is decoded with lazrs; by default one thread per reader (:data:`DEFAULT_PARALLEL_DECODE`):
with one reader per core, as the tiler runs them, lazrs' thread pool only adds threads
(measured with ``bench/bench_lidar.py``, 3 M points, two processes decoding halves at once on
2 cores: 1.24 M points/s single-threaded and with the pool alike; 1.10 vs 1.04 in a run under
heavier load). A lone reader (the ``las`` plug-in behind ``info``) uses the pool.

Examples
--------
>>> from citymodel.converters.las import open_point_cloud
>>> with open_point_cloud("tile.laz") as cloud:  # doctest: +SKIP
...     crs = cloud.crs(in_crs=None)
...     for chunk in cloud.read(0, cloud.point_count // 2, classes={2, 6}):
...         print(len(chunk), chunk.xyz[:, 2].max())
"""

from __future__ import annotations

import logging
import math
import os
import warnings
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Final, Literal

import numpy as np
import numpy.typing as npt

from citymodel.converters._las_crs import FileCRS, plausibility, read_file_crs
from citymodel.converters._las_header import (
    LASZIP_RECORD_ID,
    LASZIP_USER_ID,
    LasLayout,
    PatchedFile,
    inspect_las,
    is_las,
)
from citymodel.converters._las_laz import LazChunks, decode_range, read_chunk_table
from citymodel.converters._las_points import (
    COLOR_FORMATS,
    ColorDepth,
    class_filter,
    classification_of,
    color_depth_from_sample,
    selection_for,
    to_point_chunk,
)
from citymodel.converters._streaming_reader import StreamingReader
from citymodel.crs import ResolvedCRS, resolve_crs, with_default_vertical
from citymodel.crs.resolved import crs_label
from citymodel.errors import CRSError, CRSWarning, InputError, UnsupportedFormatError
from citymodel.formats import FormatPlugin
from citymodel.model import DatasetMetadata, Feature, PointChunk
from citymodel.report import JobReport

if TYPE_CHECKING:  # laspy (and requests, which it imports) only once a LAS file is read
    import laspy
    from laspy import DecompressionSelection

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_PARALLEL_DECODE",
    "LAS_FORMAT",
    "LasFormat",
    "PointCloudReader",
    "PointCloudStats",
    "compare_bounds",
    "open_point_cloud",
]

log = logging.getLogger(__name__)

Bounds = tuple[float, float, float, float, float, float]
"""``(xmin, ymin, zmin, xmax, ymax, zmax)`` in the file's CRS units."""

DEFAULT_CHUNK_SIZE: Final = 1_000_000
DEFAULT_PARALLEL_DECODE: Final = False
"""lazrs' multi-threaded decoder per reader; off: see the module docstring."""

_COLOR_SAMPLE = 65_536
_STANDARD_DIMENSIONS = frozenset(
    {
        "X",
        "Y",
        "Z",
        "x",
        "y",
        "z",
        "intensity",
        "return_number",
        "number_of_returns",
        "classification",
        "raw_classification",
        "classification_flags",
        "bit_fields",
        "red",
        "green",
        "blue",
    }
)
_EXAMPLE_IN_CRS = "--in-crs EPSG:25832+7837 for ETRS89 / UTM 32N with DHHN2016 heights"

# Per process, by (resolved path, size, mtime): what every reader of a file would find again.
_FileKey = tuple[str, int, int]
_COLOR_DEPTHS: dict[_FileKey, ColorDepth | None] = {}
_CHUNK_TABLES: dict[_FileKey, LazChunks] = {}
_CACHE_ENTRIES = 256


def _remember(cache: dict[_FileKey, Any], key: _FileKey, value: Any) -> None:
    if len(cache) >= _CACHE_ENTRIES:
        cache.pop(next(iter(cache)))
    cache[key] = value


@dataclass(frozen=True, slots=True)
class PointCloudStats:
    """What one pass over the points found.

    Attributes
    ----------
    point_count
        Points read.
    bounds
        Tight ``(xmin, ymin, zmin, xmax, ymax, zmax)`` of the points (file CRS units), None
        for an empty file.
    classes
        Points per classification code, codes ascending.
    """

    point_count: int
    bounds: Bounds | None
    classes: dict[int, int]


def compare_bounds(
    header: Bounds, points: Bounds, scales: tuple[float, float, float]
) -> str | None:
    """Describe how header bounds differ from the bounds of the points; None when they match.

    Header bounds are *tight* when every side is within one scale unit of the points'
    bounds. Header bounds are written by the producer and often describe an octree cube or a
    tile instead of the data (``nrw_potree_root``: z max 1,008 m over points up to 88 m);
    never tile by them.
    """
    axes = "xyz"
    outside = [
        f"{axes[i]} {points[i]:,.3f}..{points[i + 3]:,.3f} beyond {header[i]:,.3f}..{header[i + 3]:,.3f}"
        for i in range(3)
        if points[i] < header[i] - scales[i] or points[i + 3] > header[i + 3] + scales[i]
    ]
    if outside:
        return f"points lie outside the header bounds ({'; '.join(outside)})"
    loose = [
        f"{axes[i]} {header[i]:,.3f}..{header[i + 3]:,.3f} for points in "
        f"{points[i]:,.3f}..{points[i + 3]:,.3f}"
        for i in range(3)
        if points[i] - header[i] > scales[i] or header[i + 3] - points[i + 3] > scales[i]
    ]
    if loose:
        return f"header bounds are not tight ({'; '.join(loose)})"
    return None


class PointCloudReader(StreamingReader):
    """A LAS/LAZ/COPC file, read in chunks; a context manager.

    Opening reads and checks the header and the variable length records only. Use
    :func:`open_point_cloud` to create one.

    Parameters
    ----------
    path
        The ``.las``, ``.laz`` or ``.copc.laz`` file.
    in_crs
        CRS overriding the file's (the default of :meth:`crs` and of :meth:`metadata`).
    color_depth
        ``"auto"`` (decide from a sample of the file), ``8`` or ``16``: the bit depth of the
        values in the 16-bit colour fields.
    parallel_decode
        Decode LAZ with lazrs' thread pool (fastest for a single reader) instead of one
        thread (fastest when one reader per core runs).

    Raises
    ------
    InputError
        No such file, or a header that contradicts the file (see :func:`inspect_las`).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        in_crs: str | None = None,
        color_depth: Literal["auto", 8, 16] = "auto",
        parallel_decode: bool = DEFAULT_PARALLEL_DECODE,
    ) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise InputError(
                "no such file" if not self.path.exists() else "not a file", path=self.path
            )
        if color_depth not in ("auto", 8, 16):
            raise ValueError(f"color_depth must be 'auto', 8 or 16, got {color_depth!r}")
        self.layout: LasLayout = inspect_las(self.path)
        self.in_crs = in_crs
        self.parallel_decode = parallel_decode
        self._color_setting = color_depth
        self._color_depth: ColorDepth | Literal["unknown"] | None = "unknown"
        self._header: laspy.LasHeader | None = None
        self._chunk_index: LazChunks | None = None
        self._file_crs: FileCRS | None = None
        self._stats: PointCloudStats | None = None
        self._metadata: DatasetMetadata | None = None

    def __repr__(self) -> str:
        return f"PointCloudReader({str(self.path)!r})"

    def __getstate__(self) -> dict[str, Any]:
        """Pickle the path and options only (a worker re-opens and re-checks the file)."""
        return {
            "path": self.path,
            "in_crs": self.in_crs,
            "color_depth": self._color_setting,
            "parallel_decode": self.parallel_decode,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(  # type: ignore[misc]
            state["path"],
            in_crs=state["in_crs"],
            color_depth=state["color_depth"],
            parallel_decode=state["parallel_decode"],
        )

    # -- header facts -------------------------------------------------------------------------

    @property
    def point_count(self) -> int:
        """Number of points the header announces (checked against the file size for LAS)."""
        return self.layout.point_count

    @property
    def format_name(self) -> str:
        """``"LAS"``, ``"LAZ"`` or ``"COPC"``."""
        if self.layout.copc:
            return "COPC"
        return "LAZ" if self.layout.compressed else "LAS"

    @property
    def version(self) -> str:
        """LAS version, ``"1.4"``."""
        return self.layout.version_text

    @property
    def point_format(self) -> int:
        """Point data record format 0-10."""
        return self.layout.point_format

    @property
    def warnings(self) -> tuple[str, ...]:
        """Header problems found and worked around, each naming the file."""
        return tuple(f"{self.path}: {w}" for w in self.layout.warnings)

    def header_bounds(self) -> Bounds:
        """Bounds from the header, ``(xmin, ymin, zmin, xmax, ymax, zmax)``, file CRS units.

        As written by the producer: often not tight, sometimes wrong (see
        :func:`compare_bounds`); never a substitute for the points' own bounds.
        """
        lo, hi = self.layout.mins, self.layout.maxs
        return (lo[0], lo[1], lo[2], hi[0], hi[1], hi[2])

    def _laspy_header(self) -> laspy.LasHeader:
        from laspy import DecompressionSelection

        if self._header is None:
            with self._laspy_reader(DecompressionSelection.base()) as reader:
                self._header = reader.header
        return self._header

    def extra_dimensions(self) -> tuple[str, ...]:
        """Names of the ExtraBytes dimensions (LAS-2), in record order."""
        return tuple(self._laspy_header().point_format.extra_dimension_names)

    def dimensions(self) -> tuple[str, ...]:
        """Every dimension ``read(extra_dims=...)`` accepts.

        The ExtraBytes dimensions and the standard LAS fields not already in
        :data:`~citymodel.model.POINT_ATTRIBUTES` (``gps_time``, ``scan_angle``,
        ``user_data``, ``point_source_id``, flags ...).
        """
        names = self._laspy_header().point_format.dimension_names
        return tuple(n for n in names if n not in _STANDARD_DIMENSIONS)

    @property
    def has_color(self) -> bool:
        """True when the point format has red/green/blue fields."""
        return self.point_format in COLOR_FORMATS

    def color_depth(self) -> ColorDepth | None:
        """Bit depth of the stored colour values: 16, 8, or None.

        8 means 8-bit values stored in the 16-bit fields; None: no colour fields, or all zero.

        ``"auto"`` decides from up to 3 × 65,536 points at fixed places of the file (start,
        middle, end), so every process reading a part of the file decides the same (LAS-2).
        The answer is kept per process and file (path, size, modification time): readers of
        further ranges of the file do not sample again.
        """
        if self._color_depth == "unknown":
            if not self.has_color:
                self._color_depth = None
            elif self._color_setting != "auto":
                self._color_depth = self._color_setting
            else:
                key = self._file_key()
                if key not in _COLOR_DEPTHS:
                    _remember(_COLOR_DEPTHS, key, self._sample_color_depth())
                self._color_depth = _COLOR_DEPTHS[key]
        return self._color_depth

    def _file_key(self) -> tuple[str, int, int]:
        stat = self.path.stat()
        return (str(self.path.resolve()), stat.st_size, stat.st_mtime_ns)

    def _sample_color_depth(self) -> ColorDepth | None:
        n = self.point_count
        if n == 0:
            return 16
        size = min(n, _COLOR_SAMPLE)
        starts = sorted({0, max(0, n // 2 - size // 2), n - size})
        from laspy import DecompressionSelection

        selection = DecompressionSelection.base() | DecompressionSelection.RGB
        depths = set()
        for start in starts:
            for record in self._records(start, start + size, size, selection):
                depths.add(color_depth_from_sample(record.array))
        if 16 in depths:
            return 16
        if 8 in depths:
            log.info("%s: colours are 8-bit values stored in 16-bit fields", self.path)
            return 8
        log.info("%s: all colour values are 0; colours are not used", self.path)
        return None

    # -- CRS ------------------------------------------------------------------------------------

    def file_crs(self) -> FileCRS:
        """The CRS stored in the file, where it came from, and notes (LAS-1)."""
        if self._file_crs is None:
            self._file_crs = read_file_crs(self.layout)
        return self._file_crs

    @property
    def srs_name(self) -> str | None:
        """Label of the CRS stored in the file (``"EPSG:2903+6360"`` or its name), or None."""
        found = self.file_crs().crs
        return crs_label(found.to_crs()) if found is not None else None

    def _source_crs(self, in_crs: str | None) -> tuple[ResolvedCRS, list[str], list[str]]:
        """(CRS without defaults, notes about the CRS, notes about this file); raises CRSError.

        The CRS notes are the same for every file with these records (reports keep one copy);
        the file notes name the file.
        """
        found = self.file_crs()
        notes = [] if in_crs is not None else list(found.notes)
        if in_crs is not None:
            resolved = resolve_crs(in_crs)
            if found.crs is not None and crs_label(found.crs.to_crs()) != crs_label(
                resolved.to_crs()
            ):
                notes.append(
                    f"--in-crs {in_crs} overrides the file's CRS {crs_label(found.crs.to_crs())}"
                )
            what = f"--in-crs {in_crs}"
        elif found.crs is not None:
            resolved = found.crs
            what = f"the file's CRS ({found.record})"
        elif found.problem:
            raise CRSError(
                f"{self.path}: the CRS records of the file cannot be used: {found.problem}; "
                f"give the CRS with --in-crs (e.g. {_EXAMPLE_IN_CRS})"
            )
        else:
            raise CRSError(
                f"{self.path}: no CRS in the file (neither GeoTIFF keys nor a WKT record); give "
                f"it with --in-crs (e.g. {_EXAMPLE_IN_CRS})"
            )
        warning = None
        file_notes: list[str] = []
        if self.point_count:
            error, warning = plausibility(resolved, self.layout.mins, self.layout.maxs)
            if error:
                # Header bounds are written by the producer and may be wrong: ask the points.
                lo, hi = self._sample_bounds()
                error, warning = plausibility(resolved, lo, hi)
                if error is None:
                    file_notes.append(
                        f"{self.path}: the header bounds do not fit the CRS, but the points do; "
                        "the header bounds are wrong"
                    )
            if error:
                fix = (
                    "check --in-crs"
                    if in_crs is not None
                    else f"give the real CRS with --in-crs (e.g. {_EXAMPLE_IN_CRS})"
                )
                raise CRSError(f"{self.path}: {what}: {error}; {fix}")
        if warning:
            file_notes.append(f"{self.path}: {warning}")
        return resolved, notes, file_notes

    def _sample_bounds(
        self,
    ) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
        """Bounds of the first points of the file (at most one LAZ chunk is decoded)."""
        n = min(self.point_count, _COLOR_SAMPLE)
        selection = selection_for((), (), attributes=False)
        lo = np.full(3, np.inf)
        hi = np.full(3, -np.inf)
        for record in self._records(0, n, n, selection):
            xyz = np.stack([record.x, record.y, record.z], axis=1)
            lo, hi = np.minimum(lo, xyz.min(axis=0)), np.maximum(hi, xyz.max(axis=0))
        return (float(lo[0]), float(lo[1]), float(lo[2])), (
            float(hi[0]),
            float(hi[1]),
            float(hi[2]),
        )

    def crs(self, *, in_crs: str | None = None, report: JobReport | None = None) -> ResolvedCRS:
        """The CRS of the points, with the default vertical CRS where GEO-5 gives one.

        Parameters
        ----------
        in_crs
            A CRS that wins over the file's (``--in-crs``); default: the reader's ``in_crs``.
        report
            Receives the notes: records ignored, unit overrides, an assumed vertical CRS
            (GEO-5), data far outside the CRS's area of use. Without one they are logged.

        Returns
        -------
        ResolvedCRS
            Horizontal and vertical parts; ``assumed_vertical`` tells whether the vertical CRS
            is a default. Coordinates stay in the CRS's units (US feet, degrees ...): the
            :class:`~citymodel.crs.Georeferencer` converts them.

        Raises
        ------
        CRSError
            No CRS in the file and no ``in_crs`` ("give --in-crs"), CRS records that do not
            resolve, or coordinates that cannot be in the CRS (a geographic CRS for
            coordinates that are no degrees, a geocentric CRS for points far from the Earth's
            surface).
        """
        chosen = in_crs if in_crs is not None else self.in_crs
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", CRSWarning)
            resolved, notes, file_notes = self._source_crs(chosen)
        completed = with_default_vertical(resolved)
        messages = [str(w.message) for w in caught if issubclass(w.category, CRSWarning)]
        for w in caught:
            if not issubclass(w.category, CRSWarning):
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        messages += [f"{resolved.source}: {note}" for note in notes]
        messages.extend(file_notes)
        if completed.assumed_vertical:
            messages.append(
                f"{resolved.source} has no vertical CRS; heights taken as "
                f"{completed.vertical_code} (GEO-5; override with --in-crs)"
            )
        for message in messages:
            if report is not None:
                report.warn(message)
            else:
                log.warning(message)
        return completed

    # -- points ---------------------------------------------------------------------------------

    def _open_stream(self) -> BinaryIO:
        if self.layout.patches:
            return PatchedFile(self.path, self.layout.patches)  # type: ignore[return-value]
        return self.path.open("rb")

    @contextmanager
    def _laspy_reader(self, selection: DecompressionSelection) -> Iterator[laspy.LasReader]:
        import laspy
        from laspy import LazBackend
        from laspy.errors import LaspyException

        backend = LazBackend.LazrsParallel if self.parallel_decode else LazBackend.Lazrs
        stream = self._open_stream()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                reader = laspy.LasReader(
                    stream,
                    closefd=True,
                    laz_backend=backend,
                    read_evlrs=False,
                    decompression_selection=selection,
                )
        except (LaspyException, ValueError, OSError, EOFError) as err:
            stream.close()
            raise InputError(f"laspy cannot read the header: {err}", path=self.path) from err
        try:
            yield reader
        finally:
            reader.close()

    def _records(
        self, start: int, stop: int, chunk_size: int, selection: DecompressionSelection
    ) -> Iterator[Any]:
        """laspy ScaleAwarePointRecords of points ``start``..``stop``, <= ``chunk_size`` each."""
        from laspy.errors import LaspyException

        if start >= stop:
            return
        if self.layout.compressed:
            yield from self._laz_records(start, stop, chunk_size, selection)
            return
        with self._laspy_reader(selection) as reader:
            position = start
            try:
                if start:
                    reader.seek(start)
                while position < stop:
                    n = min(chunk_size, stop - position)
                    record = reader.read_points(n)
                    if len(record) != n:
                        raise InputError(
                            f"only {position + len(record):,} of {self.point_count:,} points "
                            "could be read; the file is truncated: copy or download it again",
                            path=self.path,
                        )
                    yield record
                    position += n
            except (LaspyException, ValueError, OSError) as err:
                raise InputError(
                    f"cannot read points {position:,}..{min(stop, position + chunk_size):,}: "
                    f"{err}; the file is damaged: copy or download it again",
                    path=self.path,
                ) from err

    def _chunk_table(self) -> LazChunks:
        """The LAZ chunk table, read once per process and file (see :meth:`color_depth`)."""
        if self._chunk_index is None:
            key = self._file_key()
            cached = _CHUNK_TABLES.get(key)
            if cached is None:
                laszip = self.layout.find(LASZIP_USER_ID, LASZIP_RECORD_ID)
                cached = read_chunk_table(
                    self.path,
                    offset_to_point_data=self.layout.offset_to_point_data,
                    point_count=self.point_count,
                    laszip_vlr=laszip[0].payload,
                )
                _remember(_CHUNK_TABLES, key, cached)
            self._chunk_index = cached
        return self._chunk_index

    def _laz_records(
        self, start: int, stop: int, chunk_size: int, selection: DecompressionSelection
    ) -> Iterator[Any]:
        import laspy
        from laspy import DecompressionSelection

        point_format = self._laspy_header().point_format
        layout = self.layout
        # Formats 0-5 have a single compressed layer: a selection does not apply.
        chosen = selection if layout.point_format >= 6 else DecompressionSelection.all()
        for _first, data in decode_range(
            self.path,
            self._chunk_table(),
            start,
            stop,
            batch=chunk_size,
            selection=chosen.to_lazrs(),
            parallel=self.parallel_decode,
        ):
            packed = laspy.PackedPointRecord.from_buffer(data, point_format)
            array = packed.array
            for lo in range(0, len(array), chunk_size):
                yield laspy.ScaleAwarePointRecord(
                    array[lo : lo + chunk_size],
                    point_format,
                    np.asarray(layout.scales),
                    np.asarray(layout.offsets),
                )

    def _check_range(self, start: int, stop: int | None, chunk_size: int) -> int:
        end = self.point_count if stop is None else stop
        if not 0 <= start <= end <= self.point_count:
            raise ValueError(
                f"point range {start}..{end} is not within 0..{self.point_count} ({self.path})"
            )
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        return end

    def read(
        self,
        start: int = 0,
        stop: int | None = None,
        *,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        classes: Collection[int] | None = None,
        extra_dims: Collection[str] = (),
    ) -> Iterator[PointChunk]:
        """Stream points ``start``..``stop`` (record order) as :class:`PointChunk` batches.

        Parameters
        ----------
        start, stop
            Record range; ``stop`` None = to the end. The reader seeks to ``start`` (LAZ and
            COPC through the chunk table), so processes can read disjoint ranges in parallel.
        chunk_size
            Records decoded per batch (a batch holds fewer points after class filtering).
        classes
            Keep only these classification codes; None keeps all.
        extra_dims
            Further per-point arrays to include, by name: ExtraBytes dimensions and standard
            fields such as ``gps_time`` (see :meth:`dimensions`), with the dtype stored
            (scaled ExtraBytes as float64).

        Yields
        ------
        PointChunk
            ``xyz`` float64 in the file's CRS units, ``classification``, ``intensity``,
            ``return_number``, ``number_of_returns``, ``color`` (8-bit sRGB, formats with
            colours), and the ``extra_dims``. Empty batches (everything filtered) are skipped.

        Raises
        ------
        ValueError
            A range outside ``0..point_count``, ``chunk_size < 1``, or class codes outside
            0..255 (raised at once).
        InputError
            An unknown extra dimension (at once); undecodable or missing point data (while
            reading).
        """
        end = self._check_range(start, stop, chunk_size)
        table = class_filter(classes)
        wanted = tuple(dict.fromkeys(extra_dims))
        if wanted:
            available = self.dimensions()
            unknown = [name for name in wanted if name not in available]
            if unknown:
                raise InputError(
                    f"no dimension {', '.join(map(repr, unknown))} in the file; available: "
                    f"{', '.join(available) or 'none'}",
                    path=self.path,
                )
        depth = self.color_depth()
        selection = selection_for(wanted, self.extra_dimensions())
        return self._chunks(start, end, chunk_size, table, wanted, depth, selection)

    def _chunks(
        self,
        start: int,
        stop: int,
        chunk_size: int,
        table: npt.NDArray[np.bool_] | None,
        wanted: tuple[str, ...],
        depth: ColorDepth | None,
        selection: DecompressionSelection,
    ) -> Iterator[PointChunk]:
        layout = self.layout
        for record in self._records(start, stop, chunk_size, selection):
            raw = record.array
            classification = classification_of(raw, layout.point_format)
            keep: npt.NDArray[np.bool_] | None = None
            if table is not None:
                keep = table[classification]
                if not keep.any():
                    continue
                if keep.all():
                    keep = None
                else:
                    raw = raw[keep]
                    classification = classification[keep]
            extra: dict[str, npt.NDArray[np.generic]] = {}
            for name in wanted:
                values = np.asarray(record[name])
                extra[name] = values[keep] if keep is not None else values.copy()
            yield to_point_chunk(
                raw,
                point_format=layout.point_format,
                scales=layout.scales,
                offsets=layout.offsets,
                color_depth=depth,
                extra=extra,
                classification=classification,
            )

    def scan(self, *, chunk_size: int = DEFAULT_CHUNK_SIZE) -> PointCloudStats:
        """One pass over all points: tight bounds and points per class (cached).

        Decodes positions and classes only (LAZ point formats 6-10 skip the other layers).
        """
        if self._stats is not None:
            return self._stats
        lo = np.full(3, np.iinfo(np.int64).max, dtype=np.int64)
        hi = np.full(3, np.iinfo(np.int64).min, dtype=np.int64)
        counts = np.zeros(256, dtype=np.int64)
        selection = selection_for((), (), attributes=False)
        n = 0
        for record in self._records(0, self.point_count, chunk_size, selection):
            raw = record.array
            for i, name in enumerate(("X", "Y", "Z")):
                column = raw[name]
                lo[i] = min(lo[i], int(column.min()))
                hi[i] = max(hi[i], int(column.max()))
            counts += np.bincount(classification_of(raw, self.point_format), minlength=256)
            n += len(raw)
        bounds: Bounds | None = None
        if n:
            s, o = self.layout.scales, self.layout.offsets
            a = [float(lo[i] * s[i] + o[i]) for i in range(3)]
            b = [float(hi[i] * s[i] + o[i]) for i in range(3)]
            bounds = (
                min(a[0], b[0]),
                min(a[1], b[1]),
                min(a[2], b[2]),
                max(a[0], b[0]),
                max(a[1], b[1]),
                max(a[2], b[2]),
            )
        classes = {int(c): int(counts[c]) for c in np.flatnonzero(counts)}
        self._stats = PointCloudStats(point_count=n, bounds=bounds, classes=classes)
        return self._stats

    # -- FeatureReader protocol -------------------------------------------------------------

    def metadata(self) -> DatasetMetadata:
        """Format, version, CRS, tight extent, point count and per-class counts (cached).

        Scans all points once (see :meth:`scan`). ``details`` holds the point-cloud facts
        (point format, scale/offset, extra dimensions, colour depth, classes, header bounds
        and whether they are tight, where the CRS came from); ``notes`` the problems found.
        """
        if self._metadata is not None:
            return self._metadata
        layout = self.layout
        stats = self.scan()
        notes = list(self.warnings)
        horizontal = vertical = None
        found = self.file_crs()
        assumed_vertical = None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", CRSWarning)
                resolved, crs_notes, file_notes = self._source_crs(self.in_crs)
            horizontal, vertical = resolved.horizontal_code, resolved.vertical_code
            horizontal = horizontal or (resolved.horizontal.name if resolved.horizontal else None)
            vertical = vertical or (resolved.vertical.name if resolved.vertical else None)
            notes.extend(crs_notes)
            notes.extend(file_notes)
            completed = with_default_vertical(resolved)
            if completed.assumed_vertical:
                assumed_vertical = completed.vertical_code
        except CRSError as err:
            notes.append(str(err))
        header = self.header_bounds()
        bounds_note = compare_bounds(header, stats.bounds, layout.scales) if stats.bounds else None
        if bounds_note:
            notes.append(f"{self.path}: {bounds_note}")
        if stats.point_count == 0:
            notes.append(f"{self.path}: the file holds no points")
        depth = self.color_depth()
        color = None
        if self.has_color:
            color = {16: "16-bit", 8: "8-bit values in 16-bit fields"}.get(depth or 0, "all zero")
        details: dict[str, object] = {
            "point_format": layout.point_format,
            "point_record_length": layout.record_length,
            "point_count": layout.point_count,
            "compressed": layout.compressed,
            "copc": layout.copc,
            "scale": list(layout.scales),
            "offset": list(layout.offsets),
            "extra_dimensions": list(self.extra_dimensions()),
            "color": color,
            "classes": {str(k): v for k, v in stats.classes.items()},
            "header_bounds": list(header) if all(map(math.isfinite, header)) else None,
            "header_bounds_tight": bounds_note is None if stats.bounds else None,
            "crs_record": found.record,
            "vertical_crs_assumed": assumed_vertical,
            "generating_software": layout.generating_software or None,
        }
        self._metadata = DatasetMetadata(
            path=str(self.path),
            format=self.format_name,
            version=self.version,
            srs_name=self.srs_name,
            horizontal_crs=horizontal,
            vertical_crs=vertical,
            extent=stats.bounds,
            counts={"points": stats.point_count},
            details=details,
            notes=tuple(dict.fromkeys(notes)),
        )
        return self._metadata

    def features(
        self, *, report: JobReport | None = None, types: Collection[str] | None = None
    ) -> Iterator[Feature]:
        """Point clouds have no city objects: always raises.

        Raises
        ------
        UnsupportedFormatError
            Saying to tile the file (``citymodel tile``) or to read its points with
            :func:`open_point_cloud`.
        """
        raise UnsupportedFormatError(
            f"is a point cloud ({self.format_name}), not a city model with objects to convert; "
            "tile it with `citymodel tile`, or read its points with "
            "citymodel.converters.las.open_point_cloud()",
            path=self.path,
        )


def open_point_cloud(
    path: str | os.PathLike[str],
    *,
    in_crs: str | None = None,
    color_depth: Literal["auto", 8, 16] = "auto",
    parallel_decode: bool = DEFAULT_PARALLEL_DECODE,
) -> PointCloudReader:
    """Open a LAS/LAZ/COPC file for chunked reading (see :class:`PointCloudReader`).

    Raises
    ------
    InputError
        No such file, or a header that contradicts the file (truncated, impossible counts).
    UnsupportedFormatError
        Not a LAS file, or LAS 2.x.
    """
    return PointCloudReader(
        path, in_crs=in_crs, color_depth=color_depth, parallel_decode=parallel_decode
    )


class LasFormat:
    """The ``citymodel.formats`` entry point of LAS/LAZ/COPC (see :mod:`citymodel.formats`).

    ``kind`` is ``"points"``: its readers stream points (:meth:`PointCloudReader.read`), not
    features.
    """

    name: str = "las"
    suffixes: tuple[str, ...] = (".las", ".laz", ".copc.laz")
    kind: str = "points"

    def sniff(self, path: Path) -> bool:
        """True when ``path`` starts with the LAS signature ``LASF`` (LAS, LAZ, COPC)."""
        return is_las(path)

    def open(self, path: Path, **options: Any) -> PointCloudReader:
        """Open ``path``; options: ``in_crs``, ``color_depth``, ``parallel_decode``."""
        options.setdefault("parallel_decode", True)  # a lone reader: info, scans
        return PointCloudReader(path, **options)


LAS_FORMAT: Final[FormatPlugin] = LasFormat()
"""The LAS/LAZ/COPC format plug-in (entry point ``citymodel.formats: las``)."""
