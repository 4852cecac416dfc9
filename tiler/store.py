r"""Scratch store: append-only shard files with every unit's geometry and attributes.

Pass 1 writes one shard per writer process (workers never share a file); pass 2 reads the
units of a tile back with a few ``os.pread`` calls. The index (:mod:`citymodel.tiler.index`)
keeps each unit's location: ``shard``, ``offset``, ``block_length`` and ``length``.

File format, version 1 (all integers little-endian)::

    shard file   = file header, record, record, ...
    file header  = b"CMSHARD\\0" (8 bytes), version (uint8) = 1, 7 zero bytes
    record       = block section (block_length bytes), unit section (length bytes)
    section      = section header (48 bytes), positions, triangles, row index,
                   surface types, rows
    section header:
        kind            uint8    b"B" (block) or b"U" (unit)
        flags           uint8    bit 0: positions float64 (else int32 micrometres)
                                 bit 1: triangle indices uint32 (else uint16)
                                 bit 2: row index uint32 (else uint16)
                                 bit 3: an appearance part follows the rows
                                 (:mod:`citymodel.tiler._store_appearance`)
        reserved        uint16   0
        vertex_count    uint32   V
        triangle_count  uint32   T
        row_count       uint32   R (feature rows of the section)
        rows_length     uint32   bytes of the rows text
        anchor          3 x float64, ECEF metres (EPSG:4978)
        reserved        4 bytes  0
    positions      V x 3 int32: round((p - anchor) * 1e6); float64 p when a coordinate is more
                   than 2147 m from the anchor
    triangles      T x 3 uint16 / uint32, indices into the section's vertices
    row index      V uint16 / uint32, row of each vertex within the section
    surface types  T uint8 (:class:`~citymodel.model.semantics.SurfaceType`)
    rows           UTF-8 JSON ``[[column names], [row 0 values], ...]``; dates are
                   ``{"$date": "YYYY-MM-DD"}``, date-times ``{"$datetime": "<ISO 8601>"}``
    appearance     (bit 3 only) texture coordinates, textures and materials of the section

Positions are integers of micrometres relative to a float64 anchor (the centre of the unit's
bounding box): quantisation error at most 0.5 µm per axis anywhere within 2.1 km of the anchor,
where float32 offsets would only reach that precision within 16 m. A unit's block section holds
its simplified prisms (:mod:`citymodel.tiler.blocks`) with a single row, the unit's main row,
so parent tiles read only the small block sections. Columns without a value in any row of the
batch being written are not stored (reading gives ``None``, as for any absent column).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt

from citymodel._typing import AttributeValue, Float64Array, IndexArray, PathLike, UInt32Array
from citymodel.errors import TilingError
from citymodel.mesh import FeatureTable, Mesh, MeshBatch
from citymodel.model.appearance import MeshAppearance
from citymodel.tiler._store_appearance import (
    FLAG_APPEARANCE,
    concat_parts,
    decode_part,
    encode_part,
)
from citymodel.tiler.index import FeatureIndex, round_down_f32, round_up_f32
from citymodel.tiler.units import PreparedUnits, prepare_units

__all__ = [
    "FORMAT_VERSION",
    "AppendResult",
    "Locations",
    "RecordLocation",
    "ShardWriter",
    "StoredUnit",
    "decode_rows",
    "encode_rows",
    "read_blocks",
    "read_units",
    "shard_path",
]

FORMAT_VERSION = 1
"""Version byte of the shard format described in the module docstring."""

_MAGIC = b"CMSHARD\x00"
_FILE_HEADER = _MAGIC + bytes([FORMAT_VERSION]) + bytes(7)
_SECTION = struct.Struct("<cBHIIII3d4x")
_KIND_BLOCK = b"B"
_KIND_UNIT = b"U"
_FLAG_F64 = 1
_FLAG_TRI32 = 2
_FLAG_ROW32 = 4
_SCALE = 1e6
"""Position quantisation: integer units per metre (micrometres)."""
_INT32_MAX = 2**31 - 1
_UINT32_MAX = 2**32 - 1
_MAX_GAP = 8192
"""Ranges closer than this in one shard are read with one ``pread`` (the gap is discarded)."""
_WRITE_BUFFER = 1 << 20

CRS_ECEF = "EPSG:4978"


def shard_path(store_dir: PathLike, shard: int) -> Path:
    """Path of shard ``shard`` in ``store_dir``: ``shard-00042.bin``."""
    return Path(store_dir) / f"shard-{shard:05d}.bin"


# -- rows ----------------------------------------------------------------------------------


def _encode_special(value: object) -> object:
    if isinstance(value, dt.datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, dt.date):
        return {"$date": value.isoformat()}
    if isinstance(value, np.generic):
        return value.item()
    raise TilingError(f"attribute value {value!r} of type {type(value).__name__} cannot be stored")


def _decode_special(obj: dict[str, str]) -> object:
    if len(obj) == 1:
        if "$date" in obj:
            return dt.date.fromisoformat(obj["$date"])
        if "$datetime" in obj:
            return dt.datetime.fromisoformat(obj["$datetime"])
    raise TilingError(f"unexpected object {obj!r} in stored rows")


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=_encode_special)


def _dumps(value: object) -> bytes:
    return _ENCODER.encode(value).encode("utf-8", "surrogatepass")


class _RowTexts:
    """The rows of a feature table as JSON texts, for building section payloads.

    Columns that are ``None`` in every row are left out. With ``rows``, only those rows are
    encoded (e.g. the main rows that go with the blocks).
    """

    def __init__(
        self,
        columns: dict[str, list[AttributeValue]],
        row_count: int,
        rows: Sequence[int] | None = None,
    ) -> None:
        names = [name for name, col in columns.items() if any(v is not None for v in col)]
        self.names = _dumps(names)
        self.rows: dict[int, bytes] | list[bytes]
        if rows is not None:
            selected = [columns[n] for n in names]
            self.rows = {i: _dumps([col[i] for col in selected]) for i in rows}
        elif names:
            self.rows = [_dumps(row) for row in zip(*(columns[n] for n in names), strict=True)]
        else:
            self.rows = [b"[]"] * row_count

    def payload(self, start: int, stop: int) -> bytes:
        """``[[names], row start, ..., row stop - 1]`` as UTF-8 JSON."""
        if isinstance(self.rows, dict):
            texts = [self.rows[i] for i in range(start, stop)]
        else:
            texts = self.rows[start:stop]
        return b"".join([b"[", self.names, b",", b",".join(texts), b"]"])


def encode_rows(columns: dict[str, list[AttributeValue]], start: int, stop: int) -> bytes:
    """Serialise rows ``start:stop`` of ``columns`` (FeatureTable layout) as stored rows text.

    Strings, ints (any size), floats (shortest round-trip repr, NaN and infinities included),
    bools, ``None``, dates and date-times round-trip exactly through :func:`decode_rows`.
    Columns that are ``None`` in all those rows are left out.
    """
    part = {name: column[start:stop] for name, column in columns.items()}
    return _RowTexts(part, stop - start).payload(0, stop - start)


def decode_rows(data: bytes | memoryview) -> tuple[list[str], list[list[AttributeValue]]]:
    """Inverse of :func:`encode_rows`: ``(column names, rows)``."""
    payload = json.loads(bytes(data).decode("utf-8", "surrogatepass"), object_hook=_decode_special)
    return payload[0], payload[1:]


# -- sections ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Sections:
    """Several sections of one kind as global arrays plus per-section offsets.

    Section ``s`` owns ``positions[vertex_offsets[s]:vertex_offsets[s+1]]`` (ECEF float64
    metres), ``triangles[triangle_offsets[s]:...]`` (global vertex indices) with their
    ``surface_types``, ``row_index`` per vertex (row within the section), ``row_counts[s]``
    rows whose JSON text is ``payloads[s]``, and the float64 ECEF ``anchors[s]``.
    """

    anchors: Float64Array
    positions: Float64Array
    vertex_offsets: IndexArray
    triangles: IndexArray
    triangle_offsets: IndexArray
    surface_types: npt.NDArray[np.uint8]
    row_index: IndexArray
    row_counts: IndexArray
    payloads: list[bytes]
    appearance: MeshAppearance | None = None


def _byte_view(array: npt.NDArray[Any]) -> memoryview:
    flat: npt.NDArray[np.uint8] = np.ascontiguousarray(array).reshape(-1).view(np.uint8)
    return memoryview(flat.data)


def _encode_sections(kind: bytes, s: _Sections) -> tuple[list[list[Any]], IndexArray]:
    """Encode every section: per section its byte parts (to join) and its total length."""
    count = s.anchors.shape[0]
    vo, to = s.vertex_offsets, s.triangle_offsets
    nv, nt = np.diff(vo), np.diff(to)
    vsec = np.repeat(np.arange(count), nv)
    tsec = np.repeat(np.arange(count), nt)
    q = np.rint((s.positions - s.anchors[vsec]) * _SCALE)
    too_far = np.zeros(count, dtype=bool)
    far_rows = np.flatnonzero(np.any(np.abs(q) > _INT32_MAX, axis=1))
    too_far[vsec[far_rows]] = True
    tri32 = nv > 0xFFFF
    row32 = s.row_counts > 0xFFFF
    q32 = _byte_view(np.where(too_far[vsec][:, None], 0.0, q).astype("<i4"))
    local_tris = s.triangles - vo[:-1][tsec][:, None]
    t16 = _byte_view(np.where(tri32[tsec][:, None], 0, local_tris).astype("<u2"))
    r16 = _byte_view(np.where(row32[vsec], 0, s.row_index).astype("<u2"))
    st = _byte_view(s.surface_types.astype("u1"))
    flags = too_far * _FLAG_F64 | tri32 * _FLAG_TRI32 | row32 * _FLAG_ROW32
    json_len = np.array([len(p) for p in s.payloads], dtype=np.int64)
    looks: list[bytes | None] = [None] * count
    if s.appearance is not None:
        looks = [
            encode_part(s.appearance, int(vo[i]), int(vo[i + 1]), int(to[i]), int(to[i + 1]))
            for i in range(count)
        ]
        flags = flags | np.array([look is not None for look in looks]) * FLAG_APPEARANCE
    lengths = (
        _SECTION.size
        + nv * np.where(too_far, 24, 12)
        + nt * np.where(tri32, 12, 6)
        + nv * np.where(row32, 4, 2)
        + nt
        + json_len
        + np.array([len(look) if look is not None else 0 for look in looks], dtype=np.int64)
    )
    pack = _SECTION.pack
    parts: list[list[Any]] = []
    for i, (v0, v1, t0, t1, f, r, j, (ax, ay, az)) in enumerate(
        zip(
            vo[:-1].tolist(),
            vo[1:].tolist(),
            to[:-1].tolist(),
            to[1:].tolist(),
            flags.tolist(),
            s.row_counts.tolist(),
            json_len.tolist(),
            s.anchors.tolist(),
            strict=True,
        )
    ):
        header = pack(kind, f, 0, v1 - v0, t1 - t0, r, j, ax, ay, az)
        if f == 0:  # the common case: everything narrow
            parts.append(
                [
                    header,
                    q32[12 * v0 : 12 * v1],
                    t16[6 * t0 : 6 * t1],
                    r16[2 * v0 : 2 * v1],
                    st[t0:t1],
                    s.payloads[i],
                ]
            )
            continue
        look = looks[i]
        if f & _FLAG_F64:
            pos: Any = s.positions[v0:v1].astype("<f8").tobytes()
        else:
            pos = q32[12 * v0 : 12 * v1]
        tri: Any = (
            local_tris[t0:t1].astype("<u4").tobytes() if f & _FLAG_TRI32 else t16[6 * t0 : 6 * t1]
        )
        rows: Any = (
            s.row_index[v0:v1].astype("<u4").tobytes() if f & _FLAG_ROW32 else r16[2 * v0 : 2 * v1]
        )
        parts.append([header, pos, tri, rows, st[t0:t1], s.payloads[i]])
        if look is not None:
            parts[-1].append(look)
    return parts, lengths


def _decode_sections(views: Sequence[memoryview], kind: bytes) -> MeshBatch:
    """Decode sections of one kind and concatenate them into one ECEF batch."""
    count = len(views)
    if count == 0:
        return MeshBatch(mesh=Mesh.empty(), features=FeatureTable(), crs=CRS_ECEF)
    headers = np.array(
        [_SECTION.unpack_from(v, 0)[1:7] if len(v) >= _SECTION.size else (0,) * 6 for v in views],
        dtype=np.int64,
    ).reshape(count, 6)
    kinds = [bytes(v[:1]) for v in views]
    if any(k != kind for k in kinds):
        bad = next(k for k in kinds if k != kind)
        raise TilingError(f"scratch record section is {bad!r}, expected {kind!r}")
    flags, nv, nt, nr, nj = (headers[:, i] for i in (0, 2, 3, 4, 5))
    anchors = np.array([_SECTION.unpack_from(v, 0)[7:10] for v in views], dtype=np.float64)
    f64 = (flags & _FLAG_F64) != 0
    tri32 = (flags & _FLAG_TRI32) != 0
    row32 = (flags & _FLAG_ROW32) != 0
    pos_at = np.full(count, _SECTION.size, dtype=np.int64)
    tri_at = pos_at + nv * np.where(f64, 24, 12)
    row_at = tri_at + nt * np.where(tri32, 12, 6)
    st_at = row_at + nv * np.where(row32, 4, 2)
    json_at = st_at + nt
    sizes = np.array([len(v) for v in views], dtype=np.int64)
    textured = (flags & FLAG_APPEARANCE) != 0
    wrong = np.flatnonzero(np.where(textured, json_at + nj >= sizes, json_at + nj != sizes))
    if wrong.size:
        i = int(wrong[0])
        raise TilingError(
            f"scratch record section has {sizes[i]} bytes, expected {int(json_at[i] + nj[i])}"
        )
    vo = np.concatenate([[0], np.cumsum(nv)])
    to = np.concatenate([[0], np.cumsum(nt)])
    ro = np.concatenate([[0], np.cumsum(nr)])
    vsec = np.repeat(np.arange(count), nv)

    positions = np.empty((int(vo[-1]), 3))
    for wide, dtype in ((False, "<i4"), (True, "<f8")):
        values = _gather(views, pos_at, tri_at, wide == f64, dtype).reshape(-1, 3)
        rows = _rows_of(vo, wide == f64)
        positions[rows] = values if wide else values / _SCALE + anchors[vsec[rows]]
    triangles = np.empty((int(to[-1]), 3), dtype=np.int64)
    for wide, dtype in ((False, "<u2"), (True, "<u4")):
        values = _gather(views, tri_at, row_at, wide == tri32, dtype).reshape(-1, 3)
        triangles[_rows_of(to, wide == tri32)] = values
    triangles += np.repeat(vo[:-1], nt)[:, None]
    row_index = np.empty(int(vo[-1]), dtype=np.int64)
    for wide, dtype in ((False, "<u2"), (True, "<u4")):
        row_index[_rows_of(vo, wide == row32)] = _gather(views, row_at, st_at, wide == row32, dtype)
    row_index += ro[:-1][vsec]
    surface_types = _gather(views, st_at, json_at, np.ones(count, dtype=bool), "u1").copy()
    json_end = (json_at + nj).tolist()
    texts = b",".join([v[a:e] for v, a, e in zip(views, json_at.tolist(), json_end, strict=True)])
    payloads = json.loads(
        b"".join([b"[", texts, b"]"]).decode("utf-8", "surrogatepass"),
        object_hook=_decode_special,
    )
    appearance = None
    if textured.any():
        try:
            parts = [
                decode_part(v[e:], int(a), int(b)) if t else None
                for v, e, a, b, t in zip(
                    views, json_end, nv.tolist(), nt.tolist(), textured.tolist(), strict=True
                )
            ]
        except ValueError as err:
            raise TilingError(f"scratch record appearance: {err}") from err
        appearance = concat_parts(parts, nv.tolist(), nt.tolist())
    mesh = Mesh(
        positions=positions,
        triangles=triangles.astype(np.uint32),
        feature_ids=row_index.astype(np.uint32),
        surface_types=surface_types,
        appearance=appearance,
    )
    return MeshBatch(mesh=mesh, features=_table(payloads, nr), crs=CRS_ECEF)


def _gather(
    views: Sequence[memoryview],
    start: IndexArray,
    stop: IndexArray,
    select: npt.NDArray[np.bool_],
    dtype: str,
) -> npt.NDArray[Any]:
    """Concatenate ``views[i][start[i]:stop[i]]`` of the selected sections as one array."""
    chosen = np.flatnonzero(select).tolist()
    data = b"".join([views[i][int(start[i]) : int(stop[i])] for i in chosen])
    return np.frombuffer(data, dtype=dtype)


def _rows_of(offsets: IndexArray, select: npt.NDArray[np.bool_]) -> IndexArray | slice:
    """Element indices of the selected segments (a slice when all are selected)."""
    if select.all():
        return slice(None)
    sizes = np.diff(offsets) * select
    starts = offsets[:-1]
    total = int(sizes.sum())
    seg = np.repeat(np.arange(sizes.shape[0]), sizes)
    first = np.repeat(np.cumsum(sizes) - sizes, sizes)
    result: IndexArray = starts[seg] + (np.arange(total) - first)
    return result


def _table(payloads: list[list[Any]], row_counts: IndexArray) -> FeatureTable:
    """Concatenate per-section ``[names, row, ...]`` payloads into one feature table.

    Consecutive sections with the same column names (the rule within a pass-1 batch) are
    transposed together.
    """
    for payload, count in zip(payloads, row_counts.tolist(), strict=True):
        if len(payload) - 1 != count:
            raise TilingError(f"scratch record holds {len(payload) - 1} rows, header says {count}")
    columns: dict[str, list[AttributeValue]] = {}
    total = 0
    start = 0
    while start < len(payloads):
        names = payloads[start][0]
        stop = start + 1
        while stop < len(payloads) and payloads[stop][0] == names:
            stop += 1
        rows = [row for payload in payloads[start:stop] for row in payload[1:]]
        values = list(zip(*rows, strict=True)) if rows and names else []
        for name, column_values in zip(names, values, strict=True):
            column = columns.get(name)
            if column is None:
                column = columns[name] = [None] * total
            column.extend(column_values)
        total += len(rows)
        for column in columns.values():
            if len(column) < total:
                column.extend([None] * (total - len(column)))
        start = stop
    return FeatureTable(columns=columns, row_count=total)


# -- writing -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RecordLocation:
    """Where a unit's record lives: shard, byte offset, block and unit section lengths."""

    shard: int
    offset: int
    block_length: int
    length: int


@dataclass(frozen=True, slots=True)
class StoredUnit:
    """One unit to append with :meth:`ShardWriter.append`.

    Attributes
    ----------
    batch
        The unit's rows and full geometry, ECEF (EPSG:4978) float64 metres; ``feature_ids``
        are rows of ``batch.features``.
    block
        Its simplified prisms, ECEF float64 metres (``feature_ids`` are ignored).
    main_row
        Row of ``batch.features`` stored with the block.
    """

    batch: MeshBatch
    block: Mesh
    main_row: int = 0


@dataclass(frozen=True, slots=True)
class AppendResult:
    """What :meth:`ShardWriter.append_batch` wrote: index rows and the units it could not."""

    index: FeatureIndex
    skipped_ids: tuple[str, ...]


def _record_sections(
    *,
    anchors: Float64Array,
    mesh: Mesh,
    vertex_offsets: IndexArray,
    triangle_offsets: IndexArray,
    row_offsets: IndexArray,
    block: Mesh,
    block_vertex_offsets: IndexArray,
    block_triangle_offsets: IndexArray,
    main_rows: IndexArray,
    texts: _RowTexts,
    block_texts: _RowTexts,
) -> tuple[_Sections, _Sections]:
    """Block and unit sections of consecutive units.

    The rows of unit ``u`` are ``row_offsets[u]:row_offsets[u+1]``, its vertices and block
    vertices likewise.
    """
    count = anchors.shape[0]
    ro = row_offsets.tolist()
    vsec = np.repeat(np.arange(count), np.diff(vertex_offsets))
    units = _Sections(
        anchors=anchors,
        positions=mesh.positions,
        vertex_offsets=vertex_offsets,
        triangles=mesh.triangles.astype(np.int64),
        triangle_offsets=triangle_offsets,
        surface_types=mesh.surface_types,
        row_index=mesh.feature_ids.astype(np.int64) - row_offsets[:-1][vsec],
        row_counts=np.diff(row_offsets),
        payloads=[texts.payload(ro[u], ro[u + 1]) for u in range(count)],
        appearance=mesh.appearance,
    )
    blocks = _Sections(
        anchors=anchors,
        positions=block.positions,
        vertex_offsets=block_vertex_offsets,
        triangles=block.triangles.astype(np.int64),
        triangle_offsets=block_triangle_offsets,
        surface_types=block.surface_types,
        row_index=np.zeros(block.vertex_count, np.int64),
        row_counts=np.ones(count, np.int64),
        payloads=[block_texts.payload(m, m + 1) for m in main_rows.tolist()],
        appearance=block.appearance,
    )
    return blocks, units


class ShardWriter:
    """Appends unit records to one shard file (created exclusively; one writer per file).

    Use as a context manager, or call :meth:`close`. Records are buffered; locations are
    valid for readers once the writer is closed.

    Parameters
    ----------
    store_dir
        The scratch folder (created when missing).
    shard
        Shard id, ``0..65535``, unique among the writers of one store.
    block_columns
        Attribute columns stored with each block (the unit's main row), in this order; ``None``
        stores them all, so parent tiles can be styled and picked like leaves. On AdV LoD2
        data the attributes are about half of a block's bytes, so a short list (e.g. the
        identity columns ``gml_id``, ``building_id``, ``object_type`` and the columns a style
        uses) lets parent tiles hold up to twice as many blocks within their byte budget.

    Raises
    ------
    TilingError
        When the shard file already exists.
    """

    def __init__(
        self, store_dir: PathLike, shard: int, *, block_columns: Sequence[str] | None = None
    ) -> None:
        if not 0 <= shard <= 0xFFFF:
            raise ValueError(f"shard id must be in 0..65535, got {shard}")
        self.shard = shard
        self.block_columns = None if block_columns is None else tuple(block_columns)
        self.path = shard_path(store_dir, shard)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._file: BinaryIO = self.path.open("xb", buffering=_WRITE_BUFFER)
        except FileExistsError as err:
            raise TilingError(f"scratch shard {self.path} exists; use a fresh shard id") from err
        self._file.write(_FILE_HEADER)
        self._offset = len(_FILE_HEADER)

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _block_texts(
        self, features: FeatureTable, texts: _RowTexts, main_rows: IndexArray
    ) -> _RowTexts:
        if self.block_columns is None:
            return texts
        columns = features.columns
        chosen = {name: columns[name] for name in self.block_columns if name in columns}
        return _RowTexts(chosen, features.row_count, rows=main_rows.tolist())

    def close(self) -> None:
        """Flush and close the shard file."""
        if not self._file.closed:
            self._file.close()

    def _write(
        self, blocks: _Sections, units: _Sections
    ) -> tuple[npt.NDArray[np.uint64], IndexArray, IndexArray]:
        """Write records (block section, unit section) of consecutive units."""
        block_parts, block_lengths = _encode_sections(_KIND_BLOCK, blocks)
        unit_parts, lengths = _encode_sections(_KIND_UNIT, units)
        if block_lengths.size and max(block_lengths.max(), lengths.max()) > _UINT32_MAX:
            raise TilingError("a unit record exceeds 4 GiB and cannot be stored")
        record = block_lengths + lengths
        offsets = self._offset + np.concatenate([[0], np.cumsum(record)[:-1]])
        flat: list[Any] = []
        for b, u in zip(block_parts, unit_parts, strict=True):
            flat.extend(b)
            flat.extend(u)
        self._file.write(b"".join(flat))
        self._offset += int(record.sum())
        return offsets.astype(np.uint64), block_lengths, lengths

    def append(self, unit: StoredUnit) -> RecordLocation:
        """Append one unit; return where its record is."""
        mesh, block, features = unit.batch.mesh, unit.block, unit.batch.features
        if not 0 <= unit.main_row < max(features.row_count, 1):
            raise ValueError(f"main_row {unit.main_row} is not a row of the unit")
        if mesh.vertex_count:
            anchor = 0.5 * (mesh.positions.min(axis=0) + mesh.positions.max(axis=0))
        else:
            anchor = np.zeros(3)
        texts = _RowTexts(features.columns, features.row_count)
        main_rows = np.array([unit.main_row])
        blocks, units = _record_sections(
            anchors=anchor[None, :],
            mesh=mesh,
            vertex_offsets=np.array([0, mesh.vertex_count]),
            triangle_offsets=np.array([0, mesh.triangle_count]),
            row_offsets=np.array([0, features.row_count]),
            block=block,
            block_vertex_offsets=np.array([0, block.vertex_count]),
            block_triangle_offsets=np.array([0, block.triangle_count]),
            main_rows=main_rows,
            texts=texts,
            block_texts=self._block_texts(features, texts, main_rows),
        )
        offsets, block_lengths, lengths = self._write(blocks, units)
        return RecordLocation(self.shard, int(offsets[0]), int(block_lengths[0]), int(lengths[0]))

    def append_batch(self, batch: MeshBatch, *, weld_tolerance: float = 1e-3) -> AppendResult:
        """Split an ECEF batch into units, store each with its block, return their index rows.

        Parameters
        ----------
        batch
            Meshes in ECEF (EPSG:4978) float64 metres with a ``building_id`` column whose
            runs of equal values are the units (see :mod:`citymodel.tiler.units`).
        weld_tolerance
            Footprint welding distance for the blocks, metres.

        Returns
        -------
        AppendResult
            One index row per stored unit, in batch order, and the ids of units without
            triangles (not stored; report them).
        """
        units = prepare_units(batch, weld_tolerance=weld_tolerance)
        features = units.batch.features
        texts = _RowTexts(features.columns, features.row_count)
        block_sections, unit_sections = _record_sections(
            anchors=units.anchors,
            mesh=units.batch.mesh,
            vertex_offsets=units.vertex_offsets,
            triangle_offsets=units.triangle_offsets,
            row_offsets=units.row_offsets,
            block=units.block,
            block_vertex_offsets=units.block_vertex_offsets,
            block_triangle_offsets=units.block_triangle_offsets,
            main_rows=units.main_rows,
            texts=texts,
            block_texts=self._block_texts(features, texts, units.main_rows),
        )
        offsets, block_lengths, lengths = self._write(block_sections, unit_sections)
        return AppendResult(
            index=_index_rows(units, self.shard, offsets, block_lengths, lengths),
            skipped_ids=units.skipped_ids,
        )


def _index_rows(
    units: PreparedUnits,
    shard: int,
    offsets: npt.NDArray[np.uint64],
    block_lengths: IndexArray,
    lengths: IndexArray,
) -> FeatureIndex:
    regions = units.regions
    return FeatureIndex(
        west=regions[:, 0],
        south=regions[:, 1],
        east=regions[:, 2],
        north=regions[:, 3],
        min_height=round_down_f32(regions[:, 4]),
        max_height=round_up_f32(regions[:, 5]),
        lon=units.centroids[:, 0],
        lat=units.centroids[:, 1],
        triangle_count=np.diff(units.triangle_offsets),
        vertex_count=np.diff(units.vertex_offsets),
        block_triangle_count=np.diff(units.block_triangle_offsets),
        deviation=round_up_f32(units.deviation),
        importance=round_up_f32(units.importance),
        shard=np.full(len(units), shard, np.uint16),
        offset=offsets,
        block_length=block_lengths.astype(np.uint32),
        length=lengths.astype(np.uint32),
    )


# -- reading -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Locations:
    """Record locations of a list of units (picklable; hand them to pass-2 workers).

    Attributes
    ----------
    shard, offset, block_length, length
        ``(N,)`` arrays as in :class:`~citymodel.tiler.index.FeatureIndex`.
    """

    shard: npt.NDArray[np.uint16]
    offset: npt.NDArray[np.uint64]
    block_length: UInt32Array
    length: UInt32Array

    @classmethod
    def of(cls, index: FeatureIndex, rows: IndexArray | Sequence[int]) -> Locations:
        """Locations of the index rows ``rows``, in that order."""
        sel = np.asarray(rows, dtype=np.int64)
        return cls(
            shard=index.shard[sel],
            offset=index.offset[sel],
            block_length=index.block_length[sel],
            length=index.length[sel],
        )

    def __len__(self) -> int:
        return int(self.shard.shape[0])


def _read_ranges(
    store_dir: Path, shard: npt.NDArray[np.uint16], start: IndexArray, length: IndexArray
) -> list[memoryview]:
    """Read byte ranges (one per request), coalescing nearby ranges of a shard into one pread."""
    count = shard.shape[0]
    out: list[memoryview] = [memoryview(b"")] * count
    if count == 0:
        return out
    order = np.lexsort((start, shard))
    s_shard, s_start = shard[order], start[order]
    s_end = s_start + length[order]
    new_run = np.ones(count, dtype=bool)
    # Records never overlap, so within a shard the sorted ends are non-decreasing too.
    new_run[1:] = (s_shard[1:] != s_shard[:-1]) | (s_start[1:] - s_end[:-1] > _MAX_GAP)
    run_starts = np.flatnonzero(new_run).tolist()
    run_stops = [*run_starts[1:], count]
    starts, ends, targets = s_start.tolist(), s_end.tolist(), order.tolist()
    fd, current = -1, -1
    try:
        for r0, r1 in zip(run_starts, run_stops, strict=True):
            sid = int(s_shard[r0])
            if sid != current:
                if fd >= 0:
                    os.close(fd)
                    fd = -1
                fd = _open_shard(store_dir, sid)
                current = sid
            begin, end = starts[r0], max(ends[r0:r1])
            data = os.pread(fd, end - begin, begin)
            if len(data) != end - begin:
                raise TilingError(
                    f"{shard_path(store_dir, sid)} is truncated: wanted bytes {begin}..{end}"
                )
            view = memoryview(data)
            for k in range(r0, r1):
                out[targets[k]] = view[starts[k] - begin : ends[k] - begin]
    finally:
        if fd >= 0:
            os.close(fd)
    return out


def _open_shard(store_dir: Path, shard: int) -> int:
    path = shard_path(store_dir, shard)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    except FileNotFoundError as err:
        raise TilingError(f"scratch shard {path} is missing") from err
    header = os.pread(fd, len(_FILE_HEADER), 0)
    if len(header) < len(_FILE_HEADER) or header[:8] != _MAGIC or header[8] != FORMAT_VERSION:
        os.close(fd)
        version = header[8] if len(header) > 8 and header[:8] == _MAGIC else None
        raise TilingError(
            f"{path} is not a citymodel scratch shard of format version {FORMAT_VERSION} "
            f"(found version {version})"
        )
    return fd


def read_units(store_dir: PathLike, locations: Locations) -> MeshBatch:
    """Read the full geometry and all rows of units.

    Parameters
    ----------
    store_dir
        The scratch folder.
    locations
        The units to read; the result keeps this order.

    Returns
    -------
    MeshBatch
        ECEF (EPSG:4978) float64 metres; the units' rows concatenated in order, feature ids
        renumbered accordingly.
    """
    return _read_records(store_dir, locations, _KIND_UNIT)


def read_blocks(store_dir: PathLike, locations: Locations) -> MeshBatch:
    """As :func:`read_units`, but the blocks (simplified prisms) of the units.

    Row ``i`` of the result is the main row of unit ``i``; positions are ECEF (EPSG:4978)
    float64 metres.
    """
    return _read_records(store_dir, locations, _KIND_BLOCK)


def _read_records(store_dir: PathLike, locations: Locations, kind: bytes) -> MeshBatch:
    """The unit part (``_KIND_UNIT``) or the block part (``_KIND_BLOCK``) of the records."""
    offset = locations.offset.astype(np.int64)
    block_length = locations.block_length.astype(np.int64)
    if kind == _KIND_UNIT:
        start, length = offset + block_length, locations.length.astype(np.int64)
    else:
        start, length = offset, block_length
    return _decode_sections(_read_ranges(Path(store_dir), locations.shard, start, length), kind)
