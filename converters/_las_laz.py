"""LAZ point ranges decoded chunk by chunk through the LASzip chunk table (LAS-3).

A LAZ file is a sequence of independently compressed chunks; the chunk table at the end of the
point data lists each chunk's point count and byte size. :func:`read_chunk_table` reads it
once, :func:`decode_range` decodes the chunks overlapping a point range directly from their
byte offsets and trims the first and last one. This is how two processes decode disjoint
ranges of one file, and it works for variable-size chunks (COPC, one chunk per octree node),
where lazrs' own ``seek`` (lazrs 0.8) silently returns points from the wrong chunk.

Decoding uses ``lazrs.decompress_points_with_chunk_table``: one call per chunk runs on one
thread (the tiler runs one reader per core); one call per group of chunks decodes them on
lazrs' thread pool (a lone reader).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import lazrs
import numpy as np
import numpy.typing as npt

from citymodel.errors import InputError

__all__ = ["LazChunks", "decode_range", "read_chunk_table"]


@dataclass(frozen=True, slots=True)
class LazChunks:
    """The chunk table of a LAZ file.

    Attributes
    ----------
    laszip_vlr
        Payload of the LASzip record (``laszip encoded``/22204).
    item_size
        Bytes per decompressed point record.
    table
        ``(point count, byte size)`` per chunk, as lazrs expects it.
    first_point
        Index of each chunk's first point; one more entry: the total.
    first_byte
        File offset of each chunk's compressed data.
    """

    laszip_vlr: bytes
    item_size: int
    table: list[tuple[int, int]]
    first_point: npt.NDArray[np.int64]
    first_byte: npt.NDArray[np.int64]


def read_chunk_table(
    path: Path, *, offset_to_point_data: int, point_count: int, laszip_vlr: bytes
) -> LazChunks:
    """Read and check the chunk table of a LAZ file.

    Raises
    ------
    InputError
        A chunk table that cannot be read or does not match the header (truncated or damaged
        file).
    """
    try:
        vlr = lazrs.LazVlr(laszip_vlr)
        with path.open("rb") as f:
            f.seek(offset_to_point_data)
            raw_table = lazrs.read_chunk_table(f, vlr)
    except (lazrs.LazrsError, OSError, ValueError) as err:
        raise InputError(
            f"cannot read the LAZ chunk table ({err}); the file is damaged or truncated: copy "
            "or download it again",
            path=path,
        ) from err
    counts = np.array([c for c, _ in raw_table], dtype=np.int64)
    sizes = np.array([s for _, s in raw_table], dtype=np.int64)
    if not vlr.uses_variable_size_chunks() and len(counts):
        # Fixed-size chunks: the table repeats the chunk size; the last chunk holds the rest.
        counts[-1] = point_count - int(counts[:-1].sum())
    first_point = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    first_byte = (offset_to_point_data + 8 + np.concatenate([[0], np.cumsum(sizes)])).astype(
        np.int64
    )
    size = path.stat().st_size
    if first_point[-1] != point_count or (counts < 0).any() or first_byte[-1] > size:
        raise InputError(
            f"the LAZ chunk table ({len(counts)} chunks, {int(first_point[-1]):,} points, "
            f"{int(first_byte[-1]):,} bytes) does not match the header ({point_count:,} points) "
            f"and file ({size:,} bytes); the file is damaged: copy or download it again",
            path=path,
        )
    table = [(int(c), int(s)) for c, s in zip(counts, sizes, strict=True)]
    return LazChunks(laszip_vlr, vlr.item_size(), table, first_point, first_byte)


def decode_range(
    path: Path,
    chunks: LazChunks,
    start: int,
    stop: int,
    *,
    batch: int,
    selection: lazrs.DecompressionSelection,
    parallel: bool,
) -> Iterator[tuple[int, memoryview]]:
    """Decode points ``start``..``stop`` in batches of whole chunks, trimmed to the range.

    Yields
    ------
    tuple
        ``(index of the first point, record bytes)``; batches hold about ``batch`` points
        (whole chunks, at least one), the first and last trimmed to the range.

    Raises
    ------
    InputError
        A chunk that does not decode.
    """
    if start >= stop:
        return
    first = int(np.searchsorted(chunks.first_point, start, side="right")) - 1
    end = int(np.searchsorted(chunks.first_point, stop, side="left"))
    item = chunks.item_size
    with path.open("rb") as f:
        a = first
        while a < end:
            b = a + 1
            while b < end and chunks.first_point[b + 1] - chunks.first_point[a] <= batch:
                b += 1
            f.seek(int(chunks.first_byte[a]))
            data = f.read(int(chunks.first_byte[b] - chunks.first_byte[a]))
            n = int(chunks.first_point[b] - chunks.first_point[a])
            out = bytearray(n * item)
            try:
                if len(data) != chunks.first_byte[b] - chunks.first_byte[a]:
                    raise OSError("unexpected end of file")
                if parallel:
                    lazrs.decompress_points_with_chunk_table(
                        data, chunks.laszip_vlr, out, chunks.table[a:b], selection
                    )
                else:
                    _decode_one_by_one(chunks, a, b, data, out, selection)
            except (lazrs.LazrsError, OSError) as err:
                raise InputError(
                    f"cannot decode points {int(chunks.first_point[a]):,}.."
                    f"{int(chunks.first_point[b]):,} (LAZ chunks {a}..{b - 1}): {err}; the file "
                    "is damaged: copy or download it again",
                    path=path,
                ) from err
            lo = max(start, int(chunks.first_point[a]))
            hi = min(stop, int(chunks.first_point[b]))
            base = int(chunks.first_point[a])
            yield lo, memoryview(out)[(lo - base) * item : (hi - base) * item]
            a = b


def _decode_one_by_one(
    chunks: LazChunks,
    a: int,
    b: int,
    data: bytes,
    out: bytearray,
    selection: lazrs.DecompressionSelection,
) -> None:
    """Each chunk in its own call: lazrs runs one chunk on one thread."""
    base_byte = int(chunks.first_byte[a])
    base_point = int(chunks.first_point[a])
    item = chunks.item_size
    view = memoryview(data)
    target = memoryview(out)
    for i in range(a, b):
        lo = int(chunks.first_byte[i]) - base_byte
        hi = int(chunks.first_byte[i + 1]) - base_byte
        p0 = (int(chunks.first_point[i]) - base_point) * item
        p1 = (int(chunks.first_point[i + 1]) - base_point) * item
        lazrs.decompress_points_with_chunk_table(
            view[lo:hi], chunks.laszip_vlr, target[p0:p1], [chunks.table[i]], selection
        )
